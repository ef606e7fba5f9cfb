// Package authz decides whether a principal may perform an action on a
// resource, using Cedar policies evaluated by cedar-go.
//
// # Model
//
// Every request is one Cedar authorization over a small entity graph that
// Decide builds from the Request alone; no entity store is consulted, so the
// caller (the daemon's authentication layer) is responsible for the facts it
// asserts: who the principal is, which roles its user holds, and which device
// and transport the call arrived on.
//
//   - Principals are User::"<name>", Device::"<ULID>" and
//     Connector::"<name>". A User's and a Connector's parents are
//     Role::"<r>" for each of its roles. A Device's single parent is the User
//     that owns it, and that User entity carries the owner's roles, so
//     `principal in Role::"admin"` holds for a device enrolled by an admin:
//     the device acts for its owner, never more.
//   - Actions (type Action, listed by Actions) are Action::"vault.read",
//     "device.pair", "secret.use", "tool.execute", "approval.decide",
//     "policy.write" and the rest, grouped under Action::"vault",
//     "device", "daemon", "audit", "secret", "tool", "approval" and
//     "policy" so a policy can name a whole family.
//   - Resources are Secret::"<scope>/<key>" (parent Vault::"<scope>"),
//     Vault::"<scope>" (parent Vault::"*", the pseudo-scope meaning all),
//     Device::"<ULID>" or Device::"*", Daemon::"local", Audit::"journal",
//     Tool::"<name>", Approval::"<id>" and Policy::"<@id>" (each also with
//     "*" for listings).
//   - The context record is per action, as the schema declares it. Every
//     action has {transport: "unix"|"tcp"|"quic", device_id: the calling
//     device's ULID or "" on the local socket}; vault actions add scope
//     (the Secret's scope or the Vault id), which the Engine derives from
//     the resource; any other attribute (vault.write's value_size, the
//     tool.execute and approval.decide contexts) comes from
//     Request.Context and must match the declared type.
//
// The embedded schema (schema.cedarschema) states which principal and
// resource types and which context each action has; Decide refuses requests
// outside it, and NewEngine validates every policy against it in strict
// mode, so a policy that names an unknown action, entity type or context
// attribute is rejected at load rather than silently never matching.
//
// # Policies
//
// Deny is the default. The embedded baseline (baseline.cedar) permits
// members of Role::"admin" everything, lets every device renew its own
// certificate, and forbids enrolling, pairing, revoking and removing
// devices and reloading policies except by a non-device principal on the
// unix socket. Operators
// add policies as extra texts to NewEngine. A forbid always beats a permit,
// so extra policies can grant access but cannot lift the baseline forbids.
//
// Every policy carries a unique @id("...") annotation, and that id is the
// Cedar policy id: a Decision names its determining policies by the ids the
// operator wrote, not by cedar-go's positional "policy0", "policy1".
//
// # Obligations
//
// Any other annotation must be a known obligation; so far that is only
// @approval("required"), on forbids. A Decision carries the obligations of
// its determining policies (Decision.Obligations). Decide still denies a
// request whose forbids carry @approval; the approval step will make such a
// deny Pending. An unknown annotation, an unknown value or @approval on a
// permit fails NewEngine with ErrAnnotation at the annotation's position.
//
// # Failing closed
//
// Cedar skips a policy whose evaluation errors. For a permit that is already
// safe; for a forbid it would mean an error could turn a deny into an allow,
// so Decide denies when any forbid errors and names that forbid. A malformed
// request (unknown principal kind, action or resource type, missing IDs,
// inconsistent device and transport, context attributes that do not match
// the action's schema) is denied with an entry in Decision.Errors and never
// reaches Cedar; Decide never panics. A deny in which a forbid failed to
// evaluate carries no obligations, so an error can never be approved away.
//
// # Index
//
// NewEngine indexes the policies by the principal, action and resource
// constraints of their scopes (==, in, is, is-in, action lists and groups,
// or none). Decide looks up the keys that hold for the request, using the
// ancestors of its principal, action and resource in the entities it
// built, and has cedar-go evaluate only the policies filed under them. A
// policy left out has a false scope constraint, and Cedar evaluates the
// scope before the conditions, so it would have evaluated to false without
// error: the Decision is the one evaluating every policy gives, at a cost
// that does not grow with the number of policies that cannot apply.
//
// An Engine is immutable once built and safe for concurrent use; to change
// policies, build a new Engine and swap it in.
package authz
