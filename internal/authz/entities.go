package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/peer"
)

// requestEntities is the entity store of one request: the few entities
// built from the Request, then the engine's shared, immutable ones (actions
// and Vault::"*"). A linear scan over the handful of request entities is
// cheaper than building a map for every decision; past indexAbove entities
// (a principal with many roles) a map takes over, so lookups stay constant
// time.
type requestEntities struct {
	local  []types.Entity
	buf    [5]types.Entity // a Device, its owner, one role, a Secret, its Vault
	index  map[types.EntityUID]int
	static types.EntityMap
}

// indexAbove is the number of request entities past which they are found
// through a map.
const indexAbove = 8

// find returns the position of uid in r.local, or -1.
func (r *requestEntities) find(uid types.EntityUID) int {
	if r.index != nil {
		if i, ok := r.index[uid]; ok {
			return i
		}
		return -1
	}
	for i := range r.local {
		if r.local[i].UID == uid {
			return i
		}
	}
	return -1
}

// Get implements types.EntityGetter.
func (r *requestEntities) Get(uid types.EntityUID) (types.Entity, bool) {
	if i := r.find(uid); i >= 0 {
		return r.local[i], true
	}
	e, ok := r.static[uid]
	return e, ok
}

// add adds e unless an entity with its UID is already present (a Device
// principal revoking itself is both principal and resource; the principal,
// which carries the parents, wins).
func (r *requestEntities) add(e types.Entity) {
	if r.find(e.UID) >= 0 {
		return
	}
	r.local = append(r.local, e)
	switch {
	case r.index != nil:
		r.index[e.UID] = len(r.local) - 1
	case len(r.local) > indexAbove:
		r.index = make(map[types.EntityUID]int, 2*len(r.local))
		for i := range r.local {
			r.index[r.local[i].UID] = i
		}
	}
}

// entityMap returns every entity of the request, for validation in tests.
func (r *requestEntities) entityMap() types.EntityMap {
	m := types.EntityMap{}
	for _, e := range r.local {
		m[e.UID] = e
	}
	for uid, e := range r.static {
		m[uid] = e
	}
	return m
}

// buildRequest checks req against the model and returns the Cedar request
// and its entities. Every check here is about shape, not permission: a
// request that fails one is malformed and denied without evaluating policies.
func (m *model) buildRequest(req Request) (types.Request, *requestEntities, error) {
	act, ok := m.actions[req.Action]
	if !ok {
		return types.Request{}, nil, fmt.Errorf("unknown action %q", truncate(string(req.Action), 40))
	}
	p := req.Principal
	switch p.Kind {
	case KindUser, KindDevice, KindConnector:
	default:
		return types.Request{}, nil, fmt.Errorf("unknown principal kind %q", p.Kind)
	}
	if !slices.Contains(act.principals, types.EntityType(p.Kind)) {
		return types.Request{}, nil, fmt.Errorf("principal kind %q is not valid for action %q", p.Kind, req.Action)
	}
	if p.ID == "" {
		return types.Request{}, nil, fmt.Errorf("empty %s principal id", p.Kind)
	}
	if (p.Kind == KindDevice) != (p.Owner != "") {
		if p.Kind == KindDevice {
			return types.Request{}, nil, fmt.Errorf("device principal %s has no owner", p)
		}
		return types.Request{}, nil, fmt.Errorf("%s principal %s has an owner; only devices do", p.Kind, p)
	}
	if slices.Contains(p.Roles, "") {
		return types.Request{}, nil, fmt.Errorf("principal %s has an empty role name", p)
	}
	switch req.Transport {
	case peer.Unix:
		// The local socket has no device; a device id here means the
		// caller mixed up connection facts.
		if req.DeviceID != "" {
			return types.Request{}, nil, fmt.Errorf("device id %q on the unix transport", req.DeviceID)
		}
	case peer.TCP, peer.QUIC:
	default:
		return types.Request{}, nil, fmt.Errorf("unknown transport %q", req.Transport)
	}
	// A Device principal is established by the device's certificate on
	// this very connection, so the context's device must be the principal.
	if p.Kind == KindDevice && string(req.DeviceID) != p.ID {
		return types.Request{}, nil, fmt.Errorf("device principal %s called with device id %q", p, req.DeviceID)
	}

	r := req.Resource
	if !slices.Contains(act.resources, types.EntityType(r.Type)) {
		return types.Request{}, nil, fmt.Errorf("resource type %q is not valid for action %q", r.Type, req.Action)
	}
	if r.ID == "" {
		return types.Request{}, nil, fmt.Errorf("empty %s resource id", r.Type)
	}

	ents := &requestEntities{static: m.static}
	ents.local = ents.buf[:0]

	// Principal and its ancestry.
	roles := make([]types.EntityUID, len(p.Roles))
	for i, name := range p.Roles {
		roles[i] = types.NewEntityUID(roleType, types.String(name))
	}
	principal := p.uid()
	switch p.Kind {
	case KindDevice:
		owner := types.NewEntityUID(KindUser, types.String(p.Owner))
		ents.add(types.Entity{UID: principal, Parents: types.NewEntityUIDSet(owner)})
		ents.add(types.Entity{UID: owner, Parents: types.NewEntityUIDSet(roles...)})
	default:
		ents.add(types.Entity{UID: principal, Parents: types.NewEntityUIDSet(roles...)})
	}
	for _, role := range roles {
		ents.add(types.Entity{UID: role})
	}

	// Resource and its ancestry.
	// Vault::"*" is a static entity.
	resource := r.uid()
	var scope string
	switch r.Type {
	case ResourceSecret:
		var ok bool
		if scope, ok = secretScope(r.ID); !ok {
			return types.Request{}, nil, fmt.Errorf("secret id %q is not <scope>/<key>", r.ID)
		}
		vault := types.NewEntityUID(ResourceVault, types.String(scope))
		ents.add(types.Entity{UID: resource, Parents: types.NewEntityUIDSet(vault)})
		ents.add(types.Entity{UID: vault, Parents: m.scopeParents(scope)})
	case ResourceVault:
		scope = r.ID
		if r.ID != AllScopes {
			ents.add(types.Entity{UID: resource, Parents: m.scopeParents(scope)})
		}
	case ResourceDaemon:
		if r.ID != DaemonLocal {
			return types.Request{}, nil, fmt.Errorf("unknown daemon %q", r.ID)
		}
		ents.add(types.Entity{UID: resource})
	case ResourceAudit:
		if r.ID != AuditJournal {
			return types.Request{}, nil, fmt.Errorf("unknown audit resource %q", r.ID)
		}
		ents.add(types.Entity{UID: resource})
	default:
		ents.add(types.Entity{UID: resource})
	}

	ctx, err := act.contextRecord(&req, transportValues[req.Transport], scope)
	if err != nil {
		return types.Request{}, nil, err
	}
	return types.Request{
		Principal: principal,
		Action:    act.uid,
		Resource:  resource,
		Context:   ctx,
	}, ents, nil
}

// connectorScopePrefix starts the vault scope of one connector,
// "connector:<name>".
const connectorScopePrefix = "connector:"

// scopeParents returns the parents of the named vault scope: Vault::"*",
// and for "connector:<name>" also Connector::"<name>", so that a policy can
// give a connector its own scope with `resource in principal`.
func (m *model) scopeParents(scope string) types.EntityUIDSet {
	name, ok := strings.CutPrefix(scope, connectorScopePrefix)
	if !ok || name == "" {
		return m.allScopesParent
	}
	return types.NewEntityUIDSet(types.NewEntityUID(ResourceVault, AllScopes), types.NewEntityUID(KindConnector, types.String(name)))
}
