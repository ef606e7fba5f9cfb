// Package exec is the governed "exec" tool: it runs one program, given as
// an argv array (never a shell string), resolved through trusted
// directories, inside the workspace, with a cleared environment, resource
// limits and, on Linux, a Landlock sandbox. See docs/tools.md.
package exec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palyra/palyra/internal/tool"
	"github.com/palyra/palyra/internal/tool/args"
	"github.com/palyra/palyra/internal/vault"
)

// Name is the tool's name and the id of its resource, Tool::"exec".
const Name = "exec"

// errInvalid is what Plan's errors wrap.
var errInvalid = tool.ErrInvalid

// Limits of one argv.
const (
	// MaxArgs is the largest number of argv entries.
	MaxArgs = 1024
	// MaxEnv is the largest number of injected secrets.
	MaxEnv = 32
	// MaxPorts is the largest number of tcp_connect ports.
	MaxPorts = 16
)

// Config is the exec tool's configuration (the [tools] table).
type Config struct {
	// Workspace is the directory programs run in (read-write under the
	// sandbox); absolute. It is created 0700 if missing.
	Workspace string
	// TrustedDirs are the directories programs are resolved in.
	TrustedDirs []string
	// SystemDirs are readable (and executable) under the sandbox.
	SystemDirs []string
	// Wall is the wall-time limit: the process group is killed after it.
	Wall time.Duration
	// CPU is RLIMIT_CPU, rounded up to whole seconds.
	CPU time.Duration
	// MemoryBytes is RLIMIT_AS.
	MemoryBytes int64
	// OpenFiles is RLIMIT_NOFILE.
	OpenFiles int64
	// Processes is RLIMIT_NPROC (counted per user by the kernel, and not
	// enforced for root).
	Processes int64
	// FileBytes is RLIMIT_FSIZE: the largest file the program may write
	// (a write past it fails, and SIGXFSZ ends the program); positive.
	FileBytes int64
	// OutputBytes bounds stdout and stderr together: the process group is
	// killed when it is exceeded.
	OutputBytes int64
	// RequireSandbox refuses to run a program when the Landlock sandbox
	// cannot be applied (no Landlock in the kernel, another OS).
	RequireSandbox bool
	// Launcher is the binary re-executed as the sandbox launcher (a
	// binary that links this package: palyrad); "" means /proc/self/exe,
	// the daemon's own binary even if its file was replaced or removed.
	Launcher string
}

// Tool is the exec tool.
type Tool struct {
	cfg Config
	res *resolver
	ws  string // the workspace, symlink-resolved
}

// New returns the exec tool for cfg, creating the workspace.
func New(cfg Config) (*Tool, error) {
	if !filepath.IsAbs(cfg.Workspace) {
		return nil, fmt.Errorf("exec: workspace %q is not absolute", cfg.Workspace)
	}
	if err := os.MkdirAll(cfg.Workspace, 0o700); err != nil {
		return nil, fmt.Errorf("exec: workspace: %w", err)
	}
	ws, err := filepath.EvalSymlinks(cfg.Workspace)
	if err != nil {
		return nil, fmt.Errorf("exec: workspace: %w", err)
	}
	r, err := newResolver(cfg.TrustedDirs)
	if err != nil {
		return nil, err
	}
	if cfg.Launcher == "" {
		cfg.Launcher = "/proc/self/exe"
	}
	return &Tool{cfg: cfg, res: r, ws: ws}, nil
}

// Name implements tool.Tool.
func (*Tool) Name() string { return Name }

// Describe implements tool.Tool.
func (*Tool) Describe() tool.Description {
	return tool.Description{
		Name:    Name,
		Summary: "run one program from the trusted directories in the workspace, sandboxed, with limits",
		Arguments: []tool.Argument{
			{Name: "argv", Type: "[string]", Required: true, Doc: "the program (a bare name looked up in the trusted directories, or an absolute path) and its arguments; never a shell string"},
			{Name: "cwd", Type: "string", Doc: "working directory, relative to the workspace (default: the workspace)"},
			{Name: "env", Type: "{string:string}", Doc: "NAME: vault://SCOPE/KEY[#N] — secrets injected as environment variables, each a secret.use decision"},
			{Name: "tcp_connect", Type: "[integer]", Doc: "TCP ports the program may connect to, on any address (policy sees hosts \"*:PORT\"); none by default"},
		},
	}
}

