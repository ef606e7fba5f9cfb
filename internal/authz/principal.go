package authz

import "github.com/cedar-policy/cedar-go/types"

// Principal kinds: the Cedar entity type of the principal.
const (
	// KindUser is a human operator, identified by user name.
	KindUser = "User"
	// KindDevice is an enrolled device, identified by its ULID; its Cedar
	// parent is the owning User.
	KindDevice = "Device"
	// KindConnector is a channel connector, identified by connector name.
	KindConnector = "Connector"
)

// roleType is the Cedar entity type of roles, the parents of Users and
// Connectors.
const roleType = "Role"

// Principal is the authenticated caller of a request.
type Principal struct {
	// Kind is KindUser, KindDevice or KindConnector.
	Kind string
	// ID is the user name, device ULID or connector name.
	ID string
	// Owner is, for a Device, the name of the owning user; the Device's
	// Cedar parent is User::Owner. It must be empty for other kinds.
	Owner string
	// Roles are role names such as "admin". For a User or Connector they
	// are its Role parents; for a Device they are the roles of its owning
	// user (a device holds no roles of its own) and become the Role parents
	// of User::Owner, so role membership reaches the device transitively.
	Roles []string
}

// String returns the principal's Cedar entity UID, e.g. `User::"admin"` or
// `Device::"01J..."`, with the ID escaped as in Cedar source.
func (p Principal) String() string {
	return types.NewEntityUID(types.EntityType(p.Kind), types.String(p.ID)).String()
}

// uid returns the principal's Cedar entity UID.
func (p Principal) uid() types.EntityUID {
	return types.NewEntityUID(types.EntityType(p.Kind), types.String(p.ID))
}
