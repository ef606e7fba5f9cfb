package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"
)

// rawDB opens the journal file with no triggers bypassed yet, as an attacker
// (or a careless tool) with write access to the file would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// rehash recomputes the stored hashes of format 2 records from..to, as an
// attacker without the signing key would after editing record from.
func rehash(t *testing.T, db *sql.DB, from, to int64) {
	t.Helper()
	ctx := context.Background()
	prev, _, err := recordHashAt(ctx, db, currentTables, from-1)
	if err != nil {
		t.Fatal(err)
	}
	var stored []storedRecord
	if err := eachRecord(ctx, db, tables{v2: "records", v2cols: v2Columns}, from-1, func(r *storedRecord) error {
		if r.Seq <= to {
			stored = append(stored, *r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for _, r := range stored {
		var h [32]byte
		h, buf = hashV2(buf, r.Seq, &r.Entry, &prev)
		exec(t, db, "UPDATE records SET hash = ? WHERE seq = ?", h[:], r.Seq)
		prev = h
	}
}

// appendRaw inserts a format 2 record at the head, correctly hashed, as
// someone with write access but without the key could.
func appendRaw(t *testing.T, db *sql.DB, e Entry) {
	t.Helper()
	ctx := context.Background()
	t2 := currentTables
	last, err := lastSeq(ctx, db, t2)
	if err != nil {
		t.Fatal(err)
	}
	prev, _, err := recordHashAt(ctx, db, t2, last)
	if err != nil {
		t.Fatal(err)
	}
	if e.Time.IsZero() {
		e.Time = vectorEntries[0].Time
	}
	h, _ := hashV2(nil, last+1, &e, &prev)
	exec(t, db, insertRecord, last+1, e.Time.UnixNano(), int64(e.Kind), e.Principal, e.Action, e.Resource, e.Decision,
		encodeList(e.Policies), encodeList(e.Obligations), e.Transport.String(), e.Reason, e.DecisionSeq, e.Outcome, e.Version, encodeList(e.Details), h[:])
}

const (
	dropRecordTriggers     = "DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete"
	dropCheckpointTriggers = "DROP TRIGGER checkpoints_no_update; DROP TRIGGER checkpoints_no_delete"
)

// The tamper tests run on a closed journal of 10 records appended one at a
// time with CheckpointEvery 3: checkpoints cover 3, 6, 9 and (signed by
// Close) 10 records.
func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, db *sql.DB)
		seq     int64
		reason  string // a substring of BrokenError.Reason
		openErr bool   // Open must refuse the journal too (a tail problem)
	}{{
		name: "edit principal",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET principal = 'User::"mallory"' WHERE seq = 3`)
		},
		seq: 3, reason: "stored hash does not match",
	}, {
		// Without a stored prev_hash, a record edited and rehashed on its
		// own shows as the next record's hash no longer matching.
		name: "edit decision and recompute its hash",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET decision = 'allow' WHERE seq = 5`)
			rehash(t, db, 5, 5)
		},
		seq: 6, reason: "stored hash does not match the record's contents and the hash of the record before it",
	}, {
		// A rehashed chain is caught by the first checkpoint after the
		// edit; the records it covers beyond the previous one are named.
		name: "rewrite the chain from record 4 without the key",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET principal = 'User::"mallory"' WHERE seq = 4`)
			rehash(t, db, 4, 10)
		},
		seq: 4, reason: "records 4 to 6 do not match the signed checkpoint for 6", openErr: true,
	}, {
		name: "rewrite only the last record",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET reason = 'ok' WHERE seq = 10`)
			rehash(t, db, 10, 10)
		},
		seq: 10, reason: "signed checkpoint", openErr: true,
	}, {
		name: "edit time",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET time = time + 1 WHERE seq = 7`)
		},
		seq: 7, reason: "stored hash does not match",
	}, {
		name: "garble policies",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET policies = '{' WHERE seq = 6`)
		},
		seq: 6, reason: "policies",
	}, {
		name: "unknown kind",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET kind = 7 WHERE seq = 2`)
		},
		seq: 2, reason: "kind",
	}, {
		name: "unknown transport",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET transport = 'http' WHERE seq = 2`)
		},
		seq: 2, reason: "transport",
	}, {
		name: "insert a row before the sequence, around the CHECK constraint",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, `PRAGMA ignore_check_constraints = 1; DROP TRIGGER records_append_at_head`)
			exec(t, db, `INSERT INTO records SELECT 0, time, kind, 'User::"mallory"', action, resource, 'allow', policies, obligations, transport, reason, decision_seq, outcome, version, hash, details FROM records WHERE seq = 1`)
		},
		seq: 0, reason: "outside the sequence",
	}, {
		name: "insert a checkpoint before the sequence",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, `PRAGMA ignore_check_constraints = 1; DROP TRIGGER checkpoints_append_at_head`)
			exec(t, db, `INSERT INTO checkpoints VALUES (-1, 'garbage')`)
		},
		seq: 0, reason: "outside the sequence",
	}, {
		name: "delete a middle record",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `DELETE FROM records WHERE seq = 5`)
		},
		seq: 5, reason: "missing",
	}, {
		name: "delete the last record",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `DELETE FROM records WHERE seq = 10`)
		},
		seq: 10, reason: "missing", openErr: true,
	}, {
		name: "delete the last three records",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `DELETE FROM records WHERE seq >= 8`)
		},
		seq: 8, reason: "missing", openErr: true,
	}, {
		name: "delete the last records and the latest checkpoint",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, dropCheckpointTriggers)
			exec(t, db, `DELETE FROM records WHERE seq >= 8`)
			exec(t, db, `DELETE FROM checkpoints WHERE count = 10`)
		},
		seq: 8, reason: "missing: a signed checkpoint covers 9 records, the journal ends at 7", openErr: true,
	}, {
		name: "forge a checkpoint signature",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropCheckpointTriggers)
			var msg string
			if err := db.QueryRow(`SELECT note FROM checkpoints WHERE count = 10`).Scan(&msg); err != nil {
				t.Fatal(err)
			}
			// Change one base64 character of the signature (not of the
			// key hash in its first six characters, nor the padding).
			i := strings.LastIndex(msg, " ") + 20
			c := byte('A')
			if msg[i] == 'A' {
				c = 'B'
			}
			exec(t, db, `UPDATE checkpoints SET note = ? WHERE count = 10`, msg[:i]+string(c)+msg[i+1:])
		},
		seq: 10, reason: "signature does not verify", openErr: true,
	}, {
		name: "checkpoint signed by another key",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropCheckpointTriggers)
			var msg string
			if err := db.QueryRow(`SELECT note FROM checkpoints WHERE count = 10`).Scan(&msg); err != nil {
				t.Fatal(err)
			}
			c, err := ParseCheckpoint([]byte(msg), pub, testOrigin)
			if err != nil {
				t.Fatal(err)
			}
			s, err := newSigner(testKey("attacker"), testOrigin)
			if err != nil {
				t.Fatal(err)
			}
			forged, err := s.sign(c)
			if err != nil {
				t.Fatal(err)
			}
			exec(t, db, `UPDATE checkpoints SET note = ? WHERE count = 10`, string(forged))
		},
		seq: 10, reason: "not signed by the given key", openErr: true,
	}, {
		name: "append a record that does not chain",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, `INSERT INTO records SELECT 11, time, kind, principal, action, resource, decision, policies, obligations, transport, reason, decision_seq, outcome, version, hash, details FROM records WHERE seq = 10`)
		},
		seq: 11, reason: "stored hash does not match", openErr: true,
	}, {
		name: "append an outcome of a denied request",
		tamper: func(t *testing.T, db *sql.DB) {
			// sampleEntry(1), record 2, is a deny.
			appendRaw(t, db, Entry{Kind: KindOutcome, DecisionSeq: 2, Outcome: OutcomeOK})
		},
		seq: 11, reason: "outcome does not follow an allowed decision record", openErr: true,
	}, {
		name: "append a record that breaks the entry rules",
		tamper: func(t *testing.T, db *sql.DB) {
			e := sampleEntry(0)
			e.Decision = "maybe"
			appendRaw(t, db, e)
		},
		seq: 11, reason: "fields break the rules", openErr: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			j, path := openTemp(t)
			appendN(t, j, 10)
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			tt.tamper(t, rawDB(t, path))

			_, err := Verify(ctx, path, pub, testOrigin)
			var be *BrokenError
			if !errors.As(err, &be) {
				t.Fatalf("Verify: %v, want a *BrokenError", err)
			}
			if be.Seq != tt.seq || !strings.Contains(be.Reason, tt.reason) {
				t.Fatalf("Verify: %v; want record %d and a reason containing %q", err, tt.seq, tt.reason)
			}
			if want := "audit: record "; !strings.HasPrefix(be.Error(), want) {
				t.Fatalf("Error() = %q, want prefix %q", be.Error(), want)
			}

			j2, err := Open(ctx, path, key, testOrigin, testOptions(t))
			if err == nil {
				j2.Close()
			}
			if tt.openErr {
				if !errors.As(err, &be) {
					t.Fatalf("Open: %v, want an error wrapping *BrokenError", err)
				}
				t.Logf("Open: %v", err)
			} else if err != nil {
				t.Fatalf("Open: %v (the head is intact; only Verify should object)", err)
			}
		})
	}
}

