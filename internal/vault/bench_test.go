package vault

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/palyra/palyra/internal/sqlitedb"
)

// Value sizes benchmarked: a typical API key, and a large credential (a
// service-account JSON file).
var benchSizes = []int{64, 4 << 10}

var benchRef = Ref{Scope: "global", Key: "openai_api_key"}

func benchValue(size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	return b
}

// BenchmarkGet reads the latest version: one SELECT plus envelope opening.
// Compare with BenchmarkBareSQLiteGet.
func BenchmarkGet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ctx := context.Background()
			v, _, _ := openTestVault(b)
			if _, err := v.Put(ctx, benchRef, benchValue(size)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				value, err := v.Get(ctx, benchRef)
				if err != nil || len(value) != size {
					b.Fatal(err)
				}
				clear(value)
			}
		})
	}
}

// BenchmarkBareSQLiteGet is the historical baseline of BenchmarkGet: the
// same SELECT, on a database opened the same way with the same schema, of a
// blob as long as the envelope BenchmarkGet reads, without any cryptography.
// It prepares the statement on every call (db.QueryRowContext) and copies
// the blob, as Get did before it used a prepared statement; see
// BenchmarkBareSQLiteGetPrepared for the like-for-like baseline.
func BenchmarkBareSQLiteGet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ctx := context.Background()
			db := bareDB(b)
			blob := benchValue(envelopeLen(b, size))
			if _, err := db.ExecContext(ctx, sqlInsertVersion, benchRef.Scope, benchRef.Key, 1, 0, blob, "", ""); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				var version int64
				var got []byte
				if err := db.QueryRowContext(ctx, sqlSelectLatest, benchRef.Scope, benchRef.Key).Scan(&version, &got); err != nil || len(got) != len(blob) {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBareSQLiteGetPrepared is the like-for-like baseline of
// BenchmarkGet: the SELECT prepared once and the blob read in place
// (sql.RawBytes), as Get does, without any cryptography. Get's overhead over
// it is the envelope opening and the vault's checks and locking.
func BenchmarkBareSQLiteGetPrepared(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ctx := context.Background()
			db := bareDB(b)
			blob := benchValue(envelopeLen(b, size))
			if _, err := db.ExecContext(ctx, sqlInsertVersion, benchRef.Scope, benchRef.Key, 1, 0, blob, "", ""); err != nil {
				b.Fatal(err)
			}
			stmt, err := db.PrepareContext(ctx, sqlSelectLatest)
			if err != nil {
				b.Fatal(err)
			}
			defer stmt.Close()
			b.ReportAllocs()
			for b.Loop() {
				rows, err := stmt.QueryContext(ctx, benchRef.Scope, benchRef.Key)
				if err != nil {
					b.Fatal(err)
				}
				var version int64
				var got sql.RawBytes
				if !rows.Next() {
					b.Fatal(rows.Err())
				}
				if err := rows.Scan(&version, &got); err != nil || len(got) != len(blob) {
					b.Fatal(err)
				}
				rows.Close()
			}
		})
	}
}

// BenchmarkPut adds a version: one immediate transaction with a SELECT, the
// sealing and an INSERT, committed with synchronous=FULL (an fsync of the
// WAL). Compare with BenchmarkBareSQLitePut.
func BenchmarkPut(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ctx := context.Background()
			v, _, _ := openTestVault(b)
			value := benchValue(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Put(ctx, benchRef, value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBareSQLitePut is the baseline of BenchmarkPut: the same
// statements in one transaction on the same kind of database, inserting a
// blob as long as the envelope, without cryptography, secure_delete or the
// vault's locking.
func BenchmarkBareSQLitePut(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ctx := context.Background()
			db := bareDB(b)
			blob := benchValue(envelopeLen(b, size))
			b.ReportAllocs()
			for b.Loop() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				var latest int64
				if err := tx.QueryRowContext(ctx, sqlSelectLatestVersion, benchRef.Scope, benchRef.Key).Scan(&latest); err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, sqlInsertVersion, benchRef.Scope, benchRef.Key, latest+1, 0, blob, "", ""); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bareDB opens a database like the vault's (sqlitedb settings, vault
// schema) without a Vault on top.
func bareDB(b *testing.B) *sql.DB {
	b.Helper()
	db, err := sqlitedb.Open(context.Background(), filepath.Join(b.TempDir(), "bare.db"), migrations)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// envelopeLen is the stored length of a size-byte value.
func envelopeLen(b *testing.B, size int) int {
	b.Helper()
	v, path, _ := openTestVault(b)
	if _, err := v.Put(context.Background(), benchRef, make([]byte, size)); err != nil {
		b.Fatal(err)
	}
	return len(storedEnvelope(b, rawDB(b, path), benchRef, 1))
}
