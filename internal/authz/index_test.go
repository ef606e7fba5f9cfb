package authz

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
)

// longTests reports whether the long variants of the differential tests
// were asked for (PALYRA_LONG_TESTS=1).
func longTests() bool { return os.Getenv("PALYRA_LONG_TESTS") == "1" }

// everyPolicy is the selector of plain cedar-go: every policy, every time.
type everyPolicy struct{ ps *cedar.PolicySet }

func (s everyPolicy) candidates(cedar.Request, types.EntityGetter) cedar.PolicyIterator {
	return s.ps
}

// unindexed returns a copy of e that evaluates every policy for every
// request, as Decide did before the index.
func unindexed(e *Engine) *Engine {
	plain := *e
	plain.index = everyPolicy{e.policies}
	return &plain
}

// outcome is cedar.Authorize's result in a canonical order: cedar-go
// reports reasons and errors in the iteration order of the policy set,
// which for a PolicySet is map order.
type outcome struct {
	Decision cedar.Decision
	Reasons  []cedar.DiagnosticReason
	Errors   []cedar.DiagnosticError
}

func authorize(ps cedar.PolicyIterator, ents types.EntityGetter, req cedar.Request) outcome {
	dec, diag := cedar.Authorize(ps, ents, req)
	o := outcome{Decision: dec, Reasons: diag.Reasons, Errors: diag.Errors}
	slices.SortFunc(o.Reasons, func(a, b cedar.DiagnosticReason) int { return cmp.Compare(a.PolicyID, b.PolicyID) })
	slices.SortFunc(o.Errors, func(a, b cedar.DiagnosticError) int { return cmp.Compare(a.PolicyID, b.PolicyID) })
	return o
}

// differ authorizes req against every policy of ps and against the
// candidates ix selects, and describes any difference ("" if none). It
// also counts, in *evaluated, how many policies the index selected.
func differ(ps *cedar.PolicySet, ix *policyIndex, ents types.EntityGetter, req cedar.Request, evaluated *int) string {
	plain := authorize(ps, ents, req)
	sel := ix.candidates(req, ents)
	for range sel.All() {
		*evaluated++
	}
	indexed := authorize(sel, ents, req)
	if reflect.DeepEqual(plain, indexed) || sameUpToMessageOrder(ps, ents, req, plain, indexed) {
		return ""
	}
	return fmt.Sprintf("request %v %v %v %v:\nplain   %+v\nindexed %+v", req.Principal, req.Action, req.Resource, req.Context, plain, indexed)
}

