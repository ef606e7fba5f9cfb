package audit

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

// TestOutcomeDetails: an outcome with details is a format 3 record whose
// hash covers them; without details a record stays format 2; a decision
// may not carry details; tampering with stored details breaks the chain.
func TestOutcomeDetails(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t)
	recs := appendN(t, j, 3)
	details := []string{"request_sha256=ab12", "exit_code=0", "wall_us=1234", "output_sha256=cd34"}
	out, err := j.Append(ctx, Entry{Kind: KindOutcome, DecisionSeq: recs[0].Seq, Outcome: OutcomeOK, Details: details})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := j.Append(ctx, Entry{Kind: KindOutcome, DecisionSeq: recs[0].Seq, Outcome: OutcomeOK})
	if err != nil {
		t.Fatal(err)
	}
	if out.Format != formatV3 || plain.Format != formatV2 {
		t.Fatalf("formats %d and %d, want 3 and 2", out.Format, plain.Format)
	}
	got, err := j.Get(ctx, out.Seq)
	if err != nil || got.Format != formatV3 || !reflect.DeepEqual(got.Details, details) || got.Hash != out.Hash {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if _, err := j.Append(ctx, Entry{Principal: "x", Action: "a", Resource: "r", Decision: DecisionAllow, Details: []string{"a=b"}}); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("decision with details: %v", err)
	}
	if _, err := j.Append(ctx, Entry{Kind: KindOutcome, DecisionSeq: recs[0].Seq, Outcome: OutcomeOK, Details: make([]string, MaxDetails+1)}); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("too many details: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := Verify(ctx, path, pub, testOrigin); err != nil || res.Records != plain.Seq {
		t.Fatalf("verify = %+v, %v", res, err)
	}
	db := rawDB(t, path)
	exec(t, db, dropRecordTriggers)
	exec(t, db, `UPDATE records SET details = '["request_sha256=ab12","exit_code=1","wall_us=1234","output_sha256=cd34"]' WHERE seq = ?`, out.Seq)
	var be *BrokenError
	if _, err := Verify(ctx, path, pub, testOrigin); !errors.As(err, &be) || be.Seq != out.Seq {
		t.Fatalf("verify after changing a detail = %v", err)
	}
}

// TestMigrateV2Journal: a schema version 2 journal (written before
// outcome details existed) is migrated in place: its records keep their
// hashes and format 2, and records with details follow them.
func TestMigrateV2Journal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	copyFile(t, "testdata/journal-v2.db", path)
	before, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || before.Records != 7 {
		t.Fatalf("verify v2 = %+v, %v", before, err)
	}
	j, err := Open(ctx, path, key, testOrigin, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	old, err := j.List(ctx, Filter{})
	if err != nil || len(old) != 7 {
		t.Fatalf("list = %d records, %v", len(old), err)
	}
	for _, r := range old {
		if r.Format != formatV2 || r.Details != nil {
			t.Fatalf("migrated record %+v", r)
		}
	}
	if _, err := j.Append(ctx, Entry{Kind: KindOutcome, DecisionSeq: 1, Outcome: OutcomeError, Details: []string{"exit_code=2"}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := Verify(ctx, path, pub, testOrigin)
	if err != nil || after.Records != 8 {
		t.Fatalf("verify after = %+v, %v", after, err)
	}
}
