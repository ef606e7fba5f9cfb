package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/peer"
)

func TestAppendVerify(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)

	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil {
		t.Fatalf("verify empty journal: %v", err)
	}
	if res != (VerifyResult{}) {
		t.Fatalf("empty journal: %+v", res)
	}

	before := time.Now()
	recs := appendN(t, j, 10)
	for i, r := range recs {
		if r.Seq != int64(i+1) || r.Format != formatV2 {
			t.Fatalf("record %d has seq %d, format %d", i, r.Seq, r.Format)
		}
		if r.Time.Before(before.Add(-time.Second)) || r.Time.Location() != time.UTC {
			t.Fatalf("record %d: time %v not set to commit time in UTC", r.Seq, r.Time)
		}
	}

	got, err := j.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("List differs from what Append returned:\n got %+v\nwant %+v", got, recs)
	}
	page, err := j.List(ctx, Filter{AfterSeq: 7, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Seq != 8 || page[1].Seq != 9 {
		t.Fatalf("List(after 7, limit 2) = %d records starting at %d", len(page), page[0].Seq)
	}

	// While open, checkpoints cover 3, 6 and 9 records (CheckpointEvery 3);
	// record 10 is covered within CheckpointInterval or at Close.
	res, err = Verify(ctx, path, pub, testOrigin)
	if err != nil {
		t.Fatalf("verify (open): %v", err)
	}
	if res.Records != 10 || res.Head != recs[9].Hash || res.Checkpoints+res.Uncovered != 4 || res.Uncovered > 1 {
		t.Fatalf("verify (open) = %+v", res)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	res, err = Verify(ctx, path, pub, testOrigin)
	if err != nil {
		t.Fatalf("verify (closed): %v", err)
	}
	if want := (VerifyResult{Records: 10, Head: recs[9].Hash, Checkpoints: 4}); res != want {
		t.Fatalf("verify (closed) = %+v, want %+v", res, want)
	}
}

func TestAppendKeepsGivenTime(t *testing.T) {
	j, _ := openTemp(t)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	given := time.Date(2026, 3, 4, 5, 6, 7, 891, zone)
	e := sampleEntry(0)
	e.Time = given
	r, err := j.Append(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Time.Equal(given) || r.Time.Location() != time.UTC {
		t.Fatalf("time = %v, want %v in UTC", r.Time, given)
	}
	got, err := j.Get(context.Background(), r.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if got.Time != r.Time {
		t.Fatalf("stored time %v, appended %v", got.Time, r.Time)
	}
}

func TestAppendCopiesPolicies(t *testing.T) {
	j, _ := openTemp(t)
	e := sampleEntry(2)
	r, err := j.Append(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	e.Obligations = []string{"approval=required"}
	r2, err := j.Append(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	e.Policies[0] = "changed-after-append"
	e.Obligations[0] = "changed-after-append"
	if r.Policies[0] == "changed-after-append" || r2.Obligations[0] == "changed-after-append" {
		t.Fatal("Record shares the caller's policies slice")
	}
}

func TestConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	const goroutines, each = 50, 4
	var wg sync.WaitGroup
	recs := make(chan Record, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				r, err := j.Append(ctx, sampleEntry(g*each+i))
				if err != nil {
					t.Error(err)
					return
				}
				recs <- r
			}
		})
	}
	wg.Wait()
	close(recs)
	seen := make(map[int64]Record)
	for r := range recs {
		if _, dup := seen[r.Seq]; dup {
			t.Fatalf("seq %d returned twice", r.Seq)
		}
		seen[r.Seq] = r
	}
	for seq := int64(1); seq <= goroutines*each; seq++ {
		if _, ok := seen[seq]; !ok {
			t.Fatalf("seq %d missing", seq)
		}
	}
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != goroutines*each || res.Head != seen[goroutines*each].Hash {
		t.Fatalf("verify = %+v", res)
	}
	t.Logf("%d appends, %d checkpoints", res.Records, res.Checkpoints)
}

func TestReopenContinuesChain(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	first := appendN(t, j, 3)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err := Open(ctx, path, key, testOrigin, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if c, _, ok := j.Latest(); !ok || c.Count != 3 || c.Head != first[2].Hash {
		t.Fatalf("after reopen: latest checkpoint %+v, %v", c, ok)
	}
	r, err := j.Append(ctx, sampleEntry(3))
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 4 {
		t.Fatalf("after reopen: seq %d", r.Seq)
	}
	j.Close()
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 4 || res.Head != r.Hash {
		t.Fatalf("verify = %+v, %v", res, err)
	}
}

func TestOpenFile0600(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenRefusesBadArguments(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	for _, origin := range []string{"", "has space", "a+b", "line\nbreak", strings.Repeat("x", maxOriginBytes+1)} {
		if j, err := Open(ctx, path, key, origin, Options{}); err == nil {
			j.Close()
			t.Errorf("Open accepted origin %q", origin)
		}
	}
	if j, err := Open(ctx, path, key[:32], testOrigin, Options{}); err == nil {
		j.Close()
		t.Error("Open accepted a 32-byte signer")
	}
}

func TestOpenRefusesAnotherKey(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 2)
	j.Close()
	if j, err := Open(ctx, path, testKey("another key"), testOrigin, Options{}); err == nil {
		j.Close()
		t.Fatal("Open accepted a journal signed by another key")
	}
	if j, err := Open(ctx, path, key, "palyra/another-origin", Options{}); err == nil {
		j.Close()
		t.Fatal("Open accepted a journal of another origin")
	}
}

func TestAppendRefusesInvalidEntries(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	long := strings.Repeat("x", MaxFieldBytes+1)
	outcome := func(e *Entry) { *e = Entry{Kind: KindOutcome, DecisionSeq: 1, Outcome: OutcomeOK} }
	for name, mod := range map[string]func(*Entry){
		"decision":              func(e *Entry) { e.Decision = "Allow" },
		"empty decision":        func(e *Entry) { e.Decision = "" },
		"transport":             func(e *Entry) { e.Transport = peer.QUIC + 1 },
		"kind":                  func(e *Entry) { e.Kind = KindOutcome + 1 },
		"invalid utf-8":         func(e *Entry) { e.Principal = "\xff" },
		"NUL":                   func(e *Entry) { e.Reason = "ok\x00" },
		"long field":            func(e *Entry) { e.Resource = long },
		"long policy":           func(e *Entry) { e.Policies = []string{long} },
		"bad policy":            func(e *Entry) { e.Policies = []string{"ok", "\xc3"} },
		"empty policy":          func(e *Entry) { e.Policies = []string{""} },
		"too many":              func(e *Entry) { e.Policies = make([]string, MaxPolicies+1) },
		"too many obligations":  func(e *Entry) { e.Obligations = make([]string, MaxObligations+1) },
		"bad obligation":        func(e *Entry) { e.Obligations = []string{"a\x00"} },
		"time past int64":       func(e *Entry) { e.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
		"decision with outcome": func(e *Entry) { e.Outcome = OutcomeOK },
		"decision with link":    func(e *Entry) { e.DecisionSeq = 1 },
		"decision with version": func(e *Entry) { e.Version = 1 },
		"outcome without link":  func(e *Entry) { outcome(e); e.DecisionSeq = 0 },
		"outcome code":          func(e *Entry) { outcome(e); e.Outcome = "OK" },
		"outcome empty code":    func(e *Entry) { outcome(e); e.Outcome = "" },
		"negative version":      func(e *Entry) { outcome(e); e.Version = -1 },
		"outcome principal":     func(e *Entry) { outcome(e); e.Principal = "x" },
		"outcome decision":      func(e *Entry) { outcome(e); e.Decision = DecisionAllow },
		"outcome transport":     func(e *Entry) { outcome(e); e.Transport = peer.Unix },
		"outcome policies":      func(e *Entry) { outcome(e); e.Policies = []string{"p"} },
		"outcome ok reason":     func(e *Entry) { outcome(e); e.Reason = "x" },
	} {
		e := sampleEntry(0)
		mod(&e)
		if _, err := j.Append(ctx, e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: err = %v, want ErrInvalidEntry", name, err)
		}
		if err := j.AppendAsync(e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: AppendAsync err = %v, want ErrInvalidEntry", name, err)
		}
	}
	e := sampleEntry(0)
	e.Resource = strings.Repeat("x", MaxFieldBytes)
	if _, err := j.Append(ctx, e); err != nil {
		t.Fatalf("field of exactly MaxFieldBytes: %v", err)
	}
	// Outcomes must follow an earlier allowed decision record.
	deny := sampleEntry(1)
	rd, err := j.Append(ctx, deny)
	if err != nil {
		t.Fatal(err)
	}
	for name, seq := range map[string]int64{"a deny": rd.Seq, "itself": rd.Seq + 1, "a later record": rd.Seq + 5} {
		if _, err := j.Append(ctx, Entry{Kind: KindOutcome, DecisionSeq: seq, Outcome: OutcomeOK}); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("outcome of %s: err = %v, want ErrInvalidEntry", name, err)
		}
	}
	ro, err := j.Append(ctx, Entry{Kind: KindOutcome, DecisionSeq: 1, Outcome: OutcomeNotFound})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, Entry{Kind: KindOutcome, DecisionSeq: ro.Seq, Outcome: OutcomeOK}); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("outcome of an outcome: err = %v, want ErrInvalidEntry", err)
	}
	if res, err := Verify(ctx, path, pub, testOrigin); err != nil || res.Records != 3 {
		t.Fatalf("verify = %+v, %v; want only the three valid records", res, err)
	}
}

func TestAppendCanceledContextWritesNothing(t *testing.T) {
	j, path := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 {
		if _, err := j.Append(ctx, sampleEntry(0)); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	}
	if res, err := Verify(context.Background(), path, pub, testOrigin); err != nil || res.Records != 0 {
		t.Fatalf("verify = %+v, %v; want an empty journal", res, err)
	}
}

func TestCloseFinishesQueuedAppends(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	j, err := Open(ctx, path, key, testOrigin, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int64
	)
	start := make(chan struct{})
	for i := range 40 {
		wg.Go(func() {
			<-start
			_, err := j.Append(ctx, sampleEntry(i))
			switch {
			case err == nil:
				mu.Lock()
				ok++
				mu.Unlock()
			case !errors.Is(err, ErrClosed):
				t.Error(err)
			}
		})
	}
	close(start)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := j.Append(ctx, sampleEntry(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := j.List(ctx, Filter{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("List after Close: %v", err)
	}
	if err := j.AppendAsync(sampleEntry(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendAsync after Close: %v", err)
	}
	if err := j.Wait(ctx, 1<<62); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != ok {
		t.Fatalf("%d appends succeeded but the journal holds %d records", ok, res.Records)
	}
}

func TestVerifyWhileAppending(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 5)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := j.Append(ctx, sampleEntry(i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 5 {
		if _, err := Verify(ctx, path, pub, testOrigin); err != nil {
			t.Fatalf("verify during appends: %v", err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestVerifyMissingFile(t *testing.T) {
	_, err := Verify(context.Background(), filepath.Join(t.TempDir(), "none.db"), pub, testOrigin)
	var be *BrokenError
	if err == nil || errors.As(err, &be) {
		t.Fatalf("err = %v, want a plain error", err)
	}
}

// An error outcome keeps the API code the caller was given, and the
// asynchronous path journals it (it was once refused as invalid, silently
// leaving every failed action without an outcome).
func TestErrorOutcomeKeepsItsReason(t *testing.T) {
	ctx := context.Background()
	j, _ := openTemp(t)
	dec, err := j.Append(ctx, sampleEntry(0))
	if err != nil {
		t.Fatal(err)
	}
	seq := dec.Seq
	if err := j.AppendAsync(Entry{Kind: KindOutcome, DecisionSeq: seq, Outcome: OutcomeError, Reason: "failed_precondition"}); err != nil {
		t.Fatalf("AppendAsync: %v", err)
	}
	var rec Record
	for range 200 {
		if rec, err = j.OutcomeOf(ctx, seq); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("OutcomeOf(%d): %v", seq, err)
	}
	if rec.Outcome != OutcomeError || rec.Reason != "failed_precondition" {
		t.Fatalf("outcome = %q reason %q, want error / failed_precondition", rec.Outcome, rec.Reason)
	}
}
