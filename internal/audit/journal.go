package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/palyra/palyra/internal/sqlitedb"
)

// ErrClosed is returned by Append and Records after Close.
var ErrClosed = errors.New("audit: journal is closed")

// MaxRecordsLimit is the most records one Records call returns.
const MaxRecordsLimit = 10000

// maxBatch bounds one group commit: a long batch holds the write lock and
// delays its first caller, and a few hundred records already amortise the
// fsync.
const maxBatch = 256

// Journal is an open audit journal. It is safe for concurrent use; all
// writes go through one goroutine that Close stops.
type Journal struct {
	db       *sql.DB
	path     string
	origin   string
	signer   *ed25519Signer
	verifier note.Verifier

	headStmt, insertStmt, checkpointStmt *sql.Stmt

	// mu orders Append's send on reqs against Close: once closed is set
	// under the write lock, nothing more is sent, so the writer can drain
	// reqs and stop without stranding a caller.
	mu     sync.RWMutex
	closed bool

	reqs chan *request
	quit chan struct{} // closed by Close
	done chan struct{} // closed by the writer when it exits

	buf []byte // the writer's scratch space for record encodings
}

type request struct {
	ctx   context.Context
	entry Entry
	rec   Record
	done  chan error // buffered (1): the writer never blocks on a caller
}

