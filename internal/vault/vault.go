// Package vault stores Palyra's secrets (provider API keys, connector tokens,
// tool credentials) encrypted at rest in a SQLite database.
//
// # Model
//
// A secret is named by a [Ref]: a scope ("global", "user:alice",
// "device:<id>", "connector:slack", "tool:http.fetch") and a key inside it.
// Every [Vault.Put] adds a new version (1, 2, 3, …) and keeps the older ones
// (the last Options.Retention of them, when set);
// [Vault.Get] reads the latest and [Vault.GetVersion] any kept one, and
// [Vault.History] lists them (with their writer) without values.
// [Vault.Delete] removes a secret with all its versions; a version number is
// never given to another value, also after a delete (the vault keeps the
// highest number each name used). [Vault.List] returns names and metadata,
// never values, one bounded page at a time.
//
// Reads are single prepared SELECTs outside any write transaction: they
// take no write lock and never sync to disk; every write is one immediate
// transaction, durable when it returns.
//
// Each version is stored as an envelope (package
// github.com/palyra/palyra/internal/vault/envelope, specified in
// docs/vault-format.md): the value is sealed with XChaCha20-Poly1305 (RFC 8439
// with 24-byte nonces) under a fresh random 32-byte data-encryption key (DEK),
// and the DEK is sealed under the vault's key-encryption key (KEK). The KEK is
// derived elsewhere from the master key and given to [Open] with a short
// non-secret id. Each envelope's associated data binds the format version,
// the KEK id and the secret's scope, key and version number, so an envelope
// that was modified, or copied to another name or version, fails to open with
// [ErrIntegrity]: the vault returns the value stored for the name asked for,
// or an error, never another value.
//
// Open also checks the KEK against a small record sealed when the vault was
// created, so a vault opened with the wrong KEK fails at once instead of
// accepting new secrets that the right KEK could not read.
//
// # What is protected, and what is not
//
// Values are never written to disk in plaintext and their length is hidden
// to within 256 bytes. Scopes, keys, version numbers and timestamps are
// stored in clear, so that List and lookups need no key. Someone who can
// write the database file can delete secrets or roll the whole file back to
// an older copy; they cannot make Get return a value that was never stored
// under that name and version. Delete zeroes the freed cells and checkpoints
// the write-ahead log (TRUNCATE), so removed envelopes leave vault.db and its
// WAL (docs/vault-format.md, section 3.2); copies left in backups or
// snapshots may survive; they are ciphertext that only the KEK opens.
//
// KEKs come in generations ([OpenWith], [Vault.RotateKEK]): a rotation
// records a new generation, re-wraps every DEK under it in batches without
// decrypting values, and retires the old KEK once no envelope names it; an
// interrupted rotation is finished by the next Open.
//
// Go cannot guarantee that key or value bytes are erased from memory (the
// garbage collector copies and the AEAD keeps a private key copy). The vault
// clears the buffers it owns; callers should clear values returned by Get
// when done (clear(b)).
package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palyra/palyra/internal/vault/envelope"
)

// MaxValueBytes is the largest secret value Put accepts: 64 KiB. Values of
// 0 bytes are allowed.
const MaxValueBytes = 64 << 10

// Page sizes of List.
const (
	// DefaultListLimit is the page size of List when ListOptions.Limit is 0.
	DefaultListLimit = 100
	// MaxListLimit is the largest ListOptions.Limit List accepts.
	MaxListLimit = 1000
)

// Errors callers branch on. Every error a Vault returns that is one of these
// conditions wraps the sentinel, so test with errors.Is; the message adds
// the operation and the ref ("vault: get global/k: secret not found"). No
// error ever contains a secret value.
var (
	// ErrNotFound means no secret (or no such version of it) exists.
	ErrNotFound = errors.New("secret not found")
	// ErrIntegrity means a stored envelope failed authentication or is
	// malformed, was moved from another name or version, or the KEK is
	// wrong. No value is returned with it. Map it to DATA_LOSS or INTERNAL,
	// not to a client error.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrInvalidRef means a scope, key, reference or version number is not
	// well formed.
	ErrInvalidRef = errors.New("invalid secret reference")
	// ErrValueTooLarge means a value is longer than MaxValueBytes.
	ErrValueTooLarge = errors.New("value too large")
	// ErrClosed means the Vault was used after Close.
	ErrClosed = errors.New("vault closed")
	// ErrInvalidLimit means a List page size is negative or larger than
	// MaxListLimit. Map it to a client error (INVALID_ARGUMENT).
	ErrInvalidLimit = errors.New("invalid list limit")
)

