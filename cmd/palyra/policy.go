package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/policy"
)

func policySvc(c *client.Conn) palyrav1connect.PolicyServiceClient { return c.Policy }

func policyCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "policy", Short: "List, explain, test and reload the authorization policies",
		Long: "List, explain, test and reload the authorization policies: the built-in baseline plus the operator\n" +
			"policies of the policy directory (*.cedar files and *.cedartest test cases; docs/policies.md).",
		Example: "  palyra policy list\n  palyra policy test ./policies\n  palyra policy reload"})
	cmd.AddCommand(policyListCmd(g), policyExplainCmd(g), policyTestCmd(g), policyReloadCmd(g))
	return cmd
}

func policyListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the active policies: id, effect, source file:line and annotations",
		Example: "  palyra policy list\n  palyra policy list --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c.Context(), g, policySvc, palyrav1connect.PolicyServiceClient.List, &palyrav1.PolicyListRequest{})
			if err != nil {
				return err
			}
			if g.json {
				out := []map[string]any{}
				for _, p := range r.Policies {
					anns := map[string]string{}
					for _, a := range p.Annotations {
						anns[a.Name] = a.Value
					}
					out = append(out, map[string]any{"id": p.Id, "effect": p.Effect, "source": p.Source, "line": p.Line, "column": p.Column, "annotations": anns})
				}
				return printJSON(map[string]any{"dir": r.Dir, "digest": r.Digest, "policies": out})
			}
			fmt.Println("ID\tEFFECT\tSOURCE\tANNOTATIONS")
			for _, p := range r.Policies {
				var anns []string
				for _, a := range p.Annotations {
					anns = append(anns, fmt.Sprintf("@%s(%q)", a.Name, a.Value))
				}
				fmt.Printf("%s\t%s\t%s:%d\t%s\n", p.Id, p.Effect, p.Source, p.Line, strings.Join(anns, " "))
			}
			return nil
		},
	}
}