const (
	selectRecords = `SELECT seq, time, principal, action, resource, decision, policies, transport, reason, prev_hash, hash FROM records`
	selectHead    = `SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1`
	insertRecord  = `INSERT INTO records (seq, time, principal, action, resource, decision, policies, transport, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertCheckpt = `INSERT INTO checkpoints (count, note) VALUES (?, ?)`
	selectLatest  = `SELECT count, note FROM checkpoints ORDER BY count DESC LIMIT 1`
)

// Open opens the journal at path, creating it (0600) if absent, and starts
// its writer goroutine. signer is the Ed25519 key that signs checkpoints;
// origin names this journal in them (for example "palyra/<device_id>") and
// must be a valid signed-note key name: non-empty UTF-8 without spaces or
// '+'.
//
// Open refuses a journal whose latest checkpoint is not signed by signer
// under origin or does not match the last record (a truncated or rewritten
// tail); that error wraps a *BrokenError. Open does not recompute the whole
// chain; Verify does.
func Open(ctx context.Context, path string, signer ed25519.PrivateKey, origin string) (*Journal, error) {
	s, err := newSigner(signer, origin)
	if err != nil {
		return nil, err
	}
	v, err := newVerifier(signer.Public().(ed25519.PublicKey), origin)
	if err != nil {
		return nil, err
	}
	db, err := sqlitedb.Open(ctx, path, migrations)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	j := &Journal{
		db:       db,
		path:     path,
		origin:   origin,
		signer:   s,
		verifier: v,
		reqs:     make(chan *request, maxBatch),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := j.init(ctx); err != nil {
		j.closeStmts()
		db.Close()
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	go j.run()
	return j, nil
}

func (j *Journal) init(ctx context.Context) error {
	var err error
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&j.headStmt, selectHead},
		{&j.insertStmt, insertRecord},
		{&j.checkpointStmt, insertCheckpt},
	} {
		if *p.stmt, err = j.db.PrepareContext(ctx, p.query); err != nil {
			return err
		}
	}
	return j.checkHead(ctx)
}

// checkHead compares the last record with the latest checkpoint, so a
// journal whose tail was cut or rewritten, or that was signed by another key,
// is not silently extended.
func (j *Journal) checkHead(ctx context.Context) error {
	tx, err := j.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	seq, head, err := readHead(ctx, tx.StmtContext(ctx, j.headStmt))
	if err != nil {
		return err
	}
	var count int64
	var msg string
	switch err := tx.QueryRowContext(ctx, selectLatest).Scan(&count, &msg); {
	case errors.Is(err, sql.ErrNoRows):
		if seq == 0 {
			return nil
		}
		return &BrokenError{Seq: 1, Reason: "not covered by a signed checkpoint"}
	case err != nil:
		return err
	}
	c, err := parseCheckpoint([]byte(msg), j.verifier, j.origin)
	if err != nil {
		return &BrokenError{Seq: count, Reason: fmt.Sprintf("latest checkpoint: %v", err)}
	}
	switch {
	case c.Count != count:
		return &BrokenError{Seq: count, Reason: fmt.Sprintf("latest checkpoint is stored at %d but claims %d records", count, c.Count)}
	case count > seq:
		return &BrokenError{Seq: seq + 1, Reason: fmt.Sprintf("missing: the latest checkpoint covers %d records, the journal ends at %d", count, seq)}
	case count < seq:
		return &BrokenError{Seq: count + 1, Reason: "not covered by a signed checkpoint"}
	case c.Head != head:
		return &BrokenError{Seq: seq, Reason: "hash does not match the latest checkpoint"}
	}
	return nil
}

// readHead returns the last record's seq and hash, or 0 and zeros for an
// empty journal.
func readHead(ctx context.Context, stmt *sql.Stmt) (int64, [32]byte, error) {
	var seq int64
	var hash []byte
	var head [32]byte
	switch err := stmt.QueryRowContext(ctx).Scan(&seq, &hash); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, head, nil
	case err != nil:
		return 0, head, fmt.Errorf("read head: %w", err)
	}
	if len(hash) != len(head) {
		return 0, head, &BrokenError{Seq: seq, Reason: fmt.Sprintf("stored hash is %d bytes", len(hash))}
	}
	copy(head[:], hash)
	return seq, head, nil
}

// Append adds e to the journal and returns it as stored, with its Seq and
// hashes. When Append returns nil the record and a checkpoint covering it are
// committed (synchronous=FULL). When it returns an error the record was not
// written: ErrInvalidEntry (wrapped) for an Entry that breaks the rules on
// Entry, ErrClosed after Close, the context's error if ctx ended before the
// record joined a batch, or the error of the batch's transaction. Once the
// record has joined a batch, Append waits for the commit even if ctx ends,
// so that its answer is never "maybe"; each batch ahead of it waits at most
// sqlitedb.BusyTimeout for the write lock, plus its commit.
func (j *Journal) Append(ctx context.Context, e Entry) (Record, error) {
	if err := e.validate(); err != nil {
		return Record{}, err
	}
	// Own the policies, so a caller reusing its slice cannot change a
	// record between hashing and insertion.
	if len(e.Policies) == 0 {
		e.Policies = nil
	} else {
		e.Policies = append([]string(nil), e.Policies...)
	}
	if !e.Time.IsZero() {
		e.Time = e.Time.UTC() // also drops the monotonic reading
	}
	r := &request{ctx: ctx, entry: e, done: make(chan error, 1)}

	j.mu.RLock()
	if j.closed {
		j.mu.RUnlock()
		return Record{}, ErrClosed
	}
	select {
	case j.reqs <- r:
	case <-ctx.Done():
		j.mu.RUnlock()
		return Record{}, fmt.Errorf("audit: append: %w", ctx.Err())
	}
	j.mu.RUnlock()

	if err := <-r.done; err != nil {
		return Record{}, err
	}
	return r.rec, nil
}

// run is the writer goroutine: it takes the first waiting request, gathers
// whatever else is already queued (up to maxBatch) and commits them in one
// transaction. Under load batches grow by themselves; a lone caller pays one
// commit.
func (j *Journal) run() {
	defer close(j.done)
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case r := <-j.reqs:
			batch = j.gather(append(batch[:0], r))
			j.commit(batch)
		case <-j.quit:
			// Close has stopped new sends; finish what is queued.
			for {
				batch = j.gather(batch[:0])
				if len(batch) == 0 {
					return
				}
				j.commit(batch)
			}
		}
	}
}

func (j *Journal) gather(batch []*request) []*request {
	for len(batch) < maxBatch {
		select {
		case r := <-j.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit writes batch and answers every request in it.
func (j *Journal) commit(batch []*request) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- fmt.Errorf("audit: append: %w", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) > 0 {
		err := j.write(live)
		for _, r := range live {
			r.done <- err
		}
	}
	clear(batch[:cap(batch)]) // drop references to answered requests
}

// write appends the batch's records and a checkpoint covering them in one
// transaction, filling in each request's rec. The head is read inside the
// transaction (BEGIN IMMEDIATE holds the write lock), so the chain stays
// right even if a failed commit left memory and disk disagreeing, or another
// process appended.
func (j *Journal) write(batch []*request) (err error) {
	// Not a caller's context: one caller giving up must not abort the
	// records of the others in its batch.
	ctx := context.Background()
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: append: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	seq, prev, err := readHead(ctx, tx.StmtContext(ctx, j.headStmt))
	if err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	now := time.Now().UTC()
	ins := tx.StmtContext(ctx, j.insertStmt)
	for _, r := range batch {
		seq++
		e := r.entry
		if e.Time.IsZero() {
			e.Time = now
		}
		tt := formatTime(e.Time)
		var hash [32]byte
		hash, j.buf = recordHash(j.buf, seq, tt, &e, &prev)
		if _, err = ins.ExecContext(ctx, seq, tt, e.Principal, e.Action, e.Resource, e.Decision,
			encodePolicies(e.Policies), e.Transport, e.Reason, prev[:], hash[:]); err != nil {
			return fmt.Errorf("audit: append: insert record %d: %w", seq, err)
		}
		r.rec = Record{Seq: seq, Entry: e, PrevHash: prev, Hash: hash}
		prev = hash
	}
	msg, err := j.signer.sign(Checkpoint{Origin: j.origin, Count: seq, Head: prev})
	if err != nil {
		return fmt.Errorf("audit: append: sign checkpoint: %w", err)
	}
	if _, err = tx.StmtContext(ctx, j.checkpointStmt).ExecContext(ctx, seq, string(msg)); err != nil {
		return fmt.Errorf("audit: append: insert checkpoint %d: %w", seq, err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("audit: append: commit: %w", err)
	}
	return nil
}

// Records returns up to limit records with Seq > afterSeq in Seq order
// (at most MaxRecordsLimit; page by passing the last Seq back). limit must
// be positive. Records reads what is stored without checking hashes; use
// Verify for that.
func (j *Journal) Records(ctx context.Context, afterSeq int64, limit int) ([]Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("audit: records: limit %d is not positive", limit)
	}
	j.mu.RLock()
	closed := j.closed
	j.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	stored, err := readRecords(ctx, j.db, afterSeq, min(limit, MaxRecordsLimit))
	if err != nil {
		return nil, fmt.Errorf("audit: records: %w", err)
	}
	recs := make([]Record, len(stored))
	for i, r := range stored {
		if r.bad != "" {
			return nil, fmt.Errorf("audit: records: %w", &BrokenError{Seq: r.Seq, Reason: r.bad})
		}
		recs[i] = r.Record
	}
	return recs, nil
}

// Close waits for queued appends to commit, stops the writer and closes the
// database. Append and Records return ErrClosed afterwards; a second Close
// returns nil.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.quit)
	<-j.done
	j.closeStmts()
	if err := j.db.Close(); err != nil {
		return fmt.Errorf("audit: close %s: %w", j.path, err)
	}
	return nil
}

func (j *Journal) closeStmts() {
	for _, s := range []*sql.Stmt{j.headStmt, j.insertStmt, j.checkpointStmt} {
		if s != nil {
			s.Close()
		}
	}
}

// queryer is what readRecords needs from a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// storedRecord is a record as read from the database. timeText is the
// stored (and hashed) time; bad says why a field did not parse, so Verify
// can report problems in Seq order instead of failing a whole page early.
type storedRecord struct {
	Record
	timeText string
	bad      string
}

// readRecords reads up to limit records after afterSeq, parsing every field.
func readRecords(ctx context.Context, q queryer, afterSeq int64, limit int) ([]storedRecord, error) {
	rows, err := q.QueryContext(ctx, selectRecords+` WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []storedRecord
	for rows.Next() {
		var (
			r          storedRecord
			policies   string
			prev, hash []byte
		)
		if err := rows.Scan(&r.Seq, &r.timeText, &r.Principal, &r.Action, &r.Resource, &r.Decision,
			&policies, &r.Transport, &r.Reason, &prev, &hash); err != nil {
			return nil, err
		}
		var perr error
		if r.Time, perr = time.Parse(time.RFC3339Nano, r.timeText); perr != nil {
			r.bad = "time is not RFC 3339"
		}
		if r.Policies, perr = decodePolicies(policies); perr != nil {
			r.bad = "policies are not a JSON array of strings"
		}
		if len(prev) != len(r.PrevHash) || len(hash) != len(r.Hash) {
			r.bad = "stored hash is not 32 bytes"
		}
		copy(r.PrevHash[:], prev)
		copy(r.Hash[:], hash)
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// encodePolicies stores policy ids as a JSON array for readability in the
// sqlite3 shell. The hash covers the ids themselves, not this text.
func encodePolicies(p []string) string {
	if len(p) == 0 {
		return "[]"
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic("audit: marshal []string: " + err.Error()) // cannot fail for []string
	}
	return string(b)
}

func decodePolicies(s string) ([]string, error) {
	var p []string
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, nil
	}
	return p, nil
}
