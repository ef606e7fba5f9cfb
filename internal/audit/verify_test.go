package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"strings"
	"testing"
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

// rehash recomputes the stored hash and prev_hash of records from..to, as
// an attacker without the signing key would after editing record from.
func rehash(t *testing.T, db *sql.DB, from, to int64) {
	t.Helper()
	stored, err := readRecords(context.Background(), db, from-1, int(to-from+1))
	if err != nil {
		t.Fatal(err)
	}
	prev := stored[0].PrevHash
	var buf []byte
	for _, r := range stored {
		var h [32]byte
		h, buf = recordHash(buf, r.Seq, r.timeText, &r.Entry, &prev)
		exec(t, db, "UPDATE records SET prev_hash = ?, hash = ? WHERE seq = ?", prev[:], h[:], r.Seq)
		prev = h
	}
}

const (
	dropRecordTriggers     = "DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete"
	dropCheckpointTriggers = "DROP TRIGGER checkpoints_no_update; DROP TRIGGER checkpoints_no_delete"
)

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
		name: "edit decision and recompute its hash",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET decision = 'allow' WHERE seq = 5`)
			rehash(t, db, 5, 5)
		},
		seq: 5, reason: "signed checkpoint",
	}, {
		name: "rewrite the chain from record 4 without the key",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET principal = 'User::"mallory"' WHERE seq = 4`)
			rehash(t, db, 4, 10)
		},
		seq: 4, reason: "signed checkpoint", openErr: true,
	}, {
		name: "edit time",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, dropRecordTriggers)
			exec(t, db, `UPDATE records SET time = '2020-01-01T00:00:00.000000000Z' WHERE seq = 7`)
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
		name: "insert a row before the sequence, around the CHECK constraint",
		tamper: func(t *testing.T, db *sql.DB) {
			exec(t, db, `PRAGMA ignore_check_constraints = 1; DROP TRIGGER records_append_at_head`)
			exec(t, db, `INSERT INTO records SELECT 0, time, 'User::"mallory"', action, resource, 'allow', policies, transport, reason, prev_hash, hash FROM records WHERE seq = 1`)
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
		name: "append a record without the key",
		tamper: func(t *testing.T, db *sql.DB) {
			stored, err := readRecords(context.Background(), db, 9, 1)
			if err != nil {
				t.Fatal(err)
			}
			e := sampleEntry(0)
			tt := formatTime(stored[0].Time)
			h, _ := recordHash(nil, 11, tt, &e, &stored[0].Hash)
			exec(t, db, insertRecord, 11, tt, e.Principal, e.Action, e.Resource, e.Decision,
				encodePolicies(e.Policies), e.Transport, e.Reason, stored[0].Hash[:], h[:])
		},
		seq: 11, reason: "not covered by a signed checkpoint", openErr: true,
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

			j2, err := Open(ctx, path, key, testOrigin)
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

func TestVerifyWrongKeyOrOrigin(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 3)
	for name, args := range map[string]struct {
		pub    ed25519.PublicKey
		origin string
	}{
		"wrong key":    {testKey("another key").Public().(ed25519.PublicKey), testOrigin},
		"wrong origin": {pub, "palyra/another-device"},
	} {
		_, err := Verify(ctx, path, args.pub, args.origin)
		var be *BrokenError
		if !errors.As(err, &be) || be.Seq != 1 {
			t.Errorf("%s: %v, want a *BrokenError at record 1", name, err)
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
	exec(t, db, `DELETE FROM records WHERE seq > 8`)
	exec(t, db, `DELETE FROM checkpoints WHERE count > 8`)
	res, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || res.Records != 8 || res.Head != recs[7].Hash {
		t.Fatalf("verify = %+v, %v; want the rolled-back journal to verify (documented limit)", res, err)
	}
}

func TestTriggersRefuseChanges(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	appendN(t, j, 3)
	db := rawDB(t, path)
	for _, q := range []string{
		`UPDATE records SET principal = 'x' WHERE seq = 2`,
		`DELETE FROM records WHERE seq = 3`,
		`DELETE FROM records`,
		`INSERT OR REPLACE INTO records SELECT * FROM records WHERE seq = 2`,
		`INSERT INTO records SELECT 5, time, principal, action, resource, decision, policies, transport, reason, prev_hash, hash FROM records WHERE seq = 3`,
		`INSERT INTO records (seq, time, principal, action, resource, decision, policies, transport, reason, prev_hash, hash)
		 SELECT 2, time, principal, action, resource, decision, policies, transport, reason, prev_hash, hash FROM records WHERE seq = 3
		 ON CONFLICT (seq) DO UPDATE SET principal = 'x'`,
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
