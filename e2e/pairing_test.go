package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/pki"
)

// newCode runs `palyra pair new` as the owner and returns the code and URI.
func newCode(t *testing.T, state string, flags ...string) (code, uri string) {
	t.Helper()
	var out map[string]any
	r := must(t, nil, append([]string{"--state-dir", state, "--json", "pair", "new"}, flags...)...)
	if err := json.Unmarshal(r.stdout, &out); err != nil {
		t.Fatalf("pair new: %v\n%s", err, r.stdout)
	}
	return out["code"].(string), out["uri"].(string)
}

func TestPairingWithCodeAndURIOverTCPAndQUIC(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, state)
	value := []byte("sk-pairing")
	must(t, value, "--state-dir", state, "vault", "put", "global/k")
	for _, tr := range []string{"tcp", "quic"} {
		addr := d.addrs.TCP
		if tr == "quic" {
			addr = d.addrs.QUIC
		}
		code, _ := newCode(t, state, "--approve")
		_, uri := newCode(t, state, "--approve")
		for name, args := range map[string][]string{
			"code": {"pair", "join", code, "--server", addr, "--transport", tr},
			"uri":  {"pair", "join", uri, "--transport", tr},
		} {
			b := filepath.Join(t.TempDir(), tr+"-"+name)
			r := must(t, nil, append(args, "--out", b, "--name", tr+"-"+name)...)
			if !strings.Contains(string(r.stderr), "paired: device id ") {
				t.Errorf("%s %s: stderr %q", tr, name, r.stderr)
			}
			if got := must(t, nil, "--identity", b, "--transport", tr, "vault", "get", "global/k").stdout; !bytes.Equal(got, value) {
				t.Errorf("%s %s: vault get %q", tr, name, got)
			}
			must(t, nil, "--identity", b, "--transport", tr, "status")
		}
	}
	// Four devices, each in the owner's list; the codes are gone.
	list := string(must(t, nil, "--state-dir", state, "devices", "list").stdout)
	if strings.Count(list, "active") != 4 {
		t.Fatalf("devices:\n%s", list)
	}
	if out := must(t, nil, "--state-dir", state, "pair", "list").stdout; len(out) != 0 {
		t.Fatalf("codes left:\n%s", out)
	}
}

