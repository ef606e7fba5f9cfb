package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/fileperm"
)

const alicePermit = `// alice reads global secrets
@id("alice-read-global")
permit (
    principal == User::"alice",
    action == Action::"vault.read",
    resource in Vault::"global"
);
`

const aliceCases = `{"cases": [
  {"name": "alice reads", "principal": "User::\"alice\"", "action": "Action::\"vault.read\"",
   "resource": "Secret::\"global/k\"", "expect": "allow", "policies": ["alice-read-global"]},
  {"name": "bob does not", "principal": "User::\"bob\"", "action": "vault.read",
   "resource": "Secret::\"global/k\"", "expect": "deny", "policies": []}
]}
`

// policyDir makes a 0700 directory holding files (name → text, 0600).
func policyDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func aliceReads(t *testing.T, s interface {
	Decide(authz.Request) authz.Decision
}) authz.Decision {
	t.Helper()
	req, err := Query{Principal: `User::"alice"`, Action: "vault.read", Resource: `Secret::"global/k"`}.Request()
	if err != nil {
		t.Fatal(err)
	}
	return s.Decide(req)
}

// A missing directory is the baseline alone only for the default
// directory, and only until it has been seen: an explicitly configured one
// must exist, and one that was loaded and then disappears is refused with
// the active set still answering (F1).
func TestMissingDirectory(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent")
	if _, err := Load(absent); !errors.Is(err, ErrNoDirectory) {
		t.Fatalf("Load: err = %v", err)
	}
	if _, err := Open(absent, true); !errors.Is(err, ErrNoDirectory) || !strings.Contains(err.Error(), "policy_dir") || !strings.Contains(err.Error(), "mkdir -m 700 "+absent) {
		t.Fatalf("required: err = %v", err)
	}
	h, err := Open(absent, false)
	if err != nil {
		t.Fatal(err)
	}
	if s := h.Active(); len(s.Files) != 0 || len(s.Policies) == 0 || s.Policies[0].Source != authz.BaselineSourceName {
		t.Fatalf("set = %+v", s)
	}
	// Still never seen: still the baseline.
	if _, _, err := h.Reload(); err != nil {
		t.Fatal(err)
	}

	dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit})
	var h2 *Holder
	for _, required := range []bool{false, true} {
		if err := os.Rename(filepath.Join(dir, "..", "moved"), dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		h, err := Open(dir, required)
		if err != nil {
			t.Fatal(err)
		}
		h2 = h
		active := h.Active()
		if err := os.Rename(dir, filepath.Join(dir, "..", "moved")); err != nil {
			t.Fatal(err)
		}
		_, _, err = h.Reload()
		if !errors.Is(err, ErrNoDirectory) || !strings.Contains(err.Error(), "is gone") && !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("required %v: reload of a vanished directory: err = %v", required, err)
		}
		if h.Active() != active || !aliceReads(t, h).Allowed() {
			t.Fatal("a vanished directory changed the active set")
		}
		if rep, err := h.Test(); !errors.Is(err, ErrNoDirectory) {
			t.Fatalf("Test of a vanished directory: %+v, %v", rep, err)
		}
	}
	// An empty directory is how to go back to the baseline.
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h2.Reload(); err != nil || aliceReads(t, h2).Allowed() {
		t.Fatalf("empty directory: %v", err)
	}
}

func TestOperatorPolicyAndCasesLoad(t *testing.T) {
	dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit, "alice.cedartest": aliceCases, "notes.txt": "ignored", ".hidden.cedar": "garbage"})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Cases != 2 || len(s.Files) != 1 || len(s.CaseFiles) != 1 {
		t.Fatalf("set = %+v", s)
	}
	x := s.Explain(mustRequest(t, Query{Principal: `User::"alice"`, Action: "vault.read", Resource: `Secret::"global/k"`}))
	if x.Effect != authz.Allow || len(x.Policies) != 1 || x.Policies[0] != "alice-read-global" {
		t.Fatalf("explain = %+v", x)
	}
	var info *Info
	for i := range s.Policies {
		if s.Policies[i].ID == "alice-read-global" {
			info = &s.Policies[i]
		}
	}
	if info == nil || info.Source != "10-alice.cedar" || info.Line != 2 || info.Effect != "permit" {
		t.Fatalf("info = %+v", info)
	}
}

