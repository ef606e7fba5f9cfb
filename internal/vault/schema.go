package vault

// migrations is the vault schema, one entry per version (see sqlitedb.Open).
// Never edit an entry that has shipped; append a new one.
var migrations = []string{
	// 1: secret versions, and the KEK check record (one row, id 1).
	//
	// Names are stored in clear for lookups and List; the envelope holds
	// the value. WITHOUT ROWID keeps each row in the primary-key B-tree, so
	// "latest version of (scope, key)" is one index seek.
	`CREATE TABLE secret_versions (
		scope           TEXT    NOT NULL,
		key             TEXT    NOT NULL,
		version         INTEGER NOT NULL CHECK (version >= 1),
		created_unix_ns INTEGER NOT NULL,
		envelope        BLOB    NOT NULL,
		PRIMARY KEY (scope, key, version)
	) WITHOUT ROWID;
	CREATE TABLE kek_check (
		id       INTEGER PRIMARY KEY CHECK (id = 1),
		envelope BLOB    NOT NULL
	);`,
	// 2: the writing principal of each version, the KEK id of each
	// envelope (copied from its header so that rotation and status need no
	// parsing; filled for existing rows by Open), and the KEK generations.
	//
	// A generation row is written, with a check envelope sealed under its
	// KEK, before any envelope is re-wrapped under it: that row is the
	// rotation's recorded target. retired_unix_ns is set once no envelope
	// names the KEK; a retired KEK is never derived again.
	`ALTER TABLE secret_versions ADD COLUMN principal TEXT NOT NULL DEFAULT '';
	ALTER TABLE secret_versions ADD COLUMN kek_id TEXT NOT NULL DEFAULT '';
	CREATE TABLE keks (
		generation      INTEGER PRIMARY KEY CHECK (generation >= 1),
		kek_id          TEXT    NOT NULL UNIQUE,
		created_unix_ns INTEGER NOT NULL,
		retired_unix_ns INTEGER,
		check_envelope  BLOB
	);`,
	// 3: the highest version number each name has used, so that a number
	// is never given to another value: not after removing the latest
	// version, nor after removing them all (a reference pinned to #N
	// must never come to mean something else). Filled from the versions
	// kept.
	`CREATE TABLE version_counters (
		scope        TEXT    NOT NULL,
		key          TEXT    NOT NULL,
		last_version INTEGER NOT NULL CHECK (last_version >= 1),
		PRIMARY KEY (scope, key)
	) WITHOUT ROWID;
	INSERT INTO version_counters (scope, key, last_version)
		SELECT scope, key, MAX(version) FROM secret_versions GROUP BY scope, key;`,
}

const (
	sqlSelectKEKCheck = `SELECT envelope FROM kek_check WHERE id = 1`
	sqlInsertKEKCheck = `INSERT INTO kek_check (id, envelope) VALUES (1, ?)`

	sqlSelectLatestVersion = `SELECT MAX(COALESCE((SELECT last_version FROM version_counters WHERE scope = ?1 AND key = ?2), 0), COALESCE((SELECT MAX(version) FROM secret_versions WHERE scope = ?1 AND key = ?2), 0))`
	sqlSetVersionCounter   = `INSERT INTO version_counters (scope, key, last_version) VALUES (?, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET last_version = excluded.last_version`
	sqlInsertVersion       = `INSERT INTO secret_versions (scope, key, version, created_unix_ns, envelope, principal, kek_id) VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlDeleteVersion       = `DELETE FROM secret_versions WHERE scope = ? AND key = ? AND version = ?`
	sqlDeleteUpTo          = `DELETE FROM secret_versions WHERE scope = ? AND key = ? AND version <= ?`
	sqlHistory             = `SELECT version, created_unix_ns, principal, envelope FROM secret_versions WHERE scope = ? AND key = ? ORDER BY version`

	sqlSelectKEKs     = `SELECT generation, kek_id, check_envelope FROM keks WHERE retired_unix_ns IS NULL ORDER BY generation`
	sqlSelectBaseKEK  = `SELECT kek_id FROM keks WHERE generation = 1`
	sqlMaxGeneration  = `SELECT COALESCE(MAX(generation), 0) FROM keks`
	sqlInsertKEK      = `INSERT INTO keks (generation, kek_id, created_unix_ns, check_envelope) VALUES (?, ?, ?, ?)`
	sqlRetireKEKs     = `UPDATE keks SET retired_unix_ns = ?, check_envelope = NULL WHERE retired_unix_ns IS NULL AND kek_id != ?`
	sqlFillKEKIDs     = `UPDATE secret_versions SET kek_id = ? WHERE kek_id = ''`
	sqlCountByKEK     = `SELECT kek_id, COUNT(*) FROM secret_versions GROUP BY kek_id`
	sqlCountSecrets   = `SELECT COUNT(*) FROM (SELECT DISTINCT scope, key FROM secret_versions)` // #nosec G101 -- SQL text; "key" is a column name, not a credential
	sqlRewrapBatch    = `SELECT scope, key, version, kek_id, envelope FROM secret_versions WHERE (scope, key, version) > (?, ?, ?) AND kek_id != ? ORDER BY scope, key, version LIMIT ?`
	sqlUpdateEnvelope = `UPDATE secret_versions SET envelope = ?, kek_id = ? WHERE scope = ? AND key = ? AND version = ?`
	sqlSelectLatest   = `SELECT version, envelope FROM secret_versions WHERE scope = ? AND key = ? ORDER BY version DESC LIMIT 1`
	sqlSelectVersion  = `SELECT envelope FROM secret_versions WHERE scope = ? AND key = ? AND version = ?`
	sqlDeleteSecret   = `DELETE FROM secret_versions WHERE scope = ? AND key = ?` // #nosec G101 -- SQL text; "key" is a column name, not a credential

	// sqlListHead selects, per (scope, key), the latest version with its time
	// and the time of the oldest kept version. The list queries add a range
	// on the primary key, (scope, key) after the cursor, so a page is one
	// index seek followed by an in-order walk of at most one page of names
	// (and their versions), whatever the vault holds; each correlated
	// subquery is one primary-key seek. TestListQueryPlans pins this.
	sqlListHead = `SELECT v.scope, v.key, v.version,
		(SELECT f.created_unix_ns FROM secret_versions f
			WHERE f.scope = v.scope AND f.key = v.key ORDER BY f.version LIMIT 1),
		v.created_unix_ns
	FROM secret_versions v
	WHERE v.version = (SELECT MAX(m.version) FROM secret_versions m WHERE m.scope = v.scope AND m.key = v.key)`
	sqlListOrder = ` ORDER BY v.scope, v.key LIMIT ?`
	// sqlListAll takes (after scope, after key, limit); ("", "") starts
	// before every valid name.
	sqlListAll = sqlListHead + ` AND (v.scope, v.key) > (?, ?)` + sqlListOrder
	// sqlListScope takes (scope, after key, limit); "" starts before every
	// valid key.
	sqlListScope = sqlListHead + ` AND v.scope = ? AND v.key > ?` + sqlListOrder
)
