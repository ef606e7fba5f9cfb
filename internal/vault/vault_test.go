package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/palyra/palyra/internal/vault/envelope"
)

const testKEKID = "test-kek.1"

func randomKEK(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, envelope.KeySize)
	rand.Read(k)
	return k
}

// openTestVault opens a vault in a fresh directory and closes it at the end
// of the test.
func openTestVault(t testing.TB) (v *Vault, path string, kek []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "vault.db")
	kek = randomKEK(t)
	v, err := Open(context.Background(), path, kek, testKEKID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, path, kek
}

// rawDB opens a second, independent *sql.DB on the vault file, as an
// attacker or a corrupting disk would see it. It skips fsync to keep the
// byte-by-byte tests fast; the vault's own connections still sync.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=synchronous(OFF)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustPut(t testing.TB, v *Vault, ref Ref, value string) int64 {
	t.Helper()
	version, err := v.Put(context.Background(), ref, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return version
}

func mustRef(t testing.TB, s string) Ref {
	t.Helper()
	r, err := ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func storedEnvelope(t testing.TB, db *sql.DB, ref Ref, version int64) []byte {
	t.Helper()
	var env []byte
	err := db.QueryRow(`SELECT envelope FROM secret_versions WHERE scope = ? AND key = ? AND version = ?`,
		ref.Scope, ref.Key, version).Scan(&env)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestMaxValueBytesMatchesEnvelope(t *testing.T) {
	// Both are 64 KiB; the vault checks first so its error names the limit.
	if MaxValueBytes != envelope.MaxPlaintextBytes {
		t.Fatalf("MaxValueBytes = %d, envelope limit %d", MaxValueBytes, envelope.MaxPlaintextBytes)
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte{0}},
		{"api key", []byte("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789")},
		{"multi-line utf-8", []byte("línea 1\nline 2\r\n\tend")},
		{"binary ending like padding", []byte{0xff, 0x00, 0x80, 0x00}},
		{"255 bytes", bytes.Repeat([]byte{1}, 255)},
		{"256 bytes", bytes.Repeat([]byte{2}, 256)},
		{"257 bytes", bytes.Repeat([]byte{3}, 257)},
		{"maximum", bytes.Repeat([]byte{4}, MaxValueBytes)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := Ref{Scope: "global", Key: strings.ReplaceAll(tc.name, " ", "_")}
			version, err := v.Put(ctx, ref, tc.value)
			if err != nil || version != 1 {
				t.Fatalf("Put = %d, %v", version, err)
			}
			got, err := v.Get(ctx, ref)
			if err != nil || !bytes.Equal(got, tc.value) {
				t.Fatalf("Get = %d bytes, %v; want %d bytes", len(got), err, len(tc.value))
			}
			got, err = v.GetVersion(ctx, ref, 1)
			if err != nil || !bytes.Equal(got, tc.value) {
				t.Fatalf("GetVersion = %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestPutDoesNotModifyValue(t *testing.T) {
	v, _, _ := openTestVault(t)
	value := []byte("hunter2")
	mustPut(t, v, Ref{"global", "k"}, string(value))
	if _, err := v.Put(context.Background(), Ref{"global", "k"}, value); err != nil || string(value) != "hunter2" {
		t.Fatalf("Put changed its argument: %q, %v", value, err)
	}
}

func TestVersions(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	ref := mustRef(t, "user:alice/gh_token")
	for i, val := range []string{"one", "two", "three"} {
		if got := mustPut(t, v, ref, val); got != int64(i+1) {
			t.Fatalf("Put #%d returned version %d", i+1, got)
		}
	}
	if got, err := v.Get(ctx, ref); err != nil || string(got) != "three" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	for i, want := range []string{"one", "two", "three"} {
		if got, err := v.GetVersion(ctx, ref, int64(i+1)); err != nil || string(got) != want {
			t.Fatalf("GetVersion(%d) = %q, %v", i+1, got, err)
		}
	}
	if _, err := v.GetVersion(ctx, ref, 4); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetVersion(4) = %v, want ErrNotFound", err)
	}
	for _, bad := range []int64{0, -1} {
		if _, err := v.GetVersion(ctx, ref, bad); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("GetVersion(%d) = %v, want ErrInvalidRef", bad, err)
		}
	}
	if _, err := v.Get(ctx, mustRef(t, "user:alice/other")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(absent) = %v, want ErrNotFound", err)
	}
	// Versions are per secret.
	if got := mustPut(t, v, mustRef(t, "user:bob/gh_token"), "x"); got != 1 {
		t.Errorf("first version of another secret = %d", got)
	}
}

// TestFlippedByteFailsIntegrity corrupts each byte of a stored envelope in
// turn, through a second connection to the file, and checks that Get never
// returns a value.
func TestFlippedByteFailsIntegrity(t *testing.T) {
	ctx := context.Background()
	v, path, _ := openTestVault(t)
	ref := mustRef(t, "connector:slack/bot")
	const secret = "xoxb-SECRET-VALUE-1234"
	mustPut(t, v, ref, secret)
	db := rawDB(t, path)
	orig := storedEnvelope(t, db, ref, 1)
	set := func(env []byte) {
		t.Helper()
		if _, err := db.Exec(`UPDATE secret_versions SET envelope = ? WHERE scope = ? AND key = ? AND version = 1`,
			env, ref.Scope, ref.Key); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string) {
		t.Helper()
		for _, get := range []func() ([]byte, error){
			func() ([]byte, error) { return v.Get(ctx, ref) },
			func() ([]byte, error) { return v.GetVersion(ctx, ref, 1) },
		} {
			got, err := get()
			if !errors.Is(err, ErrIntegrity) || got != nil {
				t.Fatalf("%s: Get = (%q, %v), want ErrIntegrity", what, got, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: error contains the value: %v", what, err)
			}
		}
	}
	// Every bit of every byte is covered without SQLite in the envelope
	// package; here each byte is flipped once, end to end.
	for i := range orig {
		mod := bytes.Clone(orig)
		mod[i] ^= 0x01
		set(mod)
		check(fmt.Sprintf("byte %d flipped", i))
	}
	for _, tc := range []struct {
		name string
		env  []byte
	}{
		{"empty", []byte{}},
		{"one byte", orig[:1]},
		{"last byte dropped", orig[:len(orig)-1]},
		{"byte appended", append(bytes.Clone(orig), 0)},
		{"block appended", append(bytes.Clone(orig), make([]byte, envelope.PadBlockBytes)...)},
	} {
		set(tc.env)
		check(tc.name)
	}
	set(orig)
	if got, err := v.Get(ctx, ref); err != nil || string(got) != secret {
		t.Fatalf("restored envelope: Get = %q, %v", got, err)
	}
}

// TestMovedEnvelopeFailsIntegrity copies or moves stored envelopes to other
// names and versions.
func TestMovedEnvelopeFailsIntegrity(t *testing.T) {
	ctx := context.Background()
	src := Ref{"user:alice", "gh_token"}
	for _, tc := range []struct {
		name string
		// sql moves or copies src's version 1; the named secret must then
		// fail with ErrIntegrity.
		sql     string
		args    []any
		victim  Ref
		version int64
	}{
		{
			name:   "copied over another key",
			sql:    `UPDATE secret_versions SET envelope = (SELECT envelope FROM secret_versions WHERE scope = 'user:alice' AND key = 'gh_token' AND version = 1) WHERE scope = 'user:alice' AND key = 'other'`,
			victim: Ref{"user:alice", "other"}, version: 1,
		},
		{
			name:   "copied over another scope",
			sql:    `UPDATE secret_versions SET envelope = (SELECT envelope FROM secret_versions WHERE scope = 'user:alice' AND key = 'gh_token' AND version = 1) WHERE scope = 'user:bob' AND key = 'gh_token'`,
			victim: Ref{"user:bob", "gh_token"}, version: 1,
		},
		{
			name:   "copied over a later version",
			sql:    `UPDATE secret_versions SET envelope = (SELECT envelope FROM secret_versions WHERE scope = 'user:alice' AND key = 'gh_token' AND version = 1) WHERE scope = 'user:alice' AND key = 'gh_token' AND version = 2`,
			victim: src, version: 2,
		},
		{
			name:   "copied over an earlier version",
			sql:    `UPDATE secret_versions SET envelope = (SELECT envelope FROM secret_versions WHERE scope = 'user:alice' AND key = 'gh_token' AND version = 2) WHERE scope = 'user:alice' AND key = 'gh_token' AND version = 1`,
			victim: src, version: 1,
		},
		{
			name:   "row renamed to a new key",
			sql:    `UPDATE secret_versions SET key = 'renamed' WHERE scope = 'user:alice' AND key = 'gh_token' AND version = 1`,
			victim: Ref{"user:alice", "renamed"}, version: 1,
		},
		{
			name:   "row moved to a new scope",
			sql:    `UPDATE secret_versions SET scope = 'tool:git' WHERE scope = 'user:alice' AND key = 'gh_token' AND version = 1`,
			victim: Ref{"tool:git", "gh_token"}, version: 1,
		},
		{
			name:   "row renumbered past the latest",
			sql:    `UPDATE secret_versions SET version = 9 WHERE scope = 'user:alice' AND key = 'gh_token' AND version = 1`,
			victim: src, version: 9,
		},
		{
			name:   "KEK check record copied over a secret",
			sql:    `UPDATE secret_versions SET envelope = (SELECT envelope FROM kek_check) WHERE scope = 'user:alice' AND key = 'other'`,
			victim: Ref{"user:alice", "other"}, version: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, path, _ := openTestVault(t)
			mustPut(t, v, src, "alice-token-v1")
			mustPut(t, v, src, "alice-token-v2")
			mustPut(t, v, Ref{"user:alice", "other"}, "alice-other")
			mustPut(t, v, Ref{"user:bob", "gh_token"}, "bob-token")
			if _, err := rawDB(t, path).Exec(tc.sql, tc.args...); err != nil {
				t.Fatal(err)
			}
			got, err := v.GetVersion(ctx, tc.victim, tc.version)
			if !errors.Is(err, ErrIntegrity) || got != nil {
				t.Fatalf("GetVersion(%s, %d) = (%q, %v), want ErrIntegrity", tc.victim, tc.version, got, err)
			}
			// The moved version is the latest in every case but one, so
			// Get must fail too.
			if tc.version != 1 || tc.victim != src {
				if got, err := v.Get(ctx, tc.victim); !errors.Is(err, ErrIntegrity) || got != nil {
					t.Fatalf("Get(%s) = (%q, %v), want ErrIntegrity", tc.victim, got, err)
				}
			}
		})
	}
}

func TestWrongKEK(t *testing.T) {
	ctx := context.Background()
	ref := Ref{"global", "openai_api_key"}
	setup := func(t *testing.T) (string, []byte) {
		v, path, kek := openTestVault(t)
		mustPut(t, v, ref, "sk-SECRET")
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		return path, kek
	}

	t.Run("Open refuses another KEK", func(t *testing.T) {
		path, _ := setup(t)
		v, err := Open(ctx, path, randomKEK(t), testKEKID)
		if !errors.Is(err, ErrIntegrity) || v != nil {
			t.Fatalf("Open = (%v, %v), want ErrIntegrity", v, err)
		}
	})
	t.Run("Open refuses another KEK id", func(t *testing.T) {
		path, kek := setup(t)
		v, err := Open(ctx, path, kek, "other-kek")
		if !errors.Is(err, ErrIntegrity) || v != nil {
			t.Fatalf("Open = (%v, %v), want ErrIntegrity", v, err)
		}
	})
	t.Run("Open refuses a corrupted KEK check", func(t *testing.T) {
		path, kek := setup(t)
		if _, err := rawDB(t, path).Exec(`UPDATE kek_check SET envelope = substr(envelope, 1, length(envelope) - 1) || CASE WHEN substr(envelope, -1) = x'00' THEN x'01' ELSE x'00' END`); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, path, kek, testKEKID); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("Open = %v, want ErrIntegrity", err)
		}
	})
	// With the KEK check removed, Open cannot tell, but every envelope
	// still refuses to open.
	for _, tc := range []struct {
		name  string
		kekID string
		other bool
	}{
		{"Get with another KEK", testKEKID, true},
		{"Get with another KEK id", "other-kek", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, kek := setup(t)
			if _, err := rawDB(t, path).Exec(`DELETE FROM kek_check; DELETE FROM keks`); err != nil {
				t.Fatal(err)
			}
			if tc.other {
				kek = randomKEK(t)
			}
			v, err := Open(ctx, path, kek, tc.kekID)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			if got, err := v.Get(ctx, ref); !errors.Is(err, ErrIntegrity) || got != nil {
				t.Fatalf("Get = (%q, %v), want ErrIntegrity", got, err)
			}
		})
	}
}