func mustRequest(t *testing.T, q Query) authz.Request {
	t.Helper()
	r, err := q.Request()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBrokenPolicyNamesFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		sentinel   error
	}{
		{"syntax", "@id(\"a\")\npermit (principal, action, resource);\n\n@id(\"b\")\npermit (principal action, resource);\n", 0, authz.ErrSyntax},
		{"schema", "\n\n@id(\"bad-attr\")\npermit (principal, action == Action::\"vault.read\", resource)\nwhen { context.nope == 1 };\n", 3, authz.ErrSchema},
		{"unknown action", "@id(\"bad-action\")\npermit (principal, action == Action::\"vault.steal\", resource);\n", 1, authz.ErrSchema},
		{"duplicate of baseline", "@id(\"admin-full-access\")\npermit (principal, action, resource);\n", 1, authz.ErrDuplicateID},
		{"missing id", "permit (principal, action, resource);\n", 1, authz.ErrMissingID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := policyDir(t, map[string]string{"ok.cedar": alicePermit, "x.cedar": tc.text})
			_, err := Load(dir)
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want a FileError wrapping %v", err, tc.sentinel)
			}
			if fe.Path != filepath.Join(dir, "x.cedar") || !strings.HasPrefix(err.Error(), filepath.Join(dir, "x.cedar")+":") {
				t.Fatalf("err = %v does not name the file", err)
			}
			if tc.line > 0 && fe.Line != tc.line {
				t.Fatalf("line = %d, want %d (%v)", fe.Line, tc.line, err)
			}
			if tc.sentinel == authz.ErrSyntax && !strings.Contains(err.Error(), ":5:") {
				t.Fatalf("syntax error %v does not name line 5", err)
			}
		})
	}
}

func TestFailingCaseRejectsTheLoad(t *testing.T) {
	cases := strings.Replace(aliceCases, `"expect": "deny"`, `"expect": "allow"`, 1)
	dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit, "alice.cedartest": cases})
	_, err := Load(dir)
	var ce *CaseError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCaseFailed) {
		t.Fatalf("err = %v, want a CaseError", err)
	}
	if ce.Case != "bob does not" || !strings.Contains(err.Error(), "expected allow, got deny") || !strings.Contains(err.Error(), "alice.cedartest") {
		t.Fatalf("err = %v", err)
	}
	_, results, err := Check(dir)
	if err != nil || len(results) != 2 || !results[0].Passed() || results[1].Passed() {
		t.Fatalf("Check = %+v, %v", results, err)
	}
}

func TestCaseWithWrongDeterminingPolicyFails(t *testing.T) {
	cases := strings.Replace(aliceCases, `"policies": ["alice-read-global"]`, `"policies": ["admin-full-access"]`, 1)
	_, err := Load(policyDir(t, map[string]string{"10-alice.cedar": alicePermit, "alice.cedartest": cases}))
	if err == nil || !strings.Contains(err.Error(), "expected determining policies [admin-full-access], got [alice-read-global]") {
		t.Fatalf("err = %v", err)
	}
}

func TestCaseWithBadRequestFails(t *testing.T) {
	cases := `{"cases": [{"name": "n", "principal": "Vault::\"x\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "expect": "deny"}]}`
	_, err := Load(policyDir(t, map[string]string{"a.cedartest": cases}))
	if err == nil || !strings.Contains(err.Error(), "bad request: principal") {
		t.Fatalf("err = %v", err)
	}
}

// A case whose request the engine refuses as malformed (a context
// attribute vault.read does not declare) fails, even expecting deny.
func TestCaseWithMalformedRequestFails(t *testing.T) {
	cases := `{"cases": [{"name": "typo", "principal": "User::\"bob\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "context": {"reson": "x"}, "expect": "deny"}]}`
	_, err := Load(policyDir(t, map[string]string{"a.cedartest": cases}))
	if err == nil || !strings.Contains(err.Error(), `test case "typo" failed: bad request: `) {
		t.Fatalf("err = %v", err)
	}
}

func TestInsecurePermissionsAreRefused(t *testing.T) {
	dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit})
	path := filepath.Join(dir, "10-alice.cedar")
	if err := os.Chmod(path, 0o664); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if !errors.Is(err, fileperm.ErrInsecure) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod go-w") {
		t.Fatalf("group-writable file: err = %v", err)
	}
	os.Chmod(path, 0o644) // readable by others is fine
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, fileperm.ErrInsecure) {
		t.Fatalf("world-writable directory: err = %v", err)
	}
}

