package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/config"
)

func callTool(ctx context.Context, c *client.Conn, name, doc string) (*palyrav1.ToolExecuteResponse, error) {
	res, err := c.Tools.Execute(ctx, connect.NewRequest(&palyrav1.ToolExecuteRequest{Tool: name, Arguments: []byte(doc)}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// TestToolsFiles: fs.write, fs.read and fs.list through the daemon stay in
// the workspace; a path out of it is refused.
func TestToolsFiles(t *testing.T) {
	td := startToolDaemon(t, nil)
	ctx := context.Background()
	if _, err := callTool(ctx, td.admin, "fs.write", `{"path":"notes/a.txt","content":"hello","create":true,"make_parents":true}`); err != nil {
		t.Fatal(err)
	}
	r, err := callTool(ctx, td.admin, "fs.read", `{"path":"notes/a.txt"}`)
	if err != nil || string(r.Stdout) != "hello" || r.Cwd == "" || !strings.HasSuffix(r.Cwd, "/workspace/notes/a.txt") {
		t.Fatalf("read: %v %+v", err, r)
	}
	l, err := callTool(ctx, td.admin, "fs.list", `{"path":"notes"}`)
	var entries []map[string]any
	if err != nil || json.Unmarshal(l.Stdout, &entries) != nil || len(entries) != 1 || entries[0]["name"] != "a.txt" {
		t.Fatalf("list: %v %s", err, l.GetStdout())
	}
	ws := config.Defaults().Tools.WorkspaceDir(td.Layout().Dir)
	if err := os.Symlink("/etc", filepath.Join(ws, "out")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ tool, doc string }{
		{"fs.read", `{"path":"../state.json"}`}, {"fs.read", `{"path":"/etc/passwd"}`}, {"fs.read", `{"path":"out/passwd"}`},
		{"fs.write", `{"path":"out/x","content":"x","create":true}`}, {"fs.list", `{"path":"out"}`},
		{"fs.read", `{"path":"a","PATH":"b"}`},
	} {
		if r, err := callTool(ctx, td.admin, c.tool, c.doc); err == nil {
			t.Errorf("%s %s: accepted: %+v", c.tool, c.doc, r)
		}
	}
	if _, err := os.Stat("/etc/x"); err == nil {
		t.Fatal("fs.write escaped the workspace")
	}

	// A run that fails after an allow has its error outcome journaled.
	start := td.audit.Head()
	if _, err := callTool(ctx, td.admin, "fs.read", `{"path":"notes"}`); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("read of a directory: %v", err)
	}
	dec := waitRecord(t, td.audit, start, func(r audit.Record) bool { return r.Action == "tool.execute" })
	out := waitRecord(t, td.audit, dec.Seq, func(r audit.Record) bool { return r.Kind == audit.KindOutcome && r.DecisionSeq == dec.Seq })
	if out.Outcome != audit.OutcomeError {
		t.Fatalf("outcome %+v", out)
	}
}

// TestToolsFetch: http.fetch judges the URL's host in policy
// (context.hosts), refuses loopback unless configured, injects a secret
// header only as a secret.use decision, and masks it in the body.
func TestToolsFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("auth=" + r.Header.Get("Authorization")))
	}))
	defer srv.Close()
	strict := startToolDaemon(t, nil)
	td := startToolDaemon(t, func(c *config.Config) { c.Tools.FetchAllowPrefixes = []string{"127.0.0.1/32"} },
		`@id("no-fetch-localhost")
forbid (principal, action == Action::"tool.execute", resource == Tool::"http.fetch")
when { context.hosts.contains("localhost") };`)
	ctx := context.Background()
	if _, err := td.admin.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/gh", Value: []byte("Bearer ghp_fetch_secret")})); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{srv.URL, "http://169.254.169.254/", "http://0x7f.1/", "http://[::1]/"} {
		if _, err := callTool(ctx, strict.admin, "http.fetch", `{"url":"`+u+`"}`); err == nil {
			t.Errorf("%s: fetched from the strict daemon", u)
		}
	}
	r, err := callTool(ctx, td.admin, "http.fetch", `{"url":"`+srv.URL+`","secret_headers":{"Authorization":"vault://global/gh"}}`)
	if err != nil || r.Details["status"] != "200" || strings.Contains(string(r.Stdout), "ghp_fetch_secret") || !strings.Contains(string(r.Stdout), "[vault://global/gh]") {
		t.Fatalf("fetch: %v %+v", err, r)
	}
	start := td.audit.Head()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	if _, err := callTool(ctx, td.admin, "http.fetch", `{"url":"http://localhost`+port+`/"}`); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("localhost: %v", err)
	}
	deny := waitRecord(t, td.audit, start, func(r audit.Record) bool { return r.Action == "tool.execute" })
	if deny.Decision != "deny" || deny.Resource != `Tool::"http.fetch"` {
		t.Fatalf("decision %+v", deny)
	}
}

// TestToolsFetchTLSFailureIsClear: an https URL whose certificate does not
// verify (here a server redirecting from http to it) fails with
// FailedPrecondition and the reason, not as an internal error.
func TestToolsFetchTLSFailureIsClear(t *testing.T) {
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("tls")) }))
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	untrusted.StartTLS()
	defer untrusted.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, untrusted.URL+"/", http.StatusFound)
	}))
	defer plain.Close()
	td := startToolDaemon(t, func(c *config.Config) { c.Tools.FetchAllowPrefixes = []string{"127.0.0.1/32"} })
	for _, u := range []string{untrusted.URL + "/", plain.URL + "/"} {
		_, err := callTool(context.Background(), td.admin, "http.fetch", `{"url":"`+u+`"}`)
		if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: got %v, want FailedPrecondition naming the certificate", u, err)
		}
	}
}