// TestNoPlaintextOnDisk greps the database, WAL and shared-memory files for
// the value (and the KEK) while the vault is open and after Close.
func TestNoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	v, path, kek := openTestVault(t)
	secret := make([]byte, 24)
	rand.Read(secret)
	value := fmt.Appendf(nil, "sk-live-%x", secret) // 56 distinctive bytes
	ref := Ref{"global", "openai_api_key"}
	for range 3 {
		if _, err := v.Put(ctx, ref, value); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Put(ctx, Ref{"global", "big"}, bytes.Repeat(value, 1000)); err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{
		"value":             value,
		"value prefix":      value[:20],
		"value suffix":      value[len(value)-20:],
		"KEK":               kek,
		"KEK first 16":      kek[:16],
		"unpadded tail":     append(bytes.Clone(value[len(value)-8:]), 0x80),
		"value as hex text": fmt.Appendf(nil, "%x", value[:16]),
	}
	grep := func(when string) {
		t.Helper()
		files := 0
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			data, err := os.ReadFile(path + suffix)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			files++
			for name, needle := range needles {
				if bytes.Contains(data, needle) {
					t.Errorf("%s: %s found in %s", when, name, filepath.Base(path+suffix))
				}
			}
		}
		if files == 0 {
			t.Fatalf("%s: no database files found", when)
		}
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("expected a WAL file while open: %v", err)
	}
	grep("while open")
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	grep("after Close")
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	ref := mustRef(t, "tool:http.fetch/key")
	keep := mustRef(t, "tool:http.fetch/other")
	mustPut(t, v, ref, "v1")
	mustPut(t, v, ref, "v2")
	mustPut(t, v, keep, "kept")
	if err := v.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	for _, version := range []int64{1, 2} {
		if _, err := v.GetVersion(ctx, ref, version); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetVersion(%d) after Delete = %v, want ErrNotFound", version, err)
		}
	}
	if err := v.Delete(ctx, ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := v.Delete(ctx, mustRef(t, "global/never")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete(absent) = %v, want ErrNotFound", err)
	}
	if got, err := v.Get(ctx, keep); err != nil || string(got) != "kept" {
		t.Errorf("other secret after Delete: %q, %v", got, err)
	}
	entries, err := v.List(ctx, ListOptions{})
	if err != nil || len(entries) != 1 || entries[0].Ref != keep {
		t.Errorf("List after Delete = %+v, %v", entries, err)
	}
	// Numbers are never given to another value: a reference pinned to #1
	// or #2 must not come to mean the new secret.
	if version := mustPut(t, v, ref, "again"); version != 3 {
		t.Errorf("Put after Delete returned version %d, want 3", version)
	}
}

