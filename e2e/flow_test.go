package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	r := must(t, nil, "demo")
	if !bytes.Contains(r.stdout, []byte("every step behaved")) {
		t.Fatalf("demo output:\n%s", r.stdout)
	}
}

// TestCLIFlow runs the CLI contract end to end against a real
// palyrad: status, vault put/get/list/rm locally, enroll, remote get over TCP
// and QUIC, revoke, and the refusals with their exit codes.
func TestCLIFlow(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, state)
	sd := []string{"--state-dir", state}
	args := func(a ...string) []string { return append(append([]string{}, sd...), a...) }

	var st map[string]any
	if err := json.Unmarshal(must(t, nil, args("--json", "status")...).stdout, &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "device_id", "fingerprint", "ca_fingerprint", "listeners"} {
		if st[k] == nil || st[k] == "" {
			t.Errorf("status lacks %s: %v", k, st)
		}
	}
	if len(st["fingerprint"].(string)) != 64 {
		t.Errorf("fingerprint %v", st["fingerprint"])
	}
	text := string(must(t, nil, args("status")...).stdout)
	if !strings.Contains(text, d.addrs.TCP) || !strings.Contains(text, "CA:  ") {
		t.Errorf("status text:\n%s", text)
	}

	// Values go in via stdin only and come back byte for byte.
	value := []byte("sk-e2e-\x00\x01binary\n\n")
	must(t, value, args("vault", "put", "global/openai_api_key")...)
	if got := must(t, nil, args("vault", "get", "global/openai_api_key")...).stdout; !bytes.Equal(got, value) {
		t.Fatalf("get returned %q, want %q", got, value)
	}
	must(t, []byte("tok"), args("vault", "put", "user:alice/gh_token")...)
	list := string(must(t, nil, args("vault", "list")...).stdout)
	if !strings.Contains(list, "global/openai_api_key") || !strings.Contains(list, "user:alice/gh_token") || strings.Contains(list, "sk-e2e") {
		t.Fatalf("list:\n%s", list)
	}
	var entries []map[string]any
	json.Unmarshal(must(t, nil, args("--json", "vault", "list", "user:alice")...).stdout, &entries)
	if len(entries) != 1 || entries[0]["ref"] != "user:alice/gh_token" {
		t.Fatalf("scoped list: %v", entries)
	}
	fails(t, 2, "bad input", nil, args("vault", "put", "nope")...)
	fails(t, 2, "empty value", nil, args("vault", "put", "global/unset_variable")...)
	fails(t, 2, "", nil, args("vault", "put", "global/k", "extra-arg-is-not-a-value")...)
	fails(t, 4, "not found", nil, args("vault", "get", "global/missing")...)

	// Enrolling into a directory that holds files is refused before the
	// daemon is asked: no device is registered whose key nobody kept.
	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "f"), nil, 0o600)
	fails(t, 2, "not empty", nil, args("devices", "enroll", "--name", "orphan", "--out", busy)...)
	if out := must(t, nil, args("devices", "list")...).stdout; len(out) != 0 {
		t.Fatalf("a refused enrollment registered a device:\n%s", out)
	}

	// Enroll a device; its bundle works over TCP and QUIC.
	bundle := filepath.Join(t.TempDir(), "laptop")
	var enr map[string]any
	json.Unmarshal(must(t, nil, args("--json", "devices", "enroll", "--name", "laptop", "--out", bundle)...).stdout, &enr)
	devID, _ := enr["device_id"].(string)
	if len(devID) != 26 {
		t.Fatalf("enroll output: %v", enr)
	}
	for _, f := range []string{"identity.json", "cert.pem", "ca.pem", "daemon.json"} {
		fi, err := os.Stat(filepath.Join(bundle, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("bundle %s: %v %v", f, err, fi)
		}
	}
	for _, tr := range []string{"tcp", "quic"} {
		got := must(t, nil, "--identity", bundle, "--transport", tr, "vault", "get", "global/openai_api_key").stdout
		if !bytes.Equal(got, value) {
			t.Fatalf("%s: remote get returned %q", tr, got)
		}
		must(t, []byte("from-"+tr), "--identity", bundle, "--transport", tr, "vault", "put", "device:"+devID+"/note")
	}
	fails(t, 3, "denied", nil, "--identity", bundle, "devices", "revoke", devID)

	var devs []map[string]any
	json.Unmarshal(must(t, nil, args("--json", "devices", "list")...).stdout, &devs)
	if len(devs) != 1 || devs[0]["device_id"] != devID || devs[0]["revoked"] != false {
		t.Fatalf("devices list: %v", devs)
	}
	must(t, nil, args("devices", "revoke", devID)...)
	json.Unmarshal(must(t, nil, args("--json", "devices", "list")...).stdout, &devs)
	if devs[0]["revoked"] != true {
		t.Fatalf("devices list after revoke: %v", devs)
	}
	for _, tr := range []string{"tcp", "quic"} {
		fails(t, 3, "refused", nil, "--identity", bundle, "--transport", tr, "vault", "get", "global/openai_api_key")
	}

	must(t, nil, args("vault", "rm", "user:alice/gh_token")...)
	fails(t, 4, "not found", nil, args("vault", "rm", "user:alice/gh_token")...)
	r := must(t, nil, args("audit", "verify")...)
	if !strings.Contains(string(r.stdout), "intact") {
		t.Fatalf("audit verify: %s", r.stdout)
	}

	// A second daemon on the same state directory refuses to start.
	second := run(t, "palyrad", nil, "--state-dir", state, "--listen", "127.0.0.1:0")
	if second.code != 3 || !strings.Contains(string(second.stderr), "another palyrad") {
		t.Fatalf("second palyrad: exit %d: %s", second.code, second.stderr)
	}

	d.stop(t)
	if _, err := os.Stat(filepath.Join(state, "palyrad.addr")); !os.IsNotExist(err) {
		t.Errorf("palyrad.addr left after shutdown: %v", err)
	}
	fails(t, 5, "daemon unreachable", nil, args("status")...)
	// audit verify works offline too.
	must(t, nil, args("audit", "verify")...)
}

