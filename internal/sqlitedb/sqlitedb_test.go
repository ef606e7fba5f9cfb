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

// TestPathWithURIMetacharacters opens databases in directories whose names
// contain URI metacharacters: the file must land inside the directory, with
// the durable settings applied.
func TestPathWithURIMetacharacters(t *testing.T) {
	for _, name := range []string{"q?x", "h#x", "p%41x", "sp ace", "semi;colon"} {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "x.db")
		db, err := Open(context.Background(), path, []string{"CREATE TABLE a (id INTEGER)"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var mode string
		db.QueryRow("PRAGMA journal_mode").Scan(&mode)
		db.Close()
		if mode != "wal" {
			t.Errorf("%s: journal_mode %q", name, mode)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: database not at %s: %v", name, path, err)
		}
		entries, _ := os.ReadDir(filepath.Dir(dir))
		if len(entries) != 1 {
			t.Errorf("%s: stray files beside the directory: %v", name, entries)
		}
		ro, err := OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := ro.QueryRow("SELECT count(*) FROM a").Scan(new(int)); err != nil {
			t.Errorf("%s: read-only open: %v", name, err)
		}
		ro.Close()
	}
}