// TestUncoveredTail: records after the latest checkpoint (a crash before
// the next one, or records added by someone without the key) are reported,
// not refused; Open accepts them and the next checkpoint covers them.
func TestUncoveredTail(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 10)
	j.Close()
	db := rawDB(t, path)
	appendRaw(t, db, sampleEntry(0))
	appendRaw(t, db, Entry{Kind: KindOutcome, DecisionSeq: 11, Outcome: OutcomeOK, Version: 3})
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 12 || res.Uncovered != 2 || res.Checkpoints != 4 {
		t.Fatalf("verify = %+v, %v; want 12 records, 2 uncovered", res, err)
	}
	j, err = Open(ctx, path, key, testOrigin, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	// Open covers the tail before anything is served.
	if c, _, _ := j.Latest(); c.Count != 12 {
		t.Fatalf("latest checkpoint covers %d, want 12", c.Count)
	}
	if _, err := j.Append(ctx, Entry{Kind: KindOutcome, DecisionSeq: 11, Outcome: OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := j.Latest(); c.Count != 13 {
		t.Fatalf("latest checkpoint after Close covers %d, want 13", c.Count)
	}
	res, err = Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 13 || res.Uncovered != 0 {
		t.Fatalf("verify = %+v, %v", res, err)
	}
}

func TestVerifyWrongKeyOrOrigin(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 3) // CheckpointEvery 3: the first checkpoint covers 3
	for name, args := range map[string]struct {
		pub    ed25519.PublicKey
		origin string
	}{
		"wrong key":    {testKey("another key").Public().(ed25519.PublicKey), testOrigin},
		"wrong origin": {pub, "palyra/another-device"},
	} {
		_, err := Verify(ctx, path, args.pub, args.origin)
		var be *BrokenError
		if !errors.As(err, &be) || be.Seq != 3 {
			t.Errorf("%s: %v, want a *BrokenError at record 3", name, err)
		}
	}
	if _, err := Verify(ctx, path, pub[:31], testOrigin); err == nil {
		t.Error("Verify accepted a 31-byte public key")
	}
}

// TestResidualRollbackUndetected pins the documented limit: removing the
// last records together with every checkpoint that covers them leaves a
// consistent, older journal. Only a checkpoint kept elsewhere catches it.
func TestResidualRollbackUndetected(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	recs := appendN(t, j, 10)
	j.Close()
	db := rawDB(t, path)
	exec(t, db, dropRecordTriggers)
	exec(t, db, dropCheckpointTriggers)
	exec(t, db, `DELETE FROM records WHERE seq > 6`)
	exec(t, db, `DELETE FROM checkpoints WHERE count > 6`)
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 6 || res.Head != recs[5].Hash || res.Uncovered != 0 {
		t.Fatalf("verify = %+v, %v; want the rolled-back journal to verify (documented limit)", res, err)
	}
}

func TestTriggersRefuseChanges(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 3)
	db := rawDB(t, path)
	const cols = `time, kind, principal, action, resource, decision, policies, obligations, transport, reason, decision_seq, outcome, version, details, hash`
	for _, q := range []string{
		`UPDATE records SET principal = 'x' WHERE seq = 2`,
		`DELETE FROM records WHERE seq = 3`,
		`DELETE FROM records`,
		`INSERT OR REPLACE INTO records SELECT * FROM records WHERE seq = 2`,
		`INSERT INTO records SELECT 5, ` + cols + ` FROM records WHERE seq = 3`,
		`INSERT INTO records (seq, ` + cols + `)
		 SELECT 2, ` + cols + ` FROM records WHERE seq = 3
		 ON CONFLICT (seq) DO UPDATE SET principal = 'x'`,
		`INSERT INTO records_v1 VALUES (4, '', '', '', '', '', '[]', '', '', zeroblob(32), zeroblob(32))`,
		`UPDATE checkpoints SET note = 'x' WHERE count = 3`,
		`DELETE FROM checkpoints WHERE count = 3`,
		`INSERT OR REPLACE INTO checkpoints (count, note) VALUES (3, 'x')`,
		`INSERT INTO checkpoints (count, note) VALUES (2, 'x')`,
	} {
		if _, err := db.Exec(q); err == nil {
			t.Errorf("allowed: %s", q)
		}
	}
	// The journal still verifies and still appends after the attempts.
	if _, err := j.Append(ctx, sampleEntry(3)); err != nil {
		t.Fatal(err)
	}
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 4 {
		t.Fatalf("verify = %+v, %v", res, err)
	}
}

