package exec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"

	"github.com/palyra/palyra/internal/tool"
	"github.com/palyra/palyra/internal/tool/args"
)

// testTool is the exec tool over a temporary workspace, with the trusted
// directories first (for symlink tests) and then /usr/bin and /bin.
func testTool(t *testing.T, mutate func(*Config), trusted ...string) *Tool {
	t.Helper()
	cfg := Config{
		Workspace:   filepath.Join(t.TempDir(), "ws"),
		TrustedDirs: append(trusted, "/usr/bin", "/bin"),
		SystemDirs:  []string{"/usr", "/bin", "/lib", "/lib64", "/etc"},
		Wall:        10 * time.Second,
		CPU:         10 * time.Second,
		MemoryBytes: 1 << 30,
		OpenFiles:   256,
		Processes:   4096,
		FileBytes:   64 << 20,
		OutputBytes: 1 << 20,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	tl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func plan(t *testing.T, tl *Tool, doc string) *tool.Plan {
	t.Helper()
	p, err := tl.Plan([]byte(doc))
	if err != nil {
		t.Fatalf("plan %s: %v", doc, err)
	}
	return p
}

func realPath(t *testing.T, name string) string {
	p, err := filepath.EvalSymlinks("/usr/bin/" + name)
	if err != nil {
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// TestWrappersSeenThrough: rm behind every wrapper that is seen through is
// governed as rm, with its flags normalized.
func TestWrappersSeenThrough(t *testing.T) {
	tl := testTool(t, nil)
	rm := realPath(t, "rm")
	for _, argv := range []string{
		`["rm","-rf","x"]`, `["rm","-fr","x"]`, `["rm","-r","-f","x"]`, `["rm","--recursive","--force","x"]`,
		`["/usr/bin/rm","-rf","x"]`, `["/bin/rm","-rf","x"]`,
		`["env","rm","-rf","x"]`, `["env","-i","--","rm","-rf","x"]`,
		`["timeout","5","rm","-rf","x"]`, `["timeout","-s","KILL","-k5","5s","rm","-rf","x"]`, `["timeout","--signal=KILL","5","rm","-rf","x"]`,
		`["nice","rm","-rf","x"]`, `["nice","-n","5","rm","-rf","x"]`, `["nice","-10","rm","-rf","x"]`, `["nice","--adjustment=3","rm","-rf","x"]`,
		`["nohup","rm","-rf","x"]`, `["stdbuf","-o0","rm","-rf","x"]`, `["stdbuf","-o","L","rm","-rf","x"]`,
		`["setsid","-f","rm","-rf","x"]`, `["ionice","-c","3","rm","-rf","x"]`, `["chrt","-b","0","rm","-rf","x"]`,
		`["taskset","1","rm","-rf","x"]`, `["taskset","-c","0","rm","-rf","x"]`,
		`["nice","timeout","5","env","nohup","rm","-rf","x"]`,
	} {
		p, err := tl.Plan([]byte(`{"argv":` + argv + `}`))
		if err != nil {
			t.Errorf("%s: %v", argv, err)
			continue
		}
		if p.Context.Program != rm {
			t.Errorf("%s: program %q, want %q", argv, p.Context.Program, rm)
		}
		if !slices.Contains(p.Context.Flags, "-r") && !slices.Contains(p.Context.Flags, "--recursive") {
			t.Errorf("%s: flags %q", argv, p.Context.Flags)
		}
	}
	p := plan(t, tl, `{"argv":["rm","-fr","--force=yes","--","-x"]}`)
	if want := []string{"-f", "-r", "--force"}; !slices.Equal(p.Context.Flags, want) {
		t.Errorf("flags %q, want %q", p.Context.Flags, want)
	}
}

// TestRefused: wrappers that hide what runs, and programs outside the
// trusted directories, are refused before authorization.
func TestRefused(t *testing.T) {
	evil := t.TempDir()
	if err := os.Symlink("/usr/bin/rm", filepath.Join(evil, "ls")); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "tool"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "tool"), filepath.Join(evil, "ls2")); err != nil {
		t.Fatal(err)
	}
	tl := testTool(t, nil, evil)
	// A symlink named ls pointing at rm (inside a trusted directory) is rm.
	if p := plan(t, tl, `{"argv":["ls","-l"]}`); p.Context.Program != realPath(t, "rm") {
		t.Fatalf("symlink ls -> rm resolved to %q", p.Context.Program)
	}
	for _, argv := range []string{
		`["sh","-c","rm -rf x"]`, `["bash","-c","rm -rf x"]`, `["dash","-c","rm"]`, `["/bin/sh","-c","ls"]`,
		`["xargs","rm"]`, `["sudo","rm","-rf","x"]`, `["env","-S","rm -rf x"]`, `["env","LD_PRELOAD=/x.so","ls"]`,
		`["env","PATH=/tmp","ls"]`, `["env","--chdir=/","rm"]`, `["timeout","5","sh","-c","rm"]`, `["nice","xargs","rm"]`,
		`["ionice","-p","1"]`, `["taskset","-p","1"]`, `["timeout","--sig=KILL","5","rm"]`, `["find",".","-exec","rm","{}",";"]`,
		`["ls2"]`, `["./ls"]`, `["bin/ls"]`, `["/tmp/nonexistent"]`, `["no-such-program"]`, `[]`, `["ls","a\u0000b"]`,
	} {
		_, err := tl.Plan([]byte(`{"argv":` + argv + `}`))
		if !errors.Is(err, tool.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", argv, err)
		}
	}
	for _, doc := range []string{
		`{"argv":["ls"],"argv":["rm","-rf","x"]}`, `{"argv":["ls"],"ARGV":["rm"]}`, `{"Argv":["rm"]}`, `{"argv":["ls"],"shell":"rm"}`,
	} {
		_, err := tl.Plan([]byte(doc))
		if !errors.Is(err, args.ErrInvalid) {
			t.Errorf("%s: got %v, want args.ErrInvalid", doc, err)
		}
	}
	for _, doc := range []string{`{"argv":["ls"],"cwd":"../.."}`, `{"argv":["ls"],"cwd":"/etc"}`, `{"argv":["ls"],"env":{"LD_PRELOAD":"vault://global/k"}}`, `{"argv":["ls"],"env":{"A":"global/k"}}`} {
		if _, err := tl.Plan([]byte(doc)); !errors.Is(err, tool.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", doc, err)
		}
	}
}

func run(t *testing.T, tl *Tool, doc string, secrets map[string][]byte) *tool.Result {
	t.Helper()
	res, err := tl.Run(context.Background(), plan(t, tl, doc), secrets)
	if err != nil {
		t.Fatalf("run %s: %v", doc, err)
	}
	return res
}

// TestMetacharactersLiteral: argv reaches the program byte for byte; no
// shell sees it.
func TestMetacharactersLiteral(t *testing.T) {
	tl := testTool(t, nil)
	lit := `$(touch pwned); rm -rf / && echo "x" | cat > f; ` + "`id`" + ` *`
	res := run(t, tl, `{"argv":["printf","%s","`+strings.ReplaceAll(lit, `"`, `\"`)+`"]}`, nil)
	if string(res.Stdout) != lit || res.ExitCode != 0 {
		t.Fatalf("stdout %q exit %d, want %q", res.Stdout, res.ExitCode, lit)
	}
	if _, err := os.Stat(filepath.Join(tl.ws, "pwned")); err == nil {
		t.Fatal("a shell ran the argument")
	}
	if res.OutputSHA256 == "" || len(res.Limits) == 0 || res.Sandbox == "" {
		t.Fatalf("result lacks hash, limits or sandbox: %+v", res)
	}
	t.Logf("sandbox: %s; limits: %v", res.Sandbox, res.Limits)
}

// TestSecretMasked: an injected secret printed by the child is masked.
func TestSecretMasked(t *testing.T) {
	tl := testTool(t, nil)
	secret := []byte("s3cr3t-value-42")
	res := run(t, tl, `{"argv":["printenv","TOKEN"],"env":{"TOKEN":"vault://global/api"}}`, map[string][]byte{"TOKEN": secret})
	if strings.Contains(string(res.Stdout), string(secret)) || !strings.Contains(string(res.Stdout), "[vault://global/api]") {
		t.Fatalf("stdout %q", res.Stdout)
	}
	// The environment is cleared: the daemon's own variables are absent.
	t.Setenv("PALYRA_LEAK_CHECK", "leak")
	res = run(t, tl, `{"argv":["env"]}`, nil)
	if strings.Contains(string(res.Stdout), "PALYRA_LEAK_CHECK") || !strings.Contains(string(res.Stdout), "PATH=/usr/bin:/bin") {
		t.Fatalf("environment not cleared: %q", res.Stdout)
	}
}

// TestLimitsKill: a process over its wall time or output limit is killed
// (with its process group) and reported.
func TestLimitsKill(t *testing.T) {
	tl := testTool(t, func(c *Config) { c.Wall = 300 * time.Millisecond; c.OutputBytes = 4096 })
	res := run(t, tl, `{"argv":["sleep","30"]}`, nil)
	if res.Killed != "timeout" || res.Signal != "killed" || res.Wall > 5*time.Second {
		t.Fatalf("sleep: %+v", res)
	}
	res = run(t, tl, `{"argv":["yes"]}`, nil)
	if res.Killed != "output_limit" || !res.Truncated || len(res.Stdout) != 4096 {
		t.Fatalf("yes: killed %q truncated %v stdout %d bytes", res.Killed, res.Truncated, len(res.Stdout))
	}
	tl = testTool(t, func(c *Config) { c.CPU = time.Second })
	res = run(t, tl, `{"argv":["sha256sum","/dev/zero"]}`, nil)
	if res.Killed != "cpu_limit" && res.Signal != "killed" {
		t.Fatalf("cpu: %+v", res)
	}
}

// TestLandlockConfinesWrites: under Landlock a write outside the workspace
// fails and one inside succeeds.
func TestLandlockConfinesWrites(t *testing.T) {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil {
		t.Skipf("this kernel has no Landlock (%v); the sandbox is reported as none", err)
	}
	t.Logf("landlock ABI %d", abi)
	tl := testTool(t, func(c *Config) { c.RequireSandbox = true })
	outside := filepath.Join(t.TempDir(), "escaped")
	res := run(t, tl, `{"argv":["touch","`+outside+`"]}`, nil)
	if res.ExitCode == 0 {
		t.Fatalf("a write outside the workspace succeeded: %+v", res)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Fatal("the file outside the workspace exists")
	}
	if !strings.HasPrefix(res.Sandbox, "landlock abi=") {
		t.Fatalf("sandbox %q", res.Sandbox)
	}
	res = run(t, tl, `{"argv":["touch","inside"]}`, nil)
	if res.ExitCode != 0 {
		t.Fatalf("a write inside the workspace failed: %s", res.Stderr)
	}
}

// TestLandlockNetwork: with Landlock ABI 4+, a TCP connect fails unless
// its port is in tcp_connect (and policy sees it as a host "*:PORT").
func TestLandlockNetwork(t *testing.T) {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil || abi < 4 {
		t.Skipf("Landlock ABI %d (%v) cannot restrict TCP", abi, err)
	}
	curl, err := filepath.EvalSymlinks("/usr/bin/curl")
	if err != nil {
		t.Skipf("no curl: %v", err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("reached")) })}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	tl := testTool(t, func(c *Config) { c.RequireSandbox = true })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	res := run(t, tl, `{"argv":["`+curl+`","-sS","--max-time","5","`+url+`"]}`, nil)
	if res.ExitCode == 0 || strings.Contains(string(res.Stdout), "reached") {
		t.Fatalf("connect without tcp_connect succeeded: %+v", res)
	}
	p := plan(t, tl, fmt.Sprintf(`{"argv":["curl","-sS","--max-time","5","%s"],"tcp_connect":[%d]}`, url, port))
	if want := []string{fmt.Sprintf("*:%d", port)}; !slices.Equal(p.Context.Hosts, want) {
		t.Fatalf("hosts %q, want %q", p.Context.Hosts, want)
	}
	res, err = tl.Run(context.Background(), p, nil)
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "reached" {
		t.Fatalf("connect with tcp_connect: %v %+v stderr %s", err, res, res.Stderr)
	}
	t.Logf("sandbox: %s", res.Sandbox)
}