// Entry describes one secret without its value.
type Entry struct {
	// Ref names the secret.
	Ref Ref
	// Version is the latest version number, >= 1.
	Version int64
	// CreatedAt is when the oldest kept version was stored, UTC.
	CreatedAt time.Time
	// UpdatedAt is when the latest version was stored, UTC.
	UpdatedAt time.Time
}

// Vault is an open secret store. It is safe for concurrent use; writes are
// serialised. Use one Vault per database file in a process.
type Vault struct {
	// mu guards db and keys against Close; operations hold it for reading.
	mu sync.RWMutex
	db *sql.DB
	// keys are the KEKs not retired, and the active one; replaced (never
	// modified) under writeMu by a rotation.
	keys atomic.Pointer[keyring]
	// baseID is the KEK id of generation 1; derive gives a generation's KEK.
	baseID string
	derive func(generation int64) ([]byte, error)
	// retention is the number of versions Put keeps per secret (0: all).
	retention int
	// rotateMu serialises rotations; rotating is set while one runs.
	rotateMu sync.Mutex
	rotating atomic.Bool
	// scrubPending is set when a checkpoint after a delete could not empty
	// the write-ahead log; the next write and Close retry it.
	scrubPending atomic.Bool
	// batch is the number of envelopes re-wrapped per transaction;
	// afterBatch, when set (tests), runs after each committed batch.
	batch      int
	afterBatch func(rewrapped int64)
	// release, if set, clears key material the vault holds outside the
	// AEADs (Open's copy of its KEK); Close calls it.
	release func()
	// stmts are the read statements, prepared once by Open and closed by
	// Close; database/sql prepares each on a pooled connection at its first
	// use there and reuses it afterwards.
	stmts readStmts
	// writeMu queues this process's writers in Go rather than in SQLite's
	// busy-timeout polling.
	writeMu sync.Mutex
	now     func() time.Time
}

// kekCheckBinding is the binding of the KEK check record. Its scope is not a
// valid vault scope, so no secret's envelope shares its associated data.
var kekCheckBinding = envelope.Binding{Scope: "palyra-vault", Key: "kek-check", SecretVersion: 1}

// Open opens or creates the vault database at path (created 0600, WAL mode,
// synchronous commits; see package sqlitedb) and brings its schema up to
// date. kek is the 32-byte key-encryption key; Open copies it, so the caller
// may clear its slice afterwards. kekID is a short non-secret label of 1..64
// bytes of [A-Za-z0-9._:-], written into every envelope and bound in its
// associated data.
//
// A new vault records a KEK check sealed under kek. Opening an existing vault
// with a KEK or KEK id other than the one it was created with fails with an
// error wrapping ErrIntegrity.
func Open(ctx context.Context, path string, kek []byte, kekID string) (*Vault, error) {
	if _, err := envelope.NewKEK(kekID, kek); err != nil {
		return nil, fmt.Errorf("vault: open %s: %w", path, err)
	}
	key := append([]byte(nil), kek...)
	v, err := OpenWith(ctx, path, kekID, Options{Derive: func(gen int64) ([]byte, error) {
		if gen != 1 {
			return nil, fmt.Errorf("%w: generation %d", ErrNoKEK, gen)
		}
		return append([]byte(nil), key...), nil
	}})
	if err != nil {
		clear(key)
		return nil, err
	}
	v.release = func() { clear(key) }
	return v, nil
}

// readStmts are the prepared statements of the read paths.
type readStmts struct {
	latest    *sql.Stmt // sqlSelectLatest
	version   *sql.Stmt // sqlSelectVersion
	listAll   *sql.Stmt // sqlListAll
	listScope *sql.Stmt // sqlListScope
}

// prepare prepares every statement; on error the caller closes those
// prepared so far.
func (s *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.latest, sqlSelectLatest},
		{&s.version, sqlSelectVersion},
		{&s.listAll, sqlListAll},
		{&s.listScope, sqlListScope},
	} {
		stmt, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			return err
		}
		*p.dst = stmt
	}
	return nil
}

