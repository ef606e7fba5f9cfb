package authz

import (
	"strings"

	"github.com/cedar-policy/cedar-go/types"
)

// Resource types.
const (
	// ResourceSecret is one secret; its ID is "<scope>/<key>".
	ResourceSecret = "Secret"
	// ResourceVault is a vault scope; its ID is the scope, or AllScopes.
	ResourceVault = "Vault"
	// ResourceDevice is an enrolled device; its ID is the device ULID, or
	// AllDevices.
	ResourceDevice = "Device"
	// ResourceDaemon is the daemon itself; its ID is DaemonLocal.
	ResourceDaemon = "Daemon"
	// ResourceAudit is the audit journal; its ID is AuditJournal.
	ResourceAudit = "Audit"
	// ResourceTool is a governed tool; its ID is the tool's name, or
	// AllTools.
	ResourceTool = "Tool"
	// ResourceApproval is a request waiting for a human; its ID is the
	// approval id, or AllApprovals.
	ResourceApproval = "Approval"
	// ResourcePolicy is an operator policy; its ID is the policy's @id, or
	// AllPolicies.
	ResourcePolicy = "Policy"
)

// Well-known resource IDs.
const (
	// AllScopes is the Vault ID meaning every scope. It is the Cedar parent
	// of each named Vault, so `resource in Vault::"*"` covers all secrets.
	AllScopes = "*"
	// AllDevices is the Device ID meaning every device, as in device.list.
	AllDevices = "*"
	// DaemonLocal is the ID of the local daemon resource.
	DaemonLocal = "local"
	// AuditJournal is the ID of the audit journal resource.
	AuditJournal = "journal"
	// AllTools, AllApprovals and AllPolicies are the IDs meaning every
	// tool, approval or policy, as in listings.
	AllTools     = "*"
	AllApprovals = "*"
	AllPolicies  = "*"
)

// Resource is the object of a request.
type Resource struct {
	// Type is ResourceSecret, ResourceVault, ResourceDevice,
	// ResourceDaemon or ResourceAudit.
	Type string
	// ID is "<scope>/<key>" for a Secret, the scope (or AllScopes) for a
	// Vault, the device ULID (or AllDevices) for a Device, DaemonLocal for
	// the Daemon and AuditJournal for the Audit journal.
	ID string
}

// String returns the resource's Cedar entity UID, e.g.
// `Secret::"global/openai_api_key"`.
func (r Resource) String() string {
	return r.uid().String()
}

// uid returns the resource's Cedar entity UID.
func (r Resource) uid() types.EntityUID {
	return types.NewEntityUID(types.EntityType(r.Type), types.String(r.ID))
}

// SecretResource returns the Secret resource for key in scope.
func SecretResource(scope, key string) Resource {
	return Resource{Type: ResourceSecret, ID: scope + "/" + key}
}

// secretScope splits a Secret ID at its first "/" and returns the scope. The
// scope must be a real scope (not AllScopes) and both halves non-empty.
func secretScope(id string) (scope string, ok bool) {
	scope, key, found := strings.Cut(id, "/")
	if !found || scope == "" || key == "" || scope == AllScopes {
		return "", false
	}
	return scope, true
}
