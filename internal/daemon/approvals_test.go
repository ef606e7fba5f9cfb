package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/approval"
	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/statedir"
)

// gatePolicy sends every read of global/gated for approval.
const gatePolicy = `@id("approve-vault-read") @approval("required") forbid (principal, action == Action::"vault.read", resource == Secret::"global/gated");`

// gatePolicyDir writes the gate policy into the policy directory dir.
func gatePolicyDir(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gate.cedar"), []byte(gatePolicy+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testClock is an injectable clock for the approval store.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// startGated runs a daemon on dir with the gate policy and clock, until
// the returned stop is called (or the test ends).
func startGated(t testing.TB, dir string, clk *testClock, opts ...Option) (*testDaemon, func()) {
	t.Helper()
	cfg := config.Defaults()
	cfg.StateDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.PolicyDir = gatePolicyDir(t, filepath.Join(filepath.Dir(dir), "policies"))
	ctx, cancel := context.WithCancel(context.Background())
	opts = append([]Option{ApprovalClock(clk.now)}, opts...)
	d, err := Open(ctx, cfg, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon exited: %v", err)
	}
	td := &testDaemon{Daemon: d, admin: client.DialUnix(d.Addrs().Socket), addrs: d.Addrs()}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			td.admin.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon run: %v", err)
			}
			d.Close()
		})
	}
	t.Cleanup(stop)
	return td, stop
}

// gatedRead reads global/gated as conn; wait, when set, is the
// Palyra-Approval-Wait header.
func gatedRead(ctx context.Context, conn *client.Conn, wait string) (*connect.Response[palyrav1.VaultGetResponse], error) {
	req := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/gated"})
	if wait != "" {
		req.Header().Set(guard.HeaderApprovalWait, wait)
	}
	return conn.Vault.Get(ctx, req)
}