// close closes the prepared statements and returns the first error.
func (s *readStmts) close() error {
	var first error
	for _, stmt := range []*sql.Stmt{s.latest, s.version, s.listAll, s.listScope} {
		if stmt == nil {
			continue
		}
		if err := stmt.Close(); err != nil && first == nil {
			first = err
		}
	}
	*s = readStmts{}
	return first
}

// Close closes the database and drops the KEK. It waits for operations in
// progress; later calls on v return ErrClosed. Closing twice is harmless.
func (v *Vault) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.db == nil {
		return nil
	}
	if v.scrubPending.Load() {
		v.scrub(context.Background())
	}
	err := errors.Join(v.stmts.close(), v.db.Close())
	v.db = nil
	v.keys.Store(nil)
	if v.release != nil {
		v.release()
	}
	if err != nil {
		return fmt.Errorf("vault: close: %w", err)
	}
	return nil
}

// Put stores value (0..MaxValueBytes bytes) as a new version of ref and
// returns the version number: 1 for a new secret, otherwise one more than
// the latest. The value is sealed under a fresh random DEK with
// XChaCha20-Poly1305 (RFC 8439, 24-byte nonces), the DEK under the KEK, and
// both are bound to ref and the new version (docs/vault-format.md). The version and its envelope are
// written in one transaction, durable when Put returns. value is neither
// kept nor modified. Errors wrap ErrInvalidRef, ErrValueTooLarge or
// ErrClosed, or report a storage failure; on any error nothing is stored.
func (v *Vault) Put(ctx context.Context, ref Ref, value []byte) (version int64, err error) {
	return v.PutAs(ctx, ref, value, "")
}

// PutAs is Put recording principal (the writer's Cedar UID, or "") with the
// new version. When the vault keeps a limited number of versions
// (Options.Retention), older versions beyond it are removed in the same
// transaction and scrubbed like a Delete.
func (v *Vault) PutAs(ctx context.Context, ref Ref, value []byte, principal string) (version int64, err error) {
	if err := ref.Validate(); err != nil {
		return 0, fmt.Errorf("vault: put: %w", err)
	}
	if len(value) > MaxValueBytes {
		return 0, fmt.Errorf("vault: put %s: %w: %d bytes, limit %d", ref, ErrValueTooLarge, len(value), MaxValueBytes)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return 0, fmt.Errorf("vault: put %s: %w", ref, ErrClosed)
	}
	pruned := false
	err = v.write(ctx, func(tx *sql.Tx) error {
		var latest int64
		if err := tx.QueryRowContext(ctx, sqlSelectLatestVersion, ref.Scope, ref.Key).Scan(&latest); err != nil {
			return err
		}
		if latest == math.MaxInt64 {
			return errors.New("version numbers exhausted")
		}
		version = latest + 1
		kek := v.keys.Load().active
		env, err := kek.Seal(envelope.Binding{Scope: ref.Scope, Key: ref.Key, SecretVersion: version}, value)
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, sqlSetVersionCounter, ref.Scope, ref.Key, version); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, sqlInsertVersion, ref.Scope, ref.Key, version, v.now().UnixNano(), env, principal, kek.ID()); err != nil {
			return err
		}
		if v.retention > 0 && version > int64(v.retention) {
			res, err := tx.ExecContext(ctx, sqlDeleteUpTo, ref.Scope, ref.Key, version-int64(v.retention))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				pruned = true
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("vault: put %s: %w", ref, err)
	}
	if pruned || v.scrubPending.Load() {
		v.scrub(ctx)
	}
	return version, nil
}

// Get returns the value of the latest version of ref. The slice is the
// caller's; clear it when done. Errors wrap ErrInvalidRef, ErrNotFound,
// ErrIntegrity (the stored envelope does not open as this secret's latest
// version; no value is returned) or ErrClosed.
func (v *Vault) Get(ctx context.Context, ref Ref) ([]byte, error) {
	val, _, err := v.GetLatest(ctx, ref)
	return val, err
}

