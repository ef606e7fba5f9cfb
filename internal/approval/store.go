// Package approval keeps the requests that wait for a human decision, and
// the grants those decisions give, in approvals.db (SQLite) in the state
// directory.
//
// A record is created pending and moves once, to approved, denied or
// expired; the database enforces it (a trigger refuses any other change of
// state, and a decision is one conditional UPDATE), so of two deciders
// racing exactly one wins and the other is told who did. An approved
// record is a grant for the exact request it was made for (its SHA-256
// canonical hash, see CanonicalRequest) and requester, limited by its
// Scope and an expiry; a grant with scope once is consumed atomically.
package approval

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/palyra/palyra/internal/sqlitedb"
)

// States of a record.
const (
	StatePending  = "pending"
	StateApproved = "approved"
	StateDenied   = "denied"
	StateExpired  = "expired"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("approval: no such approval")
	// ErrExpired: the request expired before anyone decided it.
	ErrExpired = errors.New("approval: the request expired before it was decided")
	// ErrInvalid: a malformed id, scope or field.
	ErrInvalid = errors.New("approval: invalid request")
	// ErrTooManyPending: the requester has MaxPendingPerRequester
	// approvals waiting already, or MaxPending approvals of all
	// requesters are waiting.
	ErrTooManyPending = errors.New("approval: too many requests are waiting for approval")
)

// tooMany is ErrTooManyPending with what is full and what to do.
func tooMany(what string, n int) error {
	return fmt.Errorf("%w: %d %s are waiting already; deny or wait for some of them (palyra approvals list --state pending)", ErrTooManyPending, n, what)
}

// LostError is Resolve's answer when another decision came first: nothing
// changed, and Winner is the record as that decision left it.
type LostError struct{ Winner Approval }

func (e *LostError) Error() string {
	if e.Winner.State == StateExpired {
		return fmt.Sprintf("approval %s expired before it was decided", e.Winner.ID)
	}
	return fmt.Sprintf("approval %s was already %s by %s", e.Winner.ID, e.Winner.State, e.Winner.Decider)
}

// MaxPendingPerRequester bounds the approvals one requester may have
// waiting at once, so that a caller cannot fill the list (and the disk)
// with requests nobody will read.
const MaxPendingPerRequester = 100

// MaxPending bounds the approvals waiting at once over all requesters, so
// that many requesters together cannot fill the disk either.
const MaxPending = 1000

// Retention is how long a decided or expired record is kept after its
// decision (and after its grant ended): Prune removes older ones. Pending
// records are never pruned; the audit journal keeps the history.
const Retention = 30 * 24 * time.Hour

// Limits on a record's text fields, in bytes.
const (
	maxField  = 4096
	maxReason = 512
)

// Request is what a new pending record is created from.
type Request struct {
	// Requester is the requesting principal's Cedar UID.
	Requester string
	// DeviceID is the requesting device's ULID, "" on the local socket.
	DeviceID string
	// Session names the requester's connection (see docs/approvals.md);
	// a session grant applies to requests with the same Session.
	Session string
	// Action and Resource are the request's, as in the audit journal.
	Action, Resource string
	// Hash is the SHA-256 of the CanonicalRequest.
	Hash [32]byte
	// Reason says why approval is needed: the determining policies.
	Reason string
	// Summary is what the approver is shown (see Printable), at most
	// MaxSummary bytes; it is part of the canonical request, so Hash covers it.
	Summary string
	// Policies are the ids of the approvable forbids that required the
	// approval: a grant lifts only these (see UseGrant).
	Policies []string
}

// Approval is one record.
type Approval struct {
	ID        string
	Requester string
	DeviceID  string
	Session   string
	Action    string
	Resource  string
	Hash      [32]byte
	Reason    string
	Summary   string
	// Policies are the approvable forbids the approval lifts, sorted.
	Policies []string
	Created  time.Time
	// Expires is when a pending record expires undecided.
	Expires time.Time
	State   string
	// Decider is the deciding principal's UID, "" until decided (and for
	// an expired record).
	Decider        string
	DecisionReason string
	Decided        time.Time
	// Scope and GrantExpires describe the grant of an approved record.
	Scope        Scope
	GrantExpires time.Time
	// Uses counts the requests the grant let through.
	Uses int64
	// Seq orders changes: every insert or update takes the next value.
	Seq int64
}

