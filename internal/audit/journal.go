package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/palyra/palyra/internal/sqlitedb"
)

// Errors of the Journal's methods.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("audit: journal is closed")
	// ErrQueueFull is returned by AppendAsync when MaxAsyncQueue entries
	// already wait for the writer.
	ErrQueueFull = errors.New("audit: asynchronous append queue is full")
	// ErrNotFound is returned by Get for a Seq the journal does not hold.
	ErrNotFound = errors.New("audit: no such record")
)

// asyncDelay is how long an AppendAsync entry may wait for an Append to
// share its commit. It bounds how late an outcome record is committed (it is
// fsynced within the sync window after that).
const asyncDelay = 2 * time.Millisecond

// maxBatch bounds one group commit: a long batch holds the write lock and
// delays its first caller, and a few hundred records already amortise the
// commit.
const maxBatch = 256

// Journal is an open audit journal. It is safe for concurrent use; all
// writes go through one writer goroutine and one connection, and fsyncs
// through one syncer goroutine, which Close stops.
type Journal struct {
	db       *sql.DB
	wconn    *sql.Conn // the writer's connection, synchronous=NORMAL
	path     string
	origin   string
	signer   *ed25519Signer
	verifier note.Verifier
	opts     Options

	insertStmt, checkpointStmt, linkStmt *sql.Stmt // prepared on wconn
	beginStmt, commitStmt                *sql.Stmt // prepared on wconn: no parse per commit

	// mu orders the sends of Append and AppendAsync against Close: once
	// closed is set under the write lock, nothing more is queued, so the
	// writer can drain and stop without stranding a caller.
	mu     sync.RWMutex
	closed bool

	reqs      chan *request
	asyncMu   sync.Mutex
	async     []*request
	asyncKick chan struct{} // buffered (1)
	quit      chan struct{} // closed by Close
	done      chan struct{} // closed by the writer when it exits

	// wmu is held by whoever commits (the writer goroutine, or an Append
	// caller that found no commit running) and guards the writer's state
	// below.
	wmu sync.Mutex
	// The writer's state. The head is kept in memory and re-read from the
	// database only after a failed transaction (headOK false).
	headOK       bool
	seq          int64    // the last record's Seq
	head         [32]byte // its hash
	covered      int64    // records covered by the latest checkpoint
	cpTimer      *time.Timer
	cpTimerArmed bool
	buf          []byte // scratch space for record encodings
	// allowed holds the seqs of allowed decisions this writer committed
	// whose outcome it has not written yet, so that linking an outcome
	// needs no read of the database; order evicts the oldest beyond
	// maxAllowedCache (an evicted one is checked in the database).
	allowed map[int64]struct{}
	order   []int64

	latest    atomic.Pointer[latestCheckpoint]
	committed atomic.Int64 // the last committed Seq, for Wait
	notifyMu  sync.Mutex
	notify    chan struct{} // closed and replaced after each commit

	syncer *syncer
}

type latestCheckpoint struct {
	c    Checkpoint
	note []byte
}

type request struct {
	ctx     context.Context // nil for AppendAsync
	entry   Entry
	rec     Record
	durable bool
	err     error      // set by the writer for an entry it refuses
	done    chan error // buffered (1); nil for AppendAsync
}

