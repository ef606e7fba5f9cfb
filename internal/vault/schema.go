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
}

const (
	sqlSelectKEKCheck = `SELECT envelope FROM kek_check WHERE id = 1`
	sqlInsertKEKCheck = `INSERT INTO kek_check (id, envelope) VALUES (1, ?)`

	sqlSelectLatestVersion = `SELECT COALESCE(MAX(version), 0) FROM secret_versions WHERE scope = ? AND key = ?`
	sqlInsertVersion       = `INSERT INTO secret_versions (scope, key, version, created_unix_ns, envelope) VALUES (?, ?, ?, ?, ?)`
	sqlSelectLatest        = `SELECT version, envelope FROM secret_versions WHERE scope = ? AND key = ? ORDER BY version DESC LIMIT 1`
	sqlSelectVersion       = `SELECT envelope FROM secret_versions WHERE scope = ? AND key = ? AND version = ?`
	sqlDeleteSecret        = `DELETE FROM secret_versions WHERE scope = ? AND key = ?`

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
