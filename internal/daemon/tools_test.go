package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/peer"
)

// startToolDaemon is a real daemon with operator policy files.
func startToolDaemon(t testing.TB, mutate func(*config.Config), policies ...string) *testDaemon {
	t.Helper()
	cfg := config.Defaults()
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.Listen = "127.0.0.1:0"
	if mutate != nil {
		mutate(&cfg)
	}
	if len(policies) > 0 {
		// Operator policy files, as palyrad loads them from policy_dir.
		cfg.PolicyDir = t.TempDir()
		for i, p := range policies {
			if err := os.WriteFile(filepath.Join(cfg.PolicyDir, fmt.Sprintf("tools-%d.cedar", i)), []byte(p), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("daemon exited: %v", err)
	}
	td := &testDaemon{Daemon: d, admin: client.DialUnix(d.Addrs().Socket), addrs: d.Addrs()}
	t.Cleanup(func() {
		td.admin.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon run: %v", err)
		}
		d.Close()
	})
	return td
}

// lsOnly forbids every exec whose program is not ls (the baseline permits
// the admin, and so its devices, everything else).
func lsOnly(t testing.TB) string {
	ls, err := filepath.EvalSymlinks("/usr/bin/ls")
	if err != nil {
		t.Skipf("no ls: %v", err)
	}
	return `@id("exec-ls-only")
forbid (principal, action == Action::"tool.execute", resource == Tool::"exec")
unless { context.program == "` + ls + `" };

@id("no-denied-secret")
forbid (principal, action == Action::"secret.use", resource == Secret::"global/denied");
`
}

func execCall(ctx context.Context, c *client.Conn, doc string) (*palyrav1.ToolExecuteResponse, error) {
	res, err := c.Tools.Execute(ctx, connect.NewRequest(&palyrav1.ToolExecuteRequest{Tool: "exec", Arguments: []byte(doc)}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// TestToolsExecLsOnly: under a policy allowing exec of ls only, ls runs;
// rm is denied in every spelling of its flags, through every wrapper that
// is seen through (and the others are refused before any decision), and
// through a symlink named ls; metacharacters stay literal; duplicate and
// case-variant argument bodies are refused before authorization.
func TestToolsExecLsOnly(t *testing.T) {
	evil := t.TempDir()
	if err := os.Symlink("/usr/bin/rm", filepath.Join(evil, "ls")); err != nil {
		t.Fatal(err)
	}
	td := startToolDaemon(t, nil, lsOnly(t))
	evilTD := startToolDaemon(t, func(c *config.Config) { c.Tools.TrustedDirs = []string{evil, "/usr/bin", "/bin"} }, lsOnly(t))
	ctx := context.Background()
	b := td.enroll(t, "agent")
	dev, err := client.DialBundle(b, peer.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	ws := config.Defaults().Tools.WorkspaceDir(td.Layout().Dir)
	victim := filepath.Join(ws, "victim")
	if err := os.MkdirAll(victim, 0o700); err != nil {
		t.Fatal(err)
	}

	res, err := execCall(ctx, dev, `{"argv":["ls","-la"]}`)
	if err != nil || res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "victim") {
		t.Fatalf("ls: %v %+v", err, res)
	}
	if res.Sandbox == "" || len(res.Limits) == 0 || res.OutputSha256 == "" || res.RequestSha256 == "" {
		t.Fatalf("ls result lacks sandbox, limits or hashes: %+v", res)
	}
	t.Logf("sandbox: %s", res.Sandbox)

	denied := []string{
		`["rm","-rf","victim"]`, `["rm","-fr","victim"]`, `["rm","-r","-f","victim"]`, `["rm","--recursive","--force","victim"]`,
		`["rm","-Rf","victim"]`, `["/usr/bin/rm","-rf","victim"]`, `["/bin/rm","-rf","victim"]`, `["rm","--","victim"]`,
		`["env","rm","-rf","victim"]`, `["env","-i","rm","-rf","victim"]`, `["timeout","5","rm","-rf","victim"]`,
		`["nice","-n","5","rm","-rf","victim"]`, `["nohup","rm","-rf","victim"]`, `["stdbuf","-o0","rm","-rf","victim"]`,
		`["setsid","rm","-rf","victim"]`, `["ionice","-c3","rm","-rf","victim"]`, `["chrt","-b","0","rm","-rf","victim"]`,
		`["taskset","1","rm","-rf","victim"]`, `["nice","timeout","5","env","rm","-rf","victim"]`,
	}
	for _, argv := range denied {
		if _, err := execCall(ctx, dev, `{"argv":`+argv+`}`); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s: got %v, want PermissionDenied", argv, err)
		}
	}
	refused := []string{
		`["sh","-c","rm -rf victim"]`, `["bash","-c","rm -rf victim"]`, `["dash","-c","rm -rf victim"]`, `["xargs","rm","-rf"]`,
		`["sudo","rm","-rf","victim"]`, `["env","-S","rm -rf victim"]`, `["env","LD_PRELOAD=x","ls"]`, `["timeout","5","sh","-c","rm"]`,
		`["find",".","-exec","rm","-rf","{}",";"]`, `["busybox","rm","-rf","victim"]`, `["./rm"]`,
	}
	start := td.audit.Head()
	for _, argv := range refused {
		if _, err := execCall(ctx, dev, `{"argv":`+argv+`}`); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", argv, err)
		}
	}
	for _, doc := range []string{
		`{"argv":["ls"],"argv":["rm","-rf","victim"]}`, `{"argv":["ls"],"ARGV":["rm","-rf","victim"]}`,
		`{"Argv":["rm","-rf","victim"]}`, `{"argv":["ls"],"shell":"rm -rf victim"}`, `{"argv":["ls"]}{"argv":["rm"]}`,
	} {
		if _, err := execCall(ctx, dev, doc); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", doc, err)
		}
	}
	if h := td.audit.Head(); h != start {
		t.Errorf("refused calls were decided: journal head %d -> %d", start, h)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("victim removed: %v", err)
	}

	// The tool.execute decision names the resolved program's tool and
	// was a deny by the operator policy.
	if _, err := execCall(ctx, dev, `{"argv":["rm","-rf","victim"]}`); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatal(err)
	}
	deny := waitRecord(t, td.audit, start, func(r audit.Record) bool { return r.Kind == audit.KindDecision && r.Action == "tool.execute" })
	if deny.Decision != "deny" || deny.Resource != `Tool::"exec"` || len(deny.Policies) != 1 || deny.Policies[0] != "exec-ls-only" {
		t.Fatalf("decision %+v", deny)
	}

	// Metacharacters reach ls literally: no shell runs them.
	lit := `$(touch pwned);*|x&&y`
	res, err = execCall(ctx, dev, `{"argv":["ls","--","`+lit+`"]}`)
	if err != nil || res.ExitCode == 0 || !strings.Contains(string(res.Stderr), lit) {
		t.Fatalf("literal: %v %+v", err, res)
	}
	if _, err := os.Stat(filepath.Join(ws, "pwned")); err == nil {
		t.Fatal("a shell ran the argument")
	}

	// A symlink named ls in a trusted directory, pointing at rm, is rm.
	if _, err := execCall(ctx, evilTD.admin, `{"argv":["ls","-rf","x"]}`); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("symlink ls -> rm: got %v, want PermissionDenied", err)
	}
}