// TestDeleteErasesEnvelope checks that a deleted envelope's bytes are gone
// from the files (secure_delete and the WAL checkpoint), not merely unlinked.
func TestDeleteErasesEnvelope(t *testing.T) {
	ctx := context.Background()
	v, path, _ := openTestVault(t)
	ref := Ref{"global", "doomed"}
	mustPut(t, v, ref, "doomed value")
	mustPut(t, v, Ref{"global", "kept"}, "kept value")
	db := rawDB(t, path)
	env := storedEnvelope(t, db, ref, 1)
	db.Close() // a reader would hold back the checkpoint
	if err := v.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	tail := env[len(env)-64:] // part of the sealed value
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(data, tail) {
			t.Errorf("deleted envelope still in %s", filepath.Base(path+suffix))
		}
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	if entries, err := v.List(ctx, ListOptions{}); err != nil || len(entries) != 0 {
		t.Fatalf("List of an empty vault = %+v, %v", entries, err)
	}
	clock := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	v.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	start := clock
	// Insert out of order; expect byte order of scope, then key.
	puts := []string{
		"user:bob/b", "global/z", "user:alice/a", "global/A", "tool:x/k", "global/a",
		"connector:slack/bot", "user:alice/a", "device:01JABCDEFGHJKMNPQRSTVWXYZ0/k", "user:alice/B", "global/z", "global/z",
	}
	for _, s := range puts {
		mustPut(t, v, mustRef(t, s), "v")
	}
	type row struct {
		ref     string
		version int64
	}
	want := []row{
		{"connector:slack/bot", 1},
		{"device:01JABCDEFGHJKMNPQRSTVWXYZ0/k", 1},
		{"global/A", 1},
		{"global/a", 1},
		{"global/z", 3},
		{"tool:x/k", 1},
		{"user:alice/B", 1},
		{"user:alice/a", 2},
		{"user:bob/b", 1},
	}
	entries, err := v.List(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for _, e := range entries {
		got = append(got, row{e.Ref.String(), e.Version})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(\"\") =\n%v\nwant\n%v", got, want)
	}
	// global/z was put 2nd, 11th and 12th.
	for _, e := range entries {
		if e.Ref.String() != "global/z" {
			continue
		}
		if want := start.Add(2 * time.Second); !e.CreatedAt.Equal(want) || e.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt = %v, want %v", e.CreatedAt, want)
		}
		if want := start.Add(12 * time.Second); !e.UpdatedAt.Equal(want) {
			t.Errorf("UpdatedAt = %v, want %v", e.UpdatedAt, want)
		}
	}

	alice, err := v.List(ctx, ListOptions{Scope: "user:alice"})
	if err != nil || len(alice) != 2 || alice[0].Ref.Key != "B" || alice[1].Ref.Key != "a" {
		t.Fatalf("List(user:alice) = %+v, %v", alice, err)
	}
	if none, err := v.List(ctx, ListOptions{Scope: "user:carol"}); err != nil || len(none) != 0 {
		t.Errorf("List(user:carol) = %+v, %v", none, err)
	}
	// A scope that is a prefix of another must not match it.
	if bob, err := v.List(ctx, ListOptions{Scope: "user:bo"}); err != nil || len(bob) != 0 {
		t.Errorf("List(user:bo) = %+v, %v", bob, err)
	}
	for _, bad := range []string{"user", "User:alice", "user:alice/a", "global/", " global"} {
		if _, err := v.List(ctx, ListOptions{Scope: bad}); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("List(%q) = %v, want ErrInvalidRef", bad, err)
		}
	}
}

