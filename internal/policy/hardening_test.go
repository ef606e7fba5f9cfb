package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/fileperm"
)

// wantErr loads dir and checks the error contains every part.
func wantErr(t *testing.T, dir string, parts ...string) error {
	t.Helper()
	_, err := Load(dir)
	if err == nil {
		t.Fatalf("loaded; want an error with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("err = %v\nwant it to contain %q", err, p)
		}
	}
	return err
}

// A directory above the policy directory that others could write lets
// them swap the whole directory: refused, except a sticky one (F1).
func TestWritableAncestorIsRefused(t *testing.T) {
	dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit})
	parent := filepath.Dir(dir)
	if err := os.Chmod(parent, 0o777); err != nil {
		t.Fatal(err)
	}
	err := wantErr(t, dir, parent+" above it has mode 0777", "fix with: chmod go-w "+parent)
	if !errors.Is(err, fileperm.ErrInsecure) {
		t.Fatalf("err = %v", err)
	}
	if err := os.Chmod(parent, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatalf("sticky parent: %v", err)
	}
	// Through a symbolic link, the real path's directories count too.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	os.Chmod(parent, 0o775)
	wantErr(t, link, parent+" above it has mode 0775")
	os.Chmod(parent, 0o755)
	if _, err := Load(link); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		t.Skip("changing an owner needs root")
	}
	if err := os.Chown(parent, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	wantErr(t, dir, parent+" above it belongs to uid 4242, neither root nor this user")
}

// A symbolic link is refused, not followed (F4).
func TestSymlinkedPolicyFileIsRefused(t *testing.T) {
	dir := policyDir(t, nil)
	target := filepath.Join(t.TempDir(), "elsewhere.cedar")
	if err := os.WriteFile(target, []byte(alicePermit), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "10-alice.cedar")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, dir, filepath.Join(dir, "10-alice.cedar")+": is a symbolic link")
}

// A file truncated and then rewritten in place may be read empty in
// between: a file modified within the settle time is read again and a
// change refuses the load (F5).
func TestFileEditedInPlaceIsRefused(t *testing.T) {
	forbid := "@id(\"no-vault\")\nforbid (principal, action == Action::\"vault.read\", resource);\n"
	dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit})
	path := filepath.Join(dir, "20-forbid.cedar")
	// The editor has truncated the file; it writes the content a moment
	// later, while the load is under way. (Tried a few times: on a busy
	// machine the load may start only after the write.)
	var err error
	for range 3 {
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := Load(dir); done <- err }()
		time.Sleep(settle / 4)
		if err := os.WriteFile(path, []byte(forbid), 0o600); err != nil {
			t.Fatal(err)
		}
		if err = <-done; err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), path+": changed while it was read") || !strings.Contains(err.Error(), "rename them into place") {
		t.Fatalf("err = %v", err)
	}
	// Left alone, it loads.
	h, err := Open(dir, true)
	if err != nil || aliceReads(t, h).Allowed() {
		t.Fatalf("settled directory: %v", err)
	}
}

// Messages say what is wrong once and what to do (F7).
func TestFileMessages(t *testing.T) {
	dir := policyDir(t, map[string]string{"10-alice.cedar": "\xef\xbb\xbf" + alicePermit})
	p := filepath.Join(dir, "10-alice.cedar")
	wantErr(t, dir, p+":1:1: starts with a UTF-8 byte-order mark; save the file without BOM")

	os.WriteFile(p, []byte("// ok\n// caf\xe9\n"+alicePermit), 0o600)
	wantErr(t, dir, p+":2:7: invalid UTF-8 (byte 0xe9)")

	os.WriteFile(p, []byte(strings.Repeat("/", MaxFileBytes+1)), 0o600)
	err := wantErr(t, dir, p+": is larger than 1048576 bytes (1 MiB)")
	if strings.Count(err.Error(), p) != 1 {
		t.Fatalf("path given twice: %v", err)
	}
	os.WriteFile(p, []byte(alicePermit), 0o600)

	if os.Getuid() != 0 {
		t.Skip("changing an owner needs root")
	}
	if err := os.Chown(p, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	err = wantErr(t, dir, "belongs to uid 4242", "fix with: chown 0 "+p)
	if strings.Contains(err.Error(), "chmod") {
		t.Fatalf("a foreign owner is not fixed with chmod: %v", err)
	}
}

// A name that looks like a policy file but would not be loaded is refused
// rather than silently skipped; a control character in it is escaped
// (F8).
func TestLookalikeNamesAreRefused(t *testing.T) {
	for _, name := range []string{"x.Cedar", "x.CEDAR", "x.cedar ", "x.CedarTest", "x\n.cedar "} {
		dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit, name: alicePermit})
		err := wantErr(t, dir, "looks like a policy file but would not be loaded", "rename it")
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("raw control character in %q", err)
		}
	}
	// Editor backups and hidden files stay ignored.
	dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit, "10-alice.cedar~": "x", ".10-alice.cedar.swp": "x", "x.cedar.bak": "x"})
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
}