// GetLatest is Get returning the latest version's number too.
func (v *Vault) GetLatest(ctx context.Context, ref Ref) ([]byte, int64, error) {
	if err := ref.Validate(); err != nil {
		return nil, 0, fmt.Errorf("vault: get: %w", err)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return nil, 0, fmt.Errorf("vault: get %s: %w", ref, ErrClosed)
	}
	rows, err := v.stmts.latest.QueryContext(ctx, ref.Scope, ref.Key)
	if err != nil {
		return nil, 0, fmt.Errorf("vault: get %s: %w", ref, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, 0, fmt.Errorf("vault: get %s: %w", ref, err)
		}
		return nil, 0, fmt.Errorf("vault: get %s: %w", ref, ErrNotFound)
	}
	// env is the driver's buffer, valid until rows moves on or closes;
	// open only reads it, so it is not copied first.
	var version int64
	var env sql.RawBytes
	if err := rows.Scan(&version, &env); err != nil {
		return nil, 0, fmt.Errorf("vault: get %s: %w", ref, err)
	}
	val, err := v.open(ref, version, env)
	if err != nil {
		return nil, 0, err
	}
	return val, version, nil
}

// GetVersion returns the value of one version (>= 1) of ref. The slice is
// the caller's; clear it when done. Errors wrap ErrInvalidRef (also for a
// version < 1), ErrNotFound, ErrIntegrity or ErrClosed, as for Get.
func (v *Vault) GetVersion(ctx context.Context, ref Ref, version int64) ([]byte, error) {
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("vault: get: %w", err)
	}
	if version < 1 {
		return nil, fmt.Errorf("vault: get %s: %w: version %d < 1", ref, ErrInvalidRef, version)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return nil, fmt.Errorf("vault: get %s: %w", ref, ErrClosed)
	}
	rows, err := v.stmts.version.QueryContext(ctx, ref.Scope, ref.Key, version)
	if err != nil {
		return nil, fmt.Errorf("vault: get %s version %d: %w", ref, version, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("vault: get %s version %d: %w", ref, version, err)
		}
		return nil, fmt.Errorf("vault: get %s version %d: %w", ref, version, ErrNotFound)
	}
	var env sql.RawBytes // see Get
	if err := rows.Scan(&env); err != nil {
		return nil, fmt.Errorf("vault: get %s version %d: %w", ref, version, err)
	}
	return v.open(ref, version, env)
}

// open authenticates and decrypts the envelope found at (ref, version).
func (v *Vault) open(ref Ref, version int64, env []byte) ([]byte, error) {
	kek, err := v.keys.Load().forEnvelope(env)
	if err != nil {
		return nil, fmt.Errorf("vault: get %s version %d: %w: %w", ref, version, ErrIntegrity, err)
	}
	value, err := kek.Open(envelope.Binding{Scope: ref.Scope, Key: ref.Key, SecretVersion: version}, env)
	if err != nil {
		return nil, fmt.Errorf("vault: get %s version %d: %w: %w", ref, version, ErrIntegrity, err)
	}
	return value, nil
}

// ListOptions selects one page of List.
type ListOptions struct {
	// Scope restricts the page to one scope; "" lists every scope.
	Scope string
	// After is the cursor: the page starts with the first secret ordered
	// strictly after it by (scope, key). The zero Ref starts at the
	// beginning; to fetch the next page, pass the Ref of the last entry of
	// the previous one. After need not exist (a secret deleted between
	// pages is no obstacle). With a Scope, After must be in that scope.
	After Ref
	// Limit is the largest number of entries returned: 0 means
	// DefaultListLimit, otherwise 1..MaxListLimit.
	Limit int
}

