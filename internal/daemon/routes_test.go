package daemon

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/guard"
)

// openDaemon opens (without serving) a daemon in a temporary directory.
func openDaemon(t *testing.T) *Daemon {
	t.Helper()
	cfg := config.Defaults()
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.Listen = "127.0.0.1:0"
	d, err := Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// TestEveryProcedureHasAGuardedRoute fails when a procedure of the API is
// added without a guard entry, or a route is added that opens something to
// anonymous callers without this test being changed on purpose.
func TestEveryProcedureHasAGuardedRoute(t *testing.T) {
	d := openDaemon(t)
	table := map[string]guard.Route{}
	for _, r := range d.routes(d.guard) {
		table[r.Procedure] = r
	}
	// The pairing protocol's procedures are anonymous and decided by the
	// protocol, every call journaled.
	protocol := map[string]bool{
		palyrav1connect.PairingServiceStartProcedure:  true,
		palyrav1connect.PairingServiceFinishProcedure: true,
		palyrav1connect.PairingServicePollProcedure:   true,
	}
	n := 0
	for _, s := range apiServices() {
		{ // one service
			for j := range s.Methods().Len() {
				m := s.Methods().Get(j)
				path := "/" + string(s.FullName()) + "/" + string(m.Name())
				n++
				r, ok := table[path]
				switch {
				case !ok:
					t.Errorf("%s has no route: add it to the guard table", path)
					continue
				case protocol[path]:
					if !r.Anonymous() || !r.Journaled() || r.Decided() {
						t.Errorf("%s: want an anonymous, journaled protocol route", path)
					}
					delete(protocol, path)
				case !r.Decided():
					t.Errorf("%s is not a decided route", path)
				case r.StreamType != streamType(m):
					t.Errorf("%s: route stream type %v, the API says %v", path, r.StreamType, streamType(m))
				}
				if _, err := authz.ParseAction(string(r.Action)); err != nil {
					t.Errorf("%s: action: %v", path, err)
				}
				delete(table, path)
			}
		}
	}
	if len(protocol) != 0 {
		t.Errorf("protocol procedures missing from the API: %v", protocol)
	}
	if n < 12 {
		t.Fatalf("only %d procedures found in the API descriptor", n)
	}
	// What is left is outside Palyra's services: exactly health (open)
	// and reflection (no decision; authenticated, or health only).
	want := map[string]bool{HealthCheckProcedure: true, ReflectionProcedure: false, ReflectionAlphaProcedure: false}
	for path, r := range table {
		anon, ok := want[path]
		if !ok {
			t.Errorf("unexpected route %s", path)
			continue
		}
		if r.Anonymous() != anon || r.Decided() {
			t.Errorf("%s: anonymous=%v decided=%v", path, r.Anonymous(), r.Decided())
		}
		delete(want, path)
	}
	for path := range want {
		t.Errorf("missing route %s", path)
	}
}

// apiServices are the services of every file of the palyra.v1 package
// (palyra.proto and the files beside it).
func apiServices() []protoreflect.ServiceDescriptor {
	_ = palyrav1.File_palyra_v1_palyra_proto // linked in: registered below
	var out []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("palyra.v1", func(f protoreflect.FileDescriptor) bool {
		for i := range f.Services().Len() {
			out = append(out, f.Services().Get(i))
		}
		return true
	})
	return out
}

func streamType(m protoreflect.MethodDescriptor) connect.StreamType {
	var st connect.StreamType
	if m.IsStreamingClient() {
		st |= connect.StreamTypeClient
	}
	if m.IsStreamingServer() {
		st |= connect.StreamTypeServer
	}
	return st
}

// TestNoHandlerBypassesTheGuard fails when code outside the guard calls the
// authorization engine or appends to the journal: decisions and records
// are the guard's alone.
func TestNoHandlerBypassesTheGuard(t *testing.T) {
	root := filepath.Join("..", "..")
	forbidden := map[string]bool{"Decide": true, "Append": true, "AppendDurable": true, "AppendAsync": true}
	// The packages that define these methods, and the guard that calls
	// them, are the only places allowed to.
	allowed := []string{"internal/guard/", "internal/audit/", "internal/authz/"}
	// The policy package evaluates (Decide) for the active-set holder the
	// guard calls, for test cases and for explain; it never acts on a
	// decision and never writes the journal.
	decideOnly := []string{"internal/policy/"}
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			if path != root && (strings.HasPrefix(e.Name(), ".") || e.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		for _, a := range allowed {
			if strings.HasPrefix(rel, a) {
				return nil
			}
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		evaluates := false
		for _, a := range decideOnly {
			evaluates = evaluates || strings.HasPrefix(rel, a)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			// Calls only: a field that happens to share a name (an
			// option's Append flag) is not a journal write.
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && forbidden[sel.Sel.Name] && !(evaluates && sel.Sel.Name == "Decide") {
				t.Errorf("%s: calls %s outside the guard", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d files", checked)
	}
}