// "policies": null would mean "not checked": refused, as are duplicate
// expected ids (F8).
func TestParseCasesRefusesNullAndDuplicatePolicies(t *testing.T) {
	for in, want := range map[string]string{
		`{"cases": [{"name": "a", "principal": "User::\"a\"", "action": "vault.read", "resource": "Secret::\"g/k\"", "expect": "deny", "policies": null}]}`:       `"policies" is null`,
		`{"cases": [{"name": "a", "principal": "User::\"a\"", "action": "vault.read", "resource": "Secret::\"g/k\"", "expect": "deny", "policies": ["x", "x"]}]}`: `policy "x" listed twice`,
	} {
		if _, err := ParseCases("t.cedartest", []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", in, err, want)
		}
	}
}

// Roles are bounded, non-empty and unique; a malformed request is refused
// with what to change (F2, F6, F8).
func TestQueryRefusesMalformedRequests(t *testing.T) {
	many := make([]string, MaxRoles+1)
	for i := range many {
		many[i] = "r" + strings.Repeat("x", i)
	}
	alice := Query{Principal: `User::"alice"`, Action: "vault.read", Resource: `Secret::"global/k"`}
	for _, tc := range []struct {
		mod  func(*Query)
		want string
	}{
		{func(q *Query) { q.Roles = many }, "roles: 65 given, at most 64"},
		{func(q *Query) { q.Roles = []string{"a", ""} }, "roles: role 2 is empty"},
		{func(q *Query) { q.Roles = []string{"a", "b", "a"} }, `roles: "a" given twice`},
		{func(q *Query) { q.DeviceID = "01JCXYZ8R6Q0D0E6V4V5N7Z2KA" }, "drop device_id"},
		{func(q *Query) {
			q.Principal, q.Owner, q.DeviceID = `Device::"01JCXYZ8R6Q0D0E6V4V5N7Z2KA"`, "alice", "01JCXYZ8R6Q0D0E6V4V5N7Z2KB"
		}, "a Device principal calls as itself"},
		{func(q *Query) { q.Context = []byte(`{"transport": "tcp"}`) }, `the engine fills in context "transport" itself`},
		{func(q *Query) { q.Action, q.Resource = "vault.read", `Tool::"exec"` }, `resource type "Tool" is not valid`},
	} {
		q := alice
		tc.mod(&q)
		if _, err := q.Request(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", q, err, tc.want)
		}
	}
	q := alice
	q.Roles = many[:MaxRoles]
	if _, err := q.Request(); err != nil {
		t.Fatal(err)
	}
}

// Test calls are serialized with each other and with reloads, and an
// unchanged directory is answered from the last load's report: parallel
// calls never each parse the directory (F3).
func TestHolderTestIsSerializedAndCached(t *testing.T) {
	dir := policyDir(t, map[string]string{"10-alice.cedar": alicePermit, "alice.cedartest": aliceCases})
	h, err := Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	reports := make([]*Report, 8)
	for i := range reports {
		wg.Go(func() {
			r, err := h.Test()
			if err != nil {
				t.Error(err)
			}
			reports[i] = r
		})
	}
	wg.Wait()
	for _, r := range reports {
		if r != reports[0] || r.Digest != h.Active().Digest || len(r.Results) != 2 || r.Err != nil {
			t.Fatalf("reports differ or are wrong: %+v vs %+v", r, reports[0])
		}
	}
	os.WriteFile(filepath.Join(dir, "20-broken.cedar"), []byte("@id(\"x\") permit (principal,"), 0o600)
	r, err := h.Test()
	if err != nil || r == reports[0] || r.Err == nil || !strings.Contains(r.Err.Error(), "20-broken.cedar") {
		t.Fatalf("changed directory: %+v, %v", r, err)
	}
	if again, _ := h.Test(); again != r {
		t.Fatal("an unchanged broken directory was parsed again")
	}
}
