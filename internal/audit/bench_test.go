package audit

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/sqlitedb"
)

// Each Append is a durable commit (synchronous=FULL), so these measure the
// disk's fsync as much as this package. BenchmarkBareSQLiteInsert is the
// floor for one record per transaction; the parallel pair shows what group
// commit buys when many RPCs are audited at once.

// benchParallelism × GOMAXPROCS goroutines append at once in the parallel
// benchmarks, standing in for concurrent RPCs.
const benchParallelism = 8

func BenchmarkAppend(b *testing.B) {
	j, _ := openTemp(b)
	ctx := context.Background()
	e := sampleEntry(2)
	for b.Loop() {
		if _, err := j.Append(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	j, path := openTemp(b)
	ctx := context.Background()
	e := sampleEntry(2)
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
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil {
		b.Fatal(err)
	}
	if res.Checkpoints > 0 {
		b.ReportMetric(float64(res.Records)/float64(res.Checkpoints), "records/commit")
	}
}

// bareDB opens a table of the same shape as records, through the same
// sqlitedb settings, without triggers, chain or checkpoints.
func bareDB(b *testing.B) (*sql.DB, *sql.Stmt) {
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
	stmt, err := db.Prepare(`INSERT INTO records (time, principal, action, resource, decision, policies, transport, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stmt.Close()
		db.Close()
	})
	return db, stmt
}

func bareInsert(db *sql.DB, stmt *sql.Stmt, e *Entry, h []byte) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if _, err := tx.Stmt(stmt).Exec(formatTime(time.Now()), e.Principal, e.Action, e.Resource, e.Decision,
		encodePolicies(e.Policies), e.Transport, e.Reason, h, h); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func BenchmarkBareSQLiteInsert(b *testing.B) {
	db, stmt := bareDB(b)
	e := sampleEntry(2)
	h := make([]byte, 32)
	for b.Loop() {
		if err := bareInsert(db, stmt, &e, h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareSQLiteInsertParallel(b *testing.B) {
	db, stmt := bareDB(b)
	e := sampleEntry(2)
	h := make([]byte, 32)
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bareInsert(db, stmt, &e, h); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerify verifies a journal of 2000 records written by concurrent
// appenders; ns/op is per whole journal, and records/s is reported.
func BenchmarkVerify(b *testing.B) {
	j, path := openTemp(b)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 100 {
				if _, err := j.Append(ctx, sampleEntry(g+i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var res VerifyResult
	for b.Loop() {
		var err error
		if res, err = Verify(ctx, path, pub, testOrigin); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(res.Records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(res.Checkpoints), "checkpoints")
}
