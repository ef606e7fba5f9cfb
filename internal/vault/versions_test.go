package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestHistoryPrincipalRetention(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	v := openRotating(t, path, Options{Retention: 3})
	defer v.Close()
	ref := Ref{Scope: "global", Key: "api"}
	for i := 1; i <= 5; i++ {
		if _, err := v.PutAs(ctx, ref, bytes.Repeat([]byte("x"), i*10), `User::"alice"`); err != nil {
			t.Fatal(err)
		}
	}
	h, err := v.History(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("History kept %d versions, want 3 (retention)", len(h))
	}
	for i, vi := range h {
		if vi.Version != int64(i+3) || vi.Size != int64((i+3)*10) || vi.Principal != `User::"alice"` || vi.CreatedAt.IsZero() {
			t.Fatalf("History[%d] = %+v", i, vi)
		}
	}
	if _, err := v.GetVersion(ctx, ref, 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetVersion(2) = %v, want ErrNotFound (fell out of retention)", err)
	}
	// Remove one version, then the rest.
	if n, err := v.Remove(ctx, ref, 4); err != nil || n != 1 {
		t.Fatalf("Remove(4) = (%d, %v)", n, err)
	}
	if _, err := v.Remove(ctx, ref, 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Remove(4) again = %v, want ErrNotFound", err)
	}
	if got, err := v.Get(ctx, ref); err != nil || len(got) != 50 {
		t.Fatalf("Get = (%d bytes, %v)", len(got), err)
	}
	if n, err := v.Remove(ctx, ref, 0); err != nil || n != 2 {
		t.Fatalf("Remove(all) = (%d, %v)", n, err)
	}
	if _, err := v.History(ctx, ref); !errors.Is(err, ErrNotFound) {
		t.Fatalf("History after rm = %v, want ErrNotFound", err)
	}
	// Versions written by Put (no principal) have "".
	if _, err := v.Put(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	if h, err := v.History(ctx, ref); err != nil || len(h) != 1 || h[0].Principal != "" || h[0].Size != 0 {
		t.Fatalf("History = (%+v, %v)", h, err)
	}
}

// TestSecureDelete searches vault.db, its WAL and free pages (the whole
// file) for a removed envelope's exact bytes and a random 16-byte slice of
// them, after Remove of one version, after a version falls out of
// retention, and after Delete, each with and without another connection
// holding a read transaction open during the delete.
func TestSecureDelete(t *testing.T) {
	for _, reader := range []bool{false, true} {
		for _, how := range []string{"rm", "rm-version", "retention"} {
			name := how
			if reader {
				name += "/concurrent-reader"
			}
			t.Run(name, func(t *testing.T) { testSecureDelete(t, how, reader) })
		}
	}
}

func testSecureDelete(t *testing.T, how string, reader bool) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	v := openRotating(t, path, Options{Retention: 2})
	defer v.Close()
	ref := Ref{Scope: "global", Key: "doomed"}
	// Neighbours, so the deleted cells share pages with live ones.
	for _, r := range manyRefs(50) {
		if _, err := v.Put(ctx, r, bytes.Repeat([]byte{'n'}, 700)); err != nil {
			t.Fatal(err)
		}
	}
	val := make([]byte, 200) // one 383-byte envelope: a single cell, not split over overflow pages
	rand.Read(val)
	if _, err := v.Put(ctx, ref, val); err != nil {
		t.Fatal(err)
	}
	var env []byte
	raw := rawDB(t, path)
	if err := raw.QueryRow(`SELECT envelope FROM secret_versions WHERE scope = ? AND key = ? AND version = 1`, ref.Scope, ref.Key).Scan(&env); err != nil {
		t.Fatal(err)
	}
	off, _ := rand.Int(rand.Reader, big.NewInt(int64(len(env)-16)))
	slice := env[off.Int64() : off.Int64()+16]
	if !onDisk(t, path, env) {
		t.Fatal("the envelope is not on disk before the delete: the search is broken")
	}

	var release chan struct{}
	if reader {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM secret_versions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		release = make(chan struct{})
		go func() {
			time.Sleep(300 * time.Millisecond)
			tx.Rollback()
			close(release)
		}()
	}
	switch how {
	case "rm":
		if err := v.Delete(ctx, ref); err != nil {
			t.Fatal(err)
		}
	case "rm-version":
		if _, err := v.Put(ctx, ref, []byte("v2")); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Remove(ctx, ref, 1); err != nil {
			t.Fatal(err)
		}
	case "retention":
		for _, s := range []string{"v2", "v3"} {
			if _, err := v.Put(ctx, ref, []byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := v.GetVersion(ctx, ref, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("version 1 kept: %v", err)
		}
	}
	if release != nil {
		<-release
	}
	raw.Close()
	// The vault is still open: the guarantee holds while it runs.
	if onDisk(t, path, env) {
		t.Fatal("the removed envelope is still in vault.db or its WAL")
	}
	if onDisk(t, path, slice) {
		t.Fatal("a 16-byte slice of the removed envelope is still in vault.db or its WAL")
	}
	if v.scrubPending.Load() {
		t.Fatal("scrub still pending")
	}
}

// onDisk reports whether b occurs in vault.db or vault.db-wal.
func onDisk(t *testing.T, path string, b []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			return true
		}
	}
	return false
}

// TestVersionNumbersAreNeverReused: removing the latest version, or every
// version, never lets a later put take a number that named another value.
func TestVersionNumbersAreNeverReused(t *testing.T) {
	ctx := context.Background()
	v, _, _ := openTestVault(t)
	ref := Ref{Scope: "global", Key: "nr"}
	for i := 1; i <= 3; i++ {
		if n, err := v.Put(ctx, ref, []byte{byte('0' + i)}); err != nil || n != int64(i) {
			t.Fatalf("put %d: %d %v", i, n, err)
		}
	}
	if _, err := v.Remove(ctx, ref, 3); err != nil {
		t.Fatal(err)
	}
	if n, err := v.Put(ctx, ref, []byte("new")); err != nil || n != 4 {
		t.Fatalf("put after removing the latest version: %d %v, want 4", n, err)
	}
	if _, err := v.GetVersion(ctx, ref, 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed version 3: %v", err)
	}
	if err := v.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n, err := v.Put(ctx, ref, []byte("again")); err != nil || n != 5 {
		t.Fatalf("put after removing every version: %d %v, want 5", n, err)
	}
}
