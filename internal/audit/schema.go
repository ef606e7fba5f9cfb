package audit

// migrations is the journal schema, one entry per version (see
// sqlitedb.Open). The triggers make the tables append-only: UPDATE and
// DELETE abort, and an INSERT must extend the head by exactly one record (or
// checkpoint a larger count), which also stops INSERT OR REPLACE from
// overwriting a row without firing the DELETE trigger.
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
}
