package audit

// migrations is the journal schema, one entry per version (see
// sqlitedb.Open, which runs each in its own transaction).
//
// Version 1 is format 1: one table of records that stores each record's
// time as RFC 3339 text and the previous record's hash.
//
// Version 2 keeps every format 1 row untouched, in a table renamed
// records_v1 that no longer accepts inserts, and creates the format 2
// records table: time as Unix nanoseconds, no prev_hash (it is the previous
// row's hash, which Verify recomputes), decision and outcome fields. Its
// seq continues where records_v1 ends.
//
// Version 3 adds the details column (outcome details, a JSON array; "[]"
// for every earlier row, which stays format 2): a record with details is
// format 3.
//
// The triggers make the tables append-only: UPDATE and DELETE abort, and an
// INSERT must extend the head by exactly one record (or checkpoint a larger
// count), which also stops INSERT OR REPLACE from overwriting a row without
// firing the DELETE trigger. The insert trigger costs one max(seq) lookup
// (a descent of the seq b-tree) per row; BenchmarkInsertTrigger measures it.
var migrations = []string{
	`
CREATE TABLE records (
	seq       INTEGER PRIMARY KEY CHECK (seq >= 1),
	time      TEXT NOT NULL,
	principal TEXT NOT NULL,
	action    TEXT NOT NULL,
	resource  TEXT NOT NULL,
	decision  TEXT NOT NULL,
	policies  TEXT NOT NULL,
	transport TEXT NOT NULL,
	reason    TEXT NOT NULL,
	prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),
	hash      BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

CREATE TRIGGER records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

CREATE TRIGGER records_append_at_head BEFORE INSERT ON records
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM records)
BEGIN SELECT RAISE(ABORT, 'audit records are appended at the head only'); END;

CREATE TABLE checkpoints (
	count INTEGER PRIMARY KEY CHECK (count >= 1),
	note  TEXT NOT NULL
) STRICT;

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;

CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;

CREATE TRIGGER checkpoints_append_at_head BEFORE INSERT ON checkpoints
WHEN NEW.count <= (SELECT coalesce(max(count), 0) FROM checkpoints)
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are appended at the head only'); END;
`,
	`
DROP TRIGGER records_no_update;
DROP TRIGGER records_no_delete;
DROP TRIGGER records_append_at_head;
ALTER TABLE records RENAME TO records_v1;

CREATE TRIGGER records_v1_no_update BEFORE UPDATE ON records_v1
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

CREATE TRIGGER records_v1_no_delete BEFORE DELETE ON records_v1
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

CREATE TRIGGER records_v1_no_insert BEFORE INSERT ON records_v1
BEGIN SELECT RAISE(ABORT, 'format 1 audit records are read-only'); END;

CREATE TABLE records (
	seq          INTEGER PRIMARY KEY CHECK (seq >= 1),
	time         INTEGER NOT NULL,
	kind         INTEGER NOT NULL,
	principal    TEXT NOT NULL,
	action       TEXT NOT NULL,
	resource     TEXT NOT NULL,
	decision     TEXT NOT NULL,
	policies     TEXT NOT NULL,
	obligations  TEXT NOT NULL,
	transport    TEXT NOT NULL,
	reason       TEXT NOT NULL,
	decision_seq INTEGER NOT NULL,
	outcome      TEXT NOT NULL,
	version      INTEGER NOT NULL,
	hash         BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

CREATE TRIGGER records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

CREATE TRIGGER records_append_at_head BEFORE INSERT ON records
WHEN NEW.seq IS NOT coalesce((SELECT max(seq) FROM records), (SELECT coalesce(max(seq), 0) FROM records_v1)) + 1
BEGIN SELECT RAISE(ABORT, 'audit records are appended at the head only'); END;
`,
	`
ALTER TABLE records ADD COLUMN details TEXT NOT NULL DEFAULT '[]';
`,
}

// schemaVersion is the version Open migrates to.
var schemaVersion = len(migrations)