// pendingID waits until exactly one approval is pending and returns it.
func pendingID(t *testing.T, conn *client.Conn) *palyrav1.Approval {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		r, err := conn.Approvals.List(ctx, connect.NewRequest(&palyrav1.ApprovalListRequest{State: "pending"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Msg.Approvals) == 1 {
			return r.Msg.Approvals[0]
		}
		if len(r.Msg.Approvals) > 1 {
			t.Fatalf("%d pending approvals", len(r.Msg.Approvals))
		}
		select {
		case <-ctx.Done():
			t.Fatal("no pending approval")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func decide(ctx context.Context, conn *client.Conn, id string, approve bool, scope, reason string) (*palyrav1.Approval, error) {
	r, err := conn.Approvals.Decide(ctx, connect.NewRequest(&palyrav1.ApprovalDecideRequest{Id: id, Approve: approve, Scope: scope, Reason: reason}))
	if err != nil {
		return nil, err
	}
	return r.Msg.Approval, nil
}

func putGated(t testing.TB, td *testDaemon) {
	t.Helper()
	if _, err := td.admin.Vault.Put(context.Background(), connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/gated", Value: []byte("gated value")})); err != nil {
		t.Fatal(err)
	}
}

// TestApprovalWaitsAndCompletes: a device's gated read waits; the owner
// approves it on another connection; the read completes, and the journal
// holds the pending record and the allow, both naming the approval. The
// device cannot approve its own request.
func TestApprovalWaitsAndCompletes(t *testing.T) {
	td, _ := startGated(t, filepath.Join(t.TempDir(), "state"), &testClock{})
	putGated(t, td)
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	ctx := context.Background()
	start := td.audit.Head()

	type result struct {
		value string
		err   error
	}
	res := make(chan result, 1)
	go func() {
		r, err := gatedRead(ctx, dev, "")
		if err != nil {
			res <- result{err: err}
			return
		}
		res <- result{value: string(r.Msg.Value)}
	}()
	a := pendingID(t, td.admin)
	if a.Requester != `Device::"`+b.Identity.DeviceID.String()+`"` || a.Action != "vault.read" || a.Resource != `Secret::"global/gated"` || len(a.RequestHash) != 64 {
		t.Fatalf("pending approval %+v", a)
	}
	select {
	case r := <-res:
		t.Fatalf("the read did not wait: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	// The requester may not decide its own request.
	if _, err := decide(ctx, dev, a.Id, true, "once", ""); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("self-approval: %v", err)
	}
	got, err := decide(ctx, td.admin, a.Id, true, "once", "looks fine")
	if err != nil || got.State != "approved" || got.Decider != `User::"admin"` || got.Scope != "once" {
		t.Fatalf("approve: %+v %v", got, err)
	}
	select {
	case r := <-res:
		if r.err != nil || r.value != "gated value" {
			t.Fatalf("read after approval: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read did not resume")
	}
	pend := waitRecord(t, td.audit, start, func(r audit.Record) bool { return r.Decision == "pending" })
	if pend.Reason != "approval_pending" || !slices.Contains(pend.Obligations, "approval_id="+a.Id) || !slices.Equal(pend.Policies, []string{"approve-vault-read"}) {
		t.Fatalf("pending record %+v", pend)
	}
	allow := waitRecord(t, td.audit, pend.Seq, func(r audit.Record) bool { return r.Action == "vault.read" && r.Kind == audit.KindDecision })
	if allow.Decision != "allow" || allow.Reason != "approved" || !slices.Contains(allow.Obligations, "approval_id="+a.Id) {
		t.Fatalf("allow record %+v", allow)
	}
	// once: the next identical read asks again.
	_, err = gatedRead(ctx, dev, "0")
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || approvalIDOf(err) == "" || approvalIDOf(err) == a.Id {
		t.Fatalf("second read after a once grant: %v", err)
	}
}

func approvalIDOf(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	return ce.Meta().Get(guard.HeaderApprovalID)
}

// TestApprovalDenied: a denied request fails with the decider's reason.
func TestApprovalDenied(t *testing.T) {
	td, _ := startGated(t, filepath.Join(t.TempDir(), "state"), &testClock{})
	putGated(t, td)
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.QUIC)
	defer dev.Close()
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		_, err := gatedRead(ctx, dev, "")
		errc <- err
	}()
	a := pendingID(t, td.admin)
	if _, err := decide(ctx, td.admin, a.Id, false, "", "not during the freeze"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "not during the freeze") ||
			!strings.Contains(err.Error(), a.Id) || approvalIDOf(err) != a.Id {
			t.Fatalf("denied read: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read did not end")
	}
	// A decided approval cannot be decided again; a deny takes no scope.
	if _, err := decide(ctx, td.admin, a.Id, true, "once", ""); connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), `denied by User::"admin"`) {
		t.Fatalf("second decision: %v", err)
	}
	if _, err := decide(ctx, td.admin, a.Id, false, "once", ""); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("deny with scope: %v", err)
	}
	if _, err := decide(ctx, td.admin, a.Id, true, "forever", ""); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("unbounded scope: %v", err)
	}
}