// relay terminates TLS with its own certificate and forwards the bytes to
// the daemon over another TLS connection: what a man in the middle who
// owns the network does.
func relay(t *testing.T, daemon string) string {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), bytes.Repeat([]byte{9}, 32), "relay")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := pki.NewServerCert(ca, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: sc.GetCertificate, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := tls.Dial("tcp", daemon, &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, NextProtos: []string{"h2"}})
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); done <- struct{}{} }()
				go func() { io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

func TestPairingFailures(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, state)
	join := func(code, server string) result {
		return palyra(t, nil, "pair", "join", code, "--server", server, "--out", filepath.Join(t.TempDir(), "b"))
	}
	noDevices := func(when string) {
		t.Helper()
		if out := must(t, nil, "--state-dir", state, "devices", "list").stdout; len(out) != 0 {
			t.Fatalf("%s: a device was registered:\n%s", when, out)
		}
	}

	// A TLS-terminating relay: fails, burns the code, issues nothing.
	code, _ := newCode(t, state, "--approve")
	fails(t, 3, "pairing failed", nil, "pair", "join", code, "--server", relay(t, d.addrs.TCP), "--out", filepath.Join(t.TempDir(), "b"))
	fails(t, 3, "pairing failed", nil, "pair", "join", code, "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "b"))
	noDevices("relay")
	journal := string(must(t, nil, "--state-dir", state, "audit", "list").stdout)
	if !strings.Contains(journal, "pairing_started") || strings.Contains(journal, "pairing_requested") || strings.Contains(journal, "pairing_completed") {
		t.Fatalf("journal after a relayed pairing:\n%s", journal)
	}

	// A wrong code burns it: the right one fails after.
	code, _ = newCode(t, state, "--approve")
	id, digits, _ := strings.Cut(code, "-")
	wrong := "000000"
	if digits == wrong {
		wrong = "111111"
	}
	fails(t, 3, "pairing failed", nil, "pair", "join", id+"-"+wrong, "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "b"))
	fails(t, 3, "pairing failed", nil, "pair", "join", code, "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "b"))
	noDevices("wrong code")

	// An expired code fails (its expiry moved into the past on disk).
	code, _ = newCode(t, state, "--approve")
	db := openDB(t, filepath.Join(state, "devices.db"))
	exec1(t, db, `UPDATE pairing_codes SET expires_at = 1 WHERE used_at = 0`)
	db.Close()
	fails(t, 3, "pairing failed", nil, "pair", "join", code, "--server", d.addrs.QUIC, "--transport", "quic", "--out", filepath.Join(t.TempDir(), "b"))
	noDevices("expired code")

	// Two clients racing on one code: at most one succeeds.
	code, _ = newCode(t, state, "--approve")
	var wg sync.WaitGroup
	results := make([]result, 4)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = join(code, d.addrs.TCP) }()
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		if r.code == 0 {
			ok++
		} else if r.code != 3 {
			t.Errorf("racing client: exit %d: %s", r.code, r.stderr)
		}
	}
	if ok > 1 {
		t.Fatalf("%d clients paired with one code", ok)
	}

	// Bad input: exit 2 before anything is sent.
	fails(t, 2, "bad input", nil, "pair", "join", "not-a-code", "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "b"))
	fails(t, 2, "--out", nil, "pair", "join", code)
	// --out makes its last component only.
	tmp := t.TempDir()
	fails(t, 2, "the parent of the bundle directory does not exist; create it first", nil, "pair", "join", "17-123456", "--server", d.addrs.TCP, "--out", filepath.Join(tmp, "nonexistent", "zz", "b"))
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Fatalf("join left %d entries in the --out parent's parent", len(entries))
	}

	// A URI naming another CA: refused before the daemon records the
	// request or issues anything.
	requests := func() int {
		return strings.Count(string(must(t, nil, "--state-dir", state, "--json", "pair", "requests", "--all").stdout), "request_id")
	}
	devs := func() int {
		return strings.Count(string(must(t, nil, "--state-dir", state, "devices", "list").stdout), "\n")
	}
	for _, flags := range [][]string{nil, {"--approve"}} {
		nq, nd := requests(), devs()
		_, uri := newCode(t, state, flags...)
		i := strings.Index(uri, "&ca=")
		bad := uri[:i] + "&ca=" + strings.Repeat("0", 64) + uri[i+4+64:]
		fails(t, 3, "denied: pairing: the daemon's CA does not match the fingerprint in the pairing URI", nil, "pair", "join", bad, "--out", filepath.Join(t.TempDir(), "b"))
		if requests() != nq || devs() != nd {
			t.Fatalf("request or device recorded for another CA (%v)", flags)
		}
	}

	// A pre-approved code whose name was taken after it was made: one
	// line, what to do.
	a, _ := newCode(t, state, "--approve", "--name", "dup")
	b, _ := newCode(t, state, "--approve", "--name", "dup")
	must(t, nil, "pair", "join", a, "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "b"))
	fails(t, 3, `denied: the daemon refused this pairing: an active device is named "dup"; this code is used up: ask the daemon's owner for a new code with another name`, nil,
		"pair", "join", b, "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "b"))

	// Something at the address that resets the connection mid-handshake:
	// an unreachable daemon, exit 5.
	fails(t, 5, "daemon unreachable: ", nil, "pair", "join", "17-123456", "--server", resetter(t), "--out", filepath.Join(t.TempDir(), "b"))
}

// resetter returns the address of a TCP listener that resets every
// connection it accepts.
func resetter(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	return l.Addr().String()
}

func TestPairingApprovalAndContinuity(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, state)
	owner := func(a ...string) result { return must(t, nil, append([]string{"--state-dir", state}, a...)...) }

	// A code without --approve: the request waits for the owner.
	code, _ := newCode(t, state, "--name", "phone")
	b1 := filepath.Join(t.TempDir(), "phone")
	cmd := exec.Command(filepath.Join(binDir, "palyra"), "pair", "join", code, "--server", d.addrs.TCP, "--out", b1, "--timeout", "50s")
	var out bytes.Buffer
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var reqs []map[string]any
	for deadline := time.Now().Add(20 * time.Second); len(reqs) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no pending request")
		}
		json.Unmarshal(owner("--json", "pair", "requests").stdout, &reqs)
	}
	if reqs[0]["name"] != "phone" || len(reqs[0]["key"].(string)) != 19 || reqs[0]["name_in_use"] != false {
		t.Fatalf("request: %v", reqs[0])
	}
	// The table: platform and notes under their own headings.
	if text := string(owner("pair", "requests").stdout); !strings.HasPrefix(text, "REQUEST ID\tNAME\tKEY\tSTATE\tPLATFORM\tNOTE\n") ||
		!strings.Contains(text, "\tphone\t"+reqs[0]["key"].(string)+"\tpending\t"+reqs[0]["platform"].(string)+"\t\n") {
		t.Fatalf("pair requests:\n%s", text)
	}
	owner("pair", "approve", reqs[0]["request_id"].(string))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("join: %v\n%s", err, out.String())
	}
	// Off a terminal the wait was said in one line: the request and the
	// key to compare; then the result.
	wantWait := "waiting for approval of request " + reqs[0]["request_id"].(string) + " (key " + reqs[0]["key"].(string) + "): on the daemon's machine, compare the key in palyra pair requests, then palyra pair approve " + reqs[0]["request_id"].(string) + "\n"
	if lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); len(lines) != 2 || lines[0]+"\n" != wantWait || !strings.HasPrefix(lines[1], "paired: ") {
		t.Fatalf("join's stderr off a terminal:\n%s\nwant first %q", out.String(), wantWait)
	}
	// Deciding it again says what it is, without the gRPC code word.
	r := fails(t, 1, "pairing request "+reqs[0]["request_id"].(string)+" is already completed; nothing to approve", nil, "--state-dir", state, "pair", "approve", reqs[0]["request_id"].(string))
	if strings.Contains(string(r.stderr), "failed_precondition") || strings.Contains(string(r.stderr), "devices:") {
		t.Fatalf("approve of a completed request: %s", r.stderr)
	}
	dev, _ := client.LoadBundle(b1)
	must(t, nil, "--identity", b1, "status")

	// A code for a name in use is refused when it is made.
	fails(t, 1, `an active device is named "phone"; choose another name, or revoke that device first`, nil, "--state-dir", state, "pair", "new", "--name", "phone")

	// The same name proposed by the device is flagged, and its approval
	// refused while the first phone is active.
	code, _ = newCode(t, state)
	cmd = exec.Command(filepath.Join(binDir, "palyra"), "pair", "join", code, "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "b"), "--timeout", "30s", "--name", "phone")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reqs = nil
	for deadline := time.Now().Add(20 * time.Second); len(reqs) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no pending request")
		}
		json.Unmarshal(owner("--json", "pair", "requests").stdout, &reqs)
	}
	if reqs[0]["name_in_use"] != true || !strings.Contains(string(owner("pair", "requests").stdout), "NAME IN USE") {
		t.Fatalf("name conflict not flagged: %v", reqs[0])
	}
	fails(t, 1, "is named", nil, "--state-dir", state, "pair", "approve", reqs[0]["request_id"].(string))
	owner("pair", "reject", reqs[0]["request_id"].(string))
	if err := cmd.Wait(); err == nil {
		t.Fatal("rejected join succeeded")
	}
	fails(t, 1, "is already rejected; nothing to approve", nil, "--state-dir", state, "pair", "approve", reqs[0]["request_id"].(string))

	// A name drawn like "phone" (Cyrillic о) is flagged, and printed
	// escaped so it does not read as the ASCII name.
	code, _ = newCode(t, state)
	cmd = exec.Command(filepath.Join(binDir, "palyra"), "pair", "join", code, "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "b"), "--timeout", "30s", "--name", "ph\u043ene")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reqs = nil
	for deadline := time.Now().Add(20 * time.Second); len(reqs) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no pending request")
		}
		json.Unmarshal(owner("--json", "pair", "requests").stdout, &reqs)
	}
	if text := string(owner("pair", "requests").stdout); reqs[0]["lookalike_of"] != "phone" || !strings.Contains(text, "\t\"ph\\u043ene\"\t") || !strings.Contains(text, `LOOKS LIKE "phone"`) {
		t.Fatalf("lookalike not flagged: %v\n%s", reqs[0], text)
	}
	owner("pair", "reject", reqs[0]["request_id"].(string))
	if err := cmd.Wait(); err == nil {
		t.Fatal("rejected join succeeded")
	}

	// Remove: only a revoked device; then the name pairs again with a new
	// key, and the old key stays barred.
	fails(t, 1, "revoke it first", nil, "--state-dir", state, "devices", "remove", dev.Identity.DeviceID.String())
	owner("devices", "revoke", dev.Identity.DeviceID.String())
	owner("devices", "remove", dev.Identity.DeviceID.String())
	code, _ = newCode(t, state, "--name", "phone", "--approve")
	must(t, nil, "pair", "join", code, "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "phone2"))
	list := string(owner("devices", "list").stdout)
	if strings.Contains(list, dev.Identity.DeviceID.String()) || strings.Count(list, "phone") != 1 {
		t.Fatalf("devices after remove and re-pair:\n%s", list)
	}
}

func TestPairingStateSurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	port := freePort(t)
	d := startDaemon(t, state, "--listen", port)
	code, _ := newCode(t, state)
	b := filepath.Join(t.TempDir(), "b")
	cmd := exec.Command(filepath.Join(binDir, "palyra"), "pair", "join", code, "--server", port, "--out", b, "--timeout", "55s")
	var out bytes.Buffer
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var reqs []map[string]any
	for deadline := time.Now().Add(20 * time.Second); len(reqs) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no pending request")
		}
		json.Unmarshal(must(t, nil, "--state-dir", state, "--json", "pair", "requests").stdout, &reqs)
	}
	// The daemon restarts while the device waits (its polls fail, it keeps
	// polling); the request is still there, pending, and once approved the
	// device completes against the restarted daemon.
	d.stop(t)
	startDaemon(t, state, "--listen", port)
	reqs = nil
	json.Unmarshal(must(t, nil, "--state-dir", state, "--json", "pair", "requests").stdout, &reqs)
	if len(reqs) != 1 || reqs[0]["state"] != "pending" {
		t.Fatalf("after restart: %v", reqs)
	}
	must(t, nil, "--state-dir", state, "pair", "approve", reqs[0]["request_id"].(string))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("join across a restart: %v\n%s", err, out.String())
	}
	must(t, nil, "--identity", b, "status")
}

