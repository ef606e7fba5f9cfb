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
// first record that cannot be trusted — wrong, missing, out of place, or
// among the records a signed checkpoint does not match (for a checkpoint
// that is itself bad, the record count it is stored at). Reason says what is
// wrong, in words that never quote stored values.
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
// empty), Checkpoints the number of signed checkpoints checked, and
// Uncovered the number of records after the latest checkpoint. Uncovered
// records chain correctly but no signature vouches for them yet: a running
// daemon covers them within its checkpoint cadence, a closed journal has
// none unless the daemon stopped without Close (a crash), and someone who
// can write the file could have changed or added them.
type VerifyResult struct {
	Records     int64
	Head        [32]byte
	Checkpoints int64
	Uncovered   int64
}

// Verify checks the journal at path against pub, the public half of the
// checkpoint signer, and origin, the name the journal was opened with. It
// opens the file read-only in one read transaction, so it sees a consistent
// snapshot whether or not a daemon is appending, and it accepts schema
// version 1 (a format 1 journal not yet opened by this version) and 2.
//
// It recomputes every record's hash from record 1, each under the rules of
// its format, and checks that the Seq values run 1, 2, 3, … without gaps,
// that each stored hash is the recomputed one (and, for format 1, that each
// stored prev_hash is the hash before it), that format 2 records obey the
// rules on Entry and that each outcome record follows an allowed decision
// record. It checks the signature, origin and count of every checkpoint and
// that the head it states is the recomputed hash of that record; no
// checkpoint may claim more records than there are (the tail was removed).
// Records after the latest checkpoint are reported in
// VerifyResult.Uncovered, not as an error, up to MaxUncovered (what a crash
// can leave); more means checkpoints were removed, and is an error.
//
// On tampering or corruption the error is a *BrokenError (use errors.As)
// naming the first record that cannot be trusted in Seq order; any other
// error is I/O, a missing file, or a file that is not an audit journal. A
// journal with no records and no checkpoints verifies. What Verify cannot
// detect is described in the package documentation.
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
	t, err := schemaTables(ctx, tx)
	if err != nil {
		return VerifyResult{}, err
	}

	// Rows outside the numbered sequence (seq or count below 1) can only be
	// there if someone bypassed the schema's CHECK constraints; the ordered
	// reads below would see them first and report them less clearly, so
	// look for them explicitly.
	strayQuery := `SELECT (SELECT count(*) FROM ` + t.v1 + ` WHERE seq < 1) + (SELECT count(*) FROM checkpoints WHERE count < 1)`
	if t.v2 != "" {
		strayQuery += ` + (SELECT count(*) FROM ` + t.v2 + ` WHERE seq < 1)`
	}
	var stray int64
	if err := tx.QueryRowContext(ctx, strayQuery).Scan(&stray); err != nil {
		return VerifyResult{}, err
	}
	if stray > 0 {
		return VerifyResult{}, &BrokenError{Seq: 0, Reason: fmt.Sprintf("%d row(s) outside the sequence (seq or count below 1): inserted around the schema", stray)}
	}

	// Checkpoints are read in count order beside the records.
	cpRows, err := tx.QueryContext(ctx, `SELECT count, note FROM checkpoints ORDER BY count`)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("read checkpoints: %w", err)
	}
	defer cpRows.Close()
	var (
		res     VerifyResult
		cp      storedCheckpoint
		haveCP  bool
		cpErr   error
		latest  int64 // the count of the latest checkpoint verified
		records int64
	)
	nextCP := func() {
		haveCP = cpRows.Next()
		if haveCP {
			cpErr = cpRows.Scan(&cp.count, &cp.msg)
		} else {
			cpErr = cpRows.Err()
		}
	}
	// check checks one checkpoint; head is the recomputed hash of record
	// c.count, or nil when the journal ends before it.
	check := func(c storedCheckpoint, head *[32]byte) error {
		parsed, err := parseCheckpoint([]byte(c.msg), v, origin)
		switch {
		case err != nil:
			return &BrokenError{Seq: c.count, Reason: fmt.Sprintf("checkpoint: %v", err)}
		case parsed.Count != c.count:
			return &BrokenError{Seq: c.count, Reason: fmt.Sprintf("checkpoint stored at %d claims %d records", c.count, parsed.Count)}
		case head == nil:
			return &BrokenError{Seq: records + 1, Reason: fmt.Sprintf("missing: a signed checkpoint covers %d records, the journal ends at %d", c.count, records)}
		case parsed.Head != *head:
			return &BrokenError{Seq: latest + 1, Reason: fmt.Sprintf("records %d to %d do not match the signed checkpoint for %d", latest+1, c.count, c.count)}
		}
		res.Checkpoints++
		latest = c.count
		return nil
	}
	nextCP()
	w := walker{next: 1, allowed: &bitset{}}
	w.each = func(seq int64, h *[32]byte) error {
		records = seq
		// Counts are unique and seq has no gaps, so every checkpoint up to
		// seq is reached here in order.
		for cpErr == nil && haveCP && cp.count <= seq {
			if cp.count < seq { // unreachable without a stray row; be safe
				return &BrokenError{Seq: cp.count, Reason: "checkpoint out of sequence"}
			}
			if err := check(cp, h); err != nil {
				return err
			}
			nextCP()
		}
		return cpErr
	}
	if err := eachRecord(ctx, tx, t, 0, w.step); err != nil {
		return VerifyResult{}, err
	}
	if cpErr != nil {
		return VerifyResult{}, fmt.Errorf("read checkpoints: %w", cpErr)
	}
	// A checkpoint beyond the last record: validly signed, it proves records
	// were removed; otherwise it is reported as bad. Either way the first
	// one decides.
	if haveCP {
		if err := check(cp, nil); err != nil {
			return VerifyResult{}, err
		}
	}
	res.Records = records
	res.Head = w.prev
	res.Uncovered = records - latest
	if res.Uncovered > MaxUncovered {
		return VerifyResult{}, &BrokenError{Seq: latest + 1, Reason: fmt.Sprintf("%d records after the latest checkpoint, more than a crash can leave (%d): checkpoints were removed", res.Uncovered, MaxUncovered)}
	}
	return res, nil
}
