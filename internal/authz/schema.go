package authz

import (
	_ "embed"
	"fmt"
	"slices"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

// schemaText is the Cedar schema of Palyra's entities and actions; see
// schema.cedarschema.
//
//go:embed schema.cedarschema
var schemaText []byte

// Schema returns a copy of the embedded Cedar schema text, for tooling that
// validates policy files before handing them to NewEngine.
func Schema() []byte { return slices.Clone(schemaText) }

// actionInfo is what Decide needs to know about one requestable action,
// derived from the schema so the schema is the single source of truth.
type actionInfo struct {
	uid        types.EntityUID
	principals []types.EntityType
	resources  []types.EntityType
	// scope is set if the action's context declares the engine-filled
	// scope attribute.
	scope bool
	// extra are the caller-supplied context attributes the action
	// declares, by name; required counts those that are not optional.
	extra    map[string]resolved.Attribute
	required int
	// records caches the context records of requests without
	// caller-supplied attributes (shared by copies of the actionInfo).
	records *recordCache
}

// model is the resolved schema: the policy validator, the requestable
// actions, and the action entities (with their groups) every request needs.
type model struct {
	validator *validate.Validator
	actions   map[Action]actionInfo
	// static holds the entities every request shares: each action entity,
	// with the transitive closure of its groups as parents as Cedar's
	// entity store convention asks, and Vault::"*". Entities and their
	// parent sets are immutable, so requests share them without copying.
	static types.EntityMap
	// allScopesParent is the parent set {Vault::"*"} of every named scope,
	// built once rather than per request.
	allScopesParent types.EntityUIDSet
}

// loadModel parses and resolves the embedded schema.
func loadModel() (*model, error) {
	return loadModelFrom(schemaText)
}

// loadModelFrom parses and resolves schema text.
func loadModelFrom(text []byte) (*model, error) {
	var s schema.Schema
	s.SetFilename("schema.cedarschema")
	if err := s.UnmarshalCedar(text); err != nil {
		return nil, fmt.Errorf("authz: parse schema: %w", err)
	}
	rs, err := s.Resolve()
	if err != nil {
		return nil, fmt.Errorf("authz: resolve schema: %w", err)
	}
	allScopes := types.NewEntityUID(ResourceVault, AllScopes)
	m := &model{
		validator:       validate.New(rs, validate.WithStrict()),
		actions:         map[Action]actionInfo{},
		static:          types.EntityMap{allScopes: {UID: allScopes}},
		allScopesParent: types.NewEntityUIDSet(allScopes),
	}
	for uid, a := range rs.Actions {
		m.static[uid] = types.Entity{
			UID:     uid,
			Parents: types.NewEntityUIDSet(actionAncestors(rs, uid)...),
		}
		// Action groups have no appliesTo: they exist for `action in`
		// and are not requestable themselves.
		if a.AppliesTo == nil {
			continue
		}
		info := actionInfo{
			uid:        uid,
			principals: slices.Clone(a.AppliesTo.Principals),
			resources:  slices.Clone(a.AppliesTo.Resources),
			records:    &recordCache{},
		}
		if err := info.setContext(a.AppliesTo.Context); err != nil {
			return nil, fmt.Errorf("authz: schema: action %q: %w", uid.ID, err)
		}
		m.actions[Action(uid.ID)] = info
	}
	return m, nil
}

// setContext splits the action's declared context into the attributes the
// Engine fills in and those the caller supplies. The engine-filled ones
// must be declared exactly as the Engine fills them, so the schema the
// policies are validated against cannot drift from the requests Decide
// builds.
func (a *actionInfo) setContext(ctx resolved.RecordType) error {
	for _, name := range []types.String{attrTransport, attrDeviceID} {
		if err := requireString(ctx, name); err != nil {
			return err
		}
	}
	if _, ok := ctx[attrScope]; ok {
		if err := requireString(ctx, attrScope); err != nil {
			return err
		}
		for _, r := range a.resources {
			if r != ResourceSecret && r != ResourceVault {
				return fmt.Errorf("context attribute %q needs Secret or Vault resources, not %s", attrScope, r)
			}
		}
		a.scope = true
	}
	for name, attr := range ctx {
		switch name {
		case attrTransport, attrDeviceID, attrScope:
			continue
		}
		if a.extra == nil {
			a.extra = map[string]resolved.Attribute{}
		}
		a.extra[string(name)] = attr
		if !attr.Optional {
			a.required++
		}
	}
	return nil
}

// requireString checks that ctx declares name as a required String.
func requireString(ctx resolved.RecordType, name types.String) error {
	attr, ok := ctx[name]
	if !ok {
		return fmt.Errorf("context lacks the %q attribute", name)
	}
	if _, isString := attr.Type.(resolved.StringType); !isString || attr.Optional {
		return fmt.Errorf("context attribute %q must be a required String", name)
	}
	return nil
}

// actionAncestors returns the transitive parents of the action uid.
// Resolve rejects cyclic action hierarchies; the seen set only guards the
// walk.
func actionAncestors(rs *resolved.Schema, uid types.EntityUID) []types.EntityUID {
	var out []types.EntityUID
	seen := map[types.EntityUID]bool{uid: true}
	todo := []types.EntityUID{uid}
	for len(todo) > 0 {
		cur := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for p := range rs.Actions[cur].Entity.Parents.All() {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
				todo = append(todo, p)
			}
		}
	}
	return out
}