// TestApprovalGrantForDuration: `for=10m` lets the same request through
// without asking again, on any connection, until it expires (the store's
// clock is moved; nothing sleeps 10 minutes). A pending request expires
// undecided and is denied with that reason.
func TestApprovalGrantForDuration(t *testing.T) {
	clk := &testClock{}
	td, _ := startGated(t, filepath.Join(t.TempDir(), "state"), clk)
	putGated(t, td)
	b := td.enroll(t, "agent")
	ctx := context.Background()
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	_, err := gatedRead(ctx, dev, "0")
	id := approvalIDOf(err)
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || id == "" || !strings.Contains(err.Error(), "palyra approvals approve "+id) {
		t.Fatalf("read without waiting: %v", err)
	}
	if _, err := decide(ctx, td.admin, id, true, "for=10m", ""); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c, _ := client.DialBundle(b, peer.TCP)
		r, err := gatedRead(ctx, c, "0")
		c.Close()
		if err != nil || string(r.Msg.Value) != "gated value" {
			t.Fatalf("read %d under the grant: %v", i, err)
		}
	}
	if r, _ := td.admin.Approvals.Get(ctx, connect.NewRequest(&palyrav1.ApprovalGetRequest{Id: id})); r.Msg.Approval.Uses != 3 {
		t.Fatalf("uses %d", r.Msg.Approval.Uses)
	}
	clk.add(10*time.Minute + time.Second)
	_, err = gatedRead(ctx, dev, "0")
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || approvalIDOf(err) == id {
		t.Fatalf("read after the grant expired: %v", err)
	}
	// That new request expires undecided: denied with the reason.
	next := approvalIDOf(err)
	clk.add(31 * time.Minute)
	_, err = gatedRead(ctx, dev, "0")
	if approvalIDOf(err) == next {
		t.Fatalf("an expired request was joined: %v", err)
	}
	r, err := td.admin.Approvals.Get(ctx, connect.NewRequest(&palyrav1.ApprovalGetRequest{Id: next}))
	if err != nil || r.Msg.Approval.State != "expired" {
		t.Fatalf("expired approval: %+v %v", r, err)
	}
	if _, err := decide(ctx, td.admin, next, true, "once", ""); connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("deciding an expired approval: %v", err)
	}
}

// TestApprovalExpiredWhileWaiting: a waiting caller is denied with the
// expiry reason.
func TestApprovalExpiredWhileWaiting(t *testing.T) {
	clk := &testClock{}
	td, _ := startGated(t, filepath.Join(t.TempDir(), "state"), clk)
	putGated(t, td)
	errc := make(chan error, 1)
	go func() {
		_, err := gatedRead(context.Background(), td.admin, "")
		errc <- err
	}()
	pendingID(t, td.admin)
	clk.add(31 * time.Minute)
	// Any read of the store expires it and wakes the waiter.
	td.admin.Approvals.List(context.Background(), connect.NewRequest(&palyrav1.ApprovalListRequest{}))
	select {
	case err := <-errc:
		if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not end")
	}
}

// TestConcurrentDecidersOneWins: the owner on the socket and another
// device over mTLS, which an operator policy lets decide, decide the same
// approval at once: exactly one wins, the other is told who did.
func TestApprovalConcurrentDeciders(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	td, _ := startGated(t, dir, &testClock{})
	putGated(t, td)
	agent := td.enroll(t, "agent")
	phone := td.enroll(t, "phone")
	ctx := context.Background()
	addPolicy(t, td, dir, "phone.cedar", `@id("phone-decides") permit (principal == Device::"`+phone.Identity.DeviceID.String()+`", action == Action::"approval.decide", resource);`)
	dev, _ := client.DialBundle(agent, peer.TCP)
	defer dev.Close()
	ph, _ := client.DialBundle(phone, peer.TCP)
	defer ph.Close()
	for round := range 3 {
		_, err := gatedRead(ctx, dev, "0")
		id := approvalIDOf(err)
		if id == "" {
			t.Fatalf("round %d: %v", round, err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, c := range []*client.Conn{td.admin, ph} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = decide(ctx, c, id, i == 0, "", "")
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "already"):
				t.Fatalf("round %d: loser told %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d winners (%v)", round, won, errs)
		}
		// Drain a once grant, if the approval won.
		gatedRead(ctx, dev, "0")
	}
}

// TestApprovalSurvivesRestart: a pending approval keeps its id across a
// daemon restart, and approving it then lets the request through.
func TestApprovalSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	clk := &testClock{}
	td, stop := startGated(t, dir, clk)
	putGated(t, td)
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	_, err := gatedRead(context.Background(), dev, "0")
	dev.Close()
	id := approvalIDOf(err)
	if id == "" {
		t.Fatal(err)
	}
	stop()

	td, _ = startGated(t, dir, clk)
	a := pendingID(t, td.admin)
	if a.Id != id {
		t.Fatalf("after restart: pending %s, want %s", a.Id, id)
	}
	if _, err := decide(context.Background(), td.admin, id, true, "once", ""); err != nil {
		t.Fatal(err)
	}
	dev = client.DialTCP(td.addrs.TCP, &b.Cert, b.Roots(), client.ClientOptions(peer.TCP)...)
	defer dev.Close()
	if r, err := gatedRead(context.Background(), dev, "0"); err != nil || string(r.Msg.Value) != "gated value" {
		t.Fatalf("read after restart and approval: %v", err)
	}
}