// TestToolsSecrets: an injected secret is its own secret.use decision; the
// child's output is masked; a secret the policy forbids stops the call.
func TestToolsSecrets(t *testing.T) {
	td := startToolDaemon(t, func(c *config.Config) { c.Tools.WallTime = config.Duration(500 * time.Millisecond) },
		`@id("no-denied-secret")
forbid (principal, action == Action::"secret.use", resource == Secret::"global/denied");`)
	ctx := context.Background()
	secret := "tok-9f8e7d6c5b4a"
	for _, ref := range []string{"global/api", "global/denied"} {
		if _, err := td.admin.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: ref, Value: []byte(secret)})); err != nil {
			t.Fatal(err)
		}
	}
	start := td.audit.Head()
	res, err := execCall(ctx, td.admin, `{"argv":["printenv","TOKEN"],"env":{"TOKEN":"vault://global/api"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Stdout), secret) || !strings.Contains(string(res.Stdout), "[vault://global/api]") {
		t.Fatalf("stdout %q", res.Stdout)
	}
	// The secret.use decision comes first, then tool.execute.
	su := waitRecord(t, td.audit, start, func(r audit.Record) bool { return r.Action == "secret.use" })
	te := waitRecord(t, td.audit, su.Seq, func(r audit.Record) bool { return r.Action == "tool.execute" })
	if te.Decision != "allow" || su.Decision != "allow" || su.Resource != `Secret::"global/api"` {
		t.Fatalf("decisions %+v %+v", te, su)
	}
	out := waitRecord(t, td.audit, te.Seq, func(r audit.Record) bool { return r.Kind == audit.KindOutcome && r.DecisionSeq == te.Seq })
	if out.Outcome != audit.OutcomeOK || out.Format != 3 || len(out.Details) < 6 ||
		out.Details[0] != "request_sha256="+res.RequestSha256 || out.Details[1] != "exit_code=0" ||
		out.Details[len(out.Details)-1] != "output_sha256="+res.OutputSha256 {
		t.Fatalf("outcome %+v", out)
	}
	for _, d := range out.Details {
		if strings.Contains(d, secret) || strings.Contains(d, "vault://") {
			t.Fatalf("outcome detail %q carries output or a secret reference", d)
		}
	}

	_, err = execCall(ctx, td.admin, `{"argv":["printenv"],"env":{"A":"vault://global/api","B":"vault://global/denied"}}`)
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "secret.use") {
		t.Fatalf("denied secret: %v", err)
	}
	deny := waitRecord(t, td.audit, out.Seq, func(r audit.Record) bool { return r.Action == "secret.use" && r.Decision == "deny" })
	if deny.Resource != `Secret::"global/denied"` {
		t.Fatalf("deny %+v", deny)
	}
	// All or nothing: the secret.use decisions come first, in name order
	// (A: global/api allowed, B: global/denied denied); after the deny
	// the tool.execute action is not decided at all, so nothing ran.
	ok2 := waitRecord(t, td.audit, out.Seq, func(r audit.Record) bool { return r.Action == "secret.use" })
	if ok2.Resource != `Secret::"global/api"` || ok2.Decision != "allow" || deny.Seq != ok2.Seq+1 {
		t.Fatalf("records %+v %+v", ok2, deny)
	}
	if recs, err := td.audit.List(ctx, audit.Filter{AfterSeq: deny.Seq}); err != nil {
		t.Fatal(err)
	} else {
		for _, r := range recs {
			if r.Action == "tool.execute" {
				t.Fatalf("tool.execute decided after a denied secret.use: %+v", r)
			}
		}
	}

	// Over its wall time: killed and reported.
	res, err = execCall(ctx, td.admin, `{"argv":["sleep","30"]}`)
	if err != nil || res.Killed != "timeout" {
		t.Fatalf("sleep: %v %+v", err, res)
	}
	if l, err := td.admin.Tools.List(ctx, connect.NewRequest(&palyrav1.ToolListRequest{})); err != nil || len(l.Msg.Tools) != 5 || l.Msg.Tools[0].Name != "exec" || l.Msg.Tools[4].Name != "http.fetch" {
		t.Fatalf("list: %v %v", err, l)
	}
}

// TestToolsNoRecursiveRmAbbreviations: under the documented
// no-recursive-rm policy (written with full option names), GNU
// abbreviations of --recursive ("--r", "--rec", "--recursiv", "--rec=x")
// are denied like the full name, an ambiguous abbreviation is refused
// before any decision, and the directory survives; rm of a plain file
// still runs.
func TestToolsNoRecursiveRmAbbreviations(t *testing.T) {
	rm, err := filepath.EvalSymlinks("/usr/bin/rm")
	if err != nil {
		t.Skipf("no rm: %v", err)
	}
	td := startToolDaemon(t, nil, `@id("no-recursive-rm")
forbid (principal, action == Action::"tool.execute", resource == Tool::"exec")
when { context.program == "`+rm+`" &&
       (context.flags.contains("-r") || context.flags.contains("-R") || context.flags.contains("--recursive")) };`)
	ctx := context.Background()
	ws := config.Defaults().Tools.WorkspaceDir(td.Layout().Dir)
	victim := filepath.Join(ws, "d")
	if err := os.MkdirAll(filepath.Join(victim, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, argv := range []string{
		`["rm","--r","d"]`, `["rm","--rec","-f","d"]`, `["rm","--recursiv","d"]`, `["rm","--rec=x","d"]`, `["rm","--recursive","d"]`,
		`["rm","-f","d","--re"]`, `["env","rm","--rec","d"]`, `["nice","rm","--recu","--force","d"]`,
	} {
		if _, err := execCall(ctx, td.admin, `{"argv":`+argv+`}`); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s: got %v, want PermissionDenied", argv, err)
		}
	}
	start := td.audit.Head()
	for _, argv := range []string{`["rm","--ver","d"]`, `["rm","--bogus","d"]`, `["rm","--=x","d"]`} {
		if _, err := execCall(ctx, td.admin, `{"argv":`+argv+`}`); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", argv, err)
		}
	}
	if h := td.audit.Head(); h != start {
		t.Errorf("refused calls were decided: journal head %d -> %d", start, h)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("the directory was removed: %v", err)
	}
	if err := os.WriteFile(filepath.Join(ws, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := execCall(ctx, td.admin, `{"argv":["rm","--force","f"]}`); err != nil || res.ExitCode != 0 {
		t.Fatalf("rm --force f: %v %+v", err, res)
	}
}
