// Package tool is the framework of governed tools: what a tool is, how its
// call becomes one authorization request, and the registry the daemon
// serves from.
//
// A call goes through three steps, in this order, and only the daemon's
// guarded route drives them:
//
//  1. Plan decodes the JSON arguments strictly (package args), validates
//     them and resolves everything a policy must see (the absolute program
//     path, the confined working directory, the hosts, the secret
//     references). It has no side effect beyond reading the filesystem.
//  2. The daemon authorizes the Plan: one tool.execute decision on
//     Tool::"<name>" with Plan.Context, and one secret.use decision per
//     Plan.Secrets entry, all journaled, all required.
//  3. Run executes exactly the Plan, with the secret values the daemon
//     resolved from the vault, and returns a Result whose output is masked.
package tool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/vault"
)

// ErrUnknownTool is returned for a name no registered tool has.
var ErrUnknownTool = errors.New("tool: no such tool")

// ErrInvalid is wrapped by Plan errors: the arguments are malformed or not
// allowed by the tool's own rules (before any policy is consulted).
var ErrInvalid = errors.New("tool: invalid call")

// Tool is one governed tool.
type Tool interface {
	// Name is the tool's name, the id of its Tool resource ("exec").
	Name() string
	// Describe says what the tool does and what arguments it takes.
	Describe() Description
	// Plan decodes and validates the JSON arguments object and returns
	// what will run and what policy must see. Errors wrap ErrInvalid (or
	// args.ErrInvalid) and name fields, never secret values.
	Plan(arguments []byte) (*Plan, error)
	// Run executes an authorized plan. secrets holds the value of each
	// Plan.Secrets entry, by Name; Run must not return them or let them
	// reach the Result unmasked. A failure to start is an error; a
	// program that ran and failed is a Result with its exit status.
	Run(ctx context.Context, p *Plan, secrets map[string][]byte) (*Result, error)
}

// Description is a tool's entry in a listing.
type Description struct {
	Name    string
	Summary string
	// Arguments describes each key of the arguments object.
	Arguments []Argument
}

// Argument is one key of a tool's arguments object.
type Argument struct {
	Name     string
	Type     string // "string", "[string]", "{string:string}", "integer"
	Required bool
	Doc      string
}

// SecretUse is one vault value the daemon injects into a call: each is its
// own secret.use decision on Secret::"<scope>/<key>".
type SecretUse struct {
	// Name is where the value goes (an environment variable's name, a
	// header name).
	Name    string
	Ref     vault.Ref
	Version int64 // 0: the latest
}

// String is the reference as ToolContext.secrets holds it: "scope/key",
// or "scope/key#N" for a pinned version.
func (s SecretUse) String() string {
	if s.Version > 0 {
		return fmt.Sprintf("%s#%d", s.Ref, s.Version)
	}
	return s.Ref.String()
}

// Plan is a validated call: what will run and what policy sees.
type Plan struct {
	// Tool is the tool's name.
	Tool string
	// Context is the tool.execute context (ToolContext in the schema).
	Context Context
	// Secrets are the values to inject, each authorized by its own
	// secret.use decision.
	Secrets []SecretUse
	// Hash is the SHA-256 of the canonical request (tool name and
	// arguments as decoded), hex: what an approval would be bound to and
	// what the journal's outcome refers to.
	Hash string
	// Spec is the tool's own validated call; only that tool reads it.
	Spec any
	// Detail is what else an approver must see of the call that Context
	// does not say (fs.write: size and mode; http.fetch: header names and
	// body size), never a secret value; "" if nothing.
	Detail string
}

// Summary is what an approver is shown of the call (one line; see
// approval.Printable for how it is displayed), with credential patterns
// masked. For a program (exec) the parts an approver must not miss come
// first: "exec; program PATH; flags F1 F2; hosts ...; secret ...; cwd
// DIR; DETAIL; argv COMMAND-LINE", the command line (argv shell-quoted,
// operands included) last. For the other tools: the tool, its command line
// (http.fetch: method and URL without password), the path (fs.*), the
// hosts, each injected secret as NAME<-scope/key[#N] (never a value) and
// Detail. The guard refuses a request whose summary is too long to show
// whole (approval.MaxSummary) rather than cut it.
func (p *Plan) Summary() string {
	parts := []string{p.Tool}
	if p.Context.Program != "" {
		parts = append(parts, "program "+p.Context.Program)
		if len(p.Context.Flags) > 0 {
			parts = append(parts, "flags "+strings.Join(p.Context.Flags, " "))
		}
	} else if p.Context.CommandLine != "" {
		parts = append(parts, p.Context.CommandLine)
	}
	if len(p.Context.Hosts) > 0 {
		parts = append(parts, "hosts "+strings.Join(p.Context.Hosts, ","))
	}
	for _, s := range p.Secrets {
		parts = append(parts, "secret "+s.Name+"<-"+s.String())
	}
	switch {
	case p.Context.Cwd != "" && p.Context.Program != "":
		parts = append(parts, "cwd "+p.Context.Cwd)
	case p.Context.Cwd != "":
		parts = append(parts, "path "+p.Context.Cwd)
	}
	if p.Detail != "" {
		parts = append(parts, p.Detail)
	}
	if p.Context.Program != "" && p.Context.CommandLine != "" {
		parts = append(parts, "argv "+p.Context.CommandLine)
	}
	return redact.Patterns().String(strings.Join(parts, "; "))
}

