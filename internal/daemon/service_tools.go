package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/tool"
	"github.com/palyra/palyra/internal/tool/args"
	toolexec "github.com/palyra/palyra/internal/tool/exec"
	"github.com/palyra/palyra/internal/tool/fetchtool"
	"github.com/palyra/palyra/internal/tool/fsops"
	"github.com/palyra/palyra/internal/tool/fstool"
	"github.com/palyra/palyra/internal/tool/httpfetch"
	"github.com/palyra/palyra/internal/tool/netguard"
)

// openTools builds the registry of governed tools from the [tools] table
// (the workspace is created 0700 if missing).
func (d *Daemon) openTools(context.Context) error {
	t := d.cfg.Tools
	ex, err := toolexec.New(toolexec.Config{
		Workspace:      t.WorkspaceDir(d.layout.Dir),
		TrustedDirs:    t.TrustedDirs,
		SystemDirs:     t.SystemDirs,
		Wall:           time.Duration(t.WallTime),
		CPU:            time.Duration(t.CPUTime),
		MemoryBytes:    t.MemoryBytes,
		OpenFiles:      t.OpenFiles,
		Processes:      t.Processes,
		FileBytes:      t.MaxFileBytes,
		OutputBytes:    t.OutputBytes,
		RequireSandbox: t.RequireSandbox,
	})
	if err != nil {
		return err
	}
	var allow netguard.Allow
	for _, p := range t.FetchAllowPrefixes {
		allow.Prefixes = append(allow.Prefixes, netip.MustParsePrefix(p)) // validated by config
	}
	tools := append([]tool.Tool{ex, fetchtool.New(fetchtool.Config{Allow: allow})}, fstool.New(ex.Workspace())...)
	if d.tools, err = tool.NewRegistry(tools...); err != nil {
		return err
	}
	abi, lerr := toolexec.LandlockABI()
	switch {
	case lerr == nil:
		d.log.Info("governed tools ready", "tools", d.tools.Names(), "workspace", ex.Workspace(), "landlock_abi", abi)
	case t.RequireSandbox:
		d.log.Warn("this kernel has no Landlock: exec will refuse every call ([tools] require_sandbox = true)", "err", lerr)
	default:
		d.log.Warn("this kernel has no Landlock: exec runs programs without a sandbox ([tools] require_sandbox = false)", "err", lerr)
	}
	return nil
}

// toolCall is a validated ToolsService.Execute request: the tool and the
// plan that was authorized.
type toolCall struct {
	tool tool.Tool
	plan *tool.Plan
}

// toolRoutes are the ToolsService procedures. Execute plans the call
// (strict arguments, resolved program, confined directory) before the
// guard decides tool.execute on Tool::"<name>" with the plan's context and
// secret.use on every injected secret; the act function resolves those
// secrets from the vault and runs exactly the plan.
func (d *Daemon) toolRoutes(g *guard.Guard) []guard.Route {
	return []guard.Route{
		guard.Unary(g, palyrav1connect.ToolsServiceExecuteProcedure, authz.ActionToolExecute, guard.Write,
			func(_ authn.Caller, m *palyrav1.ToolExecuteRequest) (toolCall, guard.Target, error) {
				t, err := d.tools.Get(m.GetTool())
				if err != nil {
					return toolCall{}, guard.Target{}, connect.NewError(connect.CodeNotFound, err)
				}
				p, err := t.Plan(m.GetArguments())
				if err != nil {
					if errors.Is(err, tool.ErrInvalid) || errors.Is(err, args.ErrInvalid) {
						return toolCall{}, guard.Target{}, connect.NewError(connect.CodeInvalidArgument, err)
					}
					return toolCall{}, guard.Target{}, err
				}
				// The approval digest is the hash of the full decoded
				// arguments: what the Cedar context leaves out (content,
				// body, headers, env names) is bound all the same.
				tg := guard.Target{Resource: authz.Resource{Type: authz.ResourceTool, ID: t.Name()}, Context: p.CedarContext(""),
					Digest: []byte(p.Hash), Summary: p.Summary()}
				for _, s := range p.Secrets {
					tg.Also = append(tg.Also, guard.Also{Action: authz.ActionSecretUse, Resource: authz.SecretResource(s.Ref.Scope, s.Ref.Key)})
				}
				return toolCall{t, p}, tg, nil
			},
			d.runTool),
		guard.Unary(g, palyrav1connect.ToolsServiceListProcedure, authz.ActionToolList, guard.Read,
			func(_ authn.Caller, _ *palyrav1.ToolListRequest) (struct{}, guard.Target, error) {
				return struct{}{}, guard.Target{Resource: authz.Resource{Type: authz.ResourceTool, ID: authz.AllTools}}, nil
			},
			func(context.Context, authn.Caller, struct{}) (*palyrav1.ToolListResponse, error) {
				out := &palyrav1.ToolListResponse{}
				for _, desc := range d.tools.List() {
					td := &palyrav1.ToolDescription{Name: desc.Name, Summary: desc.Summary}
					for _, a := range desc.Arguments {
						td.Arguments = append(td.Arguments, &palyrav1.ToolArgument{Name: a.Name, Type: a.Type, Required: a.Required, Doc: a.Doc})
					}
					out.Tools = append(out.Tools, td)
				}
				return out, nil
			}),
	}
}