// List returns one page of secret metadata, sorted by scope then key (byte
// order), with each secret's latest version. It reads no values and needs
// no key. A page shorter than the limit is the last; a full page may be
// followed by an empty one. Paging is by position, not a snapshot: secrets
// put or deleted between pages appear or disappear according to where they
// sort relative to the cursor.
//
// Each page costs one index range scan of its own rows, so its time does
// not grow with the number of secrets stored (docs/vault-format.md).
//
// Errors wrap ErrInvalidRef (Scope is neither "" nor valid, After is not a
// valid reference, or After is outside Scope), ErrInvalidLimit, ErrIntegrity
// (a stored name is not a valid reference) or ErrClosed. The result is
// empty, not nil, when nothing matches.
func (v *Vault) List(ctx context.Context, opts ListOptions) ([]Entry, error) {
	limit := opts.Limit
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 0 || limit > MaxListLimit:
		return nil, fmt.Errorf("vault: list: %w: %d, want 0 (default %d) or 1..%d", ErrInvalidLimit, opts.Limit, DefaultListLimit, MaxListLimit)
	}
	if opts.Scope != "" {
		if err := ValidScope(opts.Scope); err != nil {
			return nil, fmt.Errorf("vault: list: %w", err)
		}
	}
	if opts.After != (Ref{}) {
		if err := opts.After.Validate(); err != nil {
			return nil, fmt.Errorf("vault: list: after: %w", err)
		}
		if opts.Scope != "" && opts.After.Scope != opts.Scope {
			return nil, fmt.Errorf("vault: list: %w: after %s is not in scope %s", ErrInvalidRef, opts.After, opts.Scope)
		}
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return nil, fmt.Errorf("vault: list: %w", ErrClosed)
	}
	var rows *sql.Rows
	var err error
	if opts.Scope == "" {
		rows, err = v.stmts.listAll.QueryContext(ctx, opts.After.Scope, opts.After.Key, limit)
	} else {
		rows, err = v.stmts.listScope.QueryContext(ctx, opts.Scope, opts.After.Key, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: list: %w", err)
	}
	defer rows.Close()
	entries := make([]Entry, 0, min(limit, 64))
	for rows.Next() {
		var e Entry
		var created, updated int64
		if err := rows.Scan(&e.Ref.Scope, &e.Ref.Key, &e.Version, &created, &updated); err != nil {
			return nil, fmt.Errorf("vault: list: %w", err)
		}
		if err := e.Ref.Validate(); err != nil {
			return nil, fmt.Errorf("vault: list: %w: stored name: %w", ErrIntegrity, err)
		}
		e.CreatedAt = time.Unix(0, created).UTC()
		e.UpdatedAt = time.Unix(0, updated).UTC()
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vault: list: %w", err)
	}
	return entries, nil
}

// Delete removes every version of ref in one transaction, then scrubs the
// database (see Remove). Errors wrap ErrInvalidRef, ErrNotFound (nothing was
// stored under ref) or ErrClosed.
func (v *Vault) Delete(ctx context.Context, ref Ref) error {
	_, err := v.Remove(ctx, ref, 0)
	return err
}

// Remove removes version (>= 1) of ref, or every version when version is 0,
// in one transaction, and returns how many versions it removed. Writes run
// with secure_delete, so the freed cells and pages are zeroed; Remove then
// checkpoints the write-ahead log with TRUNCATE so that the removed
// envelopes leave the WAL too. A reader holding a read transaction blocks
// that checkpoint: Remove waits for it up to the busy timeout (5 s), and if
// the reader is still there, the next write and Close retry
// (docs/vault-format.md, section 5). Errors wrap ErrInvalidRef, ErrNotFound
// (no such secret or version) or ErrClosed.
func (v *Vault) Remove(ctx context.Context, ref Ref, version int64) (int64, error) {
	if err := ref.Validate(); err != nil {
		return 0, fmt.Errorf("vault: delete: %w", err)
	}
	if version < 0 {
		return 0, fmt.Errorf("vault: delete %s: %w: version %d < 0", ref, ErrInvalidRef, version)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return 0, fmt.Errorf("vault: delete %s: %w", ref, ErrClosed)
	}
	var n int64
	err := v.write(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if version == 0 {
			res, err = tx.ExecContext(ctx, sqlDeleteSecret, ref.Scope, ref.Key)
		} else {
			res, err = tx.ExecContext(ctx, sqlDeleteVersion, ref.Scope, ref.Key, version)
		}
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		if version > 0 {
			return 0, fmt.Errorf("vault: delete %s version %d: %w", ref, version, err)
		}
		return 0, fmt.Errorf("vault: delete %s: %w", ref, err)
	}
	v.scrub(ctx)
	return n, nil
}

// scrub checkpoints the write-ahead log with TRUNCATE: the zeroed pages of a
// delete are copied over the database file and the log is emptied, so no
// frame keeps a removed envelope. SQLite waits for readers through the busy
// handler (5 s); if one still holds the log, scrubPending stays set for the
// next write or Close. v.mu must be held (for reading).
func (v *Vault) scrub(ctx context.Context) {
	var busy, logFrames, done int
	err := v.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	v.scrubPending.Store(err != nil || busy != 0)
}

// write runs fn in an immediate transaction on a connection with
// secure_delete on, so that pages freed or rewritten by the write are
// zeroed rather than left holding old envelopes. v.mu must be held.
func (v *Vault) write(ctx context.Context, fn func(*sql.Tx) error) error {
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	conn, err := v.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// secure_delete is a per-connection setting and database/sql may hand
	// out a new connection, so set it every time; it costs microseconds
	// against a commit's fsync.
	if _, err := conn.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