func TestPairingStartFloodIsLimitedWhileDevicesAreServed(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, state)
	dev := filepath.Join(t.TempDir(), "dev")
	must(t, nil, "--state-dir", state, "devices", "enroll", "--name", "dev", "--out", dev)
	b, err := client.LoadBundle(dev)
	if err != nil {
		t.Fatal(err)
	}
	hc, closeFn := client.TCPHTTPClient(nil, b.Roots())
	defer closeFn()
	svc := palyrav1connect.NewPairingServiceClient(hc, "https://"+d.addrs.TCP, connect.WithGRPC())
	accepted, limited := 0, 0
	for i := range 60 {
		_, err := svc.Start(context.Background(), connect.NewRequest(&palyrav1.PairingStartRequest{Version: 1, CodeId: uint32(i + 1), Share: bytes.Repeat([]byte{1}, 32)}))
		switch connect.CodeOf(err) {
		case connect.CodeResourceExhausted:
			limited++
		case connect.CodeUnavailable, connect.CodeUnknown:
			// the transport closed a busy anonymous connection
		default:
			accepted++
		}
		if i%10 == 0 {
			must(t, nil, "--identity", dev, "status")
		}
	}
	if limited == 0 || accepted > 20 {
		t.Fatalf("flood: %d starts reached the protocol, %d limited", accepted, limited)
	}
	// A pairing from the flooding source is told to wait: exit 5.
	fails(t, 5, "daemon busy: too many pairing attempts from this address; try again in ", nil, "pair", "join", "17-123456", "--server", d.addrs.TCP, "--out", filepath.Join(t.TempDir(), "b"))
	must(t, nil, "--identity", dev, "--transport", "quic", "status")
}

// freePort returns a loopback HOST:PORT free on TCP and UDP just now.
func freePort(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		u, err := net.ListenPacket("udp", addr)
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

func TestPairedConnectorGetsOnlyItsOwnScope(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startDaemon(t, state)
	must(t, []byte("owner-secret"), "--state-dir", state, "vault", "put", "global/k")
	must(t, []byte("xoxb-token"), "--state-dir", state, "vault", "put", "connector:slack/token")
	fails(t, 2, "bad input", nil, "--state-dir", state, "pair", "new", "--connector", "Slack Bot")
	for _, tr := range []string{"tcp", "quic"} {
		_, uri := newCode(t, state, "--connector", "slack", "--approve")
		b := filepath.Join(t.TempDir(), tr)
		must(t, nil, "pair", "join", uri, "--transport", tr, "--out", b)
		id := []string{"--identity", b, "--transport", tr}
		if got := string(must(t, nil, append(id, "vault", "get", "connector:slack/token")...).stdout); got != "xoxb-token" {
			t.Fatalf("%s: own scope: %q", tr, got)
		}
		must(t, []byte("v"), append(id, "vault", "put", "connector:slack/state")...)
		must(t, nil, append(id, "devices", "renew")...)
		// The renewed certificate still reads connector:NAME.
		if rb, err := client.LoadBundle(b); err != nil || rb.Cert.Leaf.Subject.CommonName != "connector:slack" {
			t.Fatalf("%s: renewed certificate CN: %v %v", tr, rb, err)
		}
		if got := string(must(t, nil, append(id, "vault", "get", "connector:slack/state")...).stdout); got != "v" {
			t.Fatalf("%s: after renewal: %q", tr, got)
		}
		fails(t, 3, `Connector::"slack"`, nil, append(id, "vault", "get", "global/k")...)
		fails(t, 3, "denied", nil, append(id, "status")...)
		fails(t, 3, "denied", nil, append(id, "vault", "get", "connector:other/token")...)
		// One active connector per name: revoke before pairing it again.
		var cs []map[string]any
		json.Unmarshal(must(t, nil, "--state-dir", state, "--json", "connectors", "list").stdout, &cs)
		if len(cs) != 1 || cs[0]["name"] != "slack" || cs[0]["revoked"] != false {
			t.Fatalf("connectors: %v", cs)
		}
		must(t, nil, "--state-dir", state, "devices", "revoke", cs[0]["device_id"].(string))
		must(t, nil, "--state-dir", state, "devices", "remove", cs[0]["device_id"].(string))
	}
}
