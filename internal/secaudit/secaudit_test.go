package secaudit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/statedir"
)

// layout is a state directory (0700) in a temporary directory.
func layout(t *testing.T) statedir.Layout {
	t.Helper()
	l, err := statedir.At(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(); err != nil {
		t.Fatal(err)
	}
	return l
}

func write(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// find returns the findings of check with severity sev whose Found
// contains text.
func find(fs []Finding, sev Severity, text string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity == sev && strings.Contains(f.Found, text) {
			out = append(out, f)
		}
	}
	return out
}

func want(t *testing.T, fs []Finding, sev Severity, text, fix string) {
	t.Helper()
	got := find(fs, sev, text)
	if len(got) != 1 {
		t.Fatalf("want one %s finding containing %q, got %d in %+v", sev, text, len(got), fs)
	}
	if !strings.Contains(got[0].Fix, fix) {
		t.Fatalf("finding %q: fix %q does not contain %q", got[0].Found, got[0].Fix, fix)
	}
}

func TestPermissions(t *testing.T) {
	l := layout(t)
	write(t, l.MasterKey, []byte("k"), 0o600)
	write(t, l.Audit, []byte("x"), 0o600)
	if fs := Permissions(l); len(fs) != 0 {
		t.Fatalf("clean directory: %+v", fs)
	}
	write(t, l.MasterKey, []byte("k"), 0o644)
	write(t, l.Audit, []byte("x"), 0o640)
	if err := os.Mkdir(filepath.Join(l.Dir, "policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(l.Dir, "policies", "x.cedar"), nil, 0o666)
	fs := Permissions(l)
	want(t, fs, High, "x.cedar has mode 0666 (must be 0600)", "chmod 0600 "+filepath.Join(l.Dir, "policies", "x.cedar"))
	want(t, fs, High, "master.key has mode 0644 (must be 0600)", "chmod 0600 "+l.MasterKey)
	want(t, fs, Medium, "audit.db has mode 0640", "chmod 0600 "+l.Audit)
	want(t, fs, Medium, "policies has mode 0755 (readable by group/other)", "chmod 0700 ")
	if err := os.Chmod(l.Dir, 0o750); err != nil {
		t.Fatal(err)
	}
	want(t, Permissions(l), High, "state directory "+l.Dir+" has mode 0750", "chmod 0700 "+l.Dir)
}

func TestStateUnrecorded(t *testing.T) {
	l := layout(t)
	write(t, l.MasterKey, []byte("k"), 0o600)
	in, err := l.Inspect(context.Background())
	fs := State(l, in, err)
	want(t, fs, High, "state.json missing", "--record-state")
	want(t, fs, High, "audit.db missing", "backup")
}

func TestMasterKeyProviders(t *testing.T) {
	l := layout(t)
	cfg := config.Defaults()
	// MasterKey as Run calls it: with what the directory records now.
	masterKey := func(l statedir.Layout, cfg config.Config) []Finding {
		in, err := l.Inspect(context.Background())
		return MasterKey(l, cfg, recordedProvider(in, err))
	}
	fs := masterKey(l, cfg)
	want(t, fs, Low, "provider file", "migrate --to passphrase")

	cfg.MasterKey.Provider = masterkey.ProviderPassphrase
	sealed := func(p masterkey.Params) {
		b, _ := json.Marshal(map[string]any{"format": "palyra-master-key-sealed/v1", "kdf": "argon2id", "params": p})
		write(t, filepath.Join(l.Dir, masterkey.SealedName), b, 0o600)
	}
	sealed(masterkey.Params{Time: 1, MemoryK: 8 << 10, Threads: 1})
	want(t, masterKey(l, cfg), High, "t=1 m=8192KiB p=1, below the floor", "re-seal")
	sealed(masterkey.DefaultParams)
	if fs := masterKey(l, cfg); len(find(fs, Info, "provider passphrase, Argon2id t=3")) != 1 {
		t.Fatalf("default parameters: %+v", fs)
	}

	// Configured otherwise than the directory holds its key: palyrad
	// would refuse to start.
	cfg.MasterKey.Provider = masterkey.ProviderEnv
	want(t, masterKey(l, cfg), High, `config says provider "env", the state directory holds its key with "passphrase"`, "migrate --to env")
	if err := os.Remove(filepath.Join(l.Dir, masterkey.SealedName)); err != nil {
		t.Fatal(err)
	}
	if fs := masterKey(l, cfg); fs[0].Severity != Info {
		t.Fatalf("env: %+v", fs)
	}
}

func TestListeners(t *testing.T) {
	cfg := config.Defaults()
	if fs := Listeners(cfg, nil); fs[0].Severity != Info {
		t.Fatalf("default listen: %+v", fs)
	}
	cfg.Listen = "0.0.0.0:7443"
	want(t, Listeners(cfg, nil), Medium, "configured listen address 0.0.0.0:7443 is off loopback", "listen on loopback")
	// The running daemon's addresses win over the configuration.
	fs := Listeners(cfg, &Live{TCP: "127.0.0.1:1", QUIC: "127.0.0.1:1"})
	if len(fs) != 1 || fs[0].Severity != Info {
		t.Fatalf("loopback daemon: %+v", fs)
	}
	fs = Listeners(config.Defaults(), &Live{TCP: "[::]:1", QUIC: "192.0.2.1:1"})
	want(t, fs, High, "tcp [::]:1, off loopback", "listen on loopback")
	want(t, fs, High, "quic 192.0.2.1:1, off loopback", "listen on loopback")
}

func TestTLS(t *testing.T) {
	if fs := TLS(nil); fs[0].Severity != Info || !strings.Contains(fs[0].Found, "TLS 1.3 only") {
		t.Fatalf("%+v", fs)
	}
	want(t, TLS(&Live{TCP: "x", TLS12Tried: true}), High, "accepted a TLS 1.2 handshake", "TLS 1.3")
	if fs := TLS(&Live{TCP: "x", TLS12Tried: true, TLS12Err: errors.New("protocol version")}); fs[0].Severity != Info {
		t.Fatalf("%+v", fs)
	}
}

func caCert(t *testing.T, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: notAfter.Add(-time.Hour * 24 * 3650), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pki.EncodeCertPEM(der)
}

func TestCertificates(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := layout(t)
	for _, c := range []struct {
		left time.Duration
		sev  Severity
		text string
	}{
		{365 * 24 * time.Hour, Info, "CA certificate valid until"},
		{30 * 24 * time.Hour, Medium, "CA certificate expires at 2030-01-31T00:00:00Z, in 30 days"},
		{3 * 24 * time.Hour, High, "CA certificate expires at"},
		{-time.Hour, High, "CA certificate expired at"},
	} {
		write(t, l.CACert, caCert(t, now.Add(c.left)), 0o600)
		fs := Certificates(l, nil, now)
		if len(find(fs, c.sev, c.text)) != 1 {
			t.Fatalf("CA with %v left: want %s %q, got %+v", c.left, c.sev, c.text, fs)
		}
	}
	write(t, l.CACert, caCert(t, now.Add(365*24*time.Hour)), 0o600)
	want(t, Certificates(l, &Live{ServerCertNotAfter: now.Add(20 * time.Minute)}, now), High, "server certificate expires at 2030-01-01T00:20:00Z, in 20m0s", "server_cert_ttl")
	if fs := Certificates(l, &Live{ServerCertNotAfter: now.Add(8 * time.Hour)}, now); len(find(fs, Info, "server certificate valid until")) != 1 {
		t.Fatalf("server certificate with 8h left: %+v", fs)
	}
}

func TestDevices(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	l := layout(t)
	r, err := devices.Open(ctx, l.Devices)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if fs := Devices(l, now); len(find(fs, Info, "no active enrolled devices")) != 1 {
		t.Fatalf("empty registry: %+v", fs)
	}
	db, err := openRW(l.Devices)
	if err != nil {
		t.Fatal(err)
	}
	pub := strings.Repeat("\x01", 32)
	for i, d := range []struct {
		name     string
		notAfter time.Time
		revoked  int64
	}{
		{"expired", now.Add(-time.Hour), 0},
		{"soon", now.Add(time.Hour), 0},
		{"fine", now.Add(72 * time.Hour), 0},
		{"revoked-expired", now.Add(-time.Hour), now.Unix()},
	} {
		if _, err := db.Exec(`INSERT INTO devices (device_id, name, owner, public_key, enrolled_at, revoked_at, cert_serial, cert_not_after) VALUES (?, ?, 'admin', ?, ?, ?, '01', ?)`,
			"DEV"+strconv.Itoa(i), d.name, []byte(pub), now.Unix()+int64(i), d.revoked, d.notAfter.Unix()); err != nil {
			t.Fatal(err)
		}
	}
	// A connector is named as one, with the way to pair it again.
	if _, err := db.Exec(`INSERT INTO devices (device_id, name, owner, public_key, enrolled_at, revoked_at, cert_serial, cert_not_after, connector) VALUES ('DEV9', 'slack', 'admin', ?, ?, 0, '02', ?, 'slack')`,
		[]byte(strings.Repeat("\x02", 32)), now.Unix()+9, now.Add(-time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	fs := Devices(l, now)
	want(t, fs, Low, "device expired (DEV0): certificate expired", "palyra devices revoke DEV0")
	want(t, fs, Low, "connector slack (DEV9): certificate expired", "palyra pair new --connector slack")
	if len(find(fs, Info, "device soon (DEV1): certificate expires")) != 1 || len(fs) != 3 {
		t.Fatalf("devices: %+v", fs)
	}
}

func TestPolicies(t *testing.T) {
	l := layout(t)
	pd := filepath.Join(l.Dir, PolicyDir)
	if fs := Policies(pd); len(fs) != 0 {
		t.Fatalf("no policies directory: %+v", fs)
	}
	if err := os.Mkdir(pd, 0o700); err != nil {
		t.Fatal(err)
	}
	good := "@id(\"local-status\")\npermit (principal, action == Action::\"daemon.status\", resource);\n"
	write(t, filepath.Join(pd, "a.cedar"), []byte(good), 0o600)
	if fs := Policies(pd); len(fs) != 1 || fs[0].Severity != Info {
		t.Fatalf("one good file: %+v", fs)
	}
	write(t, filepath.Join(pd, "b.cedar"), []byte("// nothing\n\npermit (principal, action, resource) when { principal. };\n"), 0o600)
	want(t, Policies(pd), High, "b.cedar:3:", "fix the policy at "+filepath.Join(pd, "b.cedar")+":3:")
	// The same @id in two files: each valid alone, not together.
	write(t, filepath.Join(pd, "b.cedar"), []byte(good), 0o600)
	want(t, Policies(pd), High, "duplicate", "unique @id")
	// A policy that does not match the schema, with its position.
	write(t, filepath.Join(pd, "b.cedar"), []byte("\n@id(\"bad\")\npermit (principal, action == Action::\"nope\", resource);\n"), 0o600)
	want(t, Policies(pd), High, "b.cedar:2:1 is invalid", "b.cedar:2:1")
	// A failing test case, as palyrad would refuse it.
	os.Remove(filepath.Join(pd, "b.cedar"))
	write(t, filepath.Join(pd, "a.cedartest"), []byte(`{"cases": [{"name": "bob may not", "principal": "User::\"bob\"", "action": "daemon.status", "resource": "Daemon::\"local\"", "expect": "deny"}]}`), 0o600)
	want(t, Policies(pd), High, `test case "bob may not" in `+filepath.Join(pd, "a.cedartest")+" fails: expected deny, got allow", "palyrad refuses to load")
}

func TestConfiguredPolicyDirMustExist(t *testing.T) {
	pd := filepath.Join(t.TempDir(), "policies")
	want(t, ConfiguredPolicyDir(pd), High, "policy_dir "+pd+" does not exist: palyrad refuses to start", "mkdir -m 700 "+pd)
	if err := os.Mkdir(pd, 0o700); err != nil {
		t.Fatal(err)
	}
	if fs := ConfiguredPolicyDir(pd); len(fs) != 0 {
		t.Fatalf("existing directory: %+v", fs)
	}
}

func TestCoreDumps(t *testing.T) {
	proc := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if fs := CoreDumps(nil, env(nil), proc); len(fs) != 0 {
		t.Fatalf("stopped, clean environment: %+v", fs)
	}
	want(t, CoreDumps(nil, env(map[string]string{"PALYRA_ALLOW_CORE_DUMPS": "1"}), proc), Medium, "PALYRA_ALLOW_CORE_DUMPS=1 is set", "unset PALYRA_ALLOW_CORE_DUMPS")

	pd := filepath.Join(proc, "42")
	if err := os.Mkdir(pd, 0o755); err != nil {
		t.Fatal(err)
	}
	limits := "Limit                     Soft Limit           Hard Limit           Units     \nMax core file size        %s                    %s                    bytes     \n"
	write(t, filepath.Join(pd, "limits"), []byte(strings.ReplaceAll(limits, "%s", "unlimited")), 0o644)
	write(t, filepath.Join(pd, "status"), []byte("Name:\tpalyrad\n"), 0o644)
	want(t, CoreDumps(&Live{PID: 42}, env(nil), proc), High, `core file size limit "unlimited"`, "restart palyrad")
	write(t, filepath.Join(pd, "limits"), []byte(strings.ReplaceAll(limits, "%s", "0")), 0o644)
	fs := CoreDumps(&Live{PID: 42}, env(nil), proc)
	if os.Getuid() == 0 {
		if len(find(fs, Info, "core file size 0")) != 1 {
			t.Fatalf("root: %+v", fs)
		}
	} else {
		// The fake /proc/42/status belongs to this user: dumpable.
		want(t, fs, High, "is dumpable", "restart palyrad")
	}
	// The real thing: this test process (not hardened) has whatever
	// limit the environment gave it; the check must at least read it.
	if fs := CoreDumps(&Live{PID: os.Getpid()}, env(nil), "/proc"); len(fs) != 1 {
		t.Fatalf("own process: %+v", fs)
	}
}

func TestSortAndHasHigh(t *testing.T) {
	fs := []Finding{{"a", Info, "1", ""}, {"b", High, "2", ""}, {"c", Low, "3", ""}, {"d", Medium, "4", ""}, {"e", High, "5", ""}}
	Sort(fs)
	var got []string
	for _, f := range fs {
		got = append(got, f.Found)
	}
	if strings.Join(got, "") != "25431" {
		t.Fatalf("order %v", got)
	}
	if !HasHigh(fs) || HasHigh(fs[2:]) {
		t.Fatal("HasHigh")
	}
}

// openRW opens a database for writing rows a test plants.
func openRW(path string) (*sql.DB, error) { return sql.Open("sqlite", path) }

func TestCheckpointFreshness(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if Stale(base, base.Add(time.Second+CheckpointSlack), time.Second) {
		t.Fatal("a record within interval+slack is stale")
	}
	if !Stale(base, base.Add(2*time.Second+CheckpointSlack), time.Second) {
		t.Fatal("a record past interval+slack is not stale")
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	db, err := openRW(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE records (seq INTEGER PRIMARY KEY, time ANY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO records VALUES (1, ?), (2, ?)`, base.UnixNano(), "2030-01-01T00:00:05Z"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for seq, want := range map[int64]time.Time{1: base, 2: base.Add(5 * time.Second)} {
		got, err := recordTime(path, seq)
		if err != nil || !got.Equal(want) {
			t.Fatalf("record %d: %v, %v; want %v", seq, got, err, want)
		}
	}
}

// TestDaemonUser: a palyrad running as root (effective uid 0 in its
// /proc status, or, stopped, a state directory owned by root) is a finding
// that says to run it as an unprivileged user; another uid is not.
func TestDaemonUser(t *testing.T) {
	proc := t.TempDir()
	pd := filepath.Join(proc, "42")
	if err := os.Mkdir(pd, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(pd, "status"), []byte("Name:\tpalyrad\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n"), 0o644)
	l := layout(t)
	want(t, DaemonUser(l, &Live{PID: 42}, proc), Medium, "runs as root", "run palyrad as an unprivileged user")
	write(t, filepath.Join(pd, "status"), []byte("Name:\tpalyrad\nUid:\t0\t1000\t1000\t1000\n"), 0o644)
	if fs := find(DaemonUser(l, &Live{PID: 42}, proc), Info, "runs as uid 1000, not root"); len(fs) != 1 {
		t.Fatalf("uid 1000: %+v", DaemonUser(l, &Live{PID: 42}, proc))
	}
	fs := DaemonUser(l, nil, proc)
	if os.Getuid() == 0 {
		want(t, fs, Medium, "belongs to root", "run palyrad as an unprivileged user")
	} else if len(fs) != 0 {
		t.Fatalf("stopped, owned by uid %d: %+v", os.Getuid(), fs)
	}
}
