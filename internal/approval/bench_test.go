package approval

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkUseGrant is what a live `for` grant costs a request: one
// lookup and one counted use (a durable write), beside a Get of the same
// record (a read), on a real database file.
func BenchmarkUseGrant(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "approvals.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := testRequest(`Secret::"global/gated"`)
	a, _, _ := s.Create(ctx, r, time.Hour)
	if _, err := s.Resolve(ctx, a.ID, Decision{Approve: true, Scope: Scope{Kind: ScopeFor, For: MaxGrant}, Decider: "x"}); err != nil {
		b.Fatal(err)
	}
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, a.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("use-grant", func(b *testing.B) {
		for b.Loop() {
			if _, ok, err := s.UseGrant(ctx, r.Hash, r.Requester, r.Session, r.Policies); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