// TestRemovedCheckpointsAreDetected: a tail after the latest checkpoint
// longer than a crash can leave means checkpoints were removed (and the
// records after them may have been rewritten without the key): Verify and
// Open refuse it.
func TestRemovedCheckpointsAreDetected(t *testing.T) {
	ctx := context.Background()
	opts := Options{CheckpointEvery: MaxCheckpointEvery, CheckpointInterval: time.Hour, OnAsyncError: func(err error) { t.Errorf("async: %v", err) }}
	j, path := openTempWith(t, opts)
	n := MaxUncovered + 10
	for i := range n {
		if _, err := j.Append(ctx, sampleEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := Verify(ctx, path, pub, testOrigin); err != nil || res.Uncovered != 0 {
		t.Fatalf("intact journal: %+v %v", res, err)
	}
	db := rawDB(t, path)
	exec(t, db, "DROP TRIGGER checkpoints_no_delete")
	exec(t, db, "DELETE FROM checkpoints")
	db.Close()
	var be *BrokenError
	if _, err := Verify(ctx, path, pub, testOrigin); !errors.As(err, &be) || be.Seq != 1 || !strings.Contains(be.Reason, "checkpoints were removed") {
		t.Fatalf("verify: %v", err)
	}
	if _, err := Open(ctx, path, key, testOrigin, opts); !errors.As(err, &be) || !strings.Contains(be.Reason, "checkpoints were removed") {
		t.Fatalf("open: %v", err)
	}
}

// TestOpenRehashesTheCoveredHead: an edit of the newest covered record,
// without a rehash, is refused at Open, not only by Verify.
func TestOpenRehashesTheCoveredHead(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 6) // CheckpointEvery 3: the latest checkpoint covers 6
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	exec(t, db, dropRecordTriggers)
	exec(t, db, "UPDATE records SET principal = 'User::\"eve\"' WHERE seq = 6")
	db.Close()
	var be *BrokenError
	if _, err := Open(ctx, path, key, testOrigin, testOptions(t)); !errors.As(err, &be) || be.Seq != 6 {
		t.Fatalf("open: %v", err)
	}
}
