// Package sqlitedb opens the SQLite databases that Palyra keeps in its state
// directory (the vault and the audit journal) with one set of durable settings
// and numbered migrations.
//
// Every database is opened with the pure-Go modernc.org/sqlite driver in WAL
// mode, synchronous=FULL (a committed transaction survives power loss),
// foreign keys on and a busy timeout, and the file is created 0600. Schema
// changes are numbered migrations recorded in PRAGMA user_version and each runs
// in its own transaction, so a crash mid-migration leaves the previous version.
package sqlitedb

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// BusyTimeout is how long a writer waits for a lock held by another
// connection or process before failing with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// Open opens (creating 0600 if absent) the SQLite database at path and brings
// its schema up to len(migrations): migrations[i] is the SQL that moves the
// schema from version i to i+1. A database whose user_version is newer than
// len(migrations) is refused, so an old binary never writes a newer schema.
// The returned *sql.DB is the only handle the caller should keep for path.
func Open(ctx context.Context, path string, migrations []string) (*sql.DB, error) {
	db, err := open(path)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, db, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitedb: migrate %s: %w", path, err)
	}
	return db, nil
}

// open opens path read-write with the durable settings, creating it 0600 if
// absent, without touching its schema.
func open(path string) (*sql.DB, error) {
	// Create the file 0600 before the driver does, so it never exists with
	// the process umask's looser mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- the database path from the state directory layout
	if err != nil {
		return nil, fmt.Errorf("sqlitedb: create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlitedb: create %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_txlock", "immediate")
	dsn, err := fileURI(path, q)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitedb: open %s: %w", path, err)
	}
	// Keep idle connections for good: SQLite deletes the write-ahead log
	// when the last connection closes, and the daemon's state watch reads a
	// log that vanishes under a running daemon as tampering.
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// OpenReadOnly opens an existing database without the ability to write to
// it, for offline inspection (for example verifying the audit journal while
// the daemon is stopped). It does not run migrations.
func OpenReadOnly(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlitedb: %w", err)
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	dsn, err := fileURI(path, q)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitedb: open %s: %w", path, err)
	}
	return db, nil
}

// fileURI returns the SQLite URI filename (https://sqlite.org/uri.html) for
// path with query q. The path is made absolute and percent-encoded, so a
// directory name containing '?', '#' or '%' names that directory rather
// than ending the path early.
func fileURI(path string, q url.Values) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlitedb: %w", err)
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	return u.String(), nil
}

func migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		// PRAGMA takes no bound parameters; i+1 is an integer we control.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

// InstanceID reads the database's application_id header field (a 32-bit
// value SQLite keeps in the file header for the application's use), which
// Palyra sets to a random value when it creates the file, so that a file
// replaced by another database is told apart from the one it replaced. It
// reads the header bytes directly (https://sqlite.org/fileformat.html,
// offset 68), so it creates nothing beside the file (no -wal or -shm).
func InstanceID(path string) (uint32, error) {
	f, err := os.Open(path) // #nosec G304 -- the database path from the state directory layout
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:16]) != "SQLite format 3\x00" {
		return 0, fmt.Errorf("sqlitedb: %s is not an SQLite database", path)
	}
	return binary.BigEndian.Uint32(h[68:72]), nil
}

// SetInstanceID writes id into the database's application_id header field
// (see InstanceID) and checkpoints it into the main file, so that the
// header read from disk holds it even if the process dies next. Write it
// once, when the file is created.
func SetInstanceID(ctx context.Context, path string, id uint32) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("sqlitedb: %w", err)
	}
	db, err := open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", int32(id))); err != nil { // #nosec G115 -- bit-for-bit reinterpretation: SQLite stores application_id as a signed 32-bit int
		return fmt.Errorf("sqlitedb: write %s: %w", path, err)
	}
	var busy, logFrames, done int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil || busy != 0 {
		return fmt.Errorf("sqlitedb: checkpoint %s: busy=%d: %v", path, busy, err)
	}
	return db.Close()
}
