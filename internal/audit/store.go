package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/palyra/palyra/internal/peer"
)

// Table and column lists. A schema version 1 file (not yet opened by this
// code) keeps its format 1 rows in "records"; from version 2 on they are in
// "records_v1" and "records" holds format 2 rows.
const (
	v2Columns = `seq, time, kind, principal, action, resource, decision, policies, obligations, transport, reason, decision_seq, outcome, version, details, hash`
	// v2ColumnsNoDetails reads a schema version 2 file (opened by Verify
	// without migrating it), whose rows have no details column.
	v2ColumnsNoDetails = `seq, time, kind, principal, action, resource, decision, policies, obligations, transport, reason, decision_seq, outcome, version, '[]', hash`
	v1Columns          = `seq, time, principal, action, resource, decision, policies, transport, reason, prev_hash, hash`
	insertRecord       = `INSERT INTO records (` + v2Columns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertCheckpt      = `INSERT INTO checkpoints (count, note) VALUES (?, ?)`
	selectLatest       = `SELECT count, note FROM checkpoints ORDER BY count DESC LIMIT 1`
	selectLink         = `SELECT kind, decision FROM records WHERE seq = ?`
)

// tables names the record tables of an open schema: v1 is "" when the
// schema has none; v2cols is the column list that reads v2's rows.
type tables struct{ v1, v2, v2cols string }

// currentTables are the tables of the schema Open migrates to.
var currentTables = tables{v1: "records_v1", v2: "records", v2cols: v2Columns}

func tablesFor(version int) (tables, error) {
	switch version {
	case 1:
		return tables{v1: "records"}, nil
	case 2:
		return tables{v1: "records_v1", v2: "records", v2cols: v2ColumnsNoDetails}, nil
	case 3:
		return currentTables, nil
	}
	return tables{}, fmt.Errorf("schema version %d, want 1 or %d: not an audit journal this binary knows", version, schemaVersion)
}

// queryer is what the readers need from a *sql.DB, *sql.Conn or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// storedRecord is a record as read from the database. For a format 1 row,
// v1 holds the stored text that its hash covers, and prevHash the stored
// prev_hash. bad says why a field did not parse, so Verify can report
// problems in Seq order.
type storedRecord struct {
	Record
	v1       v1Fields
	prevHash [32]byte
	bad      string
}

// scanV2 reads one format 2 or 3 row from rows (selected with
// tables.v2cols).
func scanV2(rows *sql.Rows, r *storedRecord) error {
	var (
		nanos                          int64
		kind                           int64
		policies, obligations, transpt string
		details                        string
		hash                           sql.RawBytes
	)
	if err := rows.Scan(&r.Seq, &nanos, &kind, &r.Principal, &r.Action, &r.Resource, &r.Decision,
		&policies, &obligations, &transpt, &r.Reason, &r.DecisionSeq, &r.Outcome, &r.Version, &details, &hash); err != nil {
		return err
	}
	r.bad = ""
	r.Time = time.Unix(0, nanos).UTC()
	var err error
	switch {
	case kind != int64(KindDecision) && kind != int64(KindOutcome):
		r.bad = "kind is neither decision nor outcome"
	case len(hash) != len(r.Hash):
		r.bad = "stored hash is not 32 bytes"
	}
	r.Kind = Kind(kind) // #nosec G115 -- any kind other than 1 or 2 has already marked the record bad above
	copy(r.Hash[:], hash)
	if r.Policies, err = decodeList(policies); err != nil {
		r.bad = "policies are not a JSON array of strings"
	}
	if r.Obligations, err = decodeList(obligations); err != nil {
		r.bad = "obligations are not a JSON array of strings"
	}
	if r.Details, err = decodeList(details); err != nil {
		r.bad = "details are not a JSON array of strings"
	}
	r.Format = recordFormat(&r.Entry)
	if r.Transport, err = peer.ParseTransport(transpt); err != nil {
		r.bad = "transport is not unix, tcp, quic or empty"
	}
	return nil
}

// scanV1 reads one format 1 row from rows (selected with v1Columns).
func scanV1(rows *sql.Rows, r *storedRecord) error {
	var (
		policies   string
		prev, hash sql.RawBytes
	)
	f := &r.v1
	if err := rows.Scan(&r.Seq, &f.timeText, &f.principal, &f.action, &f.resource, &f.decision,
		&policies, &f.transport, &f.reason, &prev, &hash); err != nil {
		return err
	}
	r.Format = formatV1
	r.bad = ""
	r.Entry = Entry{Kind: KindDecision, Principal: f.principal, Action: f.action, Resource: f.resource, Decision: f.decision, Reason: f.reason}
	var err error
	if r.Time, err = time.Parse(time.RFC3339Nano, f.timeText); err != nil {
		r.bad = "time is not RFC 3339"
	}
	r.Time = r.Time.UTC()
	if f.policies, err = decodeList(policies); err != nil {
		r.bad = "policies are not a JSON array of strings"
	}
	r.Policies = f.policies
	if r.Transport, err = peer.ParseTransport(f.transport); err != nil {
		r.bad = "transport is not unix, tcp, quic or empty"
	}
	if len(prev) != len(r.prevHash) || len(hash) != len(r.Hash) {
		r.bad = "stored hash is not 32 bytes"
	}
	copy(r.prevHash[:], prev)
	copy(r.Hash[:], hash)
	return nil
}

// encodeList stores a list as a JSON array, readable in the sqlite3 shell.
// The hash covers the strings themselves, not this text.
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		panic("audit: marshal []string: " + err.Error()) // cannot fail for []string
	}
	return string(b)
}

// decodeList parses a stored JSON array of strings; empty gives nil.
func decodeList(s string) ([]string, error) {
	if s == "[]" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// readLatest returns the latest stored checkpoint row, or count 0.
func readLatest(ctx context.Context, q queryer) (int64, string, error) {
	var count int64
	var msg string
	switch err := q.QueryRowContext(ctx, selectLatest).Scan(&count, &msg); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, "", nil
	case err != nil:
		return 0, "", fmt.Errorf("read latest checkpoint: %w", err)
	}
	return count, msg, nil
}

// schemaTables reads the schema version of q and returns its tables.
func schemaTables(ctx context.Context, q queryer) (tables, error) {
	var version int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return tables{}, err
	}
	return tablesFor(version)
}
