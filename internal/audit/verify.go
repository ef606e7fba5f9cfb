package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/palyra/palyra/internal/sqlitedb"
)

// BrokenError reports tampering or corruption found in a journal: Seq is the
// first record that is wrong, missing, or not covered by a valid signed
// checkpoint (for a bad checkpoint, the record count it claims). Reason says
// what is wrong, in words that never quote stored values.
type BrokenError struct {
	Seq    int64
	Reason string
}

// Error returns "audit: record <seq>: <reason>".
func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit: record %d: %s", e.Seq, e.Reason)
}

// VerifyResult summarises a journal that verified: Records is the number of
// records (the last Seq), Head the last record's hash (all zeros when
// empty), and Checkpoints the number of signed checkpoints checked.
type VerifyResult struct {
	Records     int64
	Head        [32]byte
	Checkpoints int64
}

// verifyPage is how many records Verify holds in memory at a time.
const verifyPage = 1000

// Verify checks the journal at path against pub, the public half of the
// checkpoint signer, and origin, the name the journal was opened with. It
// opens the file read-only in one read transaction, so it sees a consistent
// snapshot whether or not a daemon is appending.
//
// It recomputes every record's hash from record 1 and checks that the Seq
// values run 1, 2, 3, … without gaps, that each record's PrevHash is the hash
// of the one before, and that its stored Hash is the recomputed one. It checks
// the signature and origin of every checkpoint and that the head it states
// is the recomputed hash of that record. Finally the latest checkpoint must
// cover exactly the records present: fewer records means the tail was
// removed; more means records were added without the key.
//
// On tampering or corruption the error is a *BrokenError (use errors.As)
// naming the first bad record in Seq order; any other error is I/O, a
// missing file, or a file that is not an audit journal. A journal with no
// records and no checkpoints verifies. What Verify cannot detect is
// described in the package documentation.
func Verify(ctx context.Context, path string, pub ed25519.PublicKey, origin string) (VerifyResult, error) {
	v, err := newVerifier(pub, origin)
	if err != nil {
		return VerifyResult{}, err
	}
	db, err := sqlitedb.OpenReadOnly(path)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify %s: %w", path, err)
	}
	defer tx.Rollback()
	res, err := verify(ctx, tx, v, origin)
	if err != nil {
		if be := (*BrokenError)(nil); errors.As(err, &be) {
			return VerifyResult{}, be
		}
		return VerifyResult{}, fmt.Errorf("audit: verify %s: %w", path, err)
	}
	return res, nil
}

type storedCheckpoint struct {
	count int64
	msg   string
}