// Open opens the journal at path, creating it (0600) if absent, migrating a
// format 1 journal to schema version 2 (its records are kept as they are),
// and starts its writer and syncer goroutines. signer is the Ed25519 key
// that signs checkpoints; origin names this journal in them (for example
// "palyra/<device_id>") and must be a valid signed-note key name: non-empty
// UTF-8 without spaces or '+'. opts may be the zero value for defaults.
//
// Open refuses a journal whose latest checkpoint is not signed by signer
// under origin, claims more records than there are (a truncated tail), or
// does not match the record it covers, and one whose records after the
// latest checkpoint do not chain; that error wraps a *BrokenError. Records
// after the latest checkpoint (left by a crash before the next checkpoint)
// are accepted and covered by the next checkpoint. Open does not recompute
// the chain before the latest checkpoint; Verify does.
func Open(ctx context.Context, path string, signer ed25519.PrivateKey, origin string, opts Options) (*Journal, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
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
		db:        db,
		path:      path,
		origin:    origin,
		signer:    s,
		verifier:  v,
		opts:      opts,
		reqs:      make(chan *request, maxBatch),
		asyncKick: make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		notify:    make(chan struct{}),
	}
	if err := j.init(ctx); err != nil {
		j.closeDB()
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		j.closeDB()
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	j.syncer = newSyncer(abs+"-wal", opts.SyncWindow, opts.OnAsyncError)
	j.cpTimer = time.NewTimer(time.Hour)
	j.cpTimer.Stop()
	go j.syncer.run()
	if j.seq > j.covered {
		// A tail left uncovered by a crash is covered before anything is
		// served, so that the first response already carries a checkpoint
		// for every record.
		j.wmu.Lock()
		j.commit(nil, true)
		j.wmu.Unlock()
		if j.seq > j.covered {
			j.syncer.stop()
			j.closeDB()
			return nil, fmt.Errorf("audit: open %s: could not sign a checkpoint over the tail left by a crash", path)
		}
	}
	go j.run()
	return j, nil
}

func (j *Journal) init(ctx context.Context) error {
	var err error
	if j.wconn, err = j.db.Conn(ctx); err != nil {
		return err
	}
	// Commits on the writer's connection reach the OS (the WAL file) but
	// do not fsync; the syncer fsyncs the WAL file instead (sync.go).
	if _, err := j.wconn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return err
	}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&j.insertStmt, insertRecord},
		{&j.checkpointStmt, insertCheckpt},
		{&j.linkStmt, selectLink},
		{&j.beginStmt, "BEGIN IMMEDIATE"},
		{&j.commitStmt, "COMMIT"},
	} {
		if *p.stmt, err = j.wconn.PrepareContext(ctx, p.query); err != nil {
			return err
		}
	}
	if _, err := j.wconn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	defer j.wconn.ExecContext(context.Background(), "ROLLBACK")
	return j.checkHead(ctx, j.wconn)
}

// checkHead loads the head and the latest checkpoint into the writer's
// state, checking that the checkpoint is valid and matches the record it
// covers, and that the records after it chain.
func (j *Journal) checkHead(ctx context.Context, q queryer) error {
	t, err := schemaTables(ctx, q)
	if err != nil {
		return err
	}
	count, msg, err := readLatest(ctx, q)
	if err != nil {
		return err
	}
	var (
		prev [32]byte
		lc   *latestCheckpoint
	)
	if count > 0 {
		c, err := parseCheckpoint([]byte(msg), j.verifier, j.origin)
		if err != nil {
			return &BrokenError{Seq: count, Reason: fmt.Sprintf("latest checkpoint: %v", err)}
		}
		if c.Count != count {
			return &BrokenError{Seq: count, Reason: fmt.Sprintf("latest checkpoint is stored at %d but claims %d records", count, c.Count)}
		}
		h, ok, err := recordHashAt(ctx, q, t, count)
		switch {
		case err != nil:
			return err
		case !ok:
			last, err := lastSeq(ctx, q, t)
			if err != nil {
				return err
			}
			return &BrokenError{Seq: last + 1, Reason: fmt.Sprintf("missing: the latest checkpoint covers %d records, the journal ends at %d", count, last)}
		case h != c.Head:
			return &BrokenError{Seq: count, Reason: "hash does not match the latest checkpoint"}
		}
		prev = h
		lc = &latestCheckpoint{c: c, note: []byte(msg)}
	}
	// The record the checkpoint covers must hash to its stored hash from
	// its contents (an edit of the newest covered record is the likeliest),
	// and the records after it must chain from it and obey the rules, as
	// Verify will check, before the writer extends them.
	w := walker{next: count + 1, prev: prev, lookup: func(seq int64) (bool, error) {
		return allowedDecision(ctx, q, t, seq)
	}}
	from := count
	if count > 0 {
		before, ok, err := recordHashAt(ctx, q, t, count-1)
		if err != nil {
			return err
		}
		if !ok && count > 1 {
			return &BrokenError{Seq: count - 1, Reason: "missing"}
		}
		w.next, w.prev, from = count, before, count-1
	}
	if err := eachRecord(ctx, q, t, from, w.step); err != nil {
		return err
	}
	if w.next-1 < count {
		return &BrokenError{Seq: count, Reason: "missing"}
	}
	if uncovered := w.next - 1 - count; uncovered > MaxUncovered {
		return &BrokenError{Seq: count + 1, Reason: fmt.Sprintf("%d records after the latest checkpoint, more than a crash can leave (%d): checkpoints were removed", uncovered, MaxUncovered)}
	}
	j.seq, j.head, j.headOK = w.next-1, w.prev, true
	j.covered = count
	j.latest.Store(lc)
	j.committed.Store(j.seq)
	return nil
}