// sameUpToMessageOrder reports whether plain and indexed differ only in
// error messages that plain evaluation can also produce. cedar-go reports
// the first error it meets, and in a record literal with several failing
// values that depends on Go's map iteration order, so evaluating the same
// policy twice can give two messages. Each differing message must come out
// of evaluating that policy alone, plainly, within a few tries.
func sameUpToMessageOrder(ps *cedar.PolicySet, ents types.EntityGetter, req cedar.Request, plain, indexed outcome) bool {
	if plain.Decision != indexed.Decision || !reflect.DeepEqual(plain.Reasons, indexed.Reasons) || len(plain.Errors) != len(indexed.Errors) {
		return false
	}
	for i, want := range plain.Errors {
		got := indexed.Errors[i]
		if got.PolicyID != want.PolicyID || got.Position != want.Position {
			return false
		}
		if got.Message == want.Message {
			continue
		}
		alone := cedar.PolicyMap{got.PolicyID: ps.Get(got.PolicyID)}
		found := false
		for range 200 {
			if _, diag := cedar.Authorize(alone, ents, req); len(diag.Errors) == 1 && diag.Errors[0].Message == got.Message {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// randomWorld is a random entity store and the names random policies and
// requests draw from.
type randomWorld struct {
	ents     types.EntityMap
	entities []types.EntityUID // principals and resources, some not in ents
	actions  []types.EntityUID // actions and action groups, some not in ents
	types    []types.EntityType
}

func uidOf(typ string, id string) types.EntityUID {
	return types.NewEntityUID(types.EntityType(typ), types.String(id))
}

// newRandomWorld builds a hierarchy like Palyra's (Device in User in Role;
// Secret in Vault in Vault::"*"), with extras: entities with several
// parents, a parent cycle, parents missing from the store, entities missing
// from the store, and attributes some entities lack.
func newRandomWorld(r *rand.Rand) *randomWorld {
	w := &randomWorld{ents: types.EntityMap{}, types: []types.EntityType{"User", "Device", "Role", "Secret", "Vault", "Tool", "Action"}}
	add := func(uid types.EntityUID, parents ...types.EntityUID) {
		attrs := types.RecordMap{}
		if r.IntN(2) == 0 {
			attrs["level"] = types.Long(r.IntN(5))
		}
		if r.IntN(3) == 0 {
			attrs["owner"] = uidOf("User", fmt.Sprint("u", r.IntN(4)))
		}
		w.ents[uid] = types.Entity{UID: uid, Parents: types.NewEntityUIDSet(parents...), Attributes: types.NewRecord(attrs)}
		w.entities = append(w.entities, uid)
	}
	pick := func(typ string, n int) types.EntityUID {
		return uidOf(typ, fmt.Sprint(strings.ToLower(typ[:1]), r.IntN(n)))
	}
	for i := range 3 {
		add(uidOf("Role", fmt.Sprint("r", i)), pick("Role", 4)) // r3 is missing; roles may form a cycle
	}
	for i := range 4 {
		var roles []types.EntityUID
		for range r.IntN(3) {
			roles = append(roles, pick("Role", 4))
		}
		add(uidOf("User", fmt.Sprint("u", i)), roles...)
	}
	for i := range 5 {
		add(uidOf("Device", fmt.Sprint("d", i)), pick("User", 5)) // u4 is missing
	}
	all := uidOf("Vault", "*")
	add(all)
	for i := range 3 {
		add(uidOf("Vault", fmt.Sprint("v", i)), all)
	}
	for i := range 5 {
		add(uidOf("Secret", fmt.Sprint("s", i)), pick("Vault", 3), pick("Vault", 4))
	}
	add(uidOf("Tool", "exec"))
	// Entities named by policies and requests but absent from the store.
	w.entities = append(w.entities, uidOf("User", "u9"), uidOf("Device", "d9"), uidOf("Secret", "s9"), uidOf("Vault", "v9"), uidOf("Tool", "fetch"))

	group, sub := uidOf("Action", "all"), uidOf("Action", "vault")
	w.ents[group] = types.Entity{UID: group}
	w.ents[sub] = types.Entity{UID: sub, Parents: types.NewEntityUIDSet(group)}
	w.actions = []types.EntityUID{group, sub}
	for i := range 4 {
		a := uidOf("Action", fmt.Sprint("a", i))
		parents := []types.EntityUID{group}
		if i < 2 {
			parents = append(parents, sub)
		}
		w.ents[a] = types.Entity{UID: a, Parents: types.NewEntityUIDSet(parents...)}
		w.actions = append(w.actions, a)
	}
	w.actions = append(w.actions, uidOf("Action", "a9"))
	return w
}

func (w *randomWorld) entity(r *rand.Rand) types.EntityUID {
	return w.entities[r.IntN(len(w.entities))]
}
func (w *randomWorld) action(r *rand.Rand) types.EntityUID { return w.actions[r.IntN(len(w.actions))] }
func (w *randomWorld) typ(r *rand.Rand) types.EntityType   { return w.types[r.IntN(len(w.types))] }

// scope returns a random principal or resource scope constraint.
func (w *randomWorld) scope(r *rand.Rand, v string) string {
	switch r.IntN(5) {
	case 0:
		return v
	case 1:
		return v + " == " + w.entity(r).String()
	case 2:
		return v + " in " + w.entity(r).String()
	case 3:
		return v + " is " + string(w.typ(r))
	default:
		return fmt.Sprintf("%s is %s in %s", v, w.typ(r), w.entity(r))
	}
}

func (w *randomWorld) actionScope(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0:
		return "action"
	case 1:
		return "action == " + w.action(r).String()
	case 2:
		return "action in " + w.action(r).String()
	default:
		list := make([]string, r.IntN(4))
		for i := range list {
			list[i] = w.action(r).String()
		}
		return "action in [" + strings.Join(list, ", ") + "]"
	}
}

// conditions are when/unless bodies; several error for some requests
// (missing attribute, overflow, wrong type).
var randomConditions = []string{
	`true`,
	`false`,
	`context.n > 2`,
	`context has n && context.n > 2`,
	`context.n * 4611686018427387904 > 0`,
	`principal.level > 1`,
	`principal has level && principal.level < 3`,
	`resource.owner == principal`,
	`resource has owner && principal in resource.owner`,
	`context.flag`,
	`resource in principal`,
	`principal in resource`,
	`principal.level + "x" == 1`,
	`context.tags.contains("rm")`,
}

func (w *randomWorld) policy(r *rand.Rand) string {
	var b strings.Builder
	if r.IntN(2) == 0 {
		b.WriteString("permit")
	} else {
		b.WriteString("forbid")
	}
	fmt.Fprintf(&b, " (%s, %s, %s)", w.scope(r, "principal"), w.actionScope(r), w.scope(r, "resource"))
	for range r.IntN(3) {
		kw := "when"
		if r.IntN(3) == 0 {
			kw = "unless"
		}
		fmt.Fprintf(&b, " %s { %s }", kw, randomConditions[r.IntN(len(randomConditions))])
	}
	b.WriteString(";\n")
	return b.String()
}

func (w *randomWorld) request(r *rand.Rand) cedar.Request {
	ctx := types.RecordMap{}
	if r.IntN(3) > 0 {
		ctx["n"] = types.Long(r.IntN(5))
	}
	if r.IntN(2) == 0 {
		ctx["flag"] = types.Boolean(r.IntN(2) == 0)
	}
	if r.IntN(2) == 0 {
		ctx["tags"] = types.NewSet(types.String("ls"), types.String([]string{"rm", "cp"}[r.IntN(2)]))
	}
	return cedar.Request{Principal: w.entity(r), Action: w.action(r), Resource: w.entity(r), Context: types.NewRecord(ctx)}
}

// TestIndexMatchesPlainRandom compares indexed and plain evaluation of
// random requests over random policy sets, entity hierarchies and
// contexts, including policies that fail to evaluate: the decision, the
// determining policies and the errors (message and position) must be
// identical. 100,000 requests; PALYRA_LONG_TESTS=1 runs 2,000,000.
func TestIndexMatchesPlainRandom(t *testing.T) {
	sets, perSet := 200, 500
	if longTests() {
		sets = 2000
		perSet = 1000
	}
	r := rand.New(rand.NewPCG(1, 2))
	compared, evaluated, total, errored, allowed := 0, 0, 0, 0, 0
	for s := range sets {
		w := newRandomWorld(r)
		var text strings.Builder
		n := 1 + r.IntN(80)
		for range n {
			text.WriteString(w.policy(r))
		}
		ps, err := cedar.NewPolicySetFromBytes("random.cedar", []byte(text.String()))
		if err != nil {
			t.Fatalf("set %d: %v\n%s", s, err, text.String())
		}
		ix := newPolicyIndex(ps)
		for range perSet {
			req := w.request(r)
			if diff := differ(ps, ix, w.ents, req, &evaluated); diff != "" {
				t.Fatalf("set %d differs on %s\npolicies:\n%s", s, diff, text.String())
			}
			o := authorize(ps, w.ents, req)
			if len(o.Errors) > 0 {
				errored++
			}
			if o.Decision == cedar.Allow {
				allowed++
			}
			compared++
			total += n
		}
	}
	t.Logf("%d requests over %d policy sets: identical; %d allowed, %d with evaluation errors; the index evaluated %d of %d policies (%.1f%%)",
		compared, sets, allowed, errored, evaluated, total, 100*float64(evaluated)/float64(total))
	// The generator must exercise both outcomes and errors, or the
	// comparison proves little.
	if allowed == 0 || allowed == compared || errored == 0 {
		t.Errorf("degenerate random requests: %d allowed, %d errored of %d", allowed, errored, compared)
	}
}

// TestIndexSelects pins the selection itself on Palyra-shaped entities:
// which policies are candidates for a device of a user in a role reading a
// secret in a scope.
func TestIndexSelects(t *testing.T) {
	const src = `
permit (principal == Device::"d1", action, resource);
permit (principal == User::"alice", action, resource);
permit (principal in User::"alice", action, resource);
permit (principal in Role::"ops", action == Action::"vault.read", resource in Vault::"*");
permit (principal is Device in Role::"ops", action in [Action::"vault.read", Action::"vault"], resource is Secret);
permit (principal is User, action, resource);
permit (principal, action in Action::"device", resource);
permit (principal, action, resource == Secret::"global/k");
permit (principal, action, resource in Vault::"other");
permit (principal, action, resource);
permit (principal, action in [], resource);
`
	ps, err := cedar.NewPolicySetFromBytes("t.cedar", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d, alice, ops := uidOf("Device", "d1"), uidOf("User", "alice"), uidOf("Role", "ops")
	k, global, all := uidOf("Secret", "global/k"), uidOf("Vault", "global"), uidOf("Vault", "*")
	read, vault := uidOf("Action", "vault.read"), uidOf("Action", "vault")
	ents := types.EntityMap{
		d:      {UID: d, Parents: types.NewEntityUIDSet(alice)},
		alice:  {UID: alice, Parents: types.NewEntityUIDSet(ops)},
		k:      {UID: k, Parents: types.NewEntityUIDSet(global)},
		global: {UID: global, Parents: types.NewEntityUIDSet(all)},
		read:   {UID: read, Parents: types.NewEntityUIDSet(vault)},
	}
	ix := newPolicyIndex(ps)
	var got []string
	for id := range ix.candidates(cedar.Request{Principal: d, Action: read, Resource: k}, ents).All() {
		got = append(got, string(id))
	}
	// Left out: policy1 (== alice is not the device), policy5 (is User),
	// policy6 (device actions) and policy8 (another vault). policy4 is
	// filed under both of its actions, which both hold, and comes once;
	// policy10 (`in []`) is filed under any.
	want := []string{"policy0", "policy10", "policy2", "policy3", "policy4", "policy7", "policy9"}
	if !slices.Equal(got, want) {
		t.Errorf("candidates = %q, want %q", got, want)
	}
	evaluated := 0
	if diff := differ(ps, ix, ents, cedar.Request{Principal: d, Action: read, Resource: k}, &evaluated); diff != "" {
		t.Error(diff)
	}
}

// TestIndexAncestorLimit: an element with more ancestors than the walk
// follows gets every policy, not a partial selection.
func TestIndexAncestorLimit(t *testing.T) {
	ents := types.EntityMap{}
	prev := uidOf("G", "0")
	for i := 1; i <= maxAncestors+10; i++ {
		g := uidOf("G", fmt.Sprint(i))
		ents[prev] = types.Entity{UID: prev, Parents: types.NewEntityUIDSet(g)}
		prev = g
	}
	src := fmt.Sprintf("permit (principal in %s, action, resource);\npermit (principal == G::\"x\", action, resource);\n", prev)
	ps, err := cedar.NewPolicySetFromBytes("t.cedar", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ix := newPolicyIndex(ps)
	req := cedar.Request{Principal: uidOf("G", "0"), Action: uidOf("Action", "a"), Resource: uidOf("R", "r")}
	n := 0
	for range ix.candidates(req, ents).All() {
		n++
	}
	if n != 2 {
		t.Errorf("candidates past the ancestor limit = %d policies, want all 2", n)
	}
	if o := authorize(ix.candidates(req, ents), ents, req); o.Decision != cedar.Allow {
		t.Errorf("deep ancestor: %+v, want allow", o)
	}
}

// The Engine-level differential test draws from these.
var (
	randomPrincipalScopes = []string{
		`principal`, `principal == User::"u%d"`, `principal == Device::"d%d"`, `principal == Connector::"c%d"`,
		`principal in User::"u%d"`, `principal in Role::"r%d"`, `principal is Device`, `principal is User`,
		`principal is Device in User::"u%d"`, `principal is User in Role::"r%d"`, `principal is Connector in Role::"r%d"`,
	}
	randomActionScopes = []string{
		`action`, `action == Action::"vault.read"`, `action == Action::"vault.write"`, `action == Action::"tool.execute"`,
		`action in Action::"vault"`, `action in Action::"tool"`, `action in Action::"device"`,
		`action in [Action::"vault.read", Action::"vault.list"]`, `action in [Action::"vault", Action::"vault.write"]`,
		`action in [Action::"tool.execute", Action::"secret.use", Action::"approval.decide"]`,
	}
	randomResourceScopes = []string{
		`resource`, `resource == Secret::"v%d/k"`, `resource in Vault::"v%d"`, `resource in Vault::"*"`,
		`resource is Secret`, `resource is Secret in Vault::"v%d"`, `resource is Vault`, `resource == Vault::"v%d"`,
		`resource == Tool::"exec"`, `resource is Tool`, `resource == Device::"*"`, `resource is Approval`,
	}
	randomEngineConditions = []string{
		`context.transport == "tcp"`,
		`context.transport == "unix"`,
		`context.device_id == ""`,
		`principal is Device`,
		`resource in Vault::"v1"`,
		// A Long overflow: an evaluation error for vault.write values of 2
		// bytes or more.
		`context has value_size && context.value_size * 4611686018427387904 > 0`,
		`context has flags && (context.flags.contains("-r") || context.flags.contains("--recursive"))`,
		`context has program && context.program == "/usr/bin/ls"`,
	}
)

// randomEnginePolicy returns one operator policy in the Palyra schema; the
// caller discards those the strict validator rejects.
func randomEnginePolicy(r *rand.Rand, id int) string {
	fill := func(s string) string {
		if strings.Contains(s, "%d") {
			return fmt.Sprintf(s, r.IntN(4))
		}
		return s
	}
	pick := func(list []string) string { return fill(list[r.IntN(len(list))]) }
	var b strings.Builder
	fmt.Fprintf(&b, "@id(\"p%d\")\n", id)
	effect := "permit"
	if r.IntN(3) == 0 {
		effect = "forbid"
		if r.IntN(2) == 0 {
			b.WriteString("@approval(\"required\")\n")
		}
	}
	fmt.Fprintf(&b, "%s (%s, %s, %s)", effect, pick(randomPrincipalScopes), pick(randomActionScopes), pick(randomResourceScopes))
	for range r.IntN(3) {
		kw := "when"
		if r.IntN(3) == 0 {
			kw = "unless"
		}
		fmt.Fprintf(&b, " %s { %s }", kw, pick(randomEngineConditions))
	}
	b.WriteString(";\n")
	return b.String()
}

// randomEngineRequest returns a well-formed Request: a user, device or
// connector with random roles, over a random transport, for a random
// action on a resource of its type.
func randomEngineRequest(r *rand.Rand) Request {
	var p Principal
	roles := []string{}
	for range r.IntN(3) {
		roles = append(roles, fmt.Sprint("r", r.IntN(4)))
	}
	switch r.IntN(3) {
	case 0:
		p = Principal{Kind: KindUser, ID: fmt.Sprint("u", r.IntN(5)), Roles: roles}
	case 1:
		p = Principal{Kind: KindDevice, ID: fmt.Sprint("d", r.IntN(5)), Owner: fmt.Sprint("u", r.IntN(5)), Roles: roles}
	default:
		p = Principal{Kind: KindConnector, ID: fmt.Sprint("c", r.IntN(5)), Roles: roles}
	}
	action := allActions[r.IntN(len(allActions))]
	req := Request{Principal: p, Action: action, Resource: resourceFor[action], Transport: peer.Unix, Context: contextFor[action]}
	switch req.Resource.Type {
	case ResourceSecret:
		req.Resource = SecretResource(fmt.Sprint("v", r.IntN(5)), "k")
	case ResourceVault:
		req.Resource.ID = []string{"v0", "v1", AllScopes}[r.IntN(3)]
	}
	if action == ActionVaultWrite {
		req.Context = map[string]types.Value{"value_size": types.Long(r.IntN(3))}
	}
	if action == ActionToolExecute && r.IntN(2) == 0 {
		ctx := maps.Clone(contextFor[action])
		ctx["program"] = types.String("/usr/bin/rm")
		ctx["flags"] = types.NewSet(types.String([]string{"-r", "--recursive", "-f"}[r.IntN(3)]))
		req.Context = ctx
	}
	if p.Kind == KindDevice || r.IntN(2) == 0 {
		req.Transport = []peer.Transport{peer.TCP, peer.QUIC}[r.IntN(2)]
		req.DeviceID = identity.DeviceID(fmt.Sprint("d", r.IntN(5)))
		if p.Kind == KindDevice {
			req.DeviceID = identity.DeviceID(p.ID)
		}
	}
	return req
}

// TestDecideIndexedMatchesPlain compares Decide with the index against
// Decide over every policy, on random operator policy sets in the Palyra
// schema and random well-formed requests: the whole Decision (effect,
// determining policies, obligations, errors) must be identical.
func TestDecideIndexedMatchesPlain(t *testing.T) {
	sets, perSet := 20, 1000
	if longTests() {
		sets, perSet = 200, 5000
	}
	m, err := loadModel()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	compared, allowed, errored, approvals, rejected, kept := 0, 0, 0, 0, 0, 0
	for s := range sets {
		var srcs []Source
		for i := range 1 + r.IntN(150) {
			text := randomEnginePolicy(r, i)
			if _, err := loadPolicies(m.validator, []Source{{Name: "p", Text: []byte(text)}}); err != nil {
				rejected++
				continue
			}
			kept++
			srcs = append(srcs, Source{Name: fmt.Sprint("p", i), Text: []byte(text)})
		}
		e, err := NewEngineFromSources(srcs...)
		if err != nil {
			t.Fatalf("set %d: %v", s, err)
		}
		plain := unindexed(e)
		for range perSet {
			req := randomEngineRequest(r)
			got, want := e.Decide(req), plain.Decide(req)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("set %d, %+v:\nindexed %+v\nplain   %+v", s, req, got, want)
			}
			if len(want.Errors) > 0 && strings.HasPrefix(want.Errors[0], "request:") {
				t.Fatalf("malformed random request %+v: %v", req, want.Errors)
			}
			compared++
			if want.Allowed() {
				allowed++
			}
			if len(want.Errors) > 0 {
				errored++
			}
			if len(want.Obligations) > 0 {
				approvals++
			}
		}
	}
	t.Logf("%d decisions over %d engines (%d random policies kept, %d rejected by the validator): identical; %d allowed, %d with evaluation errors, %d with obligations",
		compared, sets, kept, rejected, allowed, errored, approvals)
	if allowed == 0 || allowed == compared || errored == 0 || approvals == 0 || kept < rejected {
		t.Errorf("degenerate random decisions: %d allowed, %d errored, %d with obligations of %d; %d policies kept, %d rejected",
			allowed, errored, approvals, compared, kept, rejected)
	}
}
