package vault

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const testBaseID = "mk1:vault-kek"

// testDerive derives a deterministic KEK per generation from seed; derived
// records the generations asked for.
func testDerive(seed string, derived *[]int64) func(int64) ([]byte, error) {
	return func(gen int64) ([]byte, error) {
		if derived != nil {
			*derived = append(*derived, gen)
		}
		k := sha256.Sum256([]byte(seed + "/" + strconv.FormatInt(gen, 10)))
		return k[:], nil
	}
}

func openRotating(t testing.TB, path string, opts Options) *Vault {
	t.Helper()
	if opts.Derive == nil {
		opts.Derive = testDerive("seed", nil)
	}
	v, err := OpenWith(context.Background(), path, testBaseID, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readAll checks that each ref's version 1 reads as its name.
func readAll(t testing.TB, v *Vault, refs []Ref) {
	t.Helper()
	for _, ref := range refs {
		got, err := v.GetVersion(context.Background(), ref, 1)
		if err != nil || string(got) != ref.String() {
			t.Fatalf("GetVersion(%s, 1) = (%q, %v)", ref, got, err)
		}
	}
}

func TestRotateKEK(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	v := openRotating(t, path, Options{RewrapBatch: 64})
	refs := manyRefs(300)
	bulkPut(t, v, refs)
	two := Ref{Scope: "global", Key: "two"}
	for _, val := range []string{"a", "b"} {
		if _, err := v.Put(ctx, two, []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := v.RotateKEK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.KEKID != testBaseID+":2" || res.Rewrapped != 302 || len(res.Retired) != 1 || res.Retired[0] != testBaseID {
		t.Fatalf("RotateKEK = %+v", res)
	}
	readAll(t, v, refs)
	if got, err := v.Get(ctx, two); err != nil || string(got) != "b" {
		t.Fatalf("Get = (%q, %v)", got, err)
	}
	st, err := v.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.KEKs) != 1 || st.KEKs[0] != (KEKStatus{ID: testBaseID + ":2", Envelopes: 302, Active: true}) ||
		st.Secrets != 301 || st.Versions != 302 || st.RotationInProgress {
		t.Fatalf("Status = %+v", st)
	}
	// A second rotation moves on to generation 3.
	if res, err := v.RotateKEK(ctx); err != nil || res.KEKID != testBaseID+":3" || res.Rewrapped != 302 {
		t.Fatalf("RotateKEK = (%+v, %v)", res, err)
	}
	v.Close()
	// Reopening derives only the active generation: retired KEKs are
	// never needed again.
	var derived []int64
	v = openRotating(t, path, Options{Derive: testDerive("seed", &derived)})
	defer v.Close()
	if len(derived) != 1 || derived[0] != 3 {
		t.Fatalf("derived generations %v, want [3]", derived)
	}
	readAll(t, v, refs)
	// A wrong master key is refused at Open.
	if _, err := OpenWith(ctx, path, testBaseID, Options{Derive: testDerive("other", nil)}); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("OpenWith(wrong key) = %v, want ErrIntegrity", err)
	}
}

// TestRotateKEKSingleKEK: a vault opened with one KEK cannot rotate, and
// one created by Open opens with OpenWith under the same generation 1.
func TestRotateKEKSingleKEK(t *testing.T) {
	ctx := context.Background()
	v, path, _ := openTestVault(t)
	if _, err := v.RotateKEK(ctx); !errors.Is(err, ErrNoKEK) {
		t.Fatalf("RotateKEK = %v, want ErrNoKEK", err)
	}
	v.Close()
	// The failed start recorded nothing.
	if n := countRows(t, path, "SELECT COUNT(*) FROM keks"); n != 1 {
		t.Fatalf("%d KEK generations, want 1", n)
	}
}

func countRows(t testing.TB, path, q string) int64 {
	t.Helper()
	var n int64
	if err := rawDB(t, path).QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const crashChildEnv = "PALYRA_VAULT_ROTATE_CHILD"

// TestRotateKEKCrash kills (SIGKILL) a child process in the middle of
// rotating 10,000 secrets, then checks that the next Open finishes the
// rotation and that every secret reads.
func TestRotateKEKCrash(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		rotateChild(path)
		return
	}
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	path := filepath.Join(t.TempDir(), "vault.db")
	v := openRotating(t, path, Options{})
	refs := manyRefs(n)
	bulkPut(t, v, refs)
	v.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestRotateKEKCrash$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		if line := sc.Text(); len(line) > 6 && line[:6] == "batch " {
			done, _ := strconv.Atoi(line[6:])
			if done >= n/4 {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
				break
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child finished before it was killed: %v", err)
	}
	t.Logf("child killed: %v", err)

	// The rotation is recorded and unfinished: both KEKs hold envelopes.
	counts := map[string]int64{}
	rows, err := rawDB(t, path).Query(sqlCountByKEK)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var c int64
		rows.Scan(&id, &c)
		counts[id] = c
	}
	rows.Close()
	if counts[testBaseID] == 0 || counts[testBaseID+":2"] == 0 {
		t.Fatalf("envelopes per KEK after the kill: %v, want both KEKs in use", counts)
	}

	v = openRotating(t, path, Options{})
	defer v.Close()
	st, err := v.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.RotationInProgress || len(st.KEKs) != 1 || st.KEKs[0].ID != testBaseID+":2" || st.KEKs[0].Envelopes != int64(n) {
		t.Fatalf("Status after restart = %+v", st)
	}
	readAll(t, v, refs)
}

// rotateChild is the child of TestRotateKEKCrash: it rotates the vault at
// path, printing progress after each batch, slowly enough to be killed.
func rotateChild(path string) {
	v, err := OpenWith(context.Background(), path, testBaseID, Options{
		Derive:      testDerive("seed", nil),
		RewrapBatch: 250,
		AfterBatch: func(done int64) {
			fmt.Printf("batch %d\n", done)
			time.Sleep(20 * time.Millisecond)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := v.RotateKEK(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("done")
	os.Exit(0)
}

// BenchmarkRotateKEK re-wraps every envelope of a vault of 10,000 secrets
// (and of 100,000 with PALYRA_BENCH_LARGE=1).
func BenchmarkRotateKEK(b *testing.B) {
	sizes := []int{10_000}
	if os.Getenv("PALYRA_BENCH_LARGE") != "" {
		sizes = append(sizes, 100_000)
	}
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			v := openRotating(b, filepath.Join(b.TempDir(), "vault.db"), Options{})
			defer v.Close()
			bulkPut(b, v, manyRefs(n))
			b.ResetTimer()
			for range b.N {
				if res, err := v.RotateKEK(context.Background()); err != nil || res.Rewrapped != int64(n) {
					b.Fatalf("RotateKEK = (%+v, %v)", res, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/rotation")
		})
	}
}

// TestUpgradeFromSchema1: a vault whose rows predate KEK generations (no
// keks row, empty kek_id and principal) is adopted as generation 1 by the
// first Open, reads, and rotates.
func TestUpgradeFromSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	v := openRotating(t, path, Options{})
	refs := manyRefs(20)
	bulkPut(t, v, refs)
	v.Close()
	if _, err := rawDB(t, path).Exec(`DELETE FROM keks; UPDATE secret_versions SET kek_id = ''`); err != nil {
		t.Fatal(err)
	}
	v = openRotating(t, path, Options{})
	defer v.Close()
	readAll(t, v, refs)
	st, err := v.Status(ctx)
	if err != nil || len(st.KEKs) != 1 || st.KEKs[0] != (KEKStatus{ID: testBaseID, Envelopes: 20, Active: true}) {
		t.Fatalf("Status = (%+v, %v)", st, err)
	}
	if h, err := v.History(ctx, refs[0]); err != nil || h[0].Principal != "" {
		t.Fatalf("History = (%+v, %v)", h, err)
	}
	if res, err := v.RotateKEK(ctx); err != nil || res.Rewrapped != 20 {
		t.Fatalf("RotateKEK = (%+v, %v)", res, err)
	}
	readAll(t, v, refs)
}

// TestRotateKEKConcurrentWrites: puts and gets interleave with the re-wrap
// batches; afterwards every secret, old or new, reads and only the new KEK
// remains.
func TestRotateKEKConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	v := openRotating(t, filepath.Join(t.TempDir(), "vault.db"), Options{RewrapBatch: 50})
	defer v.Close()
	refs := manyRefs(1000)
	bulkPut(t, v, refs)
	done := make(chan error)
	var added []Ref
	go func() {
		for i := range 100 {
			ref := Ref{Scope: "global", Key: "new" + strconv.Itoa(i)}
			if _, err := v.Put(ctx, ref, []byte(ref.String())); err != nil {
				done <- err
				return
			}
			added = append(added, ref)
			if _, err := v.Get(ctx, refs[i*7]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if _, err := v.RotateKEK(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	readAll(t, v, append(refs, added...))
	st, err := v.Status(ctx)
	if err != nil || len(st.KEKs) != 1 || st.KEKs[0].Envelopes != 1100 || st.RotationInProgress {
		t.Fatalf("Status = (%+v, %v)", st, err)
	}
}