// TestDeviceRenewsItsCertificate runs a daemon issuing 12-second client
// certificates. A call before two thirds of the lifetime keeps the
// certificate; the first call after it renews it (automatically); and the
// device keeps working after its first certificate has expired.
func TestDeviceRenewsItsCertificate(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	cfg := filepath.Join(t.TempDir(), "palyrad.toml")
	os.WriteFile(cfg, []byte("client_cert_ttl = \"12s\"\n"), 0o600)
	startDaemon(t, state, "--config", cfg)
	sd := []string{"--state-dir", state}
	must(t, []byte("v"), append(sd, "vault", "put", "global/k")...)
	bundle := filepath.Join(t.TempDir(), "b")
	must(t, nil, append(sd, "devices", "enroll", "--name", "short", "--out", bundle)...)
	certPath := filepath.Join(bundle, "cert.pem")
	first, _ := os.ReadFile(certPath)
	leaf := parseCertPEM(t, first)
	issued := leaf.NotBefore.Add(5 * time.Minute) // the CA backdates by 5 minutes
	get := func(tr string) {
		t.Helper()
		if got := must(t, nil, "--identity", bundle, "--transport", tr, "vault", "get", "global/k").stdout; string(got) != "v" {
			t.Fatalf("get: %q", got)
		}
	}
	get("tcp")
	if now, _ := os.ReadFile(certPath); !bytes.Equal(now, first) {
		t.Fatal("renewed a fresh certificate")
	}
	// Waiting for the clock (the renewal point, computed as the client
	// does), not for readiness. The call then has 4 s before the first
	// certificate expires.
	due := issued.Add(leaf.NotAfter.Sub(issued) * 2 / 3)
	time.Sleep(time.Until(due.Add(200 * time.Millisecond)))
	get("quic")
	second, _ := os.ReadFile(certPath)
	if bytes.Equal(second, first) {
		t.Fatal("certificate not renewed past two thirds of its lifetime")
	}
	time.Sleep(time.Until(leaf.NotAfter.Add(time.Second)))
	get("tcp")
	get("quic")
}

func parseCertPEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