// TestApprovalsDBInStateDir: a state directory whose manifest predates
// approvals.db gets it once; then a missing approvals.db is refused, and
// --recreate approvals.db begins it empty.
func TestApprovalsDBInStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	clk := &testClock{}
	_, stop := startGated(t, dir, clk)
	stop()
	l, _ := statedir.At(dir)
	// Make it a directory from before approvals.
	raw, _ := os.ReadFile(filepath.Join(dir, statedir.ManifestFile))
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	files := m["files"].(map[string]any)
	if _, ok := files["approvals.db"]; !ok {
		t.Fatal("approvals.db not recorded in a new state directory")
	}
	delete(files, "approvals.db")
	raw, _ = json.Marshal(m)
	os.WriteFile(filepath.Join(dir, statedir.ManifestFile), raw, 0o600)
	os.Remove(l.Approvals)
	os.Remove(l.Approvals + "-wal")
	os.Remove(l.Approvals + "-shm")
	_, stop = startGated(t, dir, clk)
	stop()
	if in, err := l.Inspect(context.Background()); err != nil || len(in.Problems) != 0 || in.Manifest.Files["approvals.db"].InstanceID == 0 {
		t.Fatalf("after adding: %+v %v", in, err)
	}
	os.Remove(l.Approvals)
	cfg := config.Defaults()
	cfg.StateDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.PolicyDir = filepath.Join(filepath.Dir(dir), "policies")
	_, err := Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	var pe *statedir.ProblemError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "approvals.db missing") || !strings.Contains(err.Error(), "--recreate approvals.db") {
		t.Fatalf("missing approvals.db: %v", err)
	}
	_, stop = startGated(t, dir, clk, Recreate("approvals.db"))
	stop()
}

// TestApprovalWatch: Watch streams the existing approvals, then each new
// one and each change, in order of change.
func TestApprovalWatch(t *testing.T) {
	td, _ := startGated(t, filepath.Join(t.TempDir(), "state"), &testClock{})
	putGated(t, td)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := gatedRead(ctx, td.admin, "0")
	first := approvalIDOf(err)
	stream, err := td.admin.Approvals.Watch(ctx, connect.NewRequest(&palyrav1.ApprovalWatchRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	next := func() *palyrav1.Approval {
		t.Helper()
		if !stream.Receive() {
			t.Fatalf("watch ended: %v", stream.Err())
		}
		return stream.Msg()
	}
	if a := next(); a.Id != first || a.State != "pending" {
		t.Fatalf("existing approval: %+v", a)
	}
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	_, err = gatedRead(ctx, dev, "0")
	second := approvalIDOf(err)
	if a := next(); a.Id != second || a.State != "pending" || !strings.HasPrefix(a.Requester, "Device::") {
		t.Fatalf("new approval: %+v", a)
	}
	if _, err := decide(ctx, td.admin, second, false, "", "no"); err != nil {
		t.Fatal(err)
	}
	if a := next(); a.Id != second || a.State != "denied" || a.DecisionReason != "no" {
		t.Fatalf("changed approval: %+v", a)
	}
	// A device without approval.read (not an admin's) could not watch;
	// here every device is the admin's, so check the action instead.
	recs, _ := td.audit.List(ctx, audit.Filter{Limit: 1000})
	found := false
	for _, r := range recs {
		if r.Action == "approval.read" && r.Resource == `Approval::"*"` && r.Decision == "allow" {
			found = true
		}
	}
	if !found {
		t.Fatal("watch was not one approval.read decision")
	}
}

// TestApprovalNamedOnRetry: a repeated call that names its approval gets
// that approval's decision even if it came before the call; naming
// another request's approval does not lend its decision.
func TestApprovalNamedOnRetry(t *testing.T) {
	td, _ := startGated(t, filepath.Join(t.TempDir(), "state"), &testClock{})
	putGated(t, td)
	ctx := context.Background()
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	_, err := gatedRead(ctx, dev, "0")
	id := approvalIDOf(err)
	if _, err := decide(ctx, td.admin, id, false, "", "too late"); err != nil {
		t.Fatal(err)
	}
	retry := func(conn *client.Conn, named string) error {
		req := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/gated"})
		req.Header().Set(guard.HeaderApprovalID, named)
		req.Header().Set(guard.HeaderApprovalWait, "5")
		_, err := conn.Vault.Get(ctx, req)
		return err
	}
	if err := retry(dev, id); connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "too late") {
		t.Fatalf("retry naming a denied approval: %v", err)
	}
	// Not waiting changes nothing: the decision is known.
	req0 := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/gated"})
	req0.Header().Set(guard.HeaderApprovalID, id)
	req0.Header().Set(guard.HeaderApprovalWait, "0")
	if _, err := dev.Vault.Get(ctx, req0); connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "too late") {
		t.Fatalf("no-wait call naming a denied approval: %v", err)
	}
	// The owner's identical read is another requester's: the device's
	// approval is not the owner's, so it waits (and gives up after 1s).
	req := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/gated"})
	req.Header().Set(guard.HeaderApprovalID, id)
	req.Header().Set(guard.HeaderApprovalWait, "1")
	_, err = td.admin.Vault.Get(ctx, req)
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded || approvalIDOf(err) == id || approvalIDOf(err) == "" {
		t.Fatalf("naming another requester's approval: %v", err)
	}
}

