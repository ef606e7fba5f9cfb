package policy

import (
	"testing"

	"github.com/palyra/palyra/internal/authz"
)

// BenchmarkDecide compares a decision through the Holder (an atomic load of
// the active set, then the engine) with the engine called directly, in the
// same run: the cost of swappable policies on every request.
func BenchmarkDecide(b *testing.B) {
	dir := b.TempDir()
	h, err := Open(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	req, err := Query{Principal: `Device::"01JCXYZ8R6Q0D0E6V4V5N7Z2KA"`, Owner: "admin", Roles: []string{"admin"}, Action: "vault.read", Resource: `Secret::"global/k"`}.Request()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		d    interface {
			Decide(authz.Request) authz.Decision
		}
	}{{"engine", h.Active().engine}, {"holder", h}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !bc.d.Decide(req).Allowed() {
					b.Fatal("denied")
				}
			}
		})
	}
}