// TestReservedEnvNames: a secret may not take the name of a variable that
// makes a program run or load other code (any case); ordinary token names
// are fine.
func TestReservedEnvNames(t *testing.T) {
	tl := testTool(t, nil)
	for _, n := range []string{
		"PATH", "LD_PRELOAD", "ld_library_path", "DYLD_INSERT_LIBRARIES", "BASH_ENV", "ENV", "GIT_CONFIG_COUNT",
		"GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0", "GIT_CONFIG_PARAMETERS", "GIT_EXTERNAL_DIFF", "GIT_SSH_COMMAND",
		"PERL5OPT", "PERL5LIB", "PERLLIB", "PYTHONPATH", "PYTHONSTARTUP", "NODE_OPTIONS", "LESSOPEN", "GLIBC_TUNABLES",
		"JAVA_TOOL_OPTIONS", "RUBYOPT", "Pager", "TAR_OPTIONS", "RSH", "tape",
	} {
		if _, err := tl.Plan([]byte(`{"argv":["ls"],"env":{"` + n + `":"vault://global/k"}}`)); !errors.Is(err, tool.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", n, err)
		}
	}
	for _, n := range []string{"GITHUB_TOKEN", "NODE_AUTH_TOKEN", "GIT_TOKEN", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "TOKEN"} {
		if _, err := tl.Plan([]byte(`{"argv":["ls"],"env":{"` + n + `":"vault://global/k"}}`)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

// TestTrustedDirsNamedOnce: /bin and /usr/bin (the same directory on a
// merged-/usr system) are one trusted directory, named once in messages.
func TestTrustedDirsNamedOnce(t *testing.T) {
	tl := testTool(t, nil) // trusted: /usr/bin, /bin
	if len(slices.Compact(slices.Sorted(slices.Values(tl.res.trusted)))) != len(tl.res.trusted) {
		t.Fatalf("trusted directories repeat: %q", tl.res.trusted)
	}
	_, err := tl.Plan([]byte(`{"argv":["no-such-program"]}`))
	if err == nil || !strings.HasSuffix(err.Error(), "trusted directories "+strings.Join(tl.res.trusted, ":")) {
		t.Fatalf("got %v", err)
	}
	if usr, _ := filepath.EvalSymlinks("/bin"); usr == "/usr/bin" && strings.Contains(err.Error(), "/usr/bin:/usr/bin") {
		t.Fatalf("named twice: %v", err)
	}
}

// TestWritableTrustedDirRefused: a trusted directory others may write is a
// configuration error.
func TestWritableTrustedDirRefused(t *testing.T) {
	d := t.TempDir()
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Workspace: filepath.Join(t.TempDir(), "ws"), TrustedDirs: []string{d, "/usr/bin"}})
	if err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("got %v", err)
	}
}

