package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
)

// writeTestBundle writes a valid bundle into a fresh directory.
func writeTestBundle(t *testing.T) string {
	t.Helper()
	caDir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(caDir, "ca.crt"), filepath.Join(caDir, "ca.key"), bytes.Repeat([]byte{5}, 32), "t")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := identity.Generate()
	der, _ := pki.CreateDeviceCSR(id, "n")
	req, _ := pki.ParseDeviceCSR(der)
	cert, err := ca.IssueClient(req, "n", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bundle")
	if _, err := PrepareBundleDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := WriteBundle(dir, id, cert.Raw, ca.Cert.Raw, DaemonInfo{TCP: "127.0.0.1:7443", QUIC: "127.0.0.1:7443", CAFingerprint: ca.Fingerprint()}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadBundleRefuses(t *testing.T) {
	if _, err := LoadBundle(writeTestBundle(t)); err != nil {
		t.Fatalf("valid bundle: %v", err)
	}
	for name, spoil := range map[string]func(dir string){
		"identity readable by others": func(dir string) { os.Chmod(filepath.Join(dir, IdentityFile), 0o644) },
		"directory writable by group": func(dir string) { os.Chmod(dir, 0o770) },
		"ca.pem writable by others":   func(dir string) { os.Chmod(filepath.Join(dir, CAFile), 0o606) },
		"CA swapped": func(dir string) {
			other := writeTestBundle(t)
			b, _ := os.ReadFile(filepath.Join(other, CAFile))
			os.WriteFile(filepath.Join(dir, CAFile), b, 0o600)
		},
		"address with a path": func(dir string) {
			var d DaemonInfo
			b, _ := os.ReadFile(filepath.Join(dir, DaemonFile))
			json.Unmarshal(b, &d)
			d.TCP = "127.0.0.1:7443/evil?x="
			b, _ = json.Marshal(d)
			os.WriteFile(filepath.Join(dir, DaemonFile), b, 0o600)
		},
		"missing address": func(dir string) {
			os.WriteFile(filepath.Join(dir, DaemonFile), []byte(`{"quic":"127.0.0.1:1"}`), 0o600)
		},
	} {
		dir := writeTestBundle(t)
		spoil(dir)
		if _, err := LoadBundle(dir); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestPrepareBundleDirRefusesNonEmpty(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o600)
	if _, err := PrepareBundleDir(dir); err == nil {
		t.Fatal("accepted a non-empty directory")
	}
}

// SetDaemonAddrs rewrites daemon.json only, 0600, keeps the pin, and
// refuses a bad address or a bundle that does not load.
func TestSetDaemonAddrs(t *testing.T) {
	dir := writeTestBundle(t)
	before, _ := LoadBundle(dir)
	caPEM, _ := os.ReadFile(filepath.Join(dir, CAFile))
	d, err := SetDaemonAddrs(dir, "127.0.0.1:9001", "127.0.0.1:9002")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Daemon != d || d.TCP != "127.0.0.1:9001" || d.QUIC != "127.0.0.1:9002" || d.CAFingerprint != before.Daemon.CAFingerprint {
		t.Fatalf("daemon.json %+v, returned %+v", b.Daemon, d)
	}
	if fi, _ := os.Stat(filepath.Join(dir, DaemonFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("daemon.json mode %v", fi.Mode())
	}
	if after, _ := os.ReadFile(filepath.Join(dir, CAFile)); !bytes.Equal(after, caPEM) {
		t.Fatal("ca.pem changed")
	}
	if _, err := SetDaemonAddrs(dir, "127.0.0.1:9001/x", "127.0.0.1:9002"); !errors.Is(err, ErrBadAddr) {
		t.Fatalf("bad address: %v", err)
	}
	os.Chmod(dir, 0o777)
	if _, err := SetDaemonAddrs(dir, "127.0.0.1:1", "127.0.0.1:1"); err == nil {
		t.Fatal("rewrote a bundle others can write")
	}
}

func TestListenAddrs(t *testing.T) {
	f := filepath.Join(t.TempDir(), "palyrad.addr")
	os.WriteFile(f, []byte(`{"tcp": "0.0.0.0:7443", "quic": "0.0.0.0:7444", "socket": "/x"}`), 0o600)
	tcp, quic, err := ListenAddrs(f, "")
	if err != nil || tcp != "127.0.0.1:7443" || quic != "127.0.0.1:7444" {
		t.Fatalf("%s %s %v", tcp, quic, err)
	}
	if tcp, _, _ := ListenAddrs(f, "palyra.home.arpa"); tcp != "palyra.home.arpa:7443" {
		t.Fatalf("with host: %s", tcp)
	}
	if _, _, err := ListenAddrs(filepath.Join(t.TempDir(), "none"), ""); err == nil {
		t.Fatal("no file: no error")
	}
}
