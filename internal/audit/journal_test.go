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
	var prev [32]byte
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		if r.PrevHash != prev {
			t.Fatalf("record %d: prev hash does not link", r.Seq)
		}
		if r.Time.Before(before.Add(-time.Second)) || r.Time.Location() != time.UTC {
			t.Fatalf("record %d: time %v not set to commit time in UTC", r.Seq, r.Time)
		}
		prev = r.Hash
	}

	got, err := j.Records(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("Records differs from what Append returned:\n got %+v\nwant %+v", got, recs)
	}
	page, err := j.Records(ctx, 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Seq != 8 || page[1].Seq != 9 {
		t.Fatalf("Records(7, 2) = %d records starting at %d", len(page), page[0].Seq)
	}
	if _, err := j.Records(ctx, 0, 0); err == nil {
		t.Fatal("Records with limit 0 succeeded")
	}

	// Verify while the journal is open, then after Close.
	for _, when := range []string{"open", "closed"} {
		res, err := Verify(ctx, path, pub, testOrigin)
		if err != nil {
			t.Fatalf("verify (%s): %v", when, err)
		}
		want := VerifyResult{Records: 10, Head: recs[9].Hash, Checkpoints: 10}
		if res != want {
			t.Fatalf("verify (%s) = %+v, want %+v", when, res, want)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
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
	got, err := j.Records(context.Background(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Time != r.Time {
		t.Fatalf("stored time %v, appended %v", got[0].Time, r.Time)
	}
}

func TestAppendCopiesPolicies(t *testing.T) {
	j, _ := openTemp(t)
	e := sampleEntry(2)
	r, err := j.Append(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	e.Policies[0] = "changed-after-append"
	if r.Policies[0] == "changed-after-append" {
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
		r, ok := seen[seq]
		if !ok {
			t.Fatalf("seq %d missing", seq)
		}
		if seq > 1 && r.PrevHash != seen[seq-1].Hash {
			t.Fatalf("seq %d does not link to %d", seq, seq-1)
		}
	}
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != goroutines*each || res.Head != seen[goroutines*each].Hash {
		t.Fatalf("verify = %+v", res)
	}
	t.Logf("%d appends committed in %d batches", res.Records, res.Checkpoints)
}

func TestReopenContinuesChain(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	first := appendN(t, j, 3)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err := Open(ctx, path, key, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r, err := j.Append(ctx, sampleEntry(3))
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 4 || r.PrevHash != first[2].Hash {
		t.Fatalf("after reopen: seq %d, prev links to record 3: %v", r.Seq, r.PrevHash == first[2].Hash)
	}
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 4 {
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
		if j, err := Open(ctx, path, key, origin); err == nil {
			j.Close()
			t.Errorf("Open accepted origin %q", origin)
		}
	}
	if j, err := Open(ctx, path, key[:32], testOrigin); err == nil {
		j.Close()
		t.Error("Open accepted a 32-byte signer")
	}
}

func TestOpenRefusesAnotherKey(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 2)
	j.Close()
	if j, err := Open(ctx, path, testKey("another key"), testOrigin); err == nil {
		j.Close()
		t.Fatal("Open accepted a journal signed by another key")
	}
	if j, err := Open(ctx, path, key, "palyra/another-origin"); err == nil {
		j.Close()
		t.Fatal("Open accepted a journal of another origin")
	}
}

func TestAppendRefusesInvalidEntries(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	long := strings.Repeat("x", MaxFieldBytes+1)
	for name, mod := range map[string]func(*Entry){
		"decision":            func(e *Entry) { e.Decision = "Allow" },
		"empty decision":      func(e *Entry) { e.Decision = "" },
		"transport":           func(e *Entry) { e.Transport = "http" },
		"invalid utf-8":       func(e *Entry) { e.Principal = "\xff" },
		"NUL":                 func(e *Entry) { e.Reason = "ok\x00" },
		"long field":          func(e *Entry) { e.Resource = long },
		"long policy":         func(e *Entry) { e.Policies = []string{long} },
		"bad policy":          func(e *Entry) { e.Policies = []string{"ok", "\xc3"} },
		"too many":            func(e *Entry) { e.Policies = make([]string, MaxPolicies+1) },
		"year out of rfc3339": func(e *Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		e := sampleEntry(0)
		mod(&e)
		if _, err := j.Append(ctx, e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: err = %v, want ErrInvalidEntry", name, err)
		}
	}
	e := sampleEntry(0)
	e.Resource = strings.Repeat("x", MaxFieldBytes)
	if _, err := j.Append(ctx, e); err != nil {
		t.Fatalf("field of exactly MaxFieldBytes: %v", err)
	}
	if res, err := Verify(ctx, path, pub, testOrigin); err != nil || res.Records != 1 {
		t.Fatalf("verify = %+v, %v; want only the valid record", res, err)
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
	j, err := Open(ctx, path, key, testOrigin)
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
	if _, err := j.Records(ctx, 0, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Records after Close: %v", err)
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
