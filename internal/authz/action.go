package authz

import "fmt"

// Action names what a request does: the id of its Cedar Action::"<name>"
// entity. Each action belongs to one action group (Action::"vault",
// "device", "daemon" or "audit"), which policies can use with `action in`.
// The zero value "" is no action; Decide denies it as malformed.
type Action string

// The requestable actions.
const (
	// ActionVaultRead reads one secret's value (resource Secret).
	ActionVaultRead Action = "vault.read"
	// ActionVaultWrite creates or replaces one secret (resource Secret).
	ActionVaultWrite Action = "vault.write"
	// ActionVaultList lists secret names in a scope, or in every scope with
	// Vault::"*" (resource Vault).
	ActionVaultList Action = "vault.list"
	// ActionVaultDelete deletes one secret (resource Secret).
	ActionVaultDelete Action = "vault.delete"
	// ActionVaultHistory lists one secret's versions and their metadata,
	// never a value (resource Secret).
	ActionVaultHistory Action = "vault.history"
	// ActionVaultAdmin reads the vault's status and rotates its KEK
	// (resource Vault::"*").
	ActionVaultAdmin Action = "vault.admin"

	// ActionDeviceEnroll enrolls (pairs) a new device (resource Device).
	ActionDeviceEnroll Action = "device.enroll"
	// ActionDeviceList lists enrolled devices (resource Device, usually
	// Device::"*").
	ActionDeviceList Action = "device.list"
	// ActionDeviceRenew renews the calling device's own certificate
	// (resource Device, the caller itself).
	ActionDeviceRenew Action = "device.renew"
	// ActionDeviceRevoke revokes a device's enrollment (resource Device).
	ActionDeviceRevoke Action = "device.revoke"

	// ActionDevicePair creates pairing codes and lists and decides pairing
	// requests (resource Device::"*", or the requested Device).
	ActionDevicePair Action = "device.pair"
	// ActionDeviceRemove forgets a revoked device's id and name (resource
	// Device); its key stays barred.
	ActionDeviceRemove Action = "device.remove"

	// ActionDaemonStatus reads the daemon's status (resource Daemon::"local").
	ActionDaemonStatus Action = "daemon.status"

	// ActionAuditRead reads the audit journal (resource Audit::"journal").
	ActionAuditRead Action = "audit.read"

	// ActionSecretUse injects a secret's value into a tool call, never
	// returning it (resource Secret).
	ActionSecretUse Action = "secret.use"
	// ActionToolExecute runs a governed tool (resource Tool::"<name>").
	ActionToolExecute Action = "tool.execute"
	// ActionToolList lists the governed tools (resource Tool::"*").
	ActionToolList Action = "tool.list"
	// ActionApprovalRead lists, shows and watches approvals (resource
	// Approval::"*" or one Approval).
	ActionApprovalRead Action = "approval.read"
	// ActionApprovalDecide approves or denies one waiting request
	// (resource Approval::"<id>").
	ActionApprovalDecide Action = "approval.decide"
	// ActionPolicyRead lists the active policies and explains and tests
	// decisions (resource Policy::"*").
	ActionPolicyRead Action = "policy.read"
	// ActionPolicyWrite reloads the operator policies (resource
	// Policy::"*").
	ActionPolicyWrite Action = "policy.write"
)

// actions lists every requestable action. A test checks that it is exactly
// the set of requestable actions in the schema.
var actions = [...]Action{
	ActionVaultRead, ActionVaultWrite, ActionVaultList, ActionVaultDelete, ActionVaultHistory, ActionVaultAdmin,
	ActionDeviceEnroll, ActionDeviceList, ActionDeviceRenew, ActionDeviceRevoke, ActionDevicePair, ActionDeviceRemove,
	ActionDaemonStatus,
	ActionAuditRead,
	ActionSecretUse,
	ActionToolExecute, ActionToolList,
	ActionApprovalRead, ActionApprovalDecide,
	ActionPolicyRead, ActionPolicyWrite,
}

// Actions returns every requestable action, in declaration order.
func Actions() []Action { return append([]Action(nil), actions[:]...) }

// ParseAction returns the Action named s. Only requestable actions are
// accepted, spelled exactly: action groups ("vault") and case variants
// ("Vault.Read") are errors.
func ParseAction(s string) (Action, error) {
	for _, a := range actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("authz: unknown action %q", truncate(s, 40))
}

// known reports whether a is a requestable action.
func (a Action) known() bool {
	for _, k := range actions {
		if a == k {
			return true
		}
	}
	return false
}

// String returns the action's name, e.g. "vault.read".
func (a Action) String() string { return string(a) }

// MarshalText implements encoding.TextMarshaler. Only requestable actions
// marshal, so whatever MarshalText writes UnmarshalText reads back.
func (a Action) MarshalText() ([]byte, error) {
	if !a.known() {
		return nil, fmt.Errorf("authz: unknown action %q", truncate(string(a), 40))
	}
	return []byte(a), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseAction.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// truncate shortens s for an error message, so a hostile value cannot make
// an error line arbitrarily long.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
