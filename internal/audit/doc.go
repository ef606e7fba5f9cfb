// Package audit is Palyra's tamper-evident audit journal: one record per
// authorization decision (who, what action, on which resource, allow or deny,
// which policies decided, over which transport, and a short outcome), kept in
// an append-only SQLite database.
//
// # Model
//
// Records are numbered 1, 2, 3, … with no gaps. Each record's hash is SHA-256
// over a domain-separation label, the format version, the record's fields in
// a canonical length-prefixed encoding and the previous record's hash (all
// zeros for record 1), so the records form a hash chain: changing, removing
// or reordering any record changes every hash after it. docs/audit-format.md
// specifies the encoding byte for byte, with a test vector.
//
// A chain alone does not reveal a truncated tail, and anyone who can write
// the file can recompute the hashes after a rewrite. So every transaction
// that appends records also writes a checkpoint: a C2SP signed note
// (https://c2sp.org/signed-note) whose text is
//
//	<origin>\n<record count>\n<base64 head hash>\n
//
// signed with the daemon's Ed25519 key. Without that key, nobody can produce
// a checkpoint for a rewritten chain, and deleting the last records leaves a
// checkpoint that claims more records than remain.
//
// The residual limit: someone with write access who deletes the last records
// together with every checkpoint that covers them rolls the journal back to an
// older, still valid state. Detecting that needs a copy of a recent checkpoint
// kept elsewhere (an external witness), which is future work; ParseCheckpoint
// exists so such a copy can be checked.
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
// [Journal.Append] for every decision. Concurrent Append calls are grouped
// by one writer goroutine into a single SQLite transaction (group commit),
// so the cost of a synchronous commit is shared; each caller still returns
// only after its own record is durable. [Verify] recomputes the chain and
// checks every checkpoint from a read-only connection, so `palyra audit
// verify` works whether or not the daemon is running.
//
// Secret values never enter the journal: an [Entry] has no field for a
// payload, and callers must keep Reason to a short, fixed, non-secret code
// such as "ok" or "not_found".
package audit