// recordHashAt returns the stored hash of record seq.
func recordHashAt(ctx context.Context, q queryer, t tables, seq int64) ([32]byte, bool, error) {
	var h [32]byte
	for _, table := range []string{t.v2, t.v1} {
		if table == "" {
			continue
		}
		var b []byte
		switch err := q.QueryRowContext(ctx, `SELECT hash FROM `+table+` WHERE seq = ?`, seq).Scan(&b); {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return h, false, fmt.Errorf("read record %d: %w", seq, err)
		}
		if len(b) != len(h) {
			return h, false, &BrokenError{Seq: seq, Reason: "stored hash is not 32 bytes"}
		}
		copy(h[:], b)
		return h, true, nil
	}
	return h, false, nil
}

// allowedDecision reports whether record seq is a format 2 decision record
// with decision allow.
func allowedDecision(ctx context.Context, q queryer, t tables, seq int64) (bool, error) {
	if t.v2 == "" {
		return false, nil
	}
	var kind int64
	var decision string
	switch err := q.QueryRowContext(ctx, `SELECT kind, decision FROM `+t.v2+` WHERE seq = ?`, seq).Scan(&kind, &decision); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read record %d: %w", seq, err)
	}
	return kind == int64(KindDecision) && decision == DecisionAllow, nil
}

// lastSeq returns the largest Seq stored, 0 for none.
func lastSeq(ctx context.Context, q queryer, t tables) (int64, error) {
	var last int64
	for _, table := range []string{t.v1, t.v2} {
		if table == "" {
			continue
		}
		var m sql.NullInt64
		if err := q.QueryRowContext(ctx, `SELECT max(seq) FROM `+table).Scan(&m); err != nil {
			return 0, err
		}
		last = max(last, m.Int64)
	}
	return last, nil
}

// Append adds e to the journal and returns it as stored. In SyncWindow
// mode it returns once the record is committed (it survives the daemon
// being killed; an fsync follows within Options.SyncWindow); in SyncAlways
// mode once an fsync covers it too. When it returns an error the record was
// not written: ErrInvalidEntry (wrapped) for an Entry that breaks the rules
// on Entry (including, for an outcome, a DecisionSeq that is not an earlier
// allowed decision), ErrClosed after Close, the context's error if ctx
// ended before the record joined a batch, or the error of the batch's
// transaction. Once the record has joined a batch, Append waits for the
// commit even if ctx ends, so that its answer is never "maybe" — except
// that if the fsync awaited in SyncAlways mode fails, the error says so
// and the record is committed but may not survive power loss.
func (j *Journal) Append(ctx context.Context, e Entry) (Record, error) {
	return j.append(ctx, e, j.opts.Sync == SyncAlways)
}

// AppendDurable is Append that returns only after an fsync covering the
// record, in either mode: the record survives power loss.
func (j *Journal) AppendDurable(ctx context.Context, e Entry) (Record, error) {
	return j.append(ctx, e, true)
}