func TestListRejectsTamperedName(t *testing.T) {
	v, path, _ := openTestVault(t)
	mustPut(t, v, Ref{"global", "ok"}, "v")
	if _, err := rawDB(t, path).Exec(`UPDATE secret_versions SET key = 'bad key'`); err != nil {
		t.Fatal(err)
	}
	if _, err := v.List(context.Background(), ListOptions{}); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("List = %v, want ErrIntegrity", err)
	}
}

func TestOversizeValueStoresNothing(t *testing.T) {
	ctx := context.Background()
	v, path, _ := openTestVault(t)
	ref := Ref{"global", "big"}
	for _, n := range []int{MaxValueBytes + 1, 10 * MaxValueBytes} {
		version, err := v.Put(ctx, ref, make([]byte, n))
		if !errors.Is(err, ErrValueTooLarge) || version != 0 {
			t.Fatalf("Put(%d bytes) = %d, %v; want ErrValueTooLarge", n, version, err)
		}
	}
	var rows int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM secret_versions`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows stored, %v", rows, err)
	}
	if _, err := v.Get(ctx, ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	if version := mustPut(t, v, ref, "small"); version != 1 {
		t.Errorf("first stored version = %d, want 1", version)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	v, path, kek := openTestVault(t)
	ref := mustRef(t, "device:01JABCDEFGHJKMNPQRSTVWXYZ0/ssh_key")
	mustPut(t, v, ref, "first")
	mustPut(t, v, ref, "second")
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, want 0600", fi.Mode().Perm())
	}
	v, err = Open(ctx, path, kek, testKEKID)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if got, err := v.Get(ctx, ref); err != nil || string(got) != "second" {
		t.Fatalf("Get after reopen = %q, %v", got, err)
	}
	if got, err := v.GetVersion(ctx, ref, 1); err != nil || string(got) != "first" {
		t.Fatalf("GetVersion(1) after reopen = %q, %v", got, err)
	}
	if version := mustPut(t, v, ref, "third"); version != 3 {
		t.Errorf("Put after reopen = version %d, want 3", version)
	}
}

func TestInvalidRefRejectedEverywhere(t *testing.T) {
	ctx := context.Background()
	v, path, _ := openTestVault(t)
	for _, ref := range []Ref{{}, {"global", ""}, {"global", "a/b"}, {"Global", "k"}, {"user:a/b", "c"}, {"global", "k "}} {
		if _, err := v.Put(ctx, ref, []byte("v")); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("Put(%+v) = %v", ref, err)
		}
		if _, err := v.Get(ctx, ref); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("Get(%+v) = %v", ref, err)
		}
		if _, err := v.GetVersion(ctx, ref, 1); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("GetVersion(%+v) = %v", ref, err)
		}
		if err := v.Delete(ctx, ref); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("Delete(%+v) = %v", ref, err)
		}
	}
	var rows int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM secret_versions`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows stored, %v", rows, err)
	}
}

