package audit

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/sqlitedb"
)

// Append in SyncWindow mode commits without an fsync; SyncAlways and
// AppendDurable wait for one, so they measure the disk's fsync as much as
// this package. BenchmarkBareSQLiteInsert is the floor: one row per
// transaction in a table of format 1's shape, without triggers, chain or
// checkpoints, at synchronous=FULL (what every format 1 Append paid) and
// synchronous=NORMAL (what a SyncWindow Append pays).

var (
	flagRecords = flag.Int("audit.records", 0, "TestLargeJournal: build a journal of this many typical decision records (e.g. 1000000) and report bytes/record and Verify records/s")
	flagSerial  = flag.Bool("audit.serial", false, "TestLargeJournal: append serially through Append (SyncWindow) instead of in 1024-record transactions")
	flagKeep    = flag.String("audit.keep", "", "TestLargeJournal: build the journal at this path (kept) instead of a temporary directory")
)

// benchParallelism × GOMAXPROCS goroutines append at once in the parallel
// benchmarks, standing in for concurrent RPCs.
const benchParallelism = 8

// typicalEntry is the decision record the daemon writes for a device
// reading a secret: a 26-character ULID, one determining policy.
func typicalEntry(i int) Entry {
	return Entry{
		Principal: fmt.Sprintf(`Device::"01JGZ5Q3T8M9X2V7K4N6P0R%03d"`, i%16),
		Action:    "vault.read",
		Resource:  `Secret::"global/openai_api_key"`,
		Decision:  DecisionAllow,
		Policies:  []string{"admin-full-access"},
		Transport: peer.TCP,
		Reason:    "permitted",
	}
}

func benchAppend(b *testing.B, opts Options, durable bool) {
	j, _ := openTempWith(b, opts)
	ctx := context.Background()
	e := typicalEntry(0)
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		var err error
		if durable {
			_, err = j.AppendDurable(ctx, e)
		} else {
			_, err = j.Append(ctx, e)
		}
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	reportLatency(b, lat)
}

// reportLatency reports percentiles of per-call latencies, in µs.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) < 1000 {
		return
	}
	slices.Sort(lat)
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50-µs", 0.5}, {"p99-µs", 0.99}, {"p99.9-µs", 0.999}} {
		b.ReportMetric(float64(lat[int(p.q*float64(len(lat)))].Nanoseconds())/1e3, p.name)
	}
}

// BenchmarkAppend is one caller appending serially.
func BenchmarkAppend(b *testing.B) {
	b.Run("window", func(b *testing.B) { benchAppend(b, Options{}, false) })
	b.Run("window-durable", func(b *testing.B) { benchAppend(b, Options{}, true) })
	b.Run("always", func(b *testing.B) { benchAppend(b, Options{Sync: SyncAlways}, false) })
}

