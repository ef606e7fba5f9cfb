package e2e

import (
	"bytes"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// openDB opens one of the daemon's databases the way an attacker with file
// access would: directly, beside the running daemon.
func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec1(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestNoPlaintextSecretAnywhere stores a secret, uses it locally and over
// both TLS transports with debug logging, then searches every file under the
// state directory and the daemon's whole log for the value.
func TestNoPlaintextSecretAnywhere(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	cfg := filepath.Join(t.TempDir(), "palyrad.toml")
	os.WriteFile(cfg, []byte("log_level = \"debug\"\n"), 0o600)
	d := startDaemon(t, state, "--config", cfg)
	secret := []byte("sk-NEEDLE-7f3a9c21e4b84d55a0c6")
	sd := []string{"--state-dir", state}
	must(t, secret, append(sd, "vault", "put", "global/openai_api_key")...)
	must(t, secret, append(sd, "vault", "put", "global/openai_api_key")...) // a second version
	bundle := filepath.Join(t.TempDir(), "b")
	must(t, nil, append(sd, "devices", "enroll", "--name", "x", "--out", bundle)...)
	for _, tr := range []string{"tcp", "quic"} {
		if got := must(t, nil, "--identity", bundle, "--transport", tr, "vault", "get", "global/openai_api_key").stdout; !bytes.Equal(got, secret) {
			t.Fatalf("%s get: %q", tr, got)
		}
	}
	// A wrong reference that embeds the value must not echo it either.
	if r := palyra(t, nil, append(sd, "vault", "get", "global/"+string(secret)+"/x")...); r.code != 2 || bytes.Contains(r.stderr, secret) || bytes.Contains(r.stdout, secret) {
		t.Fatalf("bad reference: exit %d, stderr %q", r.code, r.stderr)
	}
	d.stop(t)

	needles := [][]byte{secret, secret[len(secret)-16:]}
	files := 0
	filepath.WalkDir(state, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Type()&fs.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("secret value found in plaintext in %s", p)
			}
		}
		return nil
	})
	if files < 8 {
		t.Fatalf("searched only %d files", files)
	}
	if !strings.Contains(d.logs.String(), "level=DEBUG") && !strings.Contains(d.logs.String(), "level=INFO") {
		t.Fatalf("no logs captured:\n%s", d.logs.String())
	}
	for _, n := range needles {
		if bytes.Contains([]byte(d.logs.String()), n) {
			t.Errorf("secret value found in the daemon's logs")
		}
	}
}

// TestVaultTamperIsAnIntegrityError flips one byte of a stored envelope, and
// separately moves a row to another name: both must fail with a clear
// integrity error (exit 6), never a wrong value.
func TestVaultTamperIsAnIntegrityError(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startDaemon(t, state)
	sd := func(a ...string) []string { return append([]string{"--state-dir", state}, a...) }
	must(t, []byte("value-one"), sd("vault", "put", "global/one")...)
	must(t, []byte("value-two"), sd("vault", "put", "global/two")...)
	db := openDB(t, filepath.Join(state, "vault.db"))

	// Flip one byte in the middle of global/one's envelope.
	var env []byte
	if err := db.QueryRow(`SELECT envelope FROM secret_versions WHERE scope='global' AND key='one'`).Scan(&env); err != nil {
		t.Fatal(err)
	}
	env[len(env)/2] ^= 0x01
	exec1(t, db, `UPDATE secret_versions SET envelope = ? WHERE scope='global' AND key='one'`, env)
	r := fails(t, 6, "integrity", nil, sd("vault", "get", "global/one")...)
	if len(r.stdout) != 0 {
		t.Fatalf("tampered get wrote %q to stdout", r.stdout)
	}

	// Move global/two's row to the name global/moved.
	exec1(t, db, `UPDATE secret_versions SET key = 'moved' WHERE scope='global' AND key='two'`)
	r = fails(t, 6, "integrity", nil, sd("vault", "get", "global/moved")...)
	if len(r.stdout) != 0 {
		t.Fatalf("moved get wrote %q to stdout", r.stdout)
	}
	// An untouched secret still reads.
	must(t, []byte("value-three"), sd("vault", "put", "global/three")...)
	if got := must(t, nil, sd("vault", "get", "global/three")...).stdout; string(got) != "value-three" {
		t.Fatalf("untouched secret: %q", got)
	}
}

var recordRE = regexp.MustCompile(`record (\d+)`)

// TestAuditTamperIsNamed edits one audit row and, in another journal,
// deletes one: audit verify must fail and name the record.
func TestAuditTamperIsNamed(t *testing.T) {
	for _, tc := range []struct {
		name, sql string
		want      string
	}{
		{"edit", `UPDATE records SET principal = 'User::"mallory"' WHERE seq = 3`, "record 3"},
		{"delete middle", `DELETE FROM records WHERE seq = 4`, "record 4"},
		{"delete last", `DELETE FROM records WHERE seq = (SELECT max(seq) FROM records)`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			d := startDaemon(t, state)
			sd := func(a ...string) []string { return append([]string{"--state-dir", state}, a...) }
			for _, k := range []string{"a", "b", "c", "d", "e"} {
				must(t, []byte("v"), sd("vault", "put", "global/"+k)...)
			}
			d.stop(t)
			must(t, nil, sd("audit", "verify")...)
			db := openDB(t, filepath.Join(state, "audit.db"))
			var last int
			db.QueryRow(`SELECT max(seq) FROM records`).Scan(&last)
			// The triggers refuse the change; an attacker drops them first.
			if _, err := db.Exec(tc.sql); err == nil {
				t.Fatal("append-only trigger did not refuse the change")
			}
			exec1(t, db, `DROP TRIGGER records_no_update`)
			exec1(t, db, `DROP TRIGGER records_no_delete`)
			exec1(t, db, tc.sql)
			want := tc.want
			if want == "" {
				want = "record " + strconv.Itoa(last)
			}
			r := fails(t, 6, want, nil, sd("audit", "verify")...)
			if m := recordRE.FindString(string(r.stderr)); m != want {
				t.Fatalf("named %q, want %q: %s", m, want, r.stderr)
			}
		})
	}
}
