package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/client"
)

func toolsSvc(c *client.Conn) palyrav1connect.ToolsServiceClient { return c.Tools }

func toolCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "tool", Short: "List and run the daemon's governed tools (docs/tools.md)",
		Example: "  palyra tool list\n  palyra tool run exec -- ls -la\n  palyra tool run exec --arg env.TOKEN=vault://global/gh_token -- printenv TOKEN"})
	cmd.AddCommand(toolListCmd(g), toolRunCmd(g))
	return cmd
}

func toolListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the governed tools and their arguments",
		Example: "  palyra tool list\n  palyra tool list --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			m, err := call(c.Context(), g, toolsSvc, palyrav1connect.ToolsServiceClient.List, &palyrav1.ToolListRequest{})
			if err != nil {
				return err
			}
			if g.json {
				var out []map[string]any
				for _, t := range m.Tools {
					var as []map[string]any
					for _, a := range t.Arguments {
						as = append(as, map[string]any{"name": a.Name, "type": a.Type, "required": a.Required, "doc": a.Doc})
					}
					out = append(out, map[string]any{"name": t.Name, "summary": t.Summary, "arguments": as})
				}
				return printJSON(map[string]any{"tools": out})
			}
			for _, t := range m.Tools {
				fmt.Printf("%s\t%s\n", t.Name, t.Summary)
				for _, a := range t.Arguments {
					req := ""
					if a.Required {
						req = ", required"
					}
					fmt.Printf("  %s (%s%s): %s\n", a.Name, a.Type, req, a.Doc)
				}
			}
			return nil
		},
	}
}

func toolRunCmd(g *globals) *cobra.Command {
	var kvs, jsonKVs []string
	cmd := &cobra.Command{
		Use:   "run TOOL [--arg KEY=VALUE ...] [-- ARGV...]",
		Short: "Run a governed tool: one authorization decision, sandboxed, output masked",
		Long: "Run TOOL with the arguments object built from --arg KEY=VALUE (a string; KEY.NAME=VALUE sets\n" +
			"NAME in the object KEY, as in env.TOKEN=vault://global/gh_token), --arg-json KEY=JSON (any JSON\n" +
			"value: create=true) and, after --, the argv array. Tool-specific facts of the run (an HTTP\n" +
			"status, a file's size) are printed on stderr as one line.\n" +
			"The program's masked stdout and stderr are printed as they were captured, and palyra exits with\n" +
			"its exit status (128+9 when the daemon killed it, with the reason on stderr). With --json the\n" +
			"whole result is printed instead.",
		Example: "  palyra tool run exec -- ls -la\n" +
			"  palyra tool run exec --arg cwd=project -- git status --short\n" +
			"  palyra tool run exec --arg env.TOKEN=vault://global/gh_token -- printenv TOKEN\n" +
			"  palyra tool run fs.write --arg path=notes.txt --arg content=hello --arg-json create=true\n" +
			"  palyra tool run http.fetch --arg url=https://example.com/\n" +
			"  palyra --json tool run exec -- ls",
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dash := c.ArgsLenAtDash()
			if dash == 0 || (dash < 0 && len(args) != 1) || dash > 1 {
				return usagef("want: palyra tool run TOOL [--arg KEY=VALUE ...] [-- ARGV...]")
			}
			doc, err := toolArguments(kvs, jsonKVs, args[1:])
			if err != nil {
				return err
			}
			m, err := call(c.Context(), g, toolsSvc, palyrav1connect.ToolsServiceClient.Execute, &palyrav1.ToolExecuteRequest{Tool: args[0], Arguments: doc})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(map[string]any{
					"exit_code": m.ExitCode, "signal": m.Signal, "killed": m.Killed,
					"stdout": string(m.Stdout), "stderr": string(m.Stderr), "truncated": m.Truncated,
					"output_sha256": m.OutputSha256, "request_sha256": m.RequestSha256,
					"wall_us": m.WallUs, "user_us": m.UserUs, "system_us": m.SystemUs,
					"limits": m.Limits, "sandbox": m.Sandbox, "program": m.Program, "cwd": m.Cwd,
					"details": m.Details,
				})
			}
			os.Stdout.Write(m.Stdout)
			os.Stderr.Write(m.Stderr)
			if len(m.Details) > 0 {
				var ds []string
				for _, k := range slices.Sorted(maps.Keys(m.Details)) {
					ds = append(ds, k+"="+m.Details[k])
				}
				fmt.Fprintf(os.Stderr, "%s: %s\n", args[0], strings.Join(ds, " "))
			}
			switch {
			case m.Killed != "":
				fmt.Fprintf(os.Stderr, "palyra: %s was killed by the daemon: %s (limits: %s)\n", m.Program, m.Killed, strings.Join(m.Limits, " "))
				return exitStatus(128 + 9)
			case m.Signal != "":
				fmt.Fprintf(os.Stderr, "palyra: %s ended by signal %s\n", m.Program, m.Signal)
				return exitStatus(128 + 9)
			case m.Truncated:
				fmt.Fprintln(os.Stderr, "palyra: output truncated at the daemon's limit")
			}
			if m.ExitCode != 0 {
				return exitStatus(m.ExitCode)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&kvs, "arg", nil, "KEY=VALUE or KEY.NAME=VALUE: a string argument of the tool (repeatable)")
	cmd.Flags().StringArrayVar(&jsonKVs, "arg-json", nil, "KEY=JSON: an argument given as a JSON value, e.g. create=true (repeatable)")
	return cmd
}

// toolArguments builds the arguments object: each --arg, and argv when
// given after --. A key given twice is a usage error, as the daemon would
// refuse it.
func toolArguments(kvs, jsonKVs, argv []string) ([]byte, error) {
	obj := map[string]any{}
	for _, kv := range jsonKVs {
		k, v, ok := strings.Cut(kv, "=")
		var val any
		if !ok || k == "" || json.Unmarshal([]byte(v), &val) != nil {
			return nil, usagef("--arg-json %q: want KEY=JSON", k)
		}
		if _, dup := obj[k]; dup {
			return nil, usagef("--arg-json %s given twice", k)
		}
		obj[k] = val
	}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--arg %q: want KEY=VALUE", k)
		}
		if outer, inner, nested := strings.Cut(k, "."); nested {
			m, isMap := obj[outer].(map[string]any)
			if _, taken := obj[outer]; taken && !isMap {
				return nil, usagef("--arg %s given both as a value and as an object", outer)
			}
			if m == nil {
				m = map[string]any{}
				obj[outer] = m
			}
			if _, dup := m[inner]; dup || inner == "" {
				return nil, usagef("--arg %s given twice or empty", k)
			}
			m[inner] = v
			continue
		}
		if _, dup := obj[k]; dup {
			return nil, usagef("--arg %s given twice", k)
		}
		obj[k] = v
	}
	if len(argv) > 0 {
		if _, dup := obj["argv"]; dup {
			return nil, usagef("argv given both with --arg and after --")
		}
		obj["argv"] = argv
	}
	return json.Marshal(obj)
}