// BenchmarkGrantedRead is a vault read through the whole request path on
// the socket: one not gated, and one gated by a policy and let through by a
// live `for` grant (a lookup and a durable use count on top).
func BenchmarkGrantedRead(b *testing.B) {
	td, _ := startGated(b, filepath.Join(b.TempDir(), "state"), &testClock{})
	putGated(b, td)
	ctx := context.Background()
	if _, err := td.admin.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/plain", Value: []byte("v")})); err != nil {
		b.Fatal(err)
	}
	_, err := gatedRead(ctx, td.admin, "0")
	id := approvalIDOf(err)
	// The owner's own request: a device decides it.
	dev, _ := client.DialBundle(td.enroll(b, "approver"), peer.TCP)
	defer dev.Close()
	if _, err := decide(ctx, dev, id, true, "for=24h", ""); err != nil {
		b.Fatal(err)
	}
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			if _, err := td.admin.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/plain"})); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("granted", func(b *testing.B) {
		for b.Loop() {
			if _, err := gatedRead(ctx, td.admin, "0"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestApprovalBindsVersion: a grant for global/gated#1 does not let the
// latest version through (the version is outside the Cedar context, inside
// the request digest), and the approver is shown which version is read.
func TestApprovalBindsVersion(t *testing.T) {
	td, _ := startGated(t, filepath.Join(t.TempDir(), "state"), &testClock{})
	putGated(t, td)
	putGated(t, td)
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	ctx := context.Background()
	read := func(ref string) (*connect.Response[palyrav1.VaultGetResponse], error) {
		req := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: ref})
		req.Header().Set(guard.HeaderApprovalWait, "0")
		return dev.Vault.Get(ctx, req)
	}
	_, err := read("global/gated#1")
	id := approvalIDOf(err)
	if id == "" {
		t.Fatalf("read #1: %v", err)
	}
	a := pendingID(t, td.admin)
	if a.Summary != "vault get global/gated#1" || !slices.Equal(a.Policies, []string{"approve-vault-read"}) {
		t.Fatalf("pending %+v", a)
	}
	if _, err := decide(ctx, td.admin, id, true, "for=10m", ""); err != nil {
		t.Fatal(err)
	}
	if r, err := read("global/gated#1"); err != nil || r.Msg.Version != 1 {
		t.Fatalf("#1 under the grant: %v", err)
	}
	_, err = read("global/gated")
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || approvalIDOf(err) == id {
		t.Fatalf("the latest version under a grant for #1: %v", err)
	}
	if l := pendingID(t, td.admin); l.Summary != "vault get global/gated (latest version)" {
		t.Fatalf("summary of the latest: %q", l.Summary)
	}
}

