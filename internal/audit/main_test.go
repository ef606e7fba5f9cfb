package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/palyra/palyra/internal/peer"
)

// TestMain fails the run if any test leaves a goroutine behind (a writer
// that Close did not stop, a database left open).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testOrigin = "palyra/01JTESTDEVICE0000000000000"

// testKey returns a fixed Ed25519 key derived from label, so vectors and
// fuzz seeds are reproducible.
func testKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(label))
	return ed25519.NewKeyFromSeed(seed[:])
}

var (
	key = testKey("palyra audit test key")
	pub = key.Public().(ed25519.PublicKey)
)

func sampleEntry(i int) Entry {
	e := Entry{
		Principal: `Device::"01JTESTDEVICE0000000000000"`,
		Action:    "vault.read",
		Resource:  `Secret::"global/openai_api_key"`,
		Decision:  DecisionAllow,
		Policies:  []string{"baseline-device-read"},
		Transport: peer.TCP,
		Reason:    "permitted",
	}
	if i%3 == 1 {
		e.Principal = "anonymous"
		e.Decision = DecisionDeny
		e.Policies = nil
		e.Transport = peer.QUIC
		e.Reason = "no_client_certificate"
	}
	if i%3 == 2 {
		e.Principal = `User::"admin"`
		e.Transport = peer.Unix
		e.Policies = []string{"baseline-admin", "user-vault-read"}
	}
	return e
}

// testOptions checkpoints every 3 records, so that small test journals have
// several checkpoints, and reports asynchronous errors to the test.
func testOptions(t testing.TB) Options {
	return Options{CheckpointEvery: 3, OnAsyncError: func(err error) { t.Errorf("async: %v", err) }}
}

// openTemp opens a fresh journal in a temporary directory with
// testOptions and closes it at the end of the test.
func openTemp(t testing.TB) (*Journal, string) {
	t.Helper()
	return openTempWith(t, testOptions(t))
}

func openTempWith(t testing.TB, opts Options) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	j, err := Open(context.Background(), path, key, testOrigin, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, path
}

// appendN appends n sample entries one at a time (one batch each).
func appendN(t testing.TB, j *Journal, n int) []Record {
	t.Helper()
	recs := make([]Record, n)
	for i := range n {
		r, err := j.Append(context.Background(), sampleEntry(i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		recs[i] = r
	}
	return recs
}
