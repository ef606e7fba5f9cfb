package authz

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/palyra/palyra/internal/peer"
)

// FuzzNewEngine feeds arbitrary policy text to NewEngine. Properties:
// NewEngine never panics and fails only with a *PolicyError; an Engine it
// returns decides a fixed set of requests without panicking, every effect is
// Allow or Deny, every allow names a determining policy, every named policy
// is loaded, every obligation is a known one of a determining policy, and no
// extra policy lifts the baseline forbid on device enrollment by a device;
// and the index changes no decision (Decide equals evaluating every policy).
func FuzzNewEngine(f *testing.F) {
	// Seeds beyond testdata/fuzz/FuzzNewEngine.
	f.Add([]byte(`@id("x") permit (principal, action, resource);`))
	f.Add([]byte(`@id("x") forbid (principal, action in Action::"vault", resource) unless { context.transport == "unix" };`))
	f.Add([]byte(`@id("x") @approval("required") forbid (principal is Connector, action, resource);`))
	f.Add([]byte(`@id("x") permit (principal, action == Action::"vault.write", resource) when { context.value_size < 100 && context.scope like "g*" };`))
	f.Add([]byte(`@id("x") permit (principal is Device in Role::"member", action in [Action::"vault.read", Action::"vault"], resource is Secret in Vault::"*");`))
	f.Add([]byte(`@id("x") forbid (principal == Connector::"discord", action == Action::"vault.write", resource in Vault::"global") when { context.value_size * 4611686018427387904 > 0 };`))

	reqs := []Request{
		remote(adminDev, ActionDeviceEnroll, peer.TCP),
		remote(bobDev, ActionVaultRead, peer.QUIC),
		local(bobUser, ActionVaultList),
		local(adminUser, ActionDaemonStatus),
		remote(Principal{Kind: KindConnector, ID: "discord", Roles: []string{"bot"}}, ActionDeviceList, peer.TCP),
		remote(Principal{Kind: KindConnector, ID: "discord", Roles: []string{"bot"}}, ActionVaultWrite, peer.QUIC),
		local(bobUser, ActionAuditRead),
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		e, err := NewEngine(text)
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) || err.Error() == "" {
				t.Fatalf("NewEngine error %T %q is not a *PolicyError", err, err)
			}
			if e != nil {
				t.Fatalf("NewEngine returned an engine and an error")
			}
			return
		}
		ids := e.PolicyIDs()
		plain := unindexed(e)
		for _, req := range reqs {
			d := e.Decide(req)
			if want := plain.Decide(req); !reflect.DeepEqual(d, want) {
				t.Fatalf("Decide(%+v) indexed = %+v, plain = %+v", req, d, want)
			}
			switch d.Effect {
			case Allow, Deny:
			case Pending:
				// Only a deny by approvable forbids alone, without
				// evaluation errors, may wait for a human.
				if len(d.Errors) != 0 || len(d.Policies) == 0 {
					t.Fatalf("Decide(%+v) pending with errors or no determining policy: %+v", req, d)
				}
				for _, id := range d.Policies {
					if !slices.ContainsFunc(d.Obligations, func(o Obligation) bool { return o.Policy == id && o.Name == "approval" }) {
						t.Fatalf("Decide(%+v) pending on %q, which is not an @approval policy: %+v", req, id, d)
					}
				}
			default:
				t.Fatalf("Decide(%+v) = %+v, want allow, deny or pending", req, d)
			}
			if d.Allowed() && len(d.Policies) == 0 {
				t.Fatalf("Decide(%+v) allowed with no determining policy: %+v", req, d)
			}
			for _, o := range d.Obligations {
				if _, known := obligationRules[o.Name]; !known || !slices.Contains(d.Policies, o.Policy) {
					t.Fatalf("Decide(%+v) has an unknown obligation or one of no determining policy: %+v", req, d)
				}
			}
			for _, id := range d.Policies {
				if !slices.Contains(ids, id) {
					t.Fatalf("Decide(%+v) names unknown policy %q", req, id)
				}
			}
		}
		if d := e.Decide(reqs[0]); d.Effect != Deny || !slices.Contains(d.Policies, "device-admin-local-only") {
			t.Fatalf("extra policy lifted device-admin-local-only: %+v", d)
		}
	})
}