// BenchmarkAppendAsync is the cost to the caller of queueing an outcome
// record (call-ns/op); ns/op is the sustained rate, which the writer
// bounds: when the queue is full the loop waits for it to drain, outside
// the call time.
func BenchmarkAppendAsync(b *testing.B) {
	j, _ := openTempWith(b, Options{})
	r, err := j.Append(context.Background(), typicalEntry(0))
	if err != nil {
		b.Fatal(err)
	}
	e := Entry{Kind: KindOutcome, DecisionSeq: r.Seq, Outcome: OutcomeOK}
	var calls time.Duration
	for b.Loop() {
		for {
			start := time.Now()
			err := j.AppendAsync(e)
			calls += time.Since(start)
			if err != ErrQueueFull {
				if err != nil {
					b.Fatal(err)
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(calls.Nanoseconds())/float64(b.N), "call-ns/op")
	b.StopTimer()
	j.Close()
}

func benchAppendParallel(b *testing.B, opts Options) {
	j, path := openTempWith(b, opts)
	ctx := context.Background()
	e := typicalEntry(0)
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := j.Append(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	if _, err := Verify(ctx, path, pub, testOrigin); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppendParallel is many callers appending at once (group commit).
func BenchmarkAppendParallel(b *testing.B) {
	b.Run("window", func(b *testing.B) { benchAppendParallel(b, Options{}) })
	b.Run("always", func(b *testing.B) { benchAppendParallel(b, Options{Sync: SyncAlways}) })
}

// bareDB opens a table of format 1's shape through the same sqlitedb
// settings, without triggers, chain or checkpoints, at the given
// synchronous level.
func bareDB(b *testing.B, synchronous string) (*sql.Conn, *sql.Stmt) {
	db, err := sqlitedb.Open(context.Background(), filepath.Join(b.TempDir(), "bare.db"), []string{`
CREATE TABLE records (
	seq       INTEGER PRIMARY KEY,
	time      TEXT NOT NULL,
	principal TEXT NOT NULL,
	action    TEXT NOT NULL,
	resource  TEXT NOT NULL,
	decision  TEXT NOT NULL,
	policies  TEXT NOT NULL,
	transport TEXT NOT NULL,
	reason    TEXT NOT NULL,
	prev_hash BLOB NOT NULL,
	hash      BLOB NOT NULL
) STRICT`})
	if err != nil {
		b.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "PRAGMA synchronous = "+synchronous); err != nil {
		b.Fatal(err)
	}
	stmt, err := conn.PrepareContext(context.Background(), `INSERT INTO records (time, principal, action, resource, decision, policies, transport, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stmt.Close()
		conn.Close()
		db.Close()
	})
	return conn, stmt
}

func BenchmarkBareSQLiteInsert(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			conn, stmt := bareDB(b, sync)
			ctx := context.Background()
			e := typicalEntry(0)
			h := make([]byte, 32)
			for b.Loop() {
				if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
					b.Fatal(err)
				}
				if _, err := stmt.ExecContext(ctx, time.Now().UTC().Format(v1TimeLayout), e.Principal, e.Action, e.Resource, e.Decision,
					encodeList(e.Policies), e.Transport.String(), e.Reason, h, h); err != nil {
					b.Fatal(err)
				}
				if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInsertTrigger measures the format 2 insert trigger (one
// max(seq) lookup per row): rows inserted 1000 to a transaction into the
// records table with and without it.
func BenchmarkInsertTrigger(b *testing.B) {
	for _, keep := range []bool{true, false} {
		b.Run(fmt.Sprintf("trigger=%v", keep), func(b *testing.B) {
			j, _ := openTempWith(b, Options{})
			ctx := context.Background()
			if !keep {
				if _, err := j.wconn.ExecContext(ctx, "DROP TRIGGER records_append_at_head"); err != nil {
					b.Fatal(err)
				}
			}
			e := typicalEntry(0)
			h := make([]byte, 32)
			seq := int64(0)
			pol := encodeList(e.Policies)
			for b.Loop() {
				if _, err := j.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
					b.Fatal(err)
				}
				for range 1000 {
					seq++
					if _, err := j.insertStmt.ExecContext(ctx, seq, seq, 0, e.Principal, e.Action, e.Resource, e.Decision,
						pol, "[]", "tcp", e.Reason, 0, "", 0, h); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := j.wconn.ExecContext(ctx, "COMMIT"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/row")
			// The rows are not a valid chain; keep Close from signing them.
			j.headOK, j.seq = true, j.covered
		})
	}
}

// buildJournal writes n typical decision records to a new journal at path
// exactly as the writer would for serial Appends with the default
// CheckpointEvery, but 1024 records to a transaction (with the checkpoint
// each such Append sequence signs), so that a million records take seconds.
// The times are 1µs apart. It returns the time taken.
func buildJournal(tb testing.TB, path string, n int) time.Duration {
	tb.Helper()
	j, err := Open(context.Background(), path, key, testOrigin, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	batch := make([]*request, 0, DefaultCheckpointEvery)
	for i := 0; i < n; {
		batch = batch[:0]
		for ; i < n && len(batch) < DefaultCheckpointEvery; i++ {
			e := typicalEntry(i)
			e.Time = t0.Add(time.Duration(i) * time.Microsecond)
			batch = append(batch, &request{entry: e})
		}
		// The writer goroutine is idle (nothing is queued), so calling its
		// write here is the same as it running the batch.
		if err := j.write(batch, false); err != nil {
			tb.Fatal(err)
		}
	}
	j.publish()
	j.syncer.committed(nil)
	if err := j.Close(); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// appendSerially appends n typical decision records one Append at a time.
func appendSerially(tb testing.TB, path string, n int) time.Duration {
	tb.Helper()
	j, err := Open(context.Background(), path, key, testOrigin, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		if _, err := j.Append(context.Background(), typicalEntry(i)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// fileBytes is the size of the database file after Close (which folds the
// WAL into it).
func fileBytes(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
		tb.Fatalf("WAL left behind (%d bytes)", wal.Size())
	}
	return fi.Size()
}

// TestLargeJournal measures storage and Verify on a big journal:
//
//	go test ./internal/audit/ -run TestLargeJournal -v -audit.records=1000000 [-audit.serial]
func TestLargeJournal(t *testing.T) {
	n := *flagRecords
	if n == 0 {
		t.Skip("set -audit.records=N to build and verify an N-record journal")
	}
	path := *flagKeep
	if path == "" {
		path = filepath.Join(t.TempDir(), "audit.db")
	} else {
		os.Remove(path)
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
	}
	var took time.Duration
	how := "1024-record transactions"
	if *flagSerial {
		how = "serial Append (SyncWindow)"
		took = appendSerially(t, path, n)
	} else {
		took = buildJournal(t, path, n)
	}
	size := fileBytes(t, path)
	t.Logf("built %d records by %s in %v (%.0f records/s)", n, how, took.Round(time.Millisecond), float64(n)/took.Seconds())
	t.Logf("file %d bytes: %.1f bytes/record", size, float64(size)/float64(n))
	for range 3 {
		start := time.Now()
		res, err := Verify(context.Background(), path, pub, testOrigin)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		if res.Records != int64(n) || res.Uncovered != 0 {
			t.Fatalf("verify = %+v", res)
		}
		t.Logf("Verify: %d records, %d checkpoints in %v: %.0f records/s", res.Records, res.Checkpoints, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
}

// BenchmarkVerify verifies a journal of 100,000 typical decision records
// (built as buildJournal does); ns/op is per whole journal.
func BenchmarkVerify(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "audit.db")
	buildJournal(b, path, n)
	size := fileBytes(b, path)
	ctx := context.Background()
	for b.Loop() {
		if _, err := Verify(ctx, path, pub, testOrigin); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(size)/n, "bytes/record")
}