var migrations = []string{`
CREATE TABLE approvals (
	id              TEXT PRIMARY KEY CHECK (length(id) = 26),
	requester       TEXT NOT NULL,
	device_id       TEXT NOT NULL,
	session         TEXT NOT NULL,
	action          TEXT NOT NULL,
	resource        TEXT NOT NULL,
	request_hash    BLOB NOT NULL CHECK (length(request_hash) = 32),
	reason          TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL CHECK (expires_at > created_at),
	state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
	decider         TEXT NOT NULL DEFAULT '',
	decision_reason TEXT NOT NULL DEFAULT '',
	decided_at      INTEGER NOT NULL DEFAULT 0,
	scope           TEXT NOT NULL DEFAULT '' CHECK (scope IN ('', 'once', 'session', 'for')),
	scope_for       INTEGER NOT NULL DEFAULT 0,
	grant_expires   INTEGER NOT NULL DEFAULT 0,
	uses            INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
	seq             INTEGER NOT NULL UNIQUE,
	-- An approval is always a bounded grant; a once grant is used once.
	CHECK (state != 'approved' OR (scope != '' AND grant_expires > decided_at AND decider != '')),
	CHECK (scope != 'once' OR uses <= 1),
	CHECK (state = 'approved' OR uses = 0)
) STRICT;
CREATE INDEX approvals_by_request ON approvals (request_hash, requester, state);
CREATE INDEX approvals_by_expiry ON approvals (state, expires_at);
-- A record is decided once: from pending to approved, denied or expired,
-- never back and never again.
CREATE TRIGGER approvals_decided_once BEFORE UPDATE OF state ON approvals
WHEN OLD.state != 'pending' OR NEW.state NOT IN ('approved', 'denied', 'expired')
BEGIN SELECT RAISE(ABORT, 'approval state moves only from pending to approved, denied or expired'); END;
-- What was asked never changes.
CREATE TRIGGER approvals_request_is_fixed BEFORE UPDATE OF id, requester, device_id, session, action, resource, request_hash, reason, created_at, expires_at ON approvals
BEGIN SELECT RAISE(ABORT, 'an approval request is immutable'); END;
-- The decision is written with the state change, and only then.
CREATE TRIGGER approvals_decision_is_fixed BEFORE UPDATE OF decider, decision_reason, decided_at, scope, scope_for, grant_expires ON approvals
WHEN OLD.state != 'pending'
BEGIN SELECT RAISE(ABORT, 'an approval decision is immutable'); END;
-- Uses only count up, one at a time, on an approved record.
CREATE TRIGGER approvals_uses_count_up BEFORE UPDATE OF uses ON approvals
WHEN NEW.uses != OLD.uses + 1 OR OLD.state != 'approved'
BEGIN SELECT RAISE(ABORT, 'approval uses only count up on an approved record'); END;
CREATE TRIGGER approvals_kept BEFORE DELETE ON approvals
BEGIN SELECT RAISE(ABORT, 'approval records are kept'); END;
`, `
ALTER TABLE approvals ADD COLUMN summary TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN policies TEXT NOT NULL DEFAULT '[]';
DROP TRIGGER approvals_request_is_fixed;
CREATE TRIGGER approvals_request_is_fixed BEFORE UPDATE OF id, requester, device_id, session, action, resource, request_hash, reason, created_at, expires_at, summary, policies ON approvals
BEGIN SELECT RAISE(ABORT, 'an approval request is immutable'); END;
-- Decided records may be pruned (Prune, after Retention); a pending one
-- is never deleted.
DROP TRIGGER approvals_kept;
CREATE TRIGGER approvals_pending_kept BEFORE DELETE ON approvals WHEN OLD.state = 'pending'
BEGIN SELECT RAISE(ABORT, 'a pending approval is kept until decided or expired'); END;
`}

// Options adjust Open.
type Options struct {
	// Now is the clock for creation, decision and expiry times; nil means
	// time.Now. Tests inject one to expire grants without waiting.
	Now func() time.Time
}

// Store is the approvals database. It is safe for concurrent use, also
// with other processes on the same file.
type Store struct {
	db  *sql.DB
	now func() time.Time

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every change
	closed  bool
}

// Open opens (creating 0600 if absent) the approvals database at path.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	db, err := sqlitedb.Open(ctx, path, migrations)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{db: db, now: o.Now, changed: make(chan struct{})}, nil
}

// Close closes the database and wakes every waiter.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.changed)
	}
	s.mu.Unlock()
	return s.db.Close()
}

// Changed returns a channel closed at the next change of any record (and
// when the store closes).
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// notify wakes everyone waiting on Changed.
func (s *Store) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