// addPolicy writes a policy file into the gated daemon's policy directory
// and reloads.
func addPolicy(t *testing.T, td *testDaemon, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "policies", name), []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := td.admin.Policy.Reload(context.Background(), connect.NewRequest(&palyrav1.PolicyReloadRequest{})); err != nil {
		t.Fatal(err)
	}
}

// TestApprovalPolicyChangedWhileWaiting: the policies change while a
// request waits so that a plain forbid denies it; approving it then does
// not run it: it is denied with approval_policy_changed, journaled.
func TestApprovalPolicyChangedWhileWaiting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	td, _ := startGated(t, dir, &testClock{})
	putGated(t, td)
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	ctx := context.Background()
	start := td.audit.Head()
	errc := make(chan error, 1)
	go func() {
		_, err := gatedRead(ctx, dev, "")
		errc <- err
	}()
	a := pendingID(t, td.admin)
	addPolicy(t, td, dir, "freeze.cedar", `@id("freeze") forbid (principal, action == Action::"vault.read", resource == Secret::"global/gated");`)
	if _, err := decide(ctx, td.admin, a.Id, true, "once", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "policies changed") || approvalIDOf(err) != a.Id {
			t.Fatalf("read approved under old policies: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read did not end")
	}
	rec := waitRecord(t, td.audit, start, func(r audit.Record) bool { return r.Reason == "approval_policy_changed" })
	if rec.Decision != "deny" || !slices.Contains(rec.Obligations, "approval_id="+a.Id) {
		t.Fatalf("journal %+v", rec)
	}
}

