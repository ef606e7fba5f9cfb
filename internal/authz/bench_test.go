package authz

import (
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