const columns = `id, requester, device_id, session, action, resource, request_hash, reason, created_at, expires_at, state,
	decider, decision_reason, decided_at, scope, scope_for, grant_expires, uses, seq, summary, policies`

// nextSeq is the SQL for the next change sequence number.
const nextSeq = `(SELECT COALESCE(MAX(seq), 0) + 1 FROM approvals)`

func scan(row interface{ Scan(...any) error }) (Approval, error) {
	var a Approval
	var hash []byte
	var created, expires, decided, scopeFor, grant int64
	var policies string
	err := row.Scan(&a.ID, &a.Requester, &a.DeviceID, &a.Session, &a.Action, &a.Resource, &hash, &a.Reason, &created, &expires, &a.State,
		&a.Decider, &a.DecisionReason, &decided, &a.Scope.Kind, &scopeFor, &grant, &a.Uses, &a.Seq, &a.Summary, &policies)
	if errors.Is(err, sql.ErrNoRows) {
		return Approval{}, ErrNotFound
	}
	if err != nil {
		return Approval{}, fmt.Errorf("approval: read: %w", err)
	}
	if err := json.Unmarshal([]byte(policies), &a.Policies); err != nil {
		return Approval{}, fmt.Errorf("approval: read %s: policies: %w", a.ID, err)
	}
	copy(a.Hash[:], hash)
	a.Created, a.Expires = unix(created), unix(expires)
	a.Decided, a.GrantExpires = unix(decided), unix(grant)
	a.Scope.For = time.Duration(scopeFor)
	return a, nil
}