func (j *Journal) append(ctx context.Context, e Entry, durable bool) (Record, error) {
	if err := e.validate(); err != nil {
		return Record{}, err
	}
	e.normalize()
	r := &request{ctx: ctx, entry: e, durable: durable, done: make(chan error, 1)}

	j.mu.RLock()
	if j.closed {
		j.mu.RUnlock()
		return Record{}, ErrClosed
	}
	// When no commit is running, the caller commits itself, with whatever
	// else is queued: a lone request pays no hand-off to the writer
	// goroutine and back. Otherwise the writer (or the caller committing
	// now) takes it in the next batch.
	if j.wmu.TryLock() {
		// Let requests that are about to be queued join this commit: idle,
		// this returns at once; under load it grows the batch.
		runtime.Gosched()
		batch := j.gather(append(make([]*request, 0, 8), r))
		j.commit(batch, false)
		j.wmu.Unlock()
		j.mu.RUnlock()
		if err := <-r.done; err != nil {
			return Record{}, err
		}
		return r.rec, nil
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

// AppendAsync queues e for the writer and returns at once, without waiting
// for the commit; it is meant for outcome records, which nobody waits on.
// It returns an error only for what it can tell without waiting:
// ErrInvalidEntry (wrapped), ErrClosed, or ErrQueueFull. Anything that goes
// wrong later (the writer refusing the entry, a failed commit) is passed to
// Options.OnAsyncError. The record is committed in the order queued, after
// everything Append had committed before the call; Close commits what is
// queued. In either sync mode an async record is fsynced within the window.
func (j *Journal) AppendAsync(e Entry) error {
	if err := e.validate(); err != nil {
		return err
	}
	e.normalize()
	r := &request{entry: e}
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.closed {
		return ErrClosed
	}
	j.asyncMu.Lock()
	if len(j.async) >= MaxAsyncQueue {
		j.asyncMu.Unlock()
		return ErrQueueFull
	}
	j.async = append(j.async, r)
	j.asyncMu.Unlock()
	select {
	case j.asyncKick <- struct{}{}:
	default:
	}
	return nil
}

// run is the writer goroutine: it takes the first waiting request, gathers
// whatever else is already queued (up to maxBatch) and commits them in one
// transaction. Under load batches grow by themselves; a lone caller pays one
// commit. It also signs a checkpoint when CheckpointInterval has passed
// since the first uncovered record, and a last one when the journal closes.
func (j *Journal) run() {
	defer close(j.done)
	batch := make([]*request, 0, maxBatch)
	// Asynchronous entries (outcomes) wait up to asyncDelay for an Append to
	// share its transaction: an outcome is queued as its response leaves,
	// and the next request's decision usually follows within that time, so
	// one commit carries both instead of two.
	asyncTimer := time.NewTimer(time.Hour)
	asyncTimer.Stop()
	asyncArmed := false
	defer asyncTimer.Stop()
	for {
		select {
		case r := <-j.reqs:
			batch = append(batch[:0], r)
		case <-j.asyncKick:
			j.asyncMu.Lock()
			n := len(j.async)
			j.asyncMu.Unlock()
			if n < maxBatch {
				if !asyncArmed {
					asyncTimer.Reset(asyncDelay)
					asyncArmed = true
				}
				continue
			}
			batch = batch[:0]
		case <-asyncTimer.C:
			asyncArmed = false
			batch = batch[:0]
		case <-j.cpTimer.C:
			j.wmu.Lock()
			j.cpTimerArmed = false
			j.commit(nil, true)
			j.wmu.Unlock()
			continue
		case <-j.quit:
			// Close has stopped new sends; finish what is queued.
			j.wmu.Lock()
			for {
				batch = j.gather(batch[:0])
				if len(batch) == 0 {
					break
				}
				j.commit(batch, false)
			}
			j.cpTimer.Stop()
			j.commit(nil, true)
			j.wmu.Unlock()
			return
		}
		j.wmu.Lock()
		j.commit(j.gather(batch), false)
		j.wmu.Unlock()
	}
}

// gather adds queued asynchronous entries and then queued Append requests
// to batch, up to maxBatch in all.
func (j *Journal) gather(batch []*request) []*request {
	j.asyncMu.Lock()
	n := min(len(j.async), maxBatch-len(batch))
	batch = append(batch, j.async[:n]...)
	clear(j.async[:n])
	j.async = j.async[n:]
	more := len(j.async) > 0
	if !more {
		j.async = nil
	}
	j.asyncMu.Unlock()
	if more {
		select {
		case j.asyncKick <- struct{}{}:
		default:
		}
	}
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

// commit writes batch (and, if checkpoint is set or enough records are
// uncovered, a checkpoint) and answers every request in it: at once, or
// after the fsync for durable ones.
func (j *Journal) commit(batch []*request, checkpoint bool) {
	live := batch[:0]
	for _, r := range batch {
		if r.ctx != nil {
			if err := r.ctx.Err(); err != nil {
				r.done <- fmt.Errorf("audit: append: %w", err)
				continue
			}
		}
		live = append(live, r)
	}
	if len(live) == 0 && (!checkpoint || j.headOK && j.seq == j.covered) {
		clear(batch[:cap(batch)])
		return
	}
	err := j.write(live, checkpoint)
	var durable []chan error
	for _, r := range live {
		rerr := r.err
		if rerr == nil {
			rerr = err
		}
		switch {
		case r.done == nil:
			if rerr != nil {
				j.opts.OnAsyncError(fmt.Errorf("audit: asynchronous append: %w", rerr))
			}
		case rerr == nil && r.durable:
			durable = append(durable, r.done)
		default:
			r.done <- rerr
		}
	}
	if err == nil {
		j.syncer.committed(durable)
		j.publish()
	} else if checkpoint && len(live) == 0 {
		j.opts.OnAsyncError(err)
	}
	if err != nil && !j.cpTimerArmed {
		// Try the due checkpoint again later, even if nothing is appended.
		j.cpTimer.Reset(j.opts.CheckpointInterval)
		j.cpTimerArmed = true
	}
	clear(batch[:cap(batch)]) // drop references to answered requests
}

// publish tells Wait callers about the new head.
func (j *Journal) publish() {
	if j.committed.Load() == j.seq {
		return
	}
	j.committed.Store(j.seq)
	j.notifyMu.Lock()
	close(j.notify)
	j.notify = make(chan struct{})
	j.notifyMu.Unlock()
}

// write appends the batch's records, and a checkpoint when due, in one
// transaction on the writer's connection, filling in each request's rec
// (or err, for an outcome whose link the writer refuses). After a failed
// transaction the head is re-read from the database by the next one.
func (j *Journal) write(batch []*request, forceCheckpoint bool) (err error) {
	// Not a caller's context: one caller giving up must not abort the
	// records of the others in its batch.
	ctx := context.Background()
	if _, err := j.beginStmt.ExecContext(ctx); err != nil {
		j.headOK = false
		return fmt.Errorf("audit: append: begin: %w", err)
	}
	defer func() {
		if err != nil {
			j.wconn.ExecContext(ctx, "ROLLBACK")
			j.headOK = false
		}
	}()
	if !j.headOK {
		if err := j.checkHead(ctx, j.wconn); err != nil {
			return fmt.Errorf("audit: append: %w", err)
		}
	}
	seq, prev := j.seq, j.head
	now := time.Now().UTC()
	for _, r := range batch {
		e := &r.entry
		r.err = nil
		if e.Kind == KindOutcome {
			if _, ok := j.allowed[e.DecisionSeq]; !ok {
				if r.err = j.checkLink(ctx, e.DecisionSeq, seq); r.err != nil {
					continue
				}
			}
		}
		seq++
		if e.Time.IsZero() {
			e.Time = now
		}
		var hash [32]byte
		hash, j.buf = hashV2(j.buf, seq, e, &prev)
		if _, err = j.insertStmt.ExecContext(ctx, seq, e.Time.UnixNano(), int64(e.Kind),
			e.Principal, e.Action, e.Resource, e.Decision, encodeList(e.Policies), encodeList(e.Obligations),
			e.Transport.String(), e.Reason, e.DecisionSeq, e.Outcome, e.Version, encodeList(e.Details), hash[:]); err != nil {
			return fmt.Errorf("audit: append: insert record %d: %w", seq, err)
		}
		r.rec = Record{Seq: seq, Format: recordFormat(e), Entry: *e, Hash: hash}
		prev = hash
	}
	var lc *latestCheckpoint
	uncovered := seq - j.covered
	if uncovered > 0 && (forceCheckpoint || uncovered >= int64(j.opts.CheckpointEvery)) {
		c := Checkpoint{Origin: j.origin, Count: seq, Head: prev}
		msg, err := j.signer.sign(c)
		if err != nil {
			return fmt.Errorf("audit: append: sign checkpoint: %w", err)
		}
		if _, err = j.checkpointStmt.ExecContext(ctx, seq, string(msg)); err != nil {
			return fmt.Errorf("audit: append: insert checkpoint %d: %w", seq, err)
		}
		lc = &latestCheckpoint{c: c, note: msg}
	}
	if _, err = j.commitStmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("audit: append: commit: %w", err)
	}
	j.seq, j.head = seq, prev
	j.rememberAllowed(batch)
	if lc != nil {
		j.covered = seq
		j.latest.Store(lc)
		if j.cpTimerArmed {
			j.cpTimer.Stop()
			j.cpTimerArmed = false
		}
	} else if j.seq > j.covered && !j.cpTimerArmed {
		j.cpTimer.Reset(j.opts.CheckpointInterval)
		j.cpTimerArmed = true
	}
	return nil
}

// maxAllowedCache bounds Journal.allowed.
const maxAllowedCache = 4096

// rememberAllowed updates the allowed cache after batch committed: its
// allowed decisions become linkable, its outcomes' decisions are done.
func (j *Journal) rememberAllowed(batch []*request) {
	if j.allowed == nil {
		j.allowed = make(map[int64]struct{}, maxAllowedCache)
	}
	for _, r := range batch {
		if r.err != nil {
			continue
		}
		switch e := &r.entry; {
		case e.Kind == KindOutcome:
			delete(j.allowed, e.DecisionSeq)
		case e.Decision == DecisionAllow:
			j.allowed[r.rec.Seq] = struct{}{}
			j.order = append(j.order, r.rec.Seq)
		}
	}
	for len(j.order) > maxAllowedCache {
		delete(j.allowed, j.order[0])
		j.order = j.order[1:]
	}
	if len(j.allowed) == 0 {
		j.order = j.order[:0]
	}
}

// checkLink refuses an outcome whose decisionSeq is not an earlier format 2
// decision record with decision allow; head is the Seq before the outcome.
func (j *Journal) checkLink(ctx context.Context, decisionSeq, head int64) error {
	if decisionSeq > head {
		return fmt.Errorf("%w: decision seq %d is not an earlier record", ErrInvalidEntry, decisionSeq)
	}
	var kind int64
	var decision string
	switch err := j.linkStmt.QueryRowContext(ctx, decisionSeq).Scan(&kind, &decision); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: decision seq %d is not a format 2 record", ErrInvalidEntry, decisionSeq)
	case err != nil:
		return fmt.Errorf("audit: append: read record %d: %w", decisionSeq, err)
	case kind != int64(KindDecision) || decision != DecisionAllow:
		return fmt.Errorf("%w: record %d is not an allowed decision", ErrInvalidEntry, decisionSeq)
	}
	return nil
}

// Latest returns the latest signed checkpoint and its signed note (a copy
// the caller may keep), or false if the journal has none yet. It reads
// memory only.
func (j *Journal) Latest() (Checkpoint, []byte, bool) {
	lc := j.latest.Load()
	if lc == nil {
		return Checkpoint{}, nil, false
	}
	return lc.c, bytes.Clone(lc.note), true
}

// Wait returns nil as soon as a record with Seq > afterSeq is committed
// (at once if one is), ctx's error if ctx ends first, and ErrClosed if the
// journal is closed first.
func (j *Journal) Wait(ctx context.Context, afterSeq int64) error {
	for {
		j.notifyMu.Lock()
		ch := j.notify
		j.notifyMu.Unlock()
		if j.committed.Load() > afterSeq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-j.done:
			if j.committed.Load() > afterSeq {
				return nil
			}
			return ErrClosed
		}
	}
}

// Close commits queued appends (including AppendAsync entries), signs a
// checkpoint covering every record, fsyncs, stops the goroutines and
// closes the database. Other methods return ErrClosed afterwards; a second
// Close returns nil.
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
	serr := j.syncer.stop()
	cerr := j.closeDB()
	if serr != nil {
		return serr
	}
	if cerr != nil {
		return fmt.Errorf("audit: close %s: %w", j.path, cerr)
	}
	return nil
}

func (j *Journal) isClosed() bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.closed
}

func (j *Journal) closeDB() error {
	for _, s := range []*sql.Stmt{j.insertStmt, j.checkpointStmt, j.linkStmt, j.beginStmt, j.commitStmt} {
		if s != nil {
			s.Close()
		}
	}
	if j.wconn != nil {
		j.wconn.Close()
	}
	return j.db.Close()
}
