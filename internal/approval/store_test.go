package approval

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t *testing.T, path string, c *clock) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testRequest(resource string) Request {
	h, _ := CanonicalRequest{Principal: `Device::"d"`, Action: "vault.read", Resource: resource}.Hash()
	return Request{Requester: `Device::"d"`, DeviceID: "d", Session: "tcp/d/127.0.0.1:5000", Action: "vault.read", Resource: resource, Hash: h, Reason: "approve-vault-read",
		Summary: "vault get " + resource, Policies: []string{"approve-vault-read"}}
}

func TestCreateJoinAndDecide(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := openStore(t, filepath.Join(t.TempDir(), "approvals.db"), c)
	a, joined, err := s.Create(ctx, testRequest(`Secret::"global/gated"`), time.Minute)
	if err != nil || joined || a.State != StatePending || !ValidID(a.ID) {
		t.Fatalf("create: %+v %v %v", a, joined, err)
	}
	b, joined, err := s.Create(ctx, testRequest(`Secret::"global/gated"`), time.Minute)
	if err != nil || !joined || b.ID != a.ID {
		t.Fatalf("an identical request must join the pending one: %+v %v %v", b, joined, err)
	}
	o, joined, err := s.Create(ctx, testRequest(`Secret::"global/other"`), time.Minute)
	if err != nil || joined || o.ID == a.ID {
		t.Fatalf("another request is another record: %+v %v %v", o, joined, err)
	}
	if _, ok, _ := s.UseGrant(ctx, a.Hash, a.Requester, a.Session, testPolicies); ok {
		t.Fatal("a pending record is no grant")
	}
	got, err := s.Resolve(ctx, a.ID, Decision{Approve: true, Scope: Scope{Kind: ScopeOnce}, Decider: `User::"admin"`, Reason: "ok"})
	if err != nil || got.State != StateApproved || got.Decider != `User::"admin"` || got.GrantExpires.IsZero() {
		t.Fatalf("decide: %+v %v", got, err)
	}
	_, err = s.Resolve(ctx, a.ID, Decision{Decider: `User::"bob"`, Reason: "no"})
	var lost *LostError
	if !errors.As(err, &lost) || lost.Winner.Decider != `User::"admin"` || lost.Winner.State != StateApproved {
		t.Fatalf("second decision: %v", err)
	}
	// once: used exactly once.
	if ok, err := s.Use(ctx, a.ID, "another session"); err != nil || !ok {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, err := s.Use(ctx, a.ID, a.Session); err != nil || ok {
		t.Fatalf("a once grant used twice: %v %v", ok, err)
	}
	if _, err := s.Get(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := s.Get(ctx, "../x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
}

// TestTransitionsAreEnforcedInSQL: even a writer that bypasses Store
// cannot move a decided record, rewrite the request, reuse a once grant or
// delete a record.
func TestTransitionsAreEnforcedInSQL(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := openStore(t, filepath.Join(t.TempDir(), "approvals.db"), c)
	a, _, _ := s.Create(ctx, testRequest(`Secret::"global/gated"`), time.Minute)
	if _, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = 'approved' WHERE id = ?`, a.ID); err == nil {
		t.Fatal("an approval without decider, scope and expiry was stored")
	}
	if _, err := s.Resolve(ctx, a.ID, Decision{Decider: `User::"admin"`, Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE approvals SET state = 'pending' WHERE id = ?`,
		`UPDATE approvals SET state = 'approved', scope = 'for', grant_expires = 9e18 WHERE id = ?`,
		`UPDATE approvals SET decider = 'User::"mallory"' WHERE id = ?`,
		`UPDATE approvals SET resource = 'Secret::"global/other"' WHERE id = ?`,
		`UPDATE approvals SET uses = 1 WHERE id = ?`,
		`UPDATE approvals SET summary = 'ls' WHERE id = ?`,
		`UPDATE approvals SET policies = '["a","b"]' WHERE id = ?`,
	} {
		if _, err := s.db.ExecContext(ctx, q, a.ID); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
	if got, _ := s.Get(ctx, a.ID); got.State != StateDenied || got.Decider != `User::"admin"` {
		t.Fatalf("record changed: %+v", got)
	}
	p, _, _ := s.Create(ctx, testRequest(`Secret::"global/pending"`), time.Minute)
	if _, err := s.db.ExecContext(ctx, `DELETE FROM approvals WHERE id = ?`, p.ID); err == nil {
		t.Error("a pending record was deleted")
	}
	for _, r := range []string{"two\nlines", "bell\a", strings.Repeat("x", 513), "\xff"} {
		if _, err := s.Resolve(ctx, a.ID, Decision{Decider: "x", Reason: r}); !errors.Is(err, ErrInvalid) {
			t.Errorf("reason %q: %v", r, err)
		}
	}
	if _, err := s.Resolve(ctx, a.ID, Decision{Approve: true, Scope: Scope{Kind: ScopeFor, For: 0}, Decider: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an unbounded scope: %v", err)
	}
}

// TestConcurrentDecidersOneWins: deciders racing from two handles (two
// connections pools, as two processes would be) on one file: exactly one
// wins, every other is told who did.
func TestConcurrentDecidersOneWins(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	path := filepath.Join(t.TempDir(), "approvals.db")
	s1, s2 := openStore(t, path, c), openStore(t, path, c)
	for round := range 5 {
		a, _, err := s1.Create(ctx, testRequest(`Secret::"global/r`+string(rune('a'+round))+`"`), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := s1
				if i%2 == 1 {
					s = s2
				}
				d := Decision{Approve: i%3 != 0, Scope: Scope{Kind: ScopeOnce}, Decider: `User::"u` + string(rune('0'+i)) + `"`}
				got, err := s.Resolve(ctx, a.ID, d)
				var lost *LostError
				switch {
				case err == nil:
					wins.Add(1)
					if got.Decider != d.Decider {
						errs <- errors.New("winner is not the decider")
					}
				case errors.As(err, &lost):
					if lost.Winner.Decider == "" || lost.Winner.State == StatePending {
						errs <- errors.New("loser not told the winner")
					}
				default:
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d winners", round, wins.Load())
		}
	}
}

// TestExpiryAndGrants: a pending request expires undecided; a for grant
// lets the same request through until it expires; a session grant only on
// its session. The clock is injected: nothing sleeps.
func TestExpiryAndGrants(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := openStore(t, filepath.Join(t.TempDir(), "approvals.db"), c)
	changed := s.Changed()
	r := testRequest(`Secret::"global/gated"`)
	a, _, _ := s.Create(ctx, r, 30*time.Minute)
	select {
	case <-changed:
	default:
		t.Fatal("create did not notify")
	}
	c.add(31 * time.Minute)
	if _, err := s.Resolve(ctx, a.ID, Decision{Approve: true, Scope: Scope{Kind: ScopeOnce}, Decider: "x"}); !errors.Is(err, ErrExpired) {
		t.Fatalf("deciding an expired request: %v", err)
	}
	if got, _ := s.Get(ctx, a.ID); got.State != StateExpired {
		t.Fatalf("state %q", got.State)
	}

	b, joined, _ := s.Create(ctx, r, 30*time.Minute)
	if joined || b.ID == a.ID {
		t.Fatal("a new request joined an expired one")
	}
	ten, _ := ParseScope("for=10m")
	if _, err := s.Resolve(ctx, b.ID, Decision{Approve: true, Scope: ten, Decider: "x"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if g, ok, err := s.UseGrant(ctx, r.Hash, r.Requester, "any session", testPolicies); err != nil || !ok || g.ID != b.ID {
			t.Fatalf("use %d of a for grant: %v %v", i, ok, err)
		}
	}
	if _, ok, _ := s.UseGrant(ctx, r.Hash, `Device::"other"`, "x", testPolicies); ok {
		t.Fatal("a grant for another requester")
	}
	other := testRequest(`Secret::"global/other"`)
	if _, ok, _ := s.UseGrant(ctx, other.Hash, r.Requester, "x", testPolicies); ok {
		t.Fatal("a grant for another request")
	}
	c.add(10*time.Minute + time.Second)
	if _, ok, _ := s.UseGrant(ctx, r.Hash, r.Requester, "x", testPolicies); ok {
		t.Fatal("an expired grant let a request through")
	}
	if got, _ := s.Get(ctx, b.ID); got.Uses != 3 {
		t.Fatalf("uses %d", got.Uses)
	}

	sess, _, _ := s.Create(ctx, r, time.Minute)
	if _, err := s.Resolve(ctx, sess.ID, Decision{Approve: true, Scope: Scope{Kind: ScopeSession}, Decider: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.UseGrant(ctx, r.Hash, r.Requester, "another connection", testPolicies); ok {
		t.Fatal("a session grant on another session")
	}
	if _, ok, _ := s.UseGrant(ctx, r.Hash, r.Requester, r.Session, testPolicies); !ok {
		t.Fatal("a session grant refused on its session")
	}
	c.add(MaxGrant)
	if _, ok, _ := s.UseGrant(ctx, r.Hash, r.Requester, r.Session, testPolicies); ok {
		t.Fatal("a session grant outlived MaxGrant")
	}
}

// TestRecordsSurviveReopen: ids and states are kept across a restart.
func TestRecordsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	path := filepath.Join(t.TempDir(), "approvals.db")
	s, err := Open(ctx, path, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := s.Create(ctx, testRequest(`Secret::"global/gated"`), time.Hour)
	s.Close()
	s2 := openStore(t, path, c)
	got, err := s2.Get(ctx, a.ID)
	if err != nil || got.State != StatePending || got.Hash != a.Hash || got.Created != a.Created || got.Seq != a.Seq {
		t.Fatalf("after reopen: %+v %v (want %+v)", got, err, a)
	}
	if _, joined, _ := s2.Create(ctx, testRequest(`Secret::"global/gated"`), time.Hour); !joined {
		t.Fatal("a request after restart did not join the pending record")
	}
	list, err := s2.List(ctx, Filter{State: StatePending})
	if err != nil || len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
}

func TestParseScope(t *testing.T) {
	for s, want := range map[string]string{"once": "once", "session": "session", "for=10m": "for=10m0s", "for 24h": "for=24h0m0s"} {
		if sc, err := ParseScope(s); err != nil || sc.String() != want {
			t.Errorf("%q: %v %v", s, sc, err)
		}
	}
	for _, s := range []string{"", "always", "for=0s", "for=-1m", "for=25h", "for=", "Once", "for=10"} {
		if _, err := ParseScope(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestPendingBoundPerRequester: one requester cannot have more than
// MaxPendingPerRequester approvals waiting; another requester still can,
// and an expired one frees its place.
func TestPendingBoundPerRequester(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := openStore(t, filepath.Join(t.TempDir(), "approvals.db"), c)
	req := func(requester string, i int) Request {
		r := testRequest(fmt.Sprintf(`Secret::"global/k%d"`, i))
		r.Requester = requester
		return r
	}
	for i := range MaxPendingPerRequester {
		if _, _, err := s.Create(ctx, req("a", i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Create(ctx, req("a", MaxPendingPerRequester), time.Minute); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("one too many: %v", err)
	}
	if _, joined, err := s.Create(ctx, req("a", 0), time.Minute); err != nil || !joined {
		t.Fatalf("joining an existing one: %v %v", joined, err)
	}
	if _, _, err := s.Create(ctx, req("b", 0), time.Minute); err != nil {
		t.Fatalf("another requester: %v", err)
	}
	c.add(2 * time.Minute)
	if _, _, err := s.Create(ctx, req("a", MaxPendingPerRequester), time.Minute); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

var testPolicies = []string{"approve-vault-read"}

// TestGrantLiftsOnlyItsPolicies: a grant lets a request through only
// while every determining policy of its Pending decision is one the
// approval recorded; a forbid added later is not lifted. Requests with the
// same hash but other policies do not join the pending record.
func TestGrantLiftsOnlyItsPolicies(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := openStore(t, filepath.Join(t.TempDir(), "approvals.db"), c)
	r := testRequest(`Secret::"global/gated"`)
	r.Policies = []string{"b", "a"}
	a, _, err := s.Create(ctx, r, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Policies, []string{"a", "b"}) || a.Summary != r.Summary {
		t.Fatalf("record %+v", a)
	}
	other := r
	other.Policies = []string{"a"}
	if b, joined, err := s.Create(ctx, other, time.Minute); err != nil || joined || b.ID == a.ID {
		t.Fatalf("other policies joined: %v %v", joined, err)
	}
	if _, err := s.Resolve(ctx, a.ID, Decision{Approve: true, Scope: Scope{Kind: ScopeFor, For: time.Hour}, Decider: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		policies []string
		ok       bool
	}{{[]string{"a", "c"}, false}, {nil, false}, {[]string{"a"}, true}, {[]string{"a", "b"}, true}} {
		if _, ok, err := s.UseGrant(ctx, r.Hash, r.Requester, r.Session, tc.policies); err != nil || ok != tc.ok {
			t.Errorf("policies %v: %v %v, want %v", tc.policies, ok, err, tc.ok)
		}
	}
	r.Policies = nil
	if _, _, err := s.Create(ctx, r, time.Minute); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a request without policies: %v", err)
	}
}

// TestPendingBoundTotal: all requesters together cannot have more than
// MaxPending approvals waiting, and the error says what to do.
func TestPendingBoundTotal(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := openStore(t, filepath.Join(t.TempDir(), "approvals.db"), c)
	for i := range MaxPending {
		r := testRequest(fmt.Sprintf(`Secret::"global/k%d"`, i))
		r.Requester = fmt.Sprintf("r%d", i/MaxPendingPerRequester)
		if _, _, err := s.Create(ctx, r, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	r := testRequest(`Secret::"global/one-more"`)
	r.Requester = "fresh"
	_, _, err := s.Create(ctx, r, time.Minute)
	if !errors.Is(err, ErrTooManyPending) || !strings.Contains(err.Error(), "deny or wait for some of them") {
		t.Fatalf("one too many: %v", err)
	}
}

// TestPrune: decided records older than the cut-off go; pending ones,
// recent ones and live grants stay.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := openStore(t, filepath.Join(t.TempDir(), "approvals.db"), c)
	old, _, _ := s.Create(ctx, testRequest(`Secret::"global/old"`), time.Minute)
	if _, err := s.Resolve(ctx, old.ID, Decision{Decider: "x"}); err != nil {
		t.Fatal(err)
	}
	expired, _, _ := s.Create(ctx, testRequest(`Secret::"global/expired"`), time.Minute)
	c.add(2 * time.Minute)
	grant, _, _ := s.Create(ctx, testRequest(`Secret::"global/grant"`), time.Hour)
	if _, err := s.Resolve(ctx, grant.ID, Decision{Approve: true, Scope: Scope{Kind: ScopeFor, For: MaxGrant}, Decider: "x"}); err != nil {
		t.Fatal(err)
	}
	pending, _, _ := s.Create(ctx, testRequest(`Secret::"global/pending"`), time.Hour)
	n, err := s.Prune(ctx, c.now().Add(time.Second))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d: %v", n, err)
	}
	for id, want := range map[string]error{old.ID: ErrNotFound, expired.ID: ErrNotFound, grant.ID: nil, pending.ID: nil} {
		if _, err := s.Get(ctx, id); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", id, err, want)
		}
	}
}

// TestListFilterValidated pins Filter.Validate: List refuses a bad state,
// limit or after_seq with ErrInvalid naming the field, and accepts the
// edges.
func TestListFilterValidated(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "approvals.db"), &clock{t: time.Unix(1_800_000_000, 0)})
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{State: "granted"}, "state"},
		{Filter{Limit: -1}, "limit"},
		{Filter{Limit: 1001}, "limit"},
		{Filter{AfterSeq: -1}, "after_seq"},
	} {
		if err := tc.f.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid naming %s", tc.f, err, tc.want)
		}
		if _, err := s.List(ctx, tc.f); !errors.Is(err, ErrInvalid) {
			t.Errorf("List(%+v) = %v, want ErrInvalid", tc.f, err)
		}
	}
	for _, f := range []Filter{{}, {State: StateExpired, Limit: 1000}, {Limit: 1, AfterSeq: 0}} {
		if err := f.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", f, err)
		}
		if _, err := s.List(ctx, f); err != nil {
			t.Errorf("List(%+v) = %v, want nil", f, err)
		}
	}
}
