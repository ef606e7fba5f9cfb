package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/peer"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateV1Journal opens testdata/journal-v1.db, written by the format
// 1 code (5 records, one checkpoint each, schema version 1), with this
// code: the records keep their format 1 hashes, new records continue the
// chain in format 2, and Verify checks the whole journal.
func TestMigrateV1Journal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	copyFile(t, "testdata/journal-v1.db", path)

	// Verify reads a schema version 1 file as it is.
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 5 || res.Checkpoints != 5 || res.Uncovered != 0 {
		t.Fatalf("verify v1 = %+v, %v", res, err)
	}
	v1Head := res.Head

	j, err := Open(ctx, path, key, testOrigin, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if c, _, ok := j.Latest(); !ok || c.Count != 5 || c.Head != v1Head {
		t.Fatalf("latest after migration = %+v, %v", c, ok)
	}
	old, err := j.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 5 {
		t.Fatalf("%d records after migration", len(old))
	}
	for i, r := range old {
		want := sampleEntry(i)
		want.Time = time.Date(2026, 1, 2, 3, 4, 5+i, 123456789, time.UTC)
		want.Reason = map[bool]string{true: "no_client_certificate", false: "ok"}[i%3 == 1]
		if r.Seq != int64(i+1) || r.Format != 1 || !reflect.DeepEqual(r.Entry, want) {
			t.Fatalf("format 1 record %d =\n%+v\nwant\n%+v", i+1, r, want)
		}
	}

	d, err := j.Append(ctx, typicalEntry(0))
	if err != nil {
		t.Fatal(err)
	}
	if d.Seq != 6 || d.Format != 2 {
		t.Fatalf("first format 2 record: seq %d format %d", d.Seq, d.Format)
	}
	if _, err := j.AppendDurable(ctx, Entry{Kind: KindOutcome, DecisionSeq: d.Seq, Outcome: OutcomeOK, Version: 2}); err != nil {
		t.Fatal(err)
	}
	// Format 1 records were all decisions, but outcomes link to format 2
	// decision records only.
	if _, err := j.Append(ctx, Entry{Kind: KindOutcome, DecisionSeq: 1, Outcome: OutcomeOK}); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("outcome of a format 1 record: %v", err)
	}
	if got, err := j.Get(ctx, 3); err != nil || got.Format != 1 || got.Principal != `User::"admin"` {
		t.Fatalf("Get(3) = %+v, %v", got, err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	res, err = Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 7 || res.Uncovered != 0 {
		t.Fatalf("verify migrated = %+v, %v", res, err)
	}

	// Tampering with a format 1 record is still caught after migration.
	db := rawDB(t, path)
	exec(t, db, "DROP TRIGGER records_v1_no_update")
	exec(t, db, `UPDATE records_v1 SET decision = 'allow' WHERE seq = 2`)
	var be *BrokenError
	if _, err := Verify(ctx, path, pub, testOrigin); !errors.As(err, &be) || be.Seq != 2 {
		t.Fatalf("verify after editing format 1 record 2: %v", err)
	}
}

func TestAsyncOutcomesAndWait(t *testing.T) {
	ctx := context.Background()
	var (
		mu       sync.Mutex
		asyncErr []error
	)
	opts := testOptions(t)
	opts.OnAsyncError = func(err error) {
		mu.Lock()
		asyncErr = append(asyncErr, err)
		mu.Unlock()
	}
	j, path := openTempWith(t, opts)
	d, err := j.Append(ctx, typicalEntry(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(ctx, d.Seq-1); err != nil {
		t.Fatalf("Wait for a committed record: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- j.Wait(ctx, d.Seq) }()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v before a new record", err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := j.AppendAsync(Entry{Kind: KindOutcome, DecisionSeq: d.Seq, Outcome: OutcomeOK, Version: 1}); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	o, err := j.Get(ctx, d.Seq+1)
	if err != nil || o.Kind != KindOutcome || o.DecisionSeq != d.Seq || o.Version != 1 {
		t.Fatalf("outcome record = %+v, %v", o, err)
	}

	// The writer refuses an outcome of a deny; the error goes to
	// OnAsyncError, and the records after it are unaffected.
	deny, err := j.Append(ctx, sampleEntry(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.AppendAsync(Entry{Kind: KindOutcome, DecisionSeq: deny.Seq, Outcome: OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := j.AppendAsync(Entry{Kind: KindOutcome, DecisionSeq: d.Seq, Outcome: OutcomeError, Version: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := j.Wait(short, 1<<62); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a deadline: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asyncErr) != 1 || !errors.Is(asyncErr[0], ErrInvalidEntry) {
		t.Fatalf("async errors = %v, want one ErrInvalidEntry", asyncErr)
	}
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 3+100 {
		t.Fatalf("verify = %+v, %v", res, err)
	}
}

func TestListAndGet(t *testing.T) {
	ctx := context.Background()
	j, _ := openTemp(t)
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	add := func(e Entry, minutes int) Record {
		t.Helper()
		e.Time = t0.Add(time.Duration(minutes) * time.Minute)
		r, err := j.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	alice := Entry{Principal: `Device::"alice"`, Action: "vault.read", Resource: `Secret::"a"`, Decision: DecisionAllow, Transport: peer.TCP}
	bob := Entry{Principal: `Device::"bob"`, Action: "vault.write", Resource: `Secret::"b"`, Decision: DecisionAllow, Transport: peer.QUIC,
		Policies: []string{"p1", "p2"}, Obligations: []string{"approval=required"}}
	a1 := add(alice, 0)                                                                          // 1
	b1 := add(bob, 1)                                                                            // 2
	add(Entry{Kind: KindOutcome, DecisionSeq: a1.Seq, Outcome: OutcomeOK}, 2)                    // 3
	add(Entry{Kind: KindOutcome, DecisionSeq: b1.Seq, Outcome: OutcomeIntegrity, Version: 9}, 3) // 4
	add(alice, 4)                                                                                // 5

	seqs := func(f Filter) []int64 {
		t.Helper()
		recs, err := j.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var s []int64
		for _, r := range recs {
			s = append(s, r.Seq)
		}
		return s
	}
	for name, tc := range map[string]struct {
		f    Filter
		want []int64
	}{
		"all":                {Filter{}, []int64{1, 2, 3, 4, 5}},
		"after":              {Filter{AfterSeq: 3}, []int64{4, 5}},
		"limit":              {Filter{Limit: 2}, []int64{1, 2}},
		"principal":          {Filter{Principal: `Device::"alice"`}, []int64{1, 3, 5}},
		"action":             {Filter{Action: "vault.write"}, []int64{2, 4}},
		"principal & action": {Filter{Principal: `Device::"alice"`, Action: "vault.write"}, nil},
		"since":              {Filter{Since: t0.Add(3 * time.Minute)}, []int64{4, 5}},
		"since & principal":  {Filter{Since: t0.Add(time.Minute), Principal: `Device::"bob"`}, []int64{2, 4}},
		"no match":           {Filter{Principal: "nobody"}, nil},
	} {
		if got := seqs(tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	got, err := j.Get(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Seq: 2, Format: 2, Entry: bob, Hash: b1.Hash}
	want.Time = t0.Add(time.Minute)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Get(2) = %+v, want %+v", got, want)
	}
	for _, seq := range []int64{0, 6, -1} {
		if _, err := j.Get(ctx, seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%d): %v, want ErrNotFound", seq, err)
		}
	}
}

func TestCheckpointCadence(t *testing.T) {
	opts := testOptions(t)
	opts.CheckpointEvery = 5
	opts.CheckpointInterval = 30 * time.Millisecond
	j, _ := openTempWith(t, opts)
	if _, _, ok := j.Latest(); ok {
		t.Fatal("a new journal has a checkpoint")
	}
	appendN(t, j, 4)
	if c, _, ok := j.Latest(); ok {
		t.Fatalf("checkpoint %+v before 5 records or the interval", c)
	}
	appendN(t, j, 1)
	c, note, ok := j.Latest()
	if !ok || c.Count != 5 {
		t.Fatalf("after 5 records: %+v, %v", c, ok)
	}
	if parsed, err := ParseCheckpoint(note, pub, testOrigin); err != nil || parsed != c {
		t.Fatalf("Latest's note parses to %+v, %v", parsed, err)
	}
	note[0] ^= 1 // a copy: changing it changes nothing
	if _, n2, _ := j.Latest(); n2[0] == note[0] {
		t.Fatal("Latest returned its own note")
	}
	appendN(t, j, 2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, _, _ := j.Latest(); c.Count == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint within CheckpointInterval of the 7th record")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSyncModes(t *testing.T) {
	t.Run("window", func(t *testing.T) {
		opts := testOptions(t)
		opts.SyncWindow = 50 * time.Millisecond
		j, _ := openTempWith(t, opts)
		appendN(t, j, 20)
		if n := j.syncer.syncs.Load(); n > 1 {
			t.Errorf("%d fsyncs for 20 appends within the window", n)
		}
		deadline := time.Now().Add(5 * time.Second)
		for j.syncer.syncs.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no fsync within the window")
			}
			time.Sleep(5 * time.Millisecond)
		}
		before := j.syncer.syncs.Load()
		if _, err := j.AppendDurable(context.Background(), sampleEntry(0)); err != nil {
			t.Fatal(err)
		}
		if j.syncer.syncs.Load() == before {
			t.Error("AppendDurable returned before an fsync")
		}
	})
	t.Run("always", func(t *testing.T) {
		opts := testOptions(t)
		opts.Sync = SyncAlways
		j, _ := openTempWith(t, opts)
		for i := range 5 {
			before := j.syncer.syncs.Load()
			if _, err := j.Append(context.Background(), sampleEntry(i)); err != nil {
				t.Fatal(err)
			}
			if j.syncer.syncs.Load() == before {
				t.Fatal("Append returned before an fsync in SyncAlways mode")
			}
		}
	})
}

// TestKillSurvival appends in a child process, kills it with SIGKILL after
// Append returned, and checks that every record it appended is in the
// journal (not yet checkpointed: reported as uncovered) and that Open
// accepts and covers them.
func TestKillSurvival(t *testing.T) {
	if path := os.Getenv("AUDIT_KILL_CHILD"); path != "" {
		j, err := Open(context.Background(), path, key, testOrigin, Options{CheckpointEvery: 10, CheckpointInterval: time.Hour})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		for i := range 25 {
			if _, err := j.Append(context.Background(), sampleEntry(i)); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
		}
		fmt.Println("appended")
		time.Sleep(time.Minute) // until killed
		os.Exit(1)
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	cmd := osexec.Command(os.Args[0], "-test.run=^TestKillSurvival$")
	cmd.Env = append(os.Environ(), "AUDIT_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill() // SIGKILL
	io.Copy(io.Discard, out)
	cmd.Wait()
	if strings.TrimSpace(line) != "appended" {
		t.Fatalf("child: %q, %v", line, err)
	}
	ctx := context.Background()
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 25 || res.Checkpoints != 2 || res.Uncovered != 5 {
		t.Fatalf("verify after kill = %+v, %v; want 25 records, 5 uncovered", res, err)
	}
	j, err := Open(ctx, path, key, testOrigin, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	res, err = Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 25 || res.Uncovered != 0 {
		t.Fatalf("verify after reopen = %+v, %v", res, err)
	}
}

// TestOpenCoversCrashTail: a tail left uncovered (here by appending
// without the journal, as a crash before the checkpoint would leave it)
// is covered within CheckpointInterval of Open, with nothing appended.
func TestOpenCoversCrashTail(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 3)
	j.Close()
	appendRaw(t, rawDB(t, path), sampleEntry(0))
	opts := testOptions(t)
	opts.CheckpointInterval = 20 * time.Millisecond
	j, err := Open(ctx, path, key, testOrigin, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, _, _ := j.Latest(); c.Count == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the uncovered tail was not covered after Open")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
