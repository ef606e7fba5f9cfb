package authz

import (
	"cmp"
	"iter"
	"slices"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// policySelector picks the policies Decide evaluates for one request: a
// subset of the Engine's policies that contains every policy whose scope
// the request satisfies.
type policySelector interface {
	candidates(req cedar.Request, ents types.EntityGetter) cedar.PolicyIterator
}

// policyIndex selects, for one request, the policies whose scope can match
// it, so cedar-go evaluates those instead of the whole set.
//
// Every policy is filed under one key per scope element: principal, then
// action, then resource. A key is the entity of an `==` or `in` constraint,
// the type of an `is` constraint (`is T in E` is filed under `in E`), or
// "any" for an unconstrained element; `action in [A1, A2]` is filed under
// each listed action. A request looks up, for each element, the keys that
// can hold for it: `== X` and `is type(X)` for the element X itself, and
// `in Y` for X and every ancestor Y of X in the request's entities, plus
// "any". The candidates are the union of the matching buckets.
//
// The selection is a superset of the policies whose scope is satisfied:
// a policy left out has some scope constraint that is false for the
// request, and Cedar evaluates the scope before the conditions, so such a
// policy evaluates to false without error and contributes neither a
// reason nor an error. Evaluating only the candidates therefore gives the
// same decision, reasons and errors as evaluating every policy. Policies
// whose scope the index does not recognize are filed under "any" and are
// always candidates.
//
// A policyIndex is immutable after newPolicyIndex and safe for concurrent
// use.
type policyIndex struct {
	// policies are the indexed policies, sorted by id; buckets hold
	// positions in it.
	policies []indexedPolicy
	// keys numbers, from 1, every key some policy is filed under, so the
	// levels below are keyed by small integers and a request's keys that
	// no policy uses are dropped after one lookup.
	keys map[scopeKey]keyID
	root principalLevel
}

// indexedPolicy is one policy of the index.
type indexedPolicy struct {
	id     cedar.PolicyID
	policy *cedar.Policy
}

// scopeOp is the kind of a scope key.
type scopeOp uint8

const (
	// opEq: the element equals the key's entity.
	opEq scopeOp = iota + 1
	// opIn: the element is the key's entity or a descendant of it.
	opIn
	// opIs: the element's type is the key's entity type (uid.ID is "").
	opIs
)

// scopeKey is one scope constraint on a request element.
type scopeKey struct {
	op  scopeOp
	uid types.EntityUID
}

// keyID is the number of a scopeKey in an index; 0 is "any".
type keyID uint32

// principalLevel, actionLevel and resourceLevel are the three levels of
// the index: a policy is found by its principal key, then its action key,
// then its resource key. The "any" branch of a level holds the policies
// that do not constrain that element.
type principalLevel struct {
	keyed map[keyID]*actionLevel
	any   *actionLevel
}

type actionLevel struct {
	keyed map[keyID]*resourceLevel
	any   *resourceLevel
}

type resourceLevel struct {
	keyed map[keyID][]int32
	any   []int32
}

// newPolicyIndex indexes the policies of ps.
func newPolicyIndex(ps cedar.PolicyIterator) *policyIndex {
	ix := &policyIndex{}
	for id, p := range ps.All() {
		ix.policies = append(ix.policies, indexedPolicy{id: id, policy: p})
	}
	slices.SortFunc(ix.policies, func(a, b indexedPolicy) int { return cmp.Compare(a.id, b.id) })
	for i, p := range ix.policies {
		ast := p.policy.AST()
		ix.insert(int32(i), scopeKeys(ast.Principal), scopeKeys(ast.Action), scopeKeys(ast.Resource))
	}
	return ix
}

// scopeKeys returns the keys under which a policy with the scope element s
// is filed; nil means "any".
func scopeKeys(s xast.IsScopeNode) []scopeKey {
	switch s := s.(type) {
	case xast.ScopeTypeEq:
		return []scopeKey{{op: opEq, uid: s.Entity}}
	case xast.ScopeTypeIn:
		return []scopeKey{{op: opIn, uid: s.Entity}}
	case xast.ScopeTypeIsIn:
		return []scopeKey{{op: opIn, uid: s.Entity}}
	case xast.ScopeTypeIs:
		return []scopeKey{{op: opIs, uid: types.EntityUID{Type: s.Type}}}
	case xast.ScopeTypeInSet:
		if len(s.Entities) == 0 {
			// `in []` never matches; keeping it under "any" lets
			// cedar-go say so.
			return nil
		}
		keys := make([]scopeKey, len(s.Entities))
		for i, e := range s.Entities {
			keys[i] = scopeKey{op: opIn, uid: e}
		}
		return keys
	default:
		// ScopeTypeAll, and anything this index does not know.
		return nil
	}
}

// insert files policy i under every combination of its keys (nil: any).
func (ix *policyIndex) insert(i int32, principal, action, resource []scopeKey) {
	for _, pk := range ix.intern(principal) {
		al := ix.root.child(pk)
		for _, ak := range ix.intern(action) {
			rl := al.child(ak)
			for _, rk := range ix.intern(resource) {
				rl.add(rk, i)
			}
		}
	}
}

// intern returns the numbers of keys, numbering new ones, or the single
// number 0 (any) if keys is empty.
func (ix *policyIndex) intern(keys []scopeKey) []keyID {
	if len(keys) == 0 {
		return []keyID{0}
	}
	if ix.keys == nil {
		ix.keys = map[scopeKey]keyID{}
	}
	ids := make([]keyID, len(keys))
	for i, k := range keys {
		id, ok := ix.keys[k]
		if !ok {
			id = keyID(len(ix.keys) + 1) // #nosec G115 -- a few keys per policy; an engine holds far fewer than 2^32
			ix.keys[k] = id
		}
		ids[i] = id
	}
	return ids
}

func (l *principalLevel) child(k keyID) *actionLevel {
	if k == 0 {
		if l.any == nil {
			l.any = &actionLevel{}
		}
		return l.any
	}
	if l.keyed == nil {
		l.keyed = map[keyID]*actionLevel{}
	}
	c := l.keyed[k]
	if c == nil {
		c = &actionLevel{}
		l.keyed[k] = c
	}
	return c
}

func (l *actionLevel) child(k keyID) *resourceLevel {
	if k == 0 {
		if l.any == nil {
			l.any = &resourceLevel{}
		}
		return l.any
	}
	if l.keyed == nil {
		l.keyed = map[keyID]*resourceLevel{}
	}
	c := l.keyed[k]
	if c == nil {
		c = &resourceLevel{}
		l.keyed[k] = c
	}
	return c
}

func (l *resourceLevel) add(k keyID, i int32) {
	if k == 0 {
		l.any = append(l.any, i)
		return
	}
	if l.keyed == nil {
		l.keyed = map[keyID][]int32{}
	}
	l.keyed[k] = append(l.keyed[k], i)
}

// maxAncestors bounds the ancestor walk of one request element. Past it the
// index gives up on selecting and returns every policy, which is always
// correct, only slower.
const maxAncestors = 256

// elementKeys appends to dst the index's numbers of the keys that hold for
// the request element uid: `== uid`, `is uid.Type`, and `in Y` for uid and
// each of its ancestors Y in ents. Keys no policy is filed under are left
// out. The walk follows parents as cedar-go's `in` does: an entity's
// parents count whether or not they are in ents, and the parents of an
// entity not in ents are none. walk is scratch space. It reports false if
// uid has more than maxAncestors ancestors.
func (ix *policyIndex) elementKeys(dst []keyID, uid types.EntityUID, ents types.EntityGetter, walk []types.EntityUID) ([]keyID, bool) {
	dst = ix.appendKey(dst, scopeKey{op: opEq, uid: uid})
	dst = ix.appendKey(dst, scopeKey{op: opIs, uid: types.EntityUID{Type: uid.Type}})
	seen := append(walk[:0], uid)
	for next := 0; next < len(seen); next++ {
		dst = ix.appendKey(dst, scopeKey{op: opIn, uid: seen[next]})
		e, ok := ents.Get(seen[next])
		if !ok {
			continue
		}
		for p := range e.Parents.All() {
			if !slices.Contains(seen, p) {
				if len(seen) > maxAncestors {
					return dst, false
				}
				seen = append(seen, p)
			}
		}
	}
	return dst, true
}

// appendKey appends the number of key to dst, if some policy is filed
// under it.
func (ix *policyIndex) appendKey(dst []keyID, key scopeKey) []keyID {
	if id, ok := ix.keys[key]; ok {
		dst = append(dst, id)
	}
	return dst
}

// candidates returns the policies whose scope can match req, in id order,
// as a cedar.PolicyIterator. ents must be the entities req is authorized
// against.
func (ix *policyIndex) candidates(req cedar.Request, ents types.EntityGetter) cedar.PolicyIterator {
	if ents == nil {
		ents = types.EntityMap(nil)
	}
	var walk [16]types.EntityUID
	var pbuf, abuf, rbuf [8]keyID
	p, ok := ix.elementKeys(pbuf[:0], req.Principal, ents, walk[:])
	if !ok {
		return allPolicies(ix.policies)
	}
	a, ok := ix.elementKeys(abuf[:0], req.Action, ents, walk[:])
	if !ok {
		return allPolicies(ix.policies)
	}
	r, ok := ix.elementKeys(rbuf[:0], req.Resource, ents, walk[:])
	if !ok {
		return allPolicies(ix.policies)
	}
	sel := &selection{policies: ix.policies}
	out := ix.root.collect(sel.buf[:0], p, a, r)
	// A policy filed under several actions (`action in [A1, A2]`) is
	// found once per listed action that holds.
	slices.Sort(out)
	sel.picked = slices.Compact(out)
	return sel
}

// collect appends the policies filed under the keys p, a and r (or any) to
// out.
func (l *principalLevel) collect(out []int32, p, a, r []keyID) []int32 {
	out = l.any.collect(out, a, r)
	if l.keyed != nil {
		for _, k := range p {
			out = l.keyed[k].collect(out, a, r)
		}
	}
	return out
}

func (l *actionLevel) collect(out []int32, a, r []keyID) []int32 {
	if l == nil {
		return out
	}
	out = l.any.collect(out, r)
	if l.keyed != nil {
		for _, k := range a {
			out = l.keyed[k].collect(out, r)
		}
	}
	return out
}

func (l *resourceLevel) collect(out []int32, r []keyID) []int32 {
	if l == nil {
		return out
	}
	out = append(out, l.any...)
	if l.keyed != nil {
		for _, k := range r {
			out = append(out, l.keyed[k]...)
		}
	}
	return out
}

// selection is a subset of an index's policies, in id order.
type selection struct {
	policies []indexedPolicy
	picked   []int32
	buf      [32]int32
}

// All implements cedar.PolicyIterator.
func (s *selection) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, i := range s.picked {
			p := &s.policies[i]
			if !yield(p.id, p.policy) {
				return
			}
		}
	}
}

// allPolicies is every policy of an index, in id order.
type allPolicies []indexedPolicy

// All implements cedar.PolicyIterator.
func (s allPolicies) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for i := range s {
			if !yield(s[i].id, s[i].policy) {
				return
			}
		}
	}
}