// runTool resolves the authorized secrets, runs the plan and logs the
// run's facts (never its output or secrets).
func (d *Daemon) runTool(ctx context.Context, c authn.Caller, call toolCall) (*palyrav1.ToolExecuteResponse, error) {
	secrets := map[string][]byte{}
	defer func() {
		for _, v := range secrets {
			clear(v)
		}
	}()
	for _, s := range call.plan.Secrets {
		var v []byte
		var err error
		if s.Version == 0 {
			v, _, err = d.vault.GetLatest(ctx, s.Ref)
		} else {
			v, err = d.vault.GetVersion(ctx, s.Ref, s.Version)
		}
		if err != nil {
			return nil, fmt.Errorf("tool %s: secret for %s: %w", call.plan.Tool, s.Name, err)
		}
		secrets[s.Name] = v
	}
	res, err := call.tool.Run(ctx, call.plan, secrets)
	if err != nil {
		return nil, toolRunError(err)
	}
	d.log.Info("tool run", "tool", call.plan.Tool, "principal", c.Principal.String(), "request_sha256", call.plan.Hash,
		"program", call.plan.Context.Program, "exit_code", res.ExitCode, "signal", res.Signal, "killed", res.Killed,
		"wall", res.Wall, "user", res.User, "system", res.System, "output_sha256", res.OutputSHA256, "sandbox", res.Sandbox)
	return &palyrav1.ToolExecuteResponse{
		ExitCode: int32(res.ExitCode), // #nosec G115 -- an exit status fits
		Signal:   res.Signal, Killed: res.Killed,
		Stdout: res.Stdout, Stderr: res.Stderr, Truncated: res.Truncated, OutputSha256: res.OutputSHA256,
		WallUs: res.Wall.Microseconds(), UserUs: res.User.Microseconds(), SystemUs: res.System.Microseconds(),
		Limits: res.Limits, Sandbox: res.Sandbox,
		Program: call.plan.Context.Program, Cwd: call.plan.Context.Cwd, RequestSha256: call.plan.Hash, Details: res.Details,
	}, nil
}

// toolRunError maps a failed run to what the caller sees: the tools'
// refusals keep their (value-free) message; anything unexpected stays an
// internal error for mapError.
func toolRunError(err error) error {
	code := connect.Code(0)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, fs.ErrNotExist):
		code = connect.CodeNotFound
	case errors.Is(err, fs.ErrExist):
		code = connect.CodeAlreadyExists
	case errors.Is(err, fsops.ErrPath), errors.Is(err, fsops.ErrNotRegular), errors.Is(err, fsops.ErrTooLarge),
		errors.Is(err, fsops.ErrHardLinked), errors.Is(err, httpfetch.ErrHeader), errors.Is(err, httpfetch.ErrRequest):
		code = connect.CodeInvalidArgument
	case errors.Is(err, netguard.ErrBlocked), errors.Is(err, netguard.ErrURL), errors.Is(err, httpfetch.ErrHostNotAllowed):
		code = connect.CodePermissionDenied
	case errors.Is(err, httpfetch.ErrTimeout):
		code = connect.CodeDeadlineExceeded
	case errors.Is(err, toolexec.ErrSandboxUnavailable), errors.Is(err, httpfetch.ErrTooManyRedirects), errors.Is(err, httpfetch.ErrTransport):
		code = connect.CodeFailedPrecondition
	case errors.As(err, new(*net.OpError)), errors.As(err, new(*net.DNSError)):
		code = connect.CodeFailedPrecondition // the remote end, not the daemon, is unreachable
	case errors.As(err, new(*fs.PathError)):
		code = connect.CodeFailedPrecondition // e.g. os.Root: "path escapes from parent"
	default:
		return err
	}
	return connect.NewError(code, err)
}
