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
	// Every file of package palyra.v1 (palyra.proto, tools.proto, ...).
	var svcList []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("palyra.v1", func(f protoreflect.FileDescriptor) bool {
		for i := range f.Services().Len() {
			svcList = append(svcList, f.Services().Get(i))
		}
		return true
	})
	n := 0
	for _, s := range svcList {
		for j := range s.Methods().Len() {
			m := s.Methods().Get(j)
			path := "/" + string(s.FullName()) + "/" + string(m.Name())
			n++
			r, ok := table[path]
			switch {
			case !ok:
				t.Errorf("%s has no route: add it to the guard table", path)
				continue
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
		// A call x.Decide(…), x.Append(…), …, or a method value taken
		// from an expression that names the journal or the engine
		// (j := d.audit.Append). A field of the same name read as a value
		// (opts.Append, a boolean) is not a call.
		called := map[*ast.SelectorExpr]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && forbidden[sel.Sel.Name] {
					called[sel] = true
					t.Errorf("%s: calls %s outside the guard", fset.Position(sel.Pos()), sel.Sel.Name)
				}
				return true
			}
			if sel, ok := n.(*ast.SelectorExpr); ok && forbidden[sel.Sel.Name] && !called[sel] && namesGuarded(sel.X) {
				t.Errorf("%s: takes %s outside the guard", fset.Position(sel.Pos()), sel.Sel.Name)
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

// namesGuarded reports whether the expression x (the receiver of a
// selector) names the journal or the authorization engine by any
// identifier in it.
func namesGuarded(x ast.Expr) bool {
	found := false
	ast.Inspect(x, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			l := strings.ToLower(id.Name)
			if strings.Contains(l, "journal") || strings.Contains(l, "audit") || strings.Contains(l, "authz") || strings.Contains(l, "engine") {
				found = true
			}
		}
		return !found
	})
	return found
}