func unix(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// ValidID reports whether id is a ULID as this store writes them.
func ValidID(id string) bool {
	u, err := ulid.ParseStrict(id)
	return err == nil && u.String() == id
}

// Create records a new pending request that expires after wait, or, when
// a pending record for the same Hash, Requester and Policies exists and
// has not expired, returns that one with joined set: identical requests
// wait on one approval. It fails with ErrTooManyPending when the
// requester has MaxPendingPerRequester records waiting, or all requesters
// together MaxPending.
func (s *Store) Create(ctx context.Context, r Request, wait time.Duration) (a Approval, joined bool, err error) {
	if r.Requester == "" || r.Action == "" || r.Resource == "" || wait <= 0 || len(r.Policies) == 0 ||
		len(r.Requester) > maxField || len(r.Resource) > maxField || len(r.Session) > maxField || len(r.Reason) > maxField ||
		len(r.Summary) > MaxSummary {
		return Approval{}, false, ErrInvalid
	}
	policies := slices.Sorted(slices.Values(r.Policies))
	pj, err := json.Marshal(slices.Compact(policies))
	if err != nil {
		return Approval{}, false, fmt.Errorf("approval: create: %w", err)
	}
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Approval{}, false, fmt.Errorf("approval: create: %w", err)
	}
	defer tx.Rollback()
	a, err = scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM approvals
		WHERE request_hash = ? AND requester = ? AND policies = ? AND state = 'pending' AND expires_at > ? ORDER BY created_at LIMIT 1`,
		r.Hash[:], r.Requester, string(pj), now.UnixNano()))
	if err == nil {
		return a, true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Approval{}, false, err
	}
	var waiting int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM approvals WHERE requester = ? AND state = 'pending' AND expires_at > ?`,
		r.Requester, now.UnixNano()).Scan(&waiting); err != nil {
		return Approval{}, false, fmt.Errorf("approval: create: %w", err)
	}
	if waiting >= MaxPendingPerRequester {
		return Approval{}, false, tooMany("requests of this requester", waiting)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM approvals WHERE state = 'pending' AND expires_at > ?`,
		now.UnixNano()).Scan(&waiting); err != nil {
		return Approval{}, false, fmt.Errorf("approval: create: %w", err)
	}
	if waiting >= MaxPending {
		return Approval{}, false, tooMany("requests", waiting)
	}
	id := ulid.MustNew(ulid.Timestamp(now), rand.Reader).String()
	_, err = tx.ExecContext(ctx, `INSERT INTO approvals (id, requester, device_id, session, action, resource, request_hash, reason, created_at, expires_at, state, seq, summary, policies)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', `+nextSeq+`, ?, ?)`,
		id, r.Requester, r.DeviceID, r.Session, r.Action, r.Resource, r.Hash[:], r.Reason, now.UnixNano(), now.Add(wait).UnixNano(), r.Summary, string(pj))
	if err != nil {
		return Approval{}, false, fmt.Errorf("approval: create: %w", err)
	}
	if a, err = scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM approvals WHERE id = ?`, id)); err != nil {
		return Approval{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return Approval{}, false, fmt.Errorf("approval: create: %w", err)
	}
	s.notify()
	return a, false, nil
}

// Get returns the record id, expiring it first if its time has passed.
func (s *Store) Get(ctx context.Context, id string) (Approval, error) {
	if !ValidID(id) {
		return Approval{}, fmt.Errorf("%w: %q is not an approval id (a ULID)", ErrInvalid, truncate(id, 40))
	}
	if err := s.expireDue(ctx); err != nil {
		return Approval{}, err
	}
	a, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, ErrNotFound) {
		return a, fmt.Errorf("%w: %s (palyra approvals list --state pending shows the waiting ones; decided records are kept 30 days)", ErrNotFound, id)
	}
	return a, err
}

// Filter selects records for List.
type Filter struct {
	// State keeps only records in this state; "" keeps all.
	State string
	// AfterSeq keeps only records changed after this sequence number.
	AfterSeq int64
	// Limit is the most records returned, 1..1000 (0 means 100).
	Limit int
}

// Validate reports whether f is a filter List accepts: State "" or one of
// the four states, Limit 0..1000 and AfterSeq not negative. The error
// wraps ErrInvalid and names the field.
func (f Filter) Validate() error {
	switch f.State {
	case "", StatePending, StateApproved, StateDenied, StateExpired:
	default:
		return fmt.Errorf("%w: state %q: want pending, approved, denied or expired", ErrInvalid, truncate(f.State, 40))
	}
	if f.Limit < 0 || f.Limit > 1000 {
		return fmt.Errorf("%w: limit %d: want 0..1000 (0 means 100)", ErrInvalid, f.Limit)
	}
	if f.AfterSeq < 0 {
		return fmt.Errorf("%w: after_seq %d: want 0 or more", ErrInvalid, f.AfterSeq)
	}
	return nil
}

// List returns the records Filter selects, oldest change first, after
// expiring those whose time has passed. An invalid filter is Validate's
// error.
func (s *Store) List(ctx context.Context, f Filter) ([]Approval, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	if err := s.expireDue(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM approvals WHERE seq > ? AND (? = '' OR state = ?) ORDER BY seq LIMIT ?`,
		f.AfterSeq, f.State, f.State, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("approval: list: %w", err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// expireDue moves every pending record whose expiry has passed to expired.
func (s *Store) expireDue(ctx context.Context) error {
	now := s.now().UnixNano()
	// Read first: most calls find nothing due, and a read takes no write
	// lock.
	var due int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM approvals WHERE state = 'pending' AND expires_at <= ? LIMIT 1)`, now).Scan(&due)
	if err != nil {
		return fmt.Errorf("approval: expire: %w", err)
	}
	if due == 0 {
		return nil
	}
	moved := false
	for {
		// One record per statement, so each takes its own seq.
		res, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = 'expired', decision_reason = 'expired before a decision', decided_at = ?, seq = `+nextSeq+`
			WHERE id = (SELECT id FROM approvals WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT 1)`, now, now)
		if err != nil {
			return fmt.Errorf("approval: expire: %w", err)
		}
		n, _ := res.RowsAffected()
		if n == 0 {
			break
		}
		moved = true
	}
	if moved {
		s.notify()
	}
	return nil
}

// Decision is a human's answer to a pending request.
type Decision struct {
	// Approve approves; otherwise the request is denied.
	Approve bool
	// Scope is the grant of an approval; ignored for a deny.
	Scope Scope
	// Decider is the deciding principal's UID.
	Decider string
	// Reason is the decider's reason, at most 512 bytes; shown to the
	// requester.
	Reason string
}

