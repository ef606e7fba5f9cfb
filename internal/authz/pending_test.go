package authz

import (
	"slices"
	"testing"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/peer"
)

// TestPending: a deny becomes Pending only when every determining forbid
// is approvable, nothing failed, and a permit would otherwise allow.
func TestPending(t *testing.T) {
	e := newEngine(t,
		`@id("approve-vault-read") @approval("required") forbid (principal, action == Action::"vault.read", resource == Secret::"global/gated");`,
		`@id("approve-gated-writes") @approval("required") forbid (principal, action == Action::"vault.write", resource in Vault::"gated");`,
		`@id("no-gated-writes-by-bots") forbid (principal is Connector, action == Action::"vault.write", resource in Vault::"gated");`,
	)
	gated := Request{Principal: adminUser, Action: ActionVaultRead, Resource: SecretResource("global", "gated"), Transport: peer.Unix}
	tests := []struct {
		name     string
		req      Request
		effect   Effect
		policies []string
	}{
		{"approvable forbid over a permit", gated, Pending, []string{"approve-vault-read"}},
		{"approvable forbid and no permit: a default deny stays a deny", Request{Principal: bobUser, Action: ActionVaultRead, Resource: SecretResource("global", "gated"), Transport: peer.Unix},
			Deny, []string{"approve-vault-read"}},
		{"another secret is allowed", Request{Principal: adminUser, Action: ActionVaultRead, Resource: SecretResource("global", "other"), Transport: peer.Unix},
			Allow, []string{"admin-full-access"}},
		{"approvable and plain forbid together: a deny", Request{Principal: Principal{Kind: KindConnector, ID: "c", Roles: []string{"admin"}}, Action: ActionVaultWrite,
			Resource: SecretResource("gated", "k"), Transport: peer.TCP, Context: map[string]types.Value{"value_size": types.Long(1)}},
			Deny, []string{"approve-gated-writes", "no-gated-writes-by-bots"}},
		{"approvable forbid alone on writes", Request{Principal: adminUser, Action: ActionVaultWrite, Resource: SecretResource("gated", "k"), Transport: peer.Unix, Context: map[string]types.Value{"value_size": types.Long(1)}},
			Pending, []string{"approve-gated-writes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.req)
			if d.Effect != tt.effect || !slices.Equal(d.Policies, tt.policies) {
				t.Fatalf("Decide = %+v, want %v by %q", d, tt.effect, tt.policies)
			}
			if d.Effect == Pending && (d.Allowed() || len(d.Obligations) == 0) {
				t.Fatalf("a pending decision must not be allowed and must carry its obligation: %+v", d)
			}
		})
	}
}

// TestNoSelfApproval: the baseline forbids deciding one's own request,
// even for an admin; another principal may.
func TestNoSelfApproval(t *testing.T) {
	e := newEngine(t)
	req := func(own bool) Request {
		return Request{Principal: adminUser, Action: ActionApprovalDecide, Resource: Resource{Type: ResourceApproval, ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, Transport: peer.Unix,
			Context: map[string]types.Value{"requester": types.String(`User::"admin"`), "requested_action": types.String("vault.read"), "own_request": types.Boolean(own)}}
	}
	if d := e.Decide(req(true)); d.Effect != Deny || !slices.Equal(d.Policies, []string{"no-self-approval"}) {
		t.Fatalf("own request: %+v", d)
	}
	if d := e.Decide(req(false)); d.Effect != Allow {
		t.Fatalf("another's request: %+v", d)
	}
}

// BenchmarkDecidePending is the cost of an approvable decision (a second,
// permit-only evaluation) beside an allow and a plain deny of the same
// shape, on one engine.
func BenchmarkDecidePending(b *testing.B) {
	e := newEngine(b,
		`@id("approve-vault-read") @approval("required") forbid (principal, action == Action::"vault.read", resource == Secret::"global/gated");`,
		`@id("no-secret-x") forbid (principal, action == Action::"vault.read", resource == Secret::"global/x");`,
	)
	for _, c := range []struct {
		name   string
		key    string
		effect Effect
	}{{"allow", "other", Allow}, {"deny", "x", Deny}, {"pending", "gated", Pending}} {
		req := Request{Principal: adminUser, Action: ActionVaultRead, Resource: SecretResource("global", c.key), Transport: peer.Unix}
		if d := e.Decide(req); d.Effect != c.effect {
			b.Fatalf("%s: %+v", c.name, d)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Decide(req)
			}
		})
	}
}