// Context is the tool-specific part of ToolContext (transport and
// device_id come from the connection; approval from the approval path).
type Context struct {
	Program     string
	Argv        []string
	CommandLine string
	Flags       []string
	Cwd         string
	Hosts       []string
}

// Result is what a run produced.
type Result struct {
	// ExitCode is the program's exit status; -1 if it was killed by a
	// signal (Signal says which).
	ExitCode int
	Signal   string
	// Killed is why the daemon ended the run early: "" (it ended by
	// itself), "timeout", "output_limit", "cpu_limit" (SIGXCPU) or
	// "file_size_limit" (SIGXFSZ: a file grew past RLIMIT_FSIZE).
	Killed string
	// Stdout and Stderr are the captured output, masked: every injected
	// secret value and credential pattern replaced by a label.
	Stdout, Stderr []byte
	// Truncated: output beyond the limit was discarded.
	Truncated bool
	// OutputSHA256 is the SHA-256 of the masked stdout followed by the
	// masked stderr, hex (what the audit outcome refers to; never the
	// output).
	OutputSHA256 string
	// Wall is the elapsed time; User and System the CPU time of the
	// process and its waited-for children.
	Wall, User, System time.Duration
	// Limits are the limits in force, "name=value" (e.g. "wall=10s",
	// "cpu=10s", "as=1073741824", "nofile=256", "nproc=64",
	// "output=1048576").
	Limits []string
	// Details are tool-specific facts of the run, never secret: an HTTP
	// status, the size of a file written.
	Details map[string]string
	// Sandbox says which sandbox was in force, e.g. "landlock abi=6
	// fs=workspace:rw-noexec,system:ro net=tcp-denied", or "none: <reason>".
	// Never claimed when it was not applied.
	Sandbox string
}

// HashOutput sets r.OutputSHA256 from r.Stdout and r.Stderr.
func (r *Result) HashOutput() {
	h := sha256.New()
	h.Write(r.Stdout)
	h.Write(r.Stderr)
	r.OutputSHA256 = hex.EncodeToString(h.Sum(nil))
}

// Registry is the set of tools the daemon serves. It is built once at
// start and read concurrently.
type Registry struct {
	tools map[string]Tool
}

// NewRegistry returns a registry of tools; two with one name is an error.
func NewRegistry(tools ...Tool) (*Registry, error) {
	r := &Registry{tools: map[string]Tool{}}
	for _, t := range tools {
		if _, dup := r.tools[t.Name()]; dup {
			return nil, fmt.Errorf("tool: two tools named %q", t.Name())
		}
		r.tools[t.Name()] = t
	}
	return r, nil
}

// Get returns the tool named name, or ErrUnknownTool.
func (r *Registry) Get(name string) (Tool, error) {
	if r != nil {
		if t, ok := r.tools[name]; ok {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownTool, name)
}

// List describes every tool, by name.
func (r *Registry) List() []Description {
	if r == nil {
		return nil
	}
	out := make([]Description, 0, len(r.tools))
	for _, t := range r.tools {
		out = append(out, t.Describe())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names are the registered tools' names, sorted.
func (r *Registry) Names() []string {
	var out []string
	for _, d := range r.List() {
		out = append(out, d.Name)
	}
	return slices.Clip(out)
}

// Hash is the hex SHA-256 of a canonical request: the tool's name and its
// decoded arguments (v, marshalled by encoding/json: struct fields in
// declaration order, map keys sorted), so two spellings of one request
// hash alike and different requests differ.
func Hash(name string, v any) string {
	b, err := json.Marshal(struct {
		Tool      string `json:"tool"`
		Arguments any    `json:"arguments"`
	}{name, v})
	if err != nil {
		panic("tool: arguments not marshallable: " + err.Error()) // decoded from JSON: cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// CedarContext is the ToolContext attributes of p that a caller supplies
// (transport and device_id are the engine's): every attribute present,
// empty when it does not apply. approval is the approval grant in force
// ("" if none).
func (p *Plan) CedarContext(approval string) map[string]types.Value {
	secrets := make([]string, len(p.Secrets))
	for i, s := range p.Secrets {
		secrets[i] = s.String()
	}
	return map[string]types.Value{
		"tool":         types.String(p.Tool),
		"program":      types.String(p.Context.Program),
		"argv":         stringSet(p.Context.Argv),
		"command_line": types.String(p.Context.CommandLine),
		"flags":        stringSet(p.Context.Flags),
		"cwd":          types.String(p.Context.Cwd),
		"hosts":        stringSet(p.Context.Hosts),
		"secrets":      stringSet(secrets),
		"approval":     types.String(approval),
	}
}

func stringSet(ss []string) types.Set {
	vs := make([]types.Value, len(ss))
	for i, s := range ss {
		vs[i] = types.String(s)
	}
	return types.NewSet(vs...)
}