func policyExplainCmd(g *globals) *cobra.Command {
	var m palyrav1.PolicyExplainRequest
	cmd := &cobra.Command{
		Use:   "explain --principal ENTITY --action ACTION --resource ENTITY",
		Short: "Evaluate a request against the active policies (never executes it): decision, determining policies, obligations, errors",
		Long: "Evaluate a request against the active policies and print the decision (allow, deny, or pending: a\n" +
			"deny a human may approve), the determining policies, their obligations and any evaluation errors.\n" +
			"The request is evaluated, never executed. Entities use Cedar syntax. Defaults: --request-transport\n" +
			"tcp and --device-id the principal's id for a Device (which needs --owner), unix otherwise.\n" +
			"--context is a JSON object of the action's own context attributes (duplicate keys are refused); an\n" +
			"action that declares attributes needs every one (tool.execute: see the example; docs/policies.md).",
		Example: "  palyra policy explain --principal 'User::\"alice\"' --action 'Action::\"vault.read\"' --resource 'Secret::\"global/k\"'\n" +
			"  palyra policy explain --principal 'User::\"alice\"' --action tool.execute --resource 'Tool::\"exec\"' --context '{\"tool\": \"exec\", \"program\": \"/usr/bin/ls\", \"argv\": [\"-l\"], \"command_line\": \"ls -l\", \"flags\": [\"-l\"], \"cwd\": \"/home/alice/work\", \"hosts\": [], \"secrets\": [], \"approval\": \"\"}' --json",
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if m.Principal == "" || m.Action == "" || m.Resource == "" {
				return usagef("policy explain needs --principal, --action and --resource")
			}
			// Checked here too, so that bad input is reported without a
			// daemon, and the same way.
			if _, err := (policy.Query{Principal: m.Principal, Owner: m.Owner, Roles: m.Roles, Action: m.Action, Resource: m.Resource,
				Transport: m.Transport, DeviceID: m.DeviceId, Context: []byte(m.ContextJson)}).Request(); err != nil {
				return usageError{err}
			}
			r, err := call(c.Context(), g, policySvc, palyrav1connect.PolicyServiceClient.Explain, &m)
			if err != nil {
				return err
			}
			obligations := []map[string]string{}
			var obl []string
			for _, o := range r.Obligations {
				obligations = append(obligations, map[string]string{"policy": o.Policy, "name": o.Name, "value": o.Value})
				obl = append(obl, fmt.Sprintf("%s: @%s(%q)", o.Policy, o.Name, o.Value))
			}
			if g.json {
				return printJSON(map[string]any{"decision": r.Decision, "policies": nonNil(r.Policies), "obligations": obligations, "errors": nonNil(r.Errors)})
			}
			fmt.Printf("decision:     %s\n", r.Decision)
			fmt.Printf("policies:     %s\n", listOrNone(r.Policies, ", ", "none (default deny)"))
			fmt.Printf("obligations:  %s\n", listOrNone(obl, ", ", "none"))
			fmt.Printf("errors:       %s\n", listOrNone(r.Errors, "; ", "none"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&m.Principal, "principal", "", `principal entity: User::"NAME", Device::"ULID" or Connector::"NAME"`)
	f.StringVar(&m.Owner, "owner", "", "the owning user of a Device principal")
	f.StringArrayVar(&m.Roles, "role", nil, fmt.Sprintf("a role of the principal (for a Device, of its owner); repeatable, at most %d", policy.MaxRoles))
	f.StringVar(&m.Action, "action", "", `action: Action::"NAME" or NAME, e.g. vault.read`)
	f.StringVar(&m.Resource, "resource", "", `resource entity, e.g. Secret::"global/k"`)
	f.StringVar(&m.Transport, "request-transport", "", "transport of the explained request: unix, tcp or quic")
	f.StringVar(&m.DeviceId, "device-id", "", "calling device of the explained request")
	f.StringVar(&m.ContextJson, "context", "", "JSON object of the action's context attributes")
	return cmd
}

func listOrNone(l []string, sep, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, sep)
}

func policyTestCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "test [DIR]",
		Short: "Load a policy directory and run its test cases: DIR offline, or the running daemon's directory",
		Long: "Load a policy directory as a reload would (permissions, syntax, schema) and run its *.cedartest\n" +
			"cases. With DIR it works offline, no daemon needed; without, the running daemon loads and tests its\n" +
			"own policy directory without changing its active policies. Exit 0 when every case passes, 1 when\n" +
			"the directory does not load or a case fails.",
		Example: "  palyra policy test ~/.local/state/palyra/policies\n  palyra policy test\n  palyra policy test ./policies --json",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most 1 argument, got %d (see --help)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			var dir string
			var results []policy.Result
			if len(args) == 1 {
				dir = args[0]
				switch fi, err := os.Stat(dir); {
				case errors.Is(err, fs.ErrNotExist):
					return usagef("policy test %s: it does not exist; give the policy directory (DIR/policies of the state directory)", dir)
				case err != nil:
					return usagef("policy test %s: %v", dir, err)
				case !fi.IsDir():
					return usagef("policy test %s: not a directory; give the policy directory, not a file in it", dir)
				}
				_, rs, err := policy.Check(dir)
				if err != nil {
					return fmt.Errorf("policy directory rejected: %w", err)
				}
				results = rs
			} else {
				r, err := call(c.Context(), g, policySvc, palyrav1connect.PolicyServiceClient.Test, &palyrav1.PolicyTestRequest{})
				if connect.CodeOf(err) == connect.CodeFailedPrecondition {
					var ce *connect.Error
					errors.As(err, &ce)
					return fmt.Errorf("policy directory rejected: %s", ce.Message())
				}
				if err != nil {
					return err
				}
				dir = r.Dir
				for _, cr := range r.Results {
					results = append(results, policy.Result{File: cr.File, Case: cr.Name, Failure: cr.Failure})
				}
			}
			failed := 0
			out := []map[string]any{}
			for _, r := range results {
				if !r.Passed() {
					failed++
				}
				out = append(out, map[string]any{"file": r.File, "case": r.Case, "passed": r.Passed(), "failure": r.Failure})
			}
			if g.json {
				if err := printJSON(map[string]any{"dir": dir, "cases": len(results), "failed": failed, "results": out}); err != nil {
					return err
				}
			} else {
				// The case name is quoted and the rest escaped when
				// needed: a control character in a name or a failure
				// must not be able to fake an output line.
				for _, r := range results {
					if r.Passed() {
						fmt.Printf("PASS\t%s\t%q\n", policy.Printable(r.File), r.Case)
					} else {
						fmt.Printf("FAIL\t%s\t%q\t%s\n", policy.Printable(r.File), r.Case, policy.Printable(r.Failure))
					}
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d policy test cases failed in %s; a reload would be rejected", failed, len(results), dir)
			}
			if g.json {
				return nil
			}
			if len(results) == 0 {
				// The daemon's directory is on this machine when it is
				// asked over the admin socket.
				if _, err := os.Stat(dir); len(args) == 0 && g.identity == "" && errors.Is(err, fs.ErrNotExist) {
					fmt.Fprintf(c.ErrOrStderr(), "there is no policy directory (%s): only the baseline policies apply; create it with *.cedar and *.cedartest files (docs/policies.md)\n", dir)
				} else {
					fmt.Fprintf(c.ErrOrStderr(), "no policy test cases in %s (add *.cedartest files; docs/policies.md)\n", dir)
				}
				return nil
			}
			fmt.Fprintf(c.ErrOrStderr(), "%d policy test cases passed in %s\n", len(results), dir)
			return nil
		},
	}
}

func policyReloadCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Have the daemon load its policy directory again (as SIGHUP does); a broken directory is rejected",
		Long: "Have the daemon load its policy directory again, as SIGHUP does. The new policies become active only\n" +
			"if every file validates and every test case passes; otherwise the error names the file and line, or\n" +
			"the failing case, and the active policies keep answering. Reloading is for the owner on the local\n" +
			"socket (the baseline forbids it over the network).",
		Example: "  palyra policy reload\n  palyra policy reload --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c.Context(), g, policySvc, palyrav1connect.PolicyServiceClient.Reload, &palyrav1.PolicyReloadRequest{})
			if connect.CodeOf(err) == connect.CodePermissionDenied {
				var ce *connect.Error
				errors.As(err, &ce)
				return connect.NewError(connect.CodePermissionDenied, errors.New(ce.Message()+
					"; reloading is for the owner on the admin socket (palyra --state-dir STATE_DIR policy reload, or SIGHUP to palyrad)"+
					"; if an operator policy forbids policy.write, edit the policy files and restart palyrad"))
			}
			if connect.CodeOf(err) == connect.CodeFailedPrecondition {
				var ce *connect.Error
				errors.As(err, &ce)
				return errors.New(ce.Message())
			}
			if err != nil {
				return err
			}
			return g.report(map[string]any{"dir": r.Dir, "digest": r.Digest, "previous_digest": r.PreviousDigest, "files": r.Files, "policies": r.Policies, "cases": r.Cases},
				"policies reloaded from %s: %d policies (%d files), %d test cases passed, digest %s", r.Dir, r.Policies, r.Files, r.Cases, r.Digest[:16])
		},
	}
}
