package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/statedir"
)

func openFor(t *testing.T, dir, provider string) (*Daemon, error) {
	t.Helper()
	cfg := config.Defaults()
	cfg.StateDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.MasterKey.Provider = provider
	return Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
}

// TestEnvProvider: a first start with provider env takes the key from
// PALYRA_MASTER_KEY, removes the variable, keeps no key file and records
// the key's check value; a later start with another key is refused.
func TestEnvProvider(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	k, _ := masterkey.New()
	t.Setenv(masterkey.EnvMasterKey, k.Base64())
	d, err := openFor(t, dir, masterkey.ProviderEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := os.LookupEnv(masterkey.EnvMasterKey); ok {
		t.Fatal("PALYRA_MASTER_KEY still in the environment")
	}
	if d.keyProvider() != "env" {
		t.Fatalf("keyProvider() = %q", d.keyProvider())
	}
	d.Close()
	for _, f := range []string{masterkey.FileName, masterkey.SealedName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Fatalf("provider env left %s in the state directory", f)
		}
	}
	var m statedir.Manifest
	b, _ := os.ReadFile(filepath.Join(dir, statedir.ManifestFile))
	if err := json.Unmarshal(b, &m); err != nil || m.MasterKey == nil || m.MasterKey.Provider != "env" || m.MasterKey.Check != k.CheckValue() {
		t.Fatalf("manifest: %s %v", b, err)
	}

	other, _ := masterkey.New()
	t.Setenv(masterkey.EnvMasterKey, other.Base64())
	if _, err := openFor(t, dir, masterkey.ProviderEnv); err == nil || !strings.Contains(err.Error(), "is not this state directory's") {
		t.Fatalf("another key: %v", err)
	}
	if _, err := openFor(t, dir, masterkey.ProviderFile); err == nil || !strings.Contains(err.Error(), `holds its master key with provider "env"`) {
		t.Fatalf("provider mismatch: %v", err)
	}
	t.Setenv(masterkey.EnvMasterKey, k.Base64())
	d, err = openFor(t, dir, masterkey.ProviderEnv)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// TestManifestWithoutKeyRecord: a state directory whose state.json
// predates providers (no master_key) opens with provider file, unchanged.
func TestManifestWithoutKeyRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	d, err := openFor(t, dir, masterkey.ProviderFile)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	path := filepath.Join(dir, statedir.ManifestFile)
	var m map[string]any
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &m)
	delete(m, "master_key")
	old, _ := json.MarshalIndent(m, "", "  ")
	os.WriteFile(path, old, 0o600)
	d, err = openFor(t, dir, masterkey.ProviderFile)
	if err != nil {
		t.Fatalf("old manifest refused: %v", err)
	}
	d.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(after, old) {
		t.Fatal("state.json rewritten")
	}
	if _, err := openFor(t, dir, masterkey.ProviderPassphrase); err == nil || !strings.Contains(err.Error(), `provider = "passphrase" but`) {
		t.Fatalf("mismatch: %v", err)
	}
}

// TestPassphraseProviderFirstStart: a first start with provider passphrase
// seals a new key in master.key.sealed (no master.key) and a second start
// opens it with the same passphrase file.
func TestPassphraseProviderFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	t.Setenv(masterkey.EnvPassphraseFile, pw)
	d, err := openFor(t, dir, masterkey.ProviderPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := os.Stat(filepath.Join(dir, masterkey.SealedName)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, masterkey.FileName)); err == nil {
		t.Fatal("provider passphrase wrote master.key")
	}
	d, err = openFor(t, dir, masterkey.ProviderPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// TestKeyringProviderWithoutKeyring: where no OS keyring is usable, a
// first start with provider keyring fails clearly and leaves nothing.
func TestKeyringProviderWithoutKeyring(t *testing.T) {
	if masterkey.ProbeKeyring() == nil {
		t.Skip("an OS keyring works here; masterkey.TestKeyring covers the round trip")
	}
	parent := t.TempDir()
	dir := filepath.Join(parent, "state")
	if _, err := openFor(t, dir, masterkey.ProviderKeyring); err == nil || !strings.Contains(err.Error(), "no usable OS keyring") {
		t.Fatalf("keyring: %v", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Fatalf("a failed first start left %v", ents)
	}
}

// TestLeftoverPlaintextKeyIsRefused: a master.key left beside a state
// directory whose key is kept by another provider (an interrupted
// migration) is refused until removed: it would undo the provider.
func TestLeftoverPlaintextKeyIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	k, _ := masterkey.New()
	t.Setenv(masterkey.EnvMasterKey, k.Base64())
	d, err := openFor(t, dir, masterkey.ProviderEnv)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := k.WriteFile(filepath.Join(dir, masterkey.FileName)); err != nil {
		t.Fatal(err)
	}
	t.Setenv(masterkey.EnvMasterKey, k.Base64())
	if _, err := openFor(t, dir, masterkey.ProviderEnv); err == nil || !strings.Contains(err.Error(), "plaintext copy left by an interrupted migration") {
		t.Fatalf("leftover master.key: %v", err)
	}
	os.Remove(filepath.Join(dir, masterkey.FileName))
	t.Setenv(masterkey.EnvMasterKey, k.Base64())
	d, err = openFor(t, dir, masterkey.ProviderEnv)
	if err != nil {
		t.Fatalf("after removing it: %v", err)
	}
	d.Close()
}
