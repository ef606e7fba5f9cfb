package sqlitedb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenMigratesAndCreates0600(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	migs := []string{
		"CREATE TABLE a (id INTEGER PRIMARY KEY)",
		"CREATE TABLE b (id INTEGER PRIMARY KEY)",
	}
	db, err := Open(ctx, path, migs[:1])
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, path, migs)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 2 {
		t.Fatalf("user_version = %d, %v; want 2", v, err)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	// An older binary (fewer migrations) must refuse the newer schema.
	if _, err := Open(ctx, path, migs[:1]); err == nil {
		t.Fatal("opened a newer schema with an older migration list")
	}
}

func TestFailedMigrationLeavesPreviousVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	_, err := Open(ctx, path, []string{"CREATE TABLE a (id INTEGER)", "CREATE TABLE a (id INTEGER)"})
	if err == nil {
		t.Fatal("want error from duplicate table")
	}
	db, err := Open(ctx, path, []string{"CREATE TABLE a (id INTEGER)"})
	if err != nil {
		t.Fatalf("reopen at version 1: %v", err)
	}
	defer db.Close()
}