func TestNotARegularFileIsRefused(t *testing.T) {
	dir := policyDir(t, nil)
	if err := os.Mkdir(filepath.Join(dir, "sub.cedar"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v", err)
	}
}

func TestHolderReloadSwapsOnlyAValidSet(t *testing.T) {
	dir := policyDir(t, nil)
	h, err := Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if aliceReads(t, h).Allowed() {
		t.Fatal("alice allowed by the baseline")
	}
	os.WriteFile(filepath.Join(dir, "10-alice.cedar"), []byte(alicePermit), 0o600)
	next, prev, err := h.Reload()
	if err != nil || next == prev || h.Active() != next {
		t.Fatalf("reload: %v", err)
	}
	if !aliceReads(t, h).Allowed() {
		t.Fatal("alice denied after reload")
	}
	os.WriteFile(filepath.Join(dir, "20-broken.cedar"), []byte("@id(\"x\") permit (principal,"), 0o600)
	if _, _, err := h.Reload(); err == nil {
		t.Fatal("broken policy loaded")
	}
	if h.Active() != next || !aliceReads(t, h).Allowed() {
		t.Fatal("a rejected reload changed the active set")
	}
}

// Decisions read the active set while reloads swap it: run with -race.
func TestHolderConcurrentDecideAndReload(t *testing.T) {
	dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit})
	h, err := Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if !aliceReads(t, h).Allowed() {
					t.Error("denied during reload")
					return
				}
			}
		})
	}
	for range 20 {
		if _, _, err := h.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

func TestApprovalForbidExplainsAsPending(t *testing.T) {
	dir := policyDir(t, map[string]string{"a.cedar": alicePermit + `
@id("approve-prod")
@approval("required")
forbid (principal, action == Action::"vault.read", resource == Secret::"global/prod");
`, "a.cedartest": `{"cases": [{"name": "prod waits", "principal": "User::\"alice\"", "action": "vault.read", "resource": "Secret::\"global/prod\"", "expect": "pending", "policies": ["approve-prod"]}]}`})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	x := s.Explain(mustRequest(t, Query{Principal: `User::"alice"`, Action: "vault.read", Resource: `Secret::"global/prod"`}))
	if x.Effect != authz.Pending || len(x.Obligations) != 1 {
		t.Fatalf("explain = %+v", x)
	}
}

func TestParseCasesIsStrict(t *testing.T) {
	valid := `{"name": "n", "principal": "User::\"a\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "expect": "deny"}`
	for name, doc := range map[string]string{
		"unknown member":      `{"cases": [{"name": "n", "principal": "User::\"a\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "expect": "deny", "expected": "allow"}]}`,
		"duplicate key":       `{"cases": [{"name": "n", "principal": "User::\"a\"", "principal": "User::\"b\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "expect": "deny"}]}`,
		"case variant":        `{"cases": [{"Name": "n", "principal": "User::\"a\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "expect": "deny"}]}`,
		"duplicate top level": `{"cases": [], "cases": [` + valid + `]}`,
		"duplicate in context": `{"cases": [{"name": "n", "principal": "User::\"a\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "expect": "deny",
			"context": {"a": 1, "a": 2}}]}`,
		"duplicate names": `{"cases": [` + valid + `, ` + valid + `]}`,
		"bad expect":      `{"cases": [{"name": "n", "principal": "User::\"a\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "expect": "Allow"}]}`,
		"no cases":        `{}`,
		"missing action":  `{"cases": [{"name": "n", "principal": "User::\"a\"", "resource": "Secret::\"global/k\"", "expect": "deny"}]}`,
		"trailing data":   `{"cases": []} {}`,
		"not json":        `cases = []`,
	} {
		if _, err := ParseCases("t.cedartest", []byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "t.cedartest") {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	cs, err := ParseCases("t.cedartest", []byte(`{"cases": [`+valid+`]}`))
	if err != nil || len(cs) != 1 || cs[0].Principal != `User::"a"` || cs[0].Policies != nil {
		t.Fatalf("valid: %+v, %v", cs, err)
	}
}

func TestQueryDefaultsAndErrors(t *testing.T) {
	r := mustRequest(t, Query{Principal: `Device::"01JCXYZ8R6Q0D0E6V4V5N7Z2KA"`, Owner: "alice", Action: `Action::"vault.read"`, Resource: `Secret::"global/k"`})
	if r.Transport.String() != "tcp" || string(r.DeviceID) != "01JCXYZ8R6Q0D0E6V4V5N7Z2KA" {
		t.Fatalf("device defaults: %+v", r)
	}
	for name, q := range map[string]Query{
		"device without owner": {Principal: `Device::"01JCXYZ8R6Q0D0E6V4V5N7Z2KA"`, Action: "vault.read", Resource: `Secret::"global/k"`},
		"owner of a user":      {Principal: `User::"a"`, Owner: "b", Action: "vault.read", Resource: `Secret::"global/k"`},
		"group action":         {Principal: `User::"a"`, Action: `Action::"vault"`, Resource: `Secret::"global/k"`},
		"not an action":        {Principal: `User::"a"`, Action: `User::"vault.read"`, Resource: `Secret::"global/k"`},
		"bad transport":        {Principal: `User::"a"`, Action: "vault.read", Resource: `Secret::"global/k"`, Transport: "TCP"},
		"unquoted principal":   {Principal: `User::alice`, Action: "vault.read", Resource: `Secret::"global/k"`},
		"context array":        {Principal: `User::"a"`, Action: "vault.read", Resource: `Secret::"global/k"`, Context: []byte(`[1]`)},
	} {
		if _, err := q.Request(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseContextIsStrict(t *testing.T) {
	for _, doc := range []string{`{"a": 1, "a": 2}`, `{"a": {"b": 1, "b": 2}}`, `[1]`, `"x"`, `{"a": 1} {}`, `{"a": 1.5}`, "{\"\xff\": 1}"} {
		if _, err := ParseContext([]byte(doc)); err == nil {
			t.Errorf("%q accepted", doc)
		}
	}
	ctx, err := ParseContext([]byte(`{"argv": ["ls"], "n": 2, "u": {"__entity": {"type": "User", "id": "a"}}}`))
	if err != nil || len(ctx) != 3 {
		t.Fatalf("%v, %v", ctx, err)
	}
}