// ValidReason reports whether r may be a decision's reason: at most 512
// bytes of UTF-8 without control characters (it is shown to the
// requester on one line).
func ValidReason(r string) bool {
	if len(r) > maxReason || !utf8.ValidString(r) {
		return false
	}
	for _, c := range r {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// Resolve decides the pending record id. Exactly one decision wins: it is
// one conditional UPDATE of a pending, unexpired record. A record decided
// (or expired) before returns a *LostError naming the winner; one whose
// expiry has passed is expired and returns ErrExpired.
func (s *Store) Resolve(ctx context.Context, id string, d Decision) (Approval, error) {
	if !ValidID(id) {
		return Approval{}, fmt.Errorf("%w: %q is not an approval id (a ULID)", ErrInvalid, truncate(id, 40))
	}
	if d.Decider == "" || len(d.Decider) > maxField || !ValidReason(d.Reason) {
		return Approval{}, fmt.Errorf("%w: a reason is one line of at most %d bytes of printable UTF-8", ErrInvalid, maxReason)
	}
	state, scope := StateDenied, Scope{}
	if d.Approve {
		if !d.Scope.valid() {
			return Approval{}, fmt.Errorf("%w: scope %q", ErrInvalid, d.Scope.String())
		}
		state, scope = StateApproved, d.Scope
	}
	now := s.now()
	var grant int64
	if d.Approve {
		grant = now.Add(scope.lifetime()).UnixNano()
	}
	res, err := s.db.ExecContext(ctx, `UPDATE approvals SET state = ?, decider = ?, decision_reason = ?, decided_at = ?, scope = ?, scope_for = ?, grant_expires = ?, seq = `+nextSeq+`
		WHERE id = ? AND state = 'pending' AND expires_at > ?`,
		state, d.Decider, d.Reason, now.UnixNano(), scope.Kind, int64(scope.For), grant, id, now.UnixNano())
	if err != nil {
		return Approval{}, fmt.Errorf("approval: decide %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		s.notify()
		return scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM approvals WHERE id = ?`, id))
	}
	a, err := s.Get(ctx, id) // expires it if its time has passed
	if err != nil {
		return Approval{}, err
	}
	if a.State == StateExpired && a.Decider == "" {
		return a, fmt.Errorf("%w: %w", ErrExpired, &LostError{Winner: a})
	}
	return a, &LostError{Winner: a}
}

// Use counts one use of the approved record id by a request from session:
// it succeeds only while the grant is live (not expired; a once grant not
// used yet; a session grant only from its session). It reports whether
// the request may proceed.
func (s *Store) Use(ctx context.Context, id, session string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE approvals SET uses = uses + 1, seq = `+nextSeq+`
		WHERE id = ? AND state = 'approved' AND grant_expires > ?
		AND (scope = 'for' OR (scope = 'once' AND uses = 0) OR (scope = 'session' AND session = ?))`,
		id, s.now().UnixNano(), session)
	if err != nil {
		return false, fmt.Errorf("approval: use %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	if n == 1 {
		s.notify()
	}
	return n == 1, nil
}

// UseGrant looks for a live grant for the request hash by requester from
// session that lifts every one of policies (the determining forbids of the
// request's current Pending decision: see Lifts) and uses it (see Use). It
// returns the grant and true if one let the request through.
func (s *Store) UseGrant(ctx context.Context, hash [32]byte, requester, session string, policies []string) (Approval, bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM approvals
		WHERE request_hash = ? AND requester = ? AND state = 'approved' AND grant_expires > ?
		AND (scope = 'for' OR (scope = 'once' AND uses = 0) OR (scope = 'session' AND session = ?))
		ORDER BY decided_at DESC LIMIT 8`, hash[:], requester, s.now().UnixNano(), session)
	if err != nil {
		return Approval{}, false, fmt.Errorf("approval: grants: %w", err)
	}
	var cands []Approval
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			rows.Close()
			return Approval{}, false, err
		}
		if a.Lifts(policies) {
			cands = append(cands, a)
		}
	}
	rows.Close()
	for _, a := range cands {
		ok, err := s.Use(ctx, a.ID, session)
		if err != nil {
			return Approval{}, false, err
		}
		if ok {
			a.Uses++
			return a, true, nil
		}
	}
	return Approval{}, false, nil
}

// Lifts reports whether a's approval covers a Pending decision whose
// determining policies are policies: each must be one a recorded (a grant
// never lifts a forbid added after it, nor one nobody approved).
func (a Approval) Lifts(policies []string) bool {
	if len(policies) == 0 {
		return false
	}
	for _, p := range policies {
		if !slices.Contains(a.Policies, p) {
			return false
		}
	}
	return true
}

// Prune deletes the decided and expired records decided before before
// whose grant (if any) ended before it too, and returns how many. Pending
// records are kept (the database refuses to delete one).
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	if err := s.expireDue(ctx); err != nil {
		return 0, err
	}
	b := before.UnixNano()
	res, err := s.db.ExecContext(ctx, `DELETE FROM approvals WHERE state != 'pending' AND decided_at < ? AND grant_expires < ?`, b, b)
	if err != nil {
		return 0, fmt.Errorf("approval: prune: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		s.notify()
	}
	return n, nil
}
