package authz

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/peer"
)

// benchRequest is the measured request: an admin's device reading a secret
// over TCP, allowed by admin-full-access after the transitive Device → User
// → Role walk.
var benchRequest = Request{
	Principal: adminDev,
	Action:    ActionVaultRead,
	Resource:  openAIKey,
	Transport: peer.TCP,
	DeviceID:  adminDevice,
}

// BenchmarkDecide is one full decision: request checks, entity graph
// construction, Cedar authorization and mapping the diagnostic back to @id
// values.
func BenchmarkDecide(b *testing.B) {
	e := newEngine(b)
	if d := e.Decide(benchRequest); !d.Allowed() {
		b.Fatalf("Decide = %+v, want allow", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(benchRequest)
	}
}

// BenchmarkDecideManyRoles is BenchmarkDecide for a principal with 25,000
// roles: the request entities are found through a map past a handful, so
// this grows linearly with the roles, not quadratically.
func BenchmarkDecideManyRoles(b *testing.B) {
	e := newEngine(b)
	req := benchRequest
	req.Principal.Roles = make([]string, 25000)
	for i := range req.Principal.Roles {
		req.Principal.Roles[i] = fmt.Sprintf("r%d", i)
	}
	req.Principal.Roles[0] = "admin"
	if d := e.Decide(req); !d.Allowed() {
		b.Fatalf("Decide = %+v, want allow", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(req)
	}
}

// BenchmarkCedarAuthorizeBare is the baseline for BenchmarkDecide: plain
// cedar-go Authorize over the same baseline policies, with the policy set,
// entity map and request built once outside the loop.
func BenchmarkCedarAuthorizeBare(b *testing.B) {
	ps, err := cedar.NewPolicySetFromBytes("baseline.cedar", baselineText)
	if err != nil {
		b.Fatal(err)
	}
	uid := func(typ, id string) types.EntityUID {
		return types.NewEntityUID(types.EntityType(typ), types.String(id))
	}
	device, owner, admin := uid("Device", adminDevice), uid("User", "admin"), uid("Role", "admin")
	secret, scope, all := uid("Secret", "global/openai_api_key"), uid("Vault", "global"), uid("Vault", "*")
	read, group := uid("Action", "vault.read"), uid("Action", "vault")
	entities := types.EntityMap{
		device: {UID: device, Parents: types.NewEntityUIDSet(owner)},
		owner:  {UID: owner, Parents: types.NewEntityUIDSet(admin)},
		admin:  {UID: admin},
		secret: {UID: secret, Parents: types.NewEntityUIDSet(scope)},
		scope:  {UID: scope, Parents: types.NewEntityUIDSet(all)},
		all:    {UID: all},
		read:   {UID: read, Parents: types.NewEntityUIDSet(group)},
		group:  {UID: group},
	}
	req := cedar.Request{
		Principal: device,
		Action:    read,
		Resource:  secret,
		Context: types.NewRecord(types.RecordMap{
			"transport": types.String("tcp"),
			"device_id": types.String(adminDevice),
			"scope":     types.String("global"),
		}),
	}
	if d, _ := cedar.Authorize(ps, entities, req); d != cedar.Allow {
		b.Fatalf("Authorize = %v, want allow", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		cedar.Authorize(ps, entities, req)
	}
}

// BenchmarkDecideParallel is BenchmarkDecide from GOMAXPROCS goroutines
// sharing one Engine.
func BenchmarkDecideParallel(b *testing.B) {
	e := newEngine(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Decide(benchRequest)
		}
	})
}

// BenchmarkNewEngine is the cost of (re)loading the baseline: schema
// resolution, parsing and strict validation.
func BenchmarkNewEngine(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewEngine(); err != nil {
			b.Fatal(err)
		}
	}
}

// operatorPolicies returns n policies like those operators write, most
// scoped to one user, device, connector, scope or secret: group k of eight
// policies governs user "u<k>", device "dev<k>", connector "bot<k>" and
// scope "team<k>".
func operatorPolicies(n int) []Source {
	forms := []string{
		`@id("u%[1]d-vault") permit (principal in User::"u%[1]d", action in Action::"vault", resource in Vault::"team%[1]d");`,
		`@id("dev%[1]d-no-rm-r") @approval("required") forbid (principal == Device::"dev%[1]d", action == Action::"tool.execute", resource == Tool::"exec") when { context.flags.contains("-r") || context.flags.contains("--recursive") };`,
		`@id("team%[1]d-read") permit (principal in Role::"team%[1]d", action == Action::"vault.read", resource in Vault::"team%[1]d");`,
		`@id("u%[1]d-ls") permit (principal in User::"u%[1]d", action == Action::"tool.execute", resource == Tool::"exec") when { context.program == "/usr/bin/ls" };`,
		`@id("team%[1]d-prod-delete") forbid (principal, action == Action::"vault.delete", resource == Secret::"team%[1]d/prod_key") unless { context.transport == "unix" };`,
		`@id("dev%[1]d-use") permit (principal == Device::"dev%[1]d", action == Action::"secret.use", resource in Vault::"team%[1]d");`,
		`@id("u%[1]d-approve") permit (principal == User::"u%[1]d", action in [Action::"approval.read", Action::"approval.decide"], resource);`,
		`@id("bot%[1]d-fetch") permit (principal == Connector::"bot%[1]d", action == Action::"tool.execute", resource == Tool::"http.fetch") when { context.hosts.contains("api.example.com") };`,
	}
	srcs := make([]Source, n)
	for i := range srcs {
		srcs[i] = Source{Name: fmt.Sprintf("p%d.cedar", i), Text: fmt.Appendf(nil, forms[i%len(forms)], i/len(forms))}
	}
	return srcs
}

// policiesRequest is the request of BenchmarkDecidePolicies: device dev0
// of user u0 (role team0) reading a secret of scope team0 over TCP,
// allowed by u0-vault and team0-read.
var policiesRequest = Request{
	Principal: Principal{Kind: KindDevice, ID: "dev0", Owner: "u0", Roles: []string{"team0"}},
	Action:    ActionVaultRead,
	Resource:  SecretResource("team0", "api_key"),
	Transport: peer.TCP,
	DeviceID:  "dev0",
}

// BenchmarkDecidePolicies is Decide over 10 to 10,000 policies (the
// baseline plus operator policies), indexed and, as the baseline, over
// every policy as plain cedar-go evaluates a set.
func BenchmarkDecidePolicies(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		e, err := NewEngineFromSources(operatorPolicies(n - len(newEngine(b).PolicyIDs()))...)
		if err != nil {
			b.Fatal(err)
		}
		if got := len(e.PolicyIDs()); got != n {
			b.Fatalf("%d policies, want %d", got, n)
		}
		for _, v := range []struct {
			name string
			e    *Engine
		}{{"indexed", e}, {"plain", unindexed(e)}} {
			b.Run(fmt.Sprintf("n=%d/%s", n, v.name), func(b *testing.B) {
				want := []string{"team0-read", "u0-vault"}
				if d := v.e.Decide(policiesRequest); !d.Allowed() || !slices.Equal(d.Policies, want) {
					b.Fatalf("Decide = %+v, want allow by %q", d, want)
				}
				b.ReportAllocs()
				for b.Loop() {
					v.e.Decide(policiesRequest)
				}
			})
		}
	}
}
