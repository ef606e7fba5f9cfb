package audit

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Filter selects records for List. Every set field must match; the zero
// Filter lists from the first record.
type Filter struct {
	// AfterSeq: only records with Seq > AfterSeq. Page by passing the
	// last Seq of one page as the next page's AfterSeq.
	AfterSeq int64
	// Since: only records whose Time is at or after Since (zero: any).
	Since time.Time
	// Principal and Action: only records with exactly this principal or
	// action (empty: any). An outcome record matches through the decision
	// record it links to.
	Principal, Action string
	// Limit is the most records returned: DefaultListLimit if not
	// positive, at most MaxListLimit.
	Limit int
}

// List bounds.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000
)

// List returns the records that match f, in Seq order. It reads what is
// stored without checking hashes (Verify does that); a row that does not
// parse is reported as a *BrokenError. The time, principal and action
// filters are evaluated by scanning the records after f.AfterSeq (there
// are no indexes besides Seq, to keep records small), so a narrow filter
// over a long journal costs a scan of it.
func (j *Journal) List(ctx context.Context, f Filter) ([]Record, error) {
	if j.isClosed() {
		return nil, ErrClosed
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	recs, err := list(ctx, j.db, currentTables, f, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return recs, nil
}

func list(ctx context.Context, q queryer, t tables, f Filter, limit int) ([]Record, error) {
	var recs []Record
	for _, table := range []struct {
		name   string
		format uint32
	}{{t.v1, formatV1}, {t.v2, formatV2}} {
		if table.name == "" || len(recs) >= limit {
			continue
		}
		query, args := listQuery(table.name, t.v2cols, table.format, f, limit-len(recs))
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		var r storedRecord
		for rows.Next() {
			if table.format == formatV1 {
				err = scanV1(rows, &r)
			} else {
				err = scanV2(rows, &r)
			}
			if err == nil && r.bad != "" {
				err = &BrokenError{Seq: r.Seq, Reason: r.bad}
			}
			if err != nil {
				rows.Close()
				return nil, err
			}
			recs = append(recs, r.Record)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		rows.Close()
	}
	return recs, nil
}

func listQuery(table, v2cols string, format uint32, f Filter, limit int) (string, []any) {
	cols := v2cols
	if format == formatV1 {
		cols = v1Columns
	}
	query := `SELECT ` + cols + ` FROM ` + table + ` AS r WHERE r.seq > ?`
	args := []any{f.AfterSeq}
	if !f.Since.IsZero() {
		if format == formatV1 {
			query += ` AND r.time >= ?`
			args = append(args, f.Since.UTC().Format(v1TimeLayout))
		} else {
			query += ` AND r.time >= ?`
			args = append(args, sinceNanos(f.Since))
		}
	}
	for _, m := range []struct{ col, v string }{{"principal", f.Principal}, {"action", f.Action}} {
		if m.v == "" {
			continue
		}
		if format == formatV1 {
			query += ` AND r.` + m.col + ` = ?`
			args = append(args, m.v)
			continue
		}
		query += ` AND (r.` + m.col + ` = ? OR (r.kind = 1 AND EXISTS (SELECT 1 FROM ` + table + ` AS d WHERE d.seq = r.decision_seq AND d.` + m.col + ` = ?)))`
		args = append(args, m.v, m.v)
	}
	query += ` ORDER BY r.seq LIMIT ?`
	return query, append(args, limit)
}

// v1TimeLayout is format 1's stored time: RFC 3339 with exactly nine
// fractional digits, which sorts as text in time order.
const v1TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func sinceNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return -1 << 63
	case t.After(maxTime):
		return 1<<63 - 1
	}
	return t.UnixNano()
}

// Get returns record seq, or an error wrapping ErrNotFound. Like List it
// does not check hashes.
func (j *Journal) Get(ctx context.Context, seq int64) (Record, error) {
	if j.isClosed() {
		return Record{}, ErrClosed
	}
	recs, err := list(ctx, j.db, currentTables, Filter{AfterSeq: seq - 1}, 1)
	if err != nil {
		return Record{}, fmt.Errorf("audit: get %d: %w", seq, err)
	}
	if len(recs) == 0 || recs[0].Seq != seq {
		return Record{}, fmt.Errorf("audit: get %d: %w", seq, ErrNotFound)
	}
	return recs[0], nil
}

// eachRecord calls fn for every record with Seq > after, format 1 records
// first, each table in Seq order. r is reused between calls.
func eachRecord(ctx context.Context, q queryer, t tables, after int64, fn func(*storedRecord) error) error {
	var r storedRecord
	for _, table := range []struct {
		name string
		cols string
		scan func(*sql.Rows, *storedRecord) error
	}{{t.v1, v1Columns, scanV1}, {t.v2, t.v2cols, scanV2}} {
		if table.name == "" {
			continue
		}
		rows, err := q.QueryContext(ctx, `SELECT `+table.cols+` FROM `+table.name+` WHERE seq > ? ORDER BY seq`, after)
		if err != nil {
			return fmt.Errorf("read records after %d: %w", after, err)
		}
		for rows.Next() {
			if err := table.scan(rows, &r); err != nil {
				rows.Close()
				return fmt.Errorf("read records after %d: %w", after, err)
			}
			if err := fn(&r); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("read records after %d: %w", after, err)
		}
	}
	return nil
}

// walker checks records in Seq order: no gaps, fields that parse and obey
// the rules, format 1's stored prev_hash, outcome links (when allowed is
// set) and each stored hash against the recomputed chain. Errors are
// *BrokenError.
type walker struct {
	next    int64    // the Seq expected next
	prev    [32]byte // the recomputed hash of record next-1
	buf     []byte
	allowed *bitset                            // allowed format 2 decisions seen, or nil: use lookup
	lookup  func(seq int64) (bool, error)      // whether seq is an allowed format 2 decision, when allowed is nil
	each    func(seq int64, h *[32]byte) error // called after each good record, if set
}

func (w *walker) step(r *storedRecord) error {
	switch {
	case r.Seq > w.next:
		return &BrokenError{Seq: w.next, Reason: fmt.Sprintf("missing (the next stored record is %d)", r.Seq)}
	case r.Seq < w.next:
		return &BrokenError{Seq: r.Seq, Reason: "seq out of range"}
	case r.bad != "":
		return &BrokenError{Seq: r.Seq, Reason: r.bad}
	}
	var h [32]byte
	if r.Format == formatV1 {
		if r.prevHash != w.prev {
			return &BrokenError{Seq: r.Seq, Reason: "prev_hash is not the hash of the record before it"}
		}
		h, w.buf = hashV1(w.buf, r.Seq, &r.v1, &w.prev)
	} else {
		if err := r.Entry.validate(); err != nil {
			return &BrokenError{Seq: r.Seq, Reason: "fields break the rules of a format 2 record"}
		}
		switch {
		case w.allowed != nil && r.Kind == KindDecision && r.Decision == DecisionAllow:
			w.allowed.set(r.Seq)
		case r.Kind == KindOutcome:
			ok := r.DecisionSeq < r.Seq
			if ok && w.allowed != nil {
				ok = w.allowed.has(r.DecisionSeq)
			} else if ok && w.lookup != nil {
				var err error
				if ok, err = w.lookup(r.DecisionSeq); err != nil {
					return err
				}
			}
			if !ok {
				return &BrokenError{Seq: r.Seq, Reason: "outcome does not follow an allowed decision record"}
			}
		}
		h, w.buf = hashV2(w.buf, r.Seq, &r.Entry, &w.prev)
	}
	if h != r.Hash {
		return &BrokenError{Seq: r.Seq, Reason: "stored hash does not match the record's contents and the hash of the record before it"}
	}
	w.next, w.prev = r.Seq+1, h
	if w.each != nil {
		return w.each(r.Seq, &h)
	}
	return nil
}

// bitset is a growable set of non-negative integers.
type bitset struct{ words []uint64 }

func (b *bitset) set(i int64) {
	w := int(i >> 6)
	if w >= len(b.words) {
		b.words = append(b.words, make([]uint64, w-len(b.words)+1+len(b.words)/2)...)
	}
	b.words[w] |= 1 << (uint(i) & 63) // #nosec G115 -- only the low 6 bits are used, as a bit index
}

func (b *bitset) has(i int64) bool {
	w := int(i >> 6)
	return i >= 0 && w < len(b.words) && b.words[w]&(1<<(uint(i)&63)) != 0
}