func verify(ctx context.Context, tx *sql.Tx, v note.Verifier, origin string) (VerifyResult, error) {
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return VerifyResult{}, err
	}
	if version != len(migrations) {
		return VerifyResult{}, fmt.Errorf("schema version %d, want %d: not an audit journal this binary knows", version, len(migrations))
	}

	// Rows outside the numbered sequence (seq or count below 1) can only be
	// there if someone bypassed the schema's CHECK constraints; the page
	// reads below would never see them, so look for them explicitly.
	var stray int64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM records WHERE seq < 1) + (SELECT count(*) FROM checkpoints WHERE count < 1)`).Scan(&stray); err != nil {
		return VerifyResult{}, err
	}
	if stray > 0 {
		return VerifyResult{}, &BrokenError{Seq: 0, Reason: fmt.Sprintf("%d row(s) outside the sequence (seq or count below 1): inserted around the schema", stray)}
	}

	var (
		res  VerifyResult
		prev [32]byte // the hash of record res.Records
		buf  []byte
	)
	// checkpoint checks one checkpoint row; head is the recomputed hash of
	// record c.count, or nil when the journal ends before it.
	checkpoint := func(c storedCheckpoint, head *[32]byte) error {
		cp, err := parseCheckpoint([]byte(c.msg), v, origin)
		switch {
		case err != nil:
			return &BrokenError{Seq: c.count, Reason: fmt.Sprintf("checkpoint: %v", err)}
		case cp.Count != c.count:
			return &BrokenError{Seq: c.count, Reason: fmt.Sprintf("checkpoint stored at %d claims %d records", c.count, cp.Count)}
		case head == nil:
			return &BrokenError{Seq: res.Records + 1, Reason: fmt.Sprintf("missing: a signed checkpoint covers %d records, the journal ends at %d", c.count, res.Records)}
		case cp.Head != *head:
			return &BrokenError{Seq: c.count, Reason: "hash does not match the signed checkpoint for it"}
		}
		res.Checkpoints++
		return nil
	}

	var latest int64 // the largest checkpointed count seen so far
	for {
		page, err := readRecords(ctx, tx, res.Records, verifyPage)
		if err != nil {
			return VerifyResult{}, fmt.Errorf("read records after %d: %w", res.Records, err)
		}
		if len(page) == 0 {
			break
		}
		// Without a gap the page holds exactly the next len(page) records;
		// with one, Verify stops at the gap before needing more.
		cps, err := readCheckpoints(ctx, tx, res.Records, res.Records+int64(len(page)))
		if err != nil {
			return VerifyResult{}, err
		}
		for _, r := range page {
			want := res.Records + 1
			switch {
			case r.Seq > want:
				return VerifyResult{}, &BrokenError{Seq: want, Reason: fmt.Sprintf("missing (the next stored record is %d)", r.Seq)}
			case r.Seq < want:
				return VerifyResult{}, &BrokenError{Seq: r.Seq, Reason: "seq out of range"}
			case r.bad != "":
				return VerifyResult{}, &BrokenError{Seq: r.Seq, Reason: r.bad}
			case r.PrevHash != prev:
				return VerifyResult{}, &BrokenError{Seq: r.Seq, Reason: "prev_hash is not the hash of the record before it"}
			}
			var h [32]byte
			h, buf = recordHash(buf, r.Seq, r.timeText, &r.Entry, &prev)
			if h != r.Hash {
				return VerifyResult{}, &BrokenError{Seq: r.Seq, Reason: "stored hash does not match the record's contents"}
			}
			// Checkpoint counts are unique and, with no gap, every one in
			// this page's range names a record of the page.
			for len(cps) > 0 && cps[0].count == r.Seq {
				if err := checkpoint(cps[0], &h); err != nil {
					return VerifyResult{}, err
				}
				latest = r.Seq
				cps = cps[1:]
			}
			prev, res.Records = h, r.Seq
		}
	}
	// A checkpoint beyond the last record: validly signed, it proves records
	// were removed; otherwise it is reported as bad. Either way the first
	// one decides.
	rest, err := readCheckpoints(ctx, tx, res.Records, -1)
	if err != nil {
		return VerifyResult{}, err
	}
	for _, c := range rest {
		if err := checkpoint(c, nil); err != nil {
			return VerifyResult{}, err
		}
	}
	if latest < res.Records {
		return VerifyResult{}, &BrokenError{Seq: latest + 1, Reason: "not covered by a signed checkpoint"}
	}
	res.Head = prev
	return res, nil
}

// readCheckpoints returns the checkpoints with after < count <= upTo in
// count order; upTo < 0 means only the first checkpoint after after.
func readCheckpoints(ctx context.Context, tx *sql.Tx, after, upTo int64) ([]storedCheckpoint, error) {
	q, args := `SELECT count, note FROM checkpoints WHERE count > ? AND count <= ? ORDER BY count`, []any{after, upTo}
	if upTo < 0 {
		q, args = `SELECT count, note FROM checkpoints WHERE count > ? ORDER BY count LIMIT 1`, []any{after}
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints after %d: %w", after, err)
	}
	defer rows.Close()
	var cps []storedCheckpoint
	for rows.Next() {
		var c storedCheckpoint
		if err := rows.Scan(&c.count, &c.msg); err != nil {
			return nil, fmt.Errorf("read checkpoints after %d: %w", after, err)
		}
		cps = append(cps, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints after %d: %w", after, err)
	}
	return cps, nil
}
