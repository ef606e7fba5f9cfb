// Package audit is Palyra's tamper-evident audit journal, kept in an
// append-only SQLite database. Each request leaves a decision record (who,
// which action, on which resource, allow or deny, the determining policies
// and their obligations, the transport and a short non-secret reason) and,
// if it was allowed, an outcome record (what became of it: ok, not_found,
// integrity, error, and the new version of what a write changed) that
// names its decision record.
//
// # Model
//
// Records are numbered 1, 2, 3, … with no gaps. Each record's hash is SHA-256
// over a domain-separation label, the record's format version, its fields in
// a canonical length-prefixed encoding and the previous record's hash (all
// zeros for record 1), so the records form a hash chain: changing, removing
// or reordering any record changes every hash after it. Records keep the
// format they were written in: journals written before format 2 keep their
// format 1 records, and the chain continues in format 2.
// docs/audit-format.md specifies both encodings byte for byte, with test
// vectors.
//
// A chain alone does not reveal a truncated tail, and anyone who can write
// the file can recompute the hashes after a rewrite. So the journal signs
// checkpoints: C2SP signed notes (https://c2sp.org/signed-note) whose text
// is
//
//	<origin>\n<record count>\n<base64 head hash>\n
//
// signed with the daemon's Ed25519 key. Checkpoints are signed per batch of
// records, not per commit: in the commit that leaves Options.CheckpointEvery
// records uncovered (default 1024), Options.CheckpointInterval (default 1s)
// after the first uncovered record was committed, and on Close.
//
// What Verify detects, without the key: any change to a record covered by
// a checkpoint, a record removed in the middle, records removed from the
// tail while a checkpoint covering them remains, a forged or foreign-key
// checkpoint, and (for any record, covered or not) a gap, a stored hash
// that does not match, a field that breaks the Entry rules, or an outcome
// that does not follow an allowed decision.
//
// What it does not detect: records after the latest checkpoint are
// chained but not yet signed, so someone who can write the file can
// rewrite or add to that uncovered tail consistently, and the daemon will
// cover it when it next signs; Verify reports their number as
// VerifyResult.Uncovered. While the daemon runs the tail is at most one
// checkpoint period; a clean Close leaves none; a crash (kill -9, power
// loss) leaves what was committed since the last checkpoint, which the
// restarted daemon covers within CheckpointInterval of Open. Removing the last records together
// with every checkpoint that covers them rolls the journal back to an
// older, valid state; detecting that needs a recent checkpoint kept
// elsewhere (Journal.Latest hands it out with every response; comparing
// is ParseCheckpoint's job). Anyone holding the signing key can write a
// new, consistent journal.
//
// SQLite triggers refuse UPDATE and DELETE of records and checkpoints and any
// insert that does not extend the head. They stop mistakes and code paths
// that should never write, not an attacker who can write the file (who can
// drop them); the hash chain and the signatures are what make tampering
// evident.
//
// # Use
//
// The daemon opens one [Journal] per state directory and calls
// [Journal.Append] for every decision, then [Journal.AppendAsync] for the
// outcome of an allowed request. Concurrent appends are grouped by one
// writer goroutine into a single SQLite transaction (group commit), which
// keeps the head in memory. Commits reach the operating system before
// Append returns (a record survives the daemon being killed); the WAL file
// is fsynced (a record survives power loss) within Options.SyncWindow in
// the default SyncWindow mode, before [Journal.AppendDurable] returns, and
// before every Append returns in SyncAlways mode. [Verify] recomputes the
// chain and checks every checkpoint from a read-only connection, so
// `palyra audit verify` works whether or not the daemon is running;
// [Journal.List], [Journal.Get] and [Journal.Wait] serve listing and
// following the journal.
//
// Secret values never enter the journal: an [Entry] has no field for a
// payload, and callers must keep Reason to a short, fixed, non-secret code
// such as "permitted" or "no permit".
package audit