// TestApprovalGrantLiftsOnlyItsPolicies: a for=2m grant does not lift an
// @approval forbid added after it: the request asks again.
func TestApprovalGrantLiftsOnlyItsPolicies(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	td, _ := startGated(t, dir, &testClock{})
	putGated(t, td)
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	ctx := context.Background()
	_, err := gatedRead(ctx, dev, "0")
	id := approvalIDOf(err)
	if _, err := decide(ctx, td.admin, id, true, "for=2m", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := gatedRead(ctx, dev, "0"); err != nil {
		t.Fatalf("read under the grant: %v", err)
	}
	addPolicy(t, td, dir, "second.cedar", `@id("second-look") @approval("required") forbid (principal, action == Action::"vault.read", resource == Secret::"global/gated");`)
	_, err = gatedRead(ctx, dev, "0")
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || approvalIDOf(err) == id {
		t.Fatalf("a new approvable forbid was lifted by an old grant: %v", err)
	}
	a := pendingID(t, td.admin)
	if !slices.Equal(a.Policies, []string{"approve-vault-read", "second-look"}) {
		t.Fatalf("policies %v", a.Policies)
	}
	// With the new forbid gone again, the old grant applies once more.
	if err := os.Remove(filepath.Join(filepath.Dir(dir), "policies", "second.cedar")); err != nil {
		t.Fatal(err)
	}
	if _, err := td.admin.Policy.Reload(ctx, connect.NewRequest(&palyrav1.PolicyReloadRequest{})); err != nil {
		t.Fatal(err)
	}
	if _, err := gatedRead(ctx, dev, "0"); err != nil {
		t.Fatalf("read under the grant after the forbid went: %v", err)
	}
}

// TestApprovalWatchEndsWhenReadWithdrawn: a device's watch stream ends
// with PermissionDenied, without delivering the next event, once a reload
// withdraws its approval.read; the end is journaled.
func TestApprovalWatchEndsWhenReadWithdrawn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	td, _ := startGated(t, dir, &testClock{})
	putGated(t, td)
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := td.audit.Head()
	_, err := gatedRead(ctx, td.admin, "0")
	first := approvalIDOf(err)
	stream, err := dev.Approvals.Watch(ctx, connect.NewRequest(&palyrav1.ApprovalWatchRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() || stream.Msg().Id != first {
		t.Fatalf("first event: %v", stream.Err())
	}
	addPolicy(t, td, dir, "no-read.cedar", `@id("devices-no-approvals") forbid (principal is Device, action == Action::"approval.read", resource);`)
	other, _ := client.DialBundle(td.enroll(t, "other"), peer.TCP)
	defer other.Close()
	if _, err := gatedRead(ctx, other, "0"); approvalIDOf(err) == "" {
		t.Fatalf("a second approval: %v", err)
	}
	if stream.Receive() {
		t.Fatalf("an event after approval.read was withdrawn: %+v", stream.Msg())
	}
	if connect.CodeOf(stream.Err()) != connect.CodePermissionDenied {
		t.Fatalf("stream end: %v", stream.Err())
	}
	rec := waitRecord(t, td.audit, start, func(r audit.Record) bool { return r.Reason == "revoked_by_policy" })
	if rec.Action != "approval.read" || rec.Decision != "deny" || !slices.Equal(rec.Policies, []string{"devices-no-approvals"}) {
		t.Fatalf("journal %+v", rec)
	}
}

// TestApprovalRetention: at start the daemon prunes records decided more
// than approval.Retention ago; newer and pending ones stay, with their ids.
func TestApprovalRetention(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	clk := &testClock{}
	td, stop := startGated(t, dir, clk)
	putGated(t, td)
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	_, err := gatedRead(context.Background(), dev, "0")
	old := approvalIDOf(err)
	if _, err := decide(context.Background(), td.admin, old, false, "", ""); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	stop()

	clk.add(approval.Retention + time.Hour)
	td, stop = startGated(t, dir, clk)
	dev = client.DialTCP(td.addrs.TCP, &b.Cert, b.Roots(), client.ClientOptions(peer.TCP)...)
	_, err = gatedRead(context.Background(), dev, "0")
	dev.Close()
	pending := approvalIDOf(err)
	if _, err := td.admin.Approvals.Get(context.Background(), connect.NewRequest(&palyrav1.ApprovalGetRequest{Id: old})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("a record decided 30 days ago: %v", err)
	}
	stop()
	td, _ = startGated(t, dir, clk)
	if a := pendingID(t, td.admin); a.Id != pending {
		t.Fatalf("pending after restart: %s, want %s", a.Id, pending)
	}
}

// TestApprovalLostOnceGrantNamesTheNewOne: two callers wait on one
// approval, naming it; a once grant lets one through, and the other is
// told the id of the new approval it now needs, instead of waiting
// silently on an id it never saw.
func TestApprovalLostOnceGrantNamesTheNewOne(t *testing.T) {
	td, _ := startGated(t, filepath.Join(t.TempDir(), "state"), &testClock{})
	putGated(t, td)
	b := td.enroll(t, "agent")
	dev, _ := client.DialBundle(b, peer.TCP)
	defer dev.Close()
	ctx := context.Background()
	_, err := gatedRead(ctx, dev, "0")
	id := approvalIDOf(err)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			req := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/gated"})
			req.Header().Set(guard.HeaderApprovalID, id)
			_, err := dev.Vault.Get(ctx, req)
			errs <- err
		}()
	}
	// Both wait (two pending journal records naming id besides the first).
	time.Sleep(300 * time.Millisecond)
	if _, err := decide(ctx, td.admin, id, true, "once", ""); err != nil {
		t.Fatal(err)
	}
	var ok, moved int
	for range 2 {
		select {
		case err := <-errs:
			switch {
			case err == nil:
				ok++
			case connect.CodeOf(err) == connect.CodeFailedPrecondition && approvalIDOf(err) != "" && approvalIDOf(err) != id:
				moved++
			default:
				t.Fatalf("waiter: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a waiter did not end")
		}
	}
	if ok != 1 || moved != 1 {
		t.Fatalf("%d through, %d told a new id", ok, moved)
	}
}
