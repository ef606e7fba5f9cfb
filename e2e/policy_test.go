package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const e2ePermit = `@id("alice-read-global")
permit (principal == User::"alice", action == Action::"vault.read", resource in Vault::"global");
`

const e2eCases = `{"cases": [{"name": "alice reads", "principal": "User::\"alice\"", "action": "vault.read",
  "resource": "Secret::\"global/k\"", "expect": "allow", "policies": ["alice-read-global"]}]}
`

// explainAlice asks the daemon what it decides for alice reading
// global/k.
func explainAlice(t *testing.T, state string) (decision string, policies []string) {
	t.Helper()
	r := must(t, nil, "--state-dir", state, "--json", "policy", "explain",
		"--principal", `User::"alice"`, "--action", `Action::"vault.read"`, "--resource", `Secret::"global/k"`)
	var out struct {
		Decision string   `json:"decision"`
		Policies []string `json:"policies"`
	}
	if err := json.Unmarshal(r.stdout, &out); err != nil {
		t.Fatalf("explain: %v: %s", err, r.stdout)
	}
	return out.Decision, out.Policies
}

// waitLog waits until palyrad has logged want n times.
func waitLog(t *testing.T, d *daemonProc, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(d.logs.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("palyrad did not log %q %d times:\n%s", want, n, d.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyReloadOnSIGHUP: with policy_dir set in the configuration, a
// valid operator policy changes decisions after SIGHUP; a broken one is
// rejected naming file and line, and the active set keeps answering. Both
// reloads are journaled as the owner's policy.write on the admin socket.
func TestPolicyReloadOnSIGHUP(t *testing.T) {
	base := t.TempDir()
	state := filepath.Join(base, "state")
	pdir := filepath.Join(base, "ops-policies")
	if err := os.Mkdir(pdir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(base, "palyrad.toml")
	writeFile(t, cfg, "policy_dir = "+strconv.Quote(pdir)+"\n")
	d := startDaemon(t, state, "--config", cfg)

	if dec, _ := explainAlice(t, state); dec != "deny" {
		t.Fatalf("baseline: alice %s", dec)
	}
	writeFile(t, filepath.Join(pdir, "10-alice.cedar"), e2ePermit)
	writeFile(t, filepath.Join(pdir, "alice.cedartest"), e2eCases)
	if dec, _ := explainAlice(t, state); dec != "deny" {
		t.Fatal("a policy file changed decisions before any reload")
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "policies reloaded", 1)
	if dec, pol := explainAlice(t, state); dec != "allow" || len(pol) != 1 || pol[0] != "alice-read-global" {
		t.Fatalf("after SIGHUP: %s by %v", dec, pol)
	}

	writeFile(t, filepath.Join(pdir, "20-broken.cedar"), "@id(\"b\")\npermit (principal,\n  action resource);\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "SIGHUP: policy reload failed", 1)
	if logs := d.logs.String(); !strings.Contains(logs, filepath.Join(pdir, "20-broken.cedar")+":3:") {
		t.Fatalf("the rejection does not name the file and line:\n%s", logs)
	}
	if dec, _ := explainAlice(t, state); dec != "allow" {
		t.Fatalf("a rejected reload changed the active set: alice %s", dec)
	}

	r := must(t, nil, "--state-dir", state, "--json", "audit", "list", "--action", "policy.write")
	var recs []struct {
		Kind, Principal, Decision, Transport string
	}
	if err := json.Unmarshal(r.stdout, &recs); err != nil {
		t.Fatalf("audit list: %v\n%s", err, r.stdout)
	}
	decisions := 0
	for _, rec := range recs {
		if rec.Kind == "decision" {
			decisions++
			if rec.Principal != `User::"admin"` || rec.Decision != "allow" || rec.Transport != "unix" {
				t.Errorf("reload record %+v", rec)
			}
		}
	}
	if decisions != 2 {
		t.Fatalf("%d policy.write decisions journaled, want 2:\n%s", decisions, r.stdout)
	}
}

// TestBrokenPolicyDirectoryStopsTheStart: palyrad does not start without
// the operator's policies (their forbids would be missing); the error names
// the file and line.
func TestBrokenPolicyDirectoryStopsTheStart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, state)
	d.stop(t)
	pdir := filepath.Join(state, "policies")
	if err := os.Mkdir(pdir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(pdir, "x.cedar"), "\n@id(\"x\")\npermit (principal, action == Action::\"vault.steal\", resource);\n")
	code, out := runDaemonToExit(t, "--state-dir", state, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out, filepath.Join(pdir, "x.cedar")+":2:1: policy \"x\": policy does not match the authorization schema") {
		t.Fatalf("exit %d: %s", code, out)
	}
	os.Remove(filepath.Join(pdir, "x.cedar"))
	startDaemon(t, state)
}

// TestPolicyDirMustExist: a policy_dir named in the configuration that
// does not exist (a typo) stops the start instead of running on the
// baseline alone; and a policy directory that loaded and then disappears
// is refused on SIGHUP, the operator's forbid still answering.
func TestPolicyDirMustExist(t *testing.T) {
	base := t.TempDir()
	state := filepath.Join(base, "state")
	pdir := filepath.Join(base, "ops-policies")
	cfg := filepath.Join(base, "palyrad.toml")
	writeFile(t, cfg, "policy_dir = "+strconv.Quote(pdir+"-typo")+"\n")
	code, out := runDaemonToExit(t, "--state-dir", state, "--listen", "127.0.0.1:0", "--config", cfg)
	if code != 1 || !strings.Contains(out, "policy directory "+pdir+"-typo (policy_dir) does not exist: create it (mkdir -m 700 "+pdir+"-typo) or correct policy_dir in the configuration") {
		t.Fatalf("exit %d: %s", code, out)
	}

	if err := os.Mkdir(pdir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(pdir, "10-no-admin-read.cedar"),
		"@id(\"no-vault-read\")\nforbid (principal, action == Action::\"vault.read\", resource);\n")
	writeFile(t, cfg, "policy_dir = "+strconv.Quote(pdir)+"\n")
	d := startDaemon(t, state, "--config", cfg)
	adminReads := func() string {
		r := must(t, nil, "--state-dir", state, "--json", "policy", "explain",
			"--principal", `User::"admin"`, "--role", "admin", "--action", "vault.read", "--resource", `Secret::"global/k"`)
		var out struct{ Decision string }
		if err := json.Unmarshal(r.stdout, &out); err != nil {
			t.Fatalf("explain: %v: %s", err, r.stdout)
		}
		return out.Decision
	}
	if dec := adminReads(); dec != "deny" {
		t.Fatalf("with the operator's forbid: admin %s", dec)
	}
	if err := os.Rename(pdir, pdir+".moved"); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "SIGHUP: policy reload failed", 1)
	if logs := d.logs.String(); !strings.Contains(logs, "policy directory "+pdir+" (policy_dir) does not exist") {
		t.Fatalf("the rejection does not say the directory is missing:\n%s", logs)
	}
	if dec := adminReads(); dec != "deny" {
		t.Fatalf("a vanished directory dropped the operator's forbid: admin %s", dec)
	}
}

// TestPolicyWriteForbiddenOnSIGHUP: once an operator policy forbids
// policy.write, SIGHUP is denied too, and the log says what to do.
func TestPolicyWriteForbiddenOnSIGHUP(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, state)
	d.stop(t)
	pdir := filepath.Join(state, "policies")
	if err := os.Mkdir(pdir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(pdir, "10-frozen.cedar"),
		"@id(\"frozen\")\nforbid (principal, action == Action::\"policy.write\", resource);\n")
	d = startDaemon(t, state)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "SIGHUP: policy reload failed", 1)
	if logs := d.logs.String(); !strings.Contains(logs, "an operator policy forbids policy.write: edit the policy files and restart palyrad") {
		t.Fatalf("the denial does not say what to do:\n%s", logs)
	}
	r := palyra(t, nil, "--state-dir", state, "policy", "reload")
	if r.code != 3 || !strings.Contains(string(r.stderr), "if an operator policy forbids policy.write, edit the policy files and restart palyrad") {
		t.Fatalf("reload: exit %d: %s", r.code, r.stderr)
	}
}
