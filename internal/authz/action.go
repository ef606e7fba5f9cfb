package authz

// Actions, the Cedar Action::"<name>" ids. Each belongs to one action group,
// Action::"vault", Action::"device" or Action::"daemon", which policies can
// use with `action in`.
const (
	// ActionVaultRead reads one secret's value (resource Secret).
	ActionVaultRead = "vault.read"
	// ActionVaultWrite creates or replaces one secret (resource Secret).
	ActionVaultWrite = "vault.write"
	// ActionVaultList lists secret names in a scope, or in every scope with
	// Vault::"*" (resource Vault).
	ActionVaultList = "vault.list"
	// ActionVaultDelete deletes one secret (resource Secret).
	ActionVaultDelete = "vault.delete"

	// ActionDeviceEnroll enrolls (pairs) a new device (resource Device).
	ActionDeviceEnroll = "device.enroll"
	// ActionDeviceList lists enrolled devices (resource Device, usually
	// Device::"*").
	ActionDeviceList = "device.list"
	// ActionDeviceRenew renews the calling device's own certificate
	// (resource Device, the caller itself).
	ActionDeviceRenew = "device.renew"
	// ActionDeviceRevoke revokes a device's enrollment (resource Device).
	ActionDeviceRevoke = "device.revoke"

	// ActionDaemonStatus reads the daemon's status (resource Daemon::"local").
	ActionDaemonStatus = "daemon.status"
)