func TestUseAfterClose(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	ref := Ref{"global", "k"}
	mustPut(t, v, ref, "v")
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := v.Put(ctx, ref, []byte("v")); !errors.Is(err, ErrClosed) {
		t.Errorf("Put = %v", err)
	}
	if _, err := v.Get(ctx, ref); !errors.Is(err, ErrClosed) {
		t.Errorf("Get = %v", err)
	}
	if _, err := v.GetVersion(ctx, ref, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("GetVersion = %v", err)
	}
	if _, err := v.List(ctx, ListOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("List = %v", err)
	}
	if err := v.Delete(ctx, ref); !errors.Is(err, ErrClosed) {
		t.Errorf("Delete = %v", err)
	}
}

func TestOpenRejectsBadKEK(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		kek   []byte
		kekID string
	}{
		{"nil KEK", nil, testKEKID},
		{"short KEK", make([]byte, 31), testKEKID},
		{"long KEK", make([]byte, 33), testKEKID},
		{"empty id", make([]byte, 32), ""},
		{"id with space", make([]byte, 32), "kek 1"},
		{"id too long", make([]byte, 32), strings.Repeat("k", 65)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".db")
			if v, err := Open(ctx, path, tc.kek, tc.kekID); err == nil {
				v.Close()
				t.Fatal("Open succeeded")
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Open created %s before rejecting its arguments", filepath.Base(path))
			}
		})
	}
}

