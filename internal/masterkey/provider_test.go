package masterkey

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testParams keep the tests fast; DefaultParams are measured in
// BenchmarkUnlock.
var testParams = Params{Time: 1, MemoryK: 8 << 10, Threads: 1}

func passFile(t *testing.T, pass string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(p, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestPassphraseRoundTripAndWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	src := Source{Getenv: envOf(map[string]string{EnvPassphraseFile: passFile(t, "correct horse")}), Params: &testParams}
	k, err := Create(ProviderPassphrase, dir, dir, src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, SealedName)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sealed file: %v mode %v", err, fi.Mode())
	}
	before, _ := os.ReadFile(path)
	if bytes.Contains(before, []byte(k.Base64())) {
		t.Fatal("the sealed file holds the key in clear")
	}
	got, err := Open(ProviderPassphrase, dir, src)
	if err != nil || !got.Equal(k) {
		t.Fatalf("open: %v", err)
	}

	wrong := Source{Getenv: envOf(map[string]string{EnvPassphraseFile: passFile(t, "battery staple")})}
	_, err = Open(ProviderPassphrase, dir, wrong)
	if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), "wrong passphrase for master.key.sealed") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a wrong passphrase changed the sealed file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("a wrong passphrase left files: %v", ents)
	}
}

func TestSealedParamsAreBound(t *testing.T) {
	dir := t.TempDir()
	k, _ := New()
	path := filepath.Join(dir, SealedName)
	if err := k.Seal(path, []byte("pw"), Params{Time: 2, MemoryK: 8 << 10, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	weak := bytes.Replace(b, []byte(`"t": 2`), []byte(`"t": 1`), 1)
	if bytes.Equal(b, weak) {
		t.Fatal("test did not edit the parameters")
	}
	os.WriteFile(path, weak, 0o600)
	if _, err := OpenSealed(path, []byte("pw")); err == nil {
		t.Fatal("opened a file whose parameters were edited")
	}
	os.WriteFile(path, b, 0o644)
	os.Chmod(path, 0o644)
	if _, err := OpenSealed(path, []byte("pw")); err == nil {
		t.Fatal("opened a 0644 sealed file")
	}
}

func TestPassphraseFilePermissions(t *testing.T) {
	dir := t.TempDir()
	pf := passFile(t, "pw")
	src := Source{Getenv: envOf(map[string]string{EnvPassphraseFile: pf}), Params: &testParams}
	if _, err := Create(ProviderPassphrase, dir, dir, src); err != nil {
		t.Fatal(err)
	}
	os.Chmod(pf, 0o640)
	if _, err := Open(ProviderPassphrase, dir, src); err == nil || !strings.Contains(err.Error(), EnvPassphraseFile) {
		t.Fatalf("a group-readable passphrase file was accepted: %v", err)
	}
}

func TestNoPassphraseSourceIsClear(t *testing.T) {
	if os.Getenv("PALYRA_TEST_CHILD") == "" {
		// Run in a child with stdin not a terminal.
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoPassphraseSourceIsClear$")
		cmd.Env = append(os.Environ(), "PALYRA_TEST_CHILD=1", EnvPassphraseFile+"=")
		cmd.Stdin = nil
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	k, _ := New()
	dir := t.TempDir()
	k.Seal(filepath.Join(dir, SealedName), []byte("pw"), testParams)
	_, err := Open(ProviderPassphrase, dir, Source{})
	if err == nil || !strings.Contains(err.Error(), EnvPassphraseFile) || !strings.Contains(err.Error(), "terminal") {
		t.Fatalf("error does not say how to give the passphrase: %v", err)
	}
}

func TestEnvProviderUnsetsVariable(t *testing.T) {
	k, _ := New()
	t.Setenv(EnvMasterKey, k.Base64())
	got, err := Open(ProviderEnv, t.TempDir(), Source{})
	if err != nil || !got.Equal(k) {
		t.Fatalf("env: %v", err)
	}
	if _, ok := os.LookupEnv(EnvMasterKey); ok {
		t.Fatal(EnvMasterKey + " is still in the environment after reading")
	}
	if _, err := Open(ProviderEnv, t.TempDir(), Source{}); err == nil || !strings.Contains(err.Error(), "is not set") {
		t.Fatalf("unset: %v", err)
	}
	for _, bad := range []string{"AAAA", "not base64!", k.Base64()[:20]} {
		t.Setenv(EnvMasterKey, bad)
		_, err := Open(ProviderEnv, t.TempDir(), Source{})
		if err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("%q: %v", bad, err)
		}
		if _, ok := os.LookupEnv(EnvMasterKey); ok {
			t.Fatal("a malformed " + EnvMasterKey + " stayed in the environment")
		}
	}
}

func TestCheckValue(t *testing.T) {
	a, _ := New()
	b, _ := New()
	if a.CheckValue() == b.CheckValue() || len(a.CheckValue()) != 64 || strings.Contains(a.CheckValue(), a.Base64()) {
		t.Fatal("check values must be 64 hex chars and differ between keys")
	}
	first := a.CheckValue()
	if again := a.CheckValue(); again != first {
		t.Fatal("check value is not deterministic")
	}
}

// TestKeyring: where an OS keyring works the key round-trips through it;
// where none does (headless Linux without a Secret Service), the error
// names what is missing.
func TestKeyring(t *testing.T) {
	dir := t.TempDir()
	src := Source{KeyringAccount: "test-" + filepath.Base(dir)}
	err := ProbeKeyring()
	if err != nil {
		msg := err.Error()
		if !strings.Contains(msg, "no usable OS keyring") || !strings.Contains(msg, "needs") {
			t.Fatalf("unclear keyring error: %v", err)
		}
		if _, err := Create(ProviderKeyring, dir, dir, src); err == nil || !strings.Contains(err.Error(), "no usable OS keyring") {
			t.Fatalf("create without a keyring: %v", err)
		}
		t.Logf("no keyring here, as expected: %v", err)
		return
	}
	k, err := Create(ProviderKeyring, dir, dir, src)
	if err != nil {
		t.Fatal(err)
	}
	defer Remove(ProviderKeyring, dir, src)
	got, err := Open(ProviderKeyring, dir, src)
	if err != nil || !got.Equal(k) {
		t.Fatalf("keyring round trip: %v", err)
	}
}

// BenchmarkUnlock measures opening a sealed key with DefaultParams: the
// passphrase provider's cost at every start (aim: about 0.5 s).
func BenchmarkUnlock(b *testing.B) {
	k, _ := New()
	path := filepath.Join(b.TempDir(), SealedName)
	if err := k.Seal(path, []byte("pw"), DefaultParams); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for b.Loop() {
		if _, err := OpenSealed(path, []byte("pw")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/unlock")
}

func TestRemoveKeyFile(t *testing.T) {
	dir := t.TempDir()
	k, _ := New()
	if err := k.WriteFile(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	if err := k.WriteFile(filepath.Join(dir, FileName)); err == nil {
		t.Fatal("WriteFile replaced an existing key file")
	}
	if err := Remove(ProviderFile, dir, Source{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !os.IsNotExist(err) {
		t.Fatalf("key file still there: %v", err)
	}
	if err := Remove(ProviderFile, dir, Source{}); err != nil {
		t.Fatalf("removing an absent key file: %v", err)
	}
}