// Args is the exec tool's arguments object.
type Args struct {
	Argv []string          `json:"argv"`
	Cwd  string            `json:"cwd,omitempty"`
	Env  map[string]string `json:"env,omitempty"`
	// TCPConnect are the TCP ports the program may connect to (any host:
	// Landlock restricts ports, not addresses); none by default.
	TCPConnect []int `json:"tcp_connect,omitempty"`
}

// spec is a planned exec call.
type spec struct {
	exe   []string // the argv to execute, program names absolute
	cwd   string
	ports []uint16 // TCP ports the sandbox lets the program connect to
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedEnvNames and reservedEnvPrefixes are the environment names an
// injected secret may not take (compared case-insensitively): the fixed
// environment, and variables that make a program load or run other code,
// or read another configuration, than the argv shows (docs/tools.md).
var (
	reservedEnvNames = map[string]bool{
		// the fixed environment, and what shells and the C library read
		"PATH": true, "HOME": true, "LANG": true, "TMPDIR": true, "SHELL": true, "IFS": true,
		"ENV": true, "BASH_ENV": true, "SHELLOPTS": true, "BASHOPTS": true, "PS4": true, "PROMPT_COMMAND": true,
		"CDPATH": true, "GLOBIGNORE": true, "GCONV_PATH": true, "LOCPATH": true, "NLSPATH": true,
		"GLIBC_TUNABLES": true, "HOSTALIASES": true, "RESOLV_HOST_CONF": true, "TZDIR": true,
		// git
		"GIT_EXTERNAL_DIFF": true, "GIT_SSH": true, "GIT_SSH_COMMAND": true, "GIT_ASKPASS": true,
		"GIT_EXEC_PATH": true, "GIT_PAGER": true, "GIT_EDITOR": true, "GIT_SEQUENCE_EDITOR": true,
		"GIT_PROXY_COMMAND": true, "GIT_TEMPLATE_DIR": true, "GIT_DIR": true, "GIT_WORK_TREE": true,
		// interpreters and runtimes
		"PERLLIB": true, "RUBYOPT": true, "RUBYLIB": true, "NODE_OPTIONS": true, "NODE_PATH": true,
		"NODE_REPL_EXTERNAL_MODULE": true, "JAVA_TOOL_OPTIONS": true, "_JAVA_OPTIONS": true,
		"JDK_JAVA_OPTIONS": true, "CLASSPATH": true, "LUA_INIT": true, "LUA_PATH": true, "LUA_CPATH": true,
		"TCLLIBPATH": true, "R_PROFILE": true, "R_PROFILE_USER": true,
		// programs other programs start, and configuration they read
		"LESSOPEN": true, "LESSCLOSE": true, "PAGER": true, "MANPAGER": true, "EDITOR": true, "VISUAL": true,
		"BROWSER": true, "SSH_ASKPASS": true, "SUDO_ASKPASS": true, "OPENSSL_CONF": true,
		"OPENSSL_ENGINES": true, "CURL_HOME": true, "WGETRC": true,
		// tar: options read before argv's (--to-command...), the remote shell
		"TAR_OPTIONS": true, "RSH": true, "TAPE": true,
	}
	reservedEnvPrefixes = []string{"LD_", "DYLD_", "GIT_CONFIG", "PERL5", "PYTHON"}
)

// reservedEnv reports whether n may not name an injected secret.
func reservedEnv(n string) bool {
	u := strings.ToUpper(n)
	if reservedEnvNames[u] {
		return true
	}
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

// Plan implements tool.Tool: it decodes the arguments strictly, resolves
// the program (seeing through wrappers), confines the working directory
// and parses the secret references. It reads the filesystem and changes
// nothing.
func (t *Tool) Plan(raw []byte) (*tool.Plan, error) {
	var a Args
	if err := args.Decode(raw, &a); err != nil {
		return nil, err
	}
	if len(a.Argv) == 0 {
		return nil, fmt.Errorf("%w: argv is required and may not be empty", errInvalid)
	}
	if len(a.Argv) > MaxArgs {
		return nil, fmt.Errorf("%w: %d argv entries, at most %d", errInvalid, len(a.Argv), MaxArgs)
	}
	for i, s := range a.Argv {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("%w: argv[%d] holds a NUL byte", errInvalid, i)
		}
	}
	u, err := unwrap(t.res, a.Argv)
	if err != nil {
		return nil, err
	}
	cwd, err := t.confine(a.Cwd)
	if err != nil {
		return nil, err
	}
	ports, hosts, err := connectPorts(a.TCPConnect)
	if err != nil {
		return nil, err
	}
	p := &tool.Plan{Tool: Name, Hash: tool.Hash(Name, a), Spec: spec{exe: u.exe, cwd: cwd, ports: ports}}
	if len(a.Env) > MaxEnv {
		return nil, fmt.Errorf("%w: %d env entries, at most %d", errInvalid, len(a.Env), MaxEnv)
	}
	for n, uri := range a.Env {
		if !envName.MatchString(n) || reservedEnv(n) {
			return nil, fmt.Errorf("%w: env name %q is not allowed (want [A-Za-z_][A-Za-z0-9_]*, not PATH, HOME, LD_*, GIT_CONFIG_*, PYTHONPATH, NODE_OPTIONS and the others listed in docs/tools.md)", errInvalid, n)
		}
		ref, v, err := vault.ParseURI(uri)
		if err != nil {
			return nil, fmt.Errorf("%w: env %s: %w", errInvalid, n, err)
		}
		p.Secrets = append(p.Secrets, tool.SecretUse{Name: n, Ref: ref, Version: v})
	}
	slices.SortFunc(p.Secrets, func(a, b tool.SecretUse) int { return strings.Compare(a.Name, b.Name) })
	args := u.exe[u.index+1:]
	flags, err := normalizeFlags(filepath.Base(u.program), args)
	if err != nil {
		return nil, err
	}
	if err := refuseSpawning(filepath.Base(u.program), flags); err != nil {
		return nil, err
	}
	p.Context = tool.Context{
		Program:     u.program,
		Argv:        args,
		CommandLine: shellQuote(a.Argv),
		Flags:       flags,
		Cwd:         cwd,
		Hosts:       hosts,
	}
	return p, nil
}

// connectPorts checks the tcp_connect ports and names them for policy as
// hosts "*:PORT" (any address: the sandbox restricts ports only), sorted,
// each once.
func connectPorts(in []int) ([]uint16, []string, error) {
	if len(in) > MaxPorts {
		return nil, nil, fmt.Errorf("%w: %d tcp_connect ports, at most %d", errInvalid, len(in), MaxPorts)
	}
	var ports []uint16
	for _, p := range in {
		if p < 1 || p > 65535 {
			return nil, nil, fmt.Errorf("%w: tcp_connect port %d out of range [1, 65535]", errInvalid, p)
		}
		ports = append(ports, uint16(p)) // #nosec G115 -- checked above
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	hosts := make([]string, len(ports))
	for i, p := range ports {
		hosts[i] = "*:" + strconv.Itoa(int(p))
	}
	return ports, hosts, nil
}

// confine resolves cwd (relative to the workspace, or absolute) and
// checks that it is a directory inside the workspace after symlinks.
func (t *Tool) confine(cwd string) (string, error) {
	p := cwd
	if !filepath.IsAbs(p) {
		p = filepath.Join(t.ws, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("%w: cwd %q: %v", errInvalid, cwd, errors.Unwrap(err))
	}
	if !within(t.ws, real) {
		return "", fmt.Errorf("%w: cwd %q is outside the workspace %s", errInvalid, cwd, t.ws)
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: cwd %q is not a directory", errInvalid, cwd)
	}
	return real, nil
}

// Workspace is the workspace directory, absolute and symlink-resolved.
func (t *Tool) Workspace() string { return t.ws }