func TestOpenCopiesKEK(t *testing.T) {
	ctx := context.Background()
	v, path, kek := openTestVault(t)
	mustPut(t, v, Ref{"global", "k"}, "v")
	saved := bytes.Clone(kek)
	clear(kek) // the caller may clear its copy after Open
	if got, err := v.Get(ctx, Ref{"global", "k"}); err != nil || string(got) != "v" {
		t.Fatalf("Get after the caller cleared its KEK = %q, %v", got, err)
	}
	v.Close()
	v2, err := Open(ctx, path, saved, testKEKID)
	if err != nil {
		t.Fatal(err)
	}
	v2.Close()
}

func TestConcurrentPutsGetDistinctVersions(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	ref := Ref{"global", "counter"}
	const workers, each = 8, 5
	var mu sync.Mutex
	var versions []int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				version, err := v.Put(ctx, ref, fmt.Appendf(nil, "%d-%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := v.Get(ctx, ref); err != nil {
					t.Error(err)
				}
				mu.Lock()
				versions = append(versions, version)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(versions)
	for i, version := range versions {
		if version != int64(i+1) {
			t.Fatalf("versions = %v, want 1..%d each once", versions, workers*each)
		}
	}
	if len(versions) != workers*each {
		t.Fatalf("%d versions", len(versions))
	}
}

func TestCanceledContext(t *testing.T) {
	v, _, _ := openTestVault(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Put(ctx, Ref{"global", "k"}, []byte("v")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put = %v, want context.Canceled", err)
	}
	if _, err := v.Get(context.Background(), Ref{"global", "k"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after canceled Put = %v, want ErrNotFound", err)
	}
	// The reads, on their prepared statements, honour the context too.
	mustPut(t, v, Ref{"global", "k"}, "v")
	if _, err := v.Get(ctx, Ref{"global", "k"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v, want context.Canceled", err)
	}
	if _, err := v.GetVersion(ctx, Ref{"global", "k"}, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("GetVersion = %v, want context.Canceled", err)
	}
	if _, err := v.List(ctx, ListOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("List = %v, want context.Canceled", err)
	}
}