// TestMemoryLimit: RLIMIT_AS is in force in the program (and a low one
// does not break the launcher itself).
func TestMemoryLimit(t *testing.T) {
	perl, err := filepath.EvalSymlinks("/usr/bin/perl")
	if err != nil {
		t.Skipf("no perl: %v", err)
	}
	doc := `{"argv":["` + perl + `","-e","my $x = \"a\" x 200000000; print length($x)"]}`
	res := run(t, testTool(t, func(c *Config) { c.MemoryBytes = 64 << 20 }), doc, nil)
	if res.ExitCode == 0 || strings.Contains(string(res.Stdout), "200000000") {
		t.Fatalf("200 MB allocated under a 64 MiB limit: %+v", res)
	}
	res = run(t, testTool(t, func(c *Config) { c.MemoryBytes = 1 << 30 }), doc, nil)
	if res.ExitCode != 0 || string(res.Stdout) != "200000000" {
		t.Fatalf("under 1 GiB: exit %d stdout %q stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	for range 20 { // the launcher itself never trips over a 16 MiB limit
		if res := run(t, testTool(t, func(c *Config) { c.MemoryBytes = 16 << 20 }), `{"argv":["true"]}`, nil); res.ExitCode != 0 {
			t.Fatalf("true under 16 MiB: %+v", res)
		}
	}
}
