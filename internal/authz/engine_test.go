package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
)

const (
	adminDevice = "01JABCDEFGHJKMNPQRSTVWXYZ0"
	bobDevice   = "01JBOBBOBBOBBOBBOBBOBBOBB0"
)

var (
	adminUser = Principal{Kind: KindUser, ID: "admin", Roles: []string{"admin"}}
	bobUser   = Principal{Kind: KindUser, ID: "bob", Roles: []string{"member"}}
	adminDev  = Principal{Kind: KindDevice, ID: adminDevice, Owner: "admin", Roles: []string{"admin"}}
	bobDev    = Principal{Kind: KindDevice, ID: bobDevice, Owner: "bob", Roles: []string{"member"}}

	openAIKey = SecretResource("global", "openai_api_key")
	daemon    = Resource{Type: ResourceDaemon, ID: DaemonLocal}
	devices   = Resource{Type: ResourceDevice, ID: AllDevices}
	journal   = Resource{Type: ResourceAudit, ID: AuditJournal}
)

// resourceFor is a well-formed resource for each action.
var resourceFor = map[Action]Resource{
	ActionVaultRead:      openAIKey,
	ActionVaultWrite:     openAIKey,
	ActionVaultDelete:    openAIKey,
	ActionVaultList:      {Type: ResourceVault, ID: "global"},
	ActionVaultHistory:   openAIKey,
	ActionVaultAdmin:     {Type: ResourceVault, ID: AllScopes},
	ActionDeviceEnroll:   {Type: ResourceDevice, ID: bobDevice},
	ActionDeviceList:     devices,
	ActionDeviceRevoke:   {Type: ResourceDevice, ID: bobDevice},
	ActionDaemonStatus:   daemon,
	ActionAuditRead:      journal,
	ActionDevicePair:     devices,
	ActionDeviceRemove:   {Type: ResourceDevice, ID: bobDevice},
	ActionSecretUse:      openAIKey,
	ActionToolExecute:    {Type: ResourceTool, ID: "exec"},
	ActionToolList:       {Type: ResourceTool, ID: AllTools},
	ActionApprovalRead:   {Type: ResourceApproval, ID: AllApprovals},
	ActionApprovalDecide: {Type: ResourceApproval, ID: "01J00000000000000000000000"},
	ActionPolicyRead:     {Type: ResourcePolicy, ID: AllPolicies},
	ActionPolicyWrite:    {Type: ResourcePolicy, ID: AllPolicies},
}

// contextFor is a well-formed Request.Context for each action that needs
// one.
var contextFor = map[Action]map[string]types.Value{
	ActionVaultWrite: {"value_size": types.Long(42)},
	ActionToolExecute: {
		"tool": types.String("exec"), "program": types.String("/usr/bin/ls"),
		"argv": types.NewSet(types.String("-l")), "command_line": types.String("ls -l"),
		"flags": types.NewSet(types.String("-l")), "cwd": types.String("/work"),
		"hosts": types.NewSet(), "secrets": types.NewSet(), "approval": types.String(""),
	},
	ActionApprovalDecide: {"requester": types.String(`Device::"x"`), "requested_action": types.String("tool.execute"), "own_request": types.False},
}

var allActions = []Action{
	ActionVaultRead, ActionVaultWrite, ActionVaultList, ActionVaultDelete, ActionVaultHistory, ActionVaultAdmin,
	ActionDeviceEnroll, ActionDeviceList, ActionDeviceRevoke, ActionDevicePair, ActionDeviceRemove, ActionDaemonStatus,
	ActionAuditRead,
	ActionSecretUse, ActionToolExecute, ActionToolList,
	ActionApprovalRead, ActionApprovalDecide, ActionPolicyRead, ActionPolicyWrite,
}

// deviceOnlyActions are requested by a device about itself; they are tested
// on their own (TestDeviceRenew), outside the all-actions tables.
var deviceOnlyActions = []Action{ActionDeviceRenew}

// localOnly reports whether the baseline keeps action to the unix socket.
func localOnly(a Action) bool {
	switch a {
	case ActionDeviceEnroll, ActionDeviceRevoke, ActionDevicePair, ActionDeviceRemove, ActionPolicyWrite:
		return true
	}
	return false
}

func local(p Principal, action Action) Request {
	return Request{Principal: p, Action: action, Resource: resourceFor[action], Transport: peer.Unix, Context: contextFor[action]}
}

func remote(p Principal, action Action, transport peer.Transport) Request {
	return Request{Principal: p, Action: action, Resource: resourceFor[action], Transport: transport, DeviceID: identity.DeviceID(p.ID), Context: contextFor[action]}
}

// on is req with resource r.
func on(req Request, r Resource) Request {
	req.Resource = r
	return req
}

func newEngine(t testing.TB, extra ...string) *Engine {
	t.Helper()
	texts := make([][]byte, len(extra))
	for i, s := range extra {
		texts[i] = []byte(s)
	}
	e, err := NewEngine(texts...)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

type want struct {
	allowed  bool
	policies []string
}

func allow(ids ...string) want { return want{allowed: true, policies: ids} }
func deny(ids ...string) want  { return want{policies: ids} }

func check(t *testing.T, e *Engine, req Request, w want) {
	t.Helper()
	d := e.Decide(req)
	if d.Allowed() != w.allowed || !slices.Equal(d.Policies, w.policies) || len(d.Obligations) != 0 || len(d.Errors) != 0 {
		t.Errorf("Decide(%s %s %s over %s) = %+v, want allowed=%v policies=%q and no obligations or errors",
			req.Principal, req.Action, req.Resource, req.Transport, d, w.allowed, w.policies)
	}
}

func TestBaseline(t *testing.T) {
	e := newEngine(t)
	type tc struct {
		name string
		req  Request
		want want
	}
	var tests []tc
	for _, a := range allActions {
		tests = append(tests, tc{"admin user local " + string(a), local(adminUser, a), allow("admin-full-access")})
	}
	for _, transport := range []peer.Transport{peer.TCP, peer.QUIC} {
		for _, a := range allActions {
			w := allow("admin-full-access")
			switch {
			case localOnly(a):
				w = deny("device-admin-local-only")
			case a == ActionApprovalDecide:
				w = deny() // admin-full-access leaves deciding to the owner
			}
			tests = append(tests, tc{"admin device " + transport.String() + " " + string(a), remote(adminDev, a, transport), w})
		}
	}
	for _, a := range allActions {
		w := deny()
		if localOnly(a) {
			// The forbid matches every device; with no permit the deny is
			// still attributed to it.
			w = deny("device-admin-local-only")
		}
		tests = append(tests,
			tc{"non-admin device " + string(a), remote(bobDev, a, peer.TCP), w},
			tc{"non-admin user local " + string(a), local(bobUser, a), deny()},
		)
	}
	tests = append(tests,
		tc{"device without roles", remote(Principal{Kind: KindDevice, ID: bobDevice, Owner: "bob"}, ActionVaultRead, peer.QUIC), deny()},
		tc{"role names are case-sensitive", remote(Principal{Kind: KindDevice, ID: bobDevice, Owner: "bob", Roles: []string{"Admin"}}, ActionVaultRead, peer.TCP), deny()},
		tc{"admin connector", remote(Principal{Kind: KindConnector, ID: "discord", Roles: []string{"admin"}}, ActionVaultRead, peer.TCP), allow("admin-full-access")},
		tc{"admin connector cannot enroll devices", remote(Principal{Kind: KindConnector, ID: "discord", Roles: []string{"admin"}}, ActionDeviceEnroll, peer.TCP), deny("device-admin-local-only")},
		tc{"plain connector", remote(Principal{Kind: KindConnector, ID: "slack"}, ActionDaemonStatus, peer.TCP), deny()},
		tc{"connector reads its own scope", on(remote(Principal{Kind: KindConnector, ID: "slack"}, ActionVaultRead, peer.TCP), SecretResource("connector:slack", "token")), allow("connector-own-scope")},
		tc{"connector lists its own scope", on(remote(Principal{Kind: KindConnector, ID: "slack"}, ActionVaultList, peer.TCP), Resource{Type: ResourceVault, ID: "connector:slack"}), allow("connector-own-scope")},
		tc{"connector reads another connector's scope", on(remote(Principal{Kind: KindConnector, ID: "slack"}, ActionVaultRead, peer.TCP), SecretResource("connector:slackbot", "token")), deny()},
		tc{"connector reads the owner's secrets", on(remote(Principal{Kind: KindConnector, ID: "slack"}, ActionVaultRead, peer.QUIC), SecretResource("global", "openai_api_key")), deny()},
		tc{"connector lists every scope", on(remote(Principal{Kind: KindConnector, ID: "slack"}, ActionVaultList, peer.TCP), Resource{Type: ResourceVault, ID: AllScopes}), deny()},
		tc{"connector renews its certificate", on(remote(Principal{Kind: KindConnector, ID: "slack"}, ActionDeviceRenew, peer.TCP), Resource{Type: ResourceDevice, ID: bobDevice}), allow("connector-renew-self")},
		tc{"connector administers the vault", on(remote(Principal{Kind: KindConnector, ID: "slack"}, ActionVaultAdmin, peer.TCP), Resource{Type: ResourceVault, ID: "connector:slack"}), deny()},
		tc{"admin user off the unix socket cannot enroll", Request{Principal: adminUser, Action: ActionDeviceEnroll, Resource: resourceFor[ActionDeviceEnroll], Transport: peer.TCP, DeviceID: adminDevice}, deny("device-admin-local-only")},
		tc{"admin device revokes itself", Request{Principal: adminDev, Action: ActionDeviceRevoke, Resource: Resource{Type: ResourceDevice, ID: adminDevice}, Transport: peer.TCP, DeviceID: adminDevice}, deny("device-admin-local-only")},
		tc{"admin lists all scopes", Request{Principal: adminUser, Action: ActionVaultList, Resource: Resource{Type: ResourceVault, ID: AllScopes}, Transport: peer.Unix}, allow("admin-full-access")},
		tc{"user named like a role", local(Principal{Kind: KindUser, ID: "admin"}, ActionVaultRead), deny()},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, e, tt.req, tt.want) })
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newEngine(t)
	mod := func(base Request, f func(*Request)) Request { f(&base); return base }
	okLocal := local(adminUser, ActionVaultRead)
	okRemote := remote(adminDev, ActionVaultRead, peer.TCP)
	tests := []struct {
		name    string
		req     Request
		errPart string
	}{
		{"zero request", Request{}, "unknown action"},
		{"unknown action", mod(okLocal, func(r *Request) { r.Action = "vault.steal" }), `unknown action "vault.steal"`},
		{"action group is not requestable", mod(okLocal, func(r *Request) { r.Action = "vault" }), "unknown action"},
		{"action case variant", mod(okLocal, func(r *Request) { r.Action = "Vault.Read" }), "unknown action"},
		{"unknown principal kind", mod(okLocal, func(r *Request) { r.Principal.Kind = "Role" }), `unknown principal kind "Role"`},
		{"empty principal kind", mod(okLocal, func(r *Request) { r.Principal.Kind = "" }), "unknown principal kind"},
		{"empty principal id", mod(okLocal, func(r *Request) { r.Principal.ID = "" }), "empty User principal id"},
		{"device without owner", mod(okRemote, func(r *Request) { r.Principal.Owner = "" }), "has no owner"},
		{"user with owner", mod(okLocal, func(r *Request) { r.Principal.Owner = "root" }), "only devices do"},
		{"empty role", mod(okLocal, func(r *Request) { r.Principal.Roles = []string{"admin", ""} }), "empty role"},
		{"unknown transport", mod(okLocal, func(r *Request) { r.Transport = peer.Transport(9) }), `unknown transport "transport(9)"`},
		{"no transport", mod(okLocal, func(r *Request) { r.Transport = peer.None }), `unknown transport ""`},
		{"device id on unix", mod(okLocal, func(r *Request) { r.DeviceID = adminDevice }), "unix transport"},
		{"device principal on unix", mod(okRemote, func(r *Request) { r.Transport = peer.Unix; r.DeviceID = "" }), "called with device id"},
		{"device principal on another device", mod(okRemote, func(r *Request) { r.DeviceID = bobDevice }), "called with device id"},
		{"vault resource for vault.read", mod(okLocal, func(r *Request) { r.Resource = Resource{Type: ResourceVault, ID: "global"} }), "not valid for action"},
		{"secret resource for vault.list", mod(okLocal, func(r *Request) { r.Action = ActionVaultList }), "not valid for action"},
		{"unknown resource type", mod(okLocal, func(r *Request) { r.Resource.Type = "File" }), "not valid for action"},
		{"empty resource id", mod(okLocal, func(r *Request) { r.Resource.ID = "" }), "empty Secret resource id"},
		{"secret without scope", mod(okLocal, func(r *Request) { r.Resource.ID = "openai_api_key" }), "<scope>/<key>"},
		{"secret with empty key", mod(okLocal, func(r *Request) { r.Resource.ID = "global/" }), "<scope>/<key>"},
		{"secret in the all pseudo-scope", mod(okLocal, func(r *Request) { r.Resource.ID = "*/k" }), "<scope>/<key>"},
		{"unknown daemon", mod(local(adminUser, ActionDaemonStatus), func(r *Request) { r.Resource.ID = "remote" }), "unknown daemon"},
		{"unknown audit resource", mod(local(adminUser, ActionAuditRead), func(r *Request) { r.Resource.ID = "log" }), "unknown audit resource"},
		{"daemon resource for audit.read", mod(local(adminUser, ActionAuditRead), func(r *Request) { r.Resource = daemon }), "not valid for action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.req)
			if d.Allowed() || d.Effect != Deny || len(d.Policies) != 0 || len(d.Obligations) != 0 || len(d.Errors) != 1 ||
				!strings.HasPrefix(d.Errors[0], "request: ") || !strings.Contains(d.Errors[0], tt.errPart) {
				t.Errorf("Decide = %+v, want a deny with one request error containing %q", d, tt.errPart)
			}
		})
	}

	t.Run("zero engine", func(t *testing.T) {
		for _, e := range []*Engine{nil, {}} {
			if d := e.Decide(okLocal); d.Allowed() || len(d.Errors) != 1 {
				t.Errorf("Decide on %#v = %+v, want a deny with one error", e, d)
			}
		}
	})
}

func TestNewEngineErrors(t *testing.T) {
	tests := []struct {
		name   string
		extra  []string
		want   error
		source string
		id     string
		line   int
	}{
		{"missing id", []string{`permit (principal, action, resource);`}, ErrMissingID, "extra[0]", "", 1},
		{"missing id on second policy", []string{"@id(\"a\")\npermit (principal == User::\"a\", action, resource);\n\npermit (principal, action, resource);"}, ErrMissingID, "extra[0]", "", 4},
		{"other annotations are not ids", []string{`@name("x") permit (principal, action, resource);`}, ErrMissingID, "extra[0]", "", 1},
		{"duplicate in one text", []string{`@id("x") permit (principal == User::"a", action, resource); @id("x") permit (principal == User::"b", action, resource);`}, ErrDuplicateID, "extra[0]", "x", 1},
		{"duplicate across texts", []string{`@id("x") permit (principal == User::"a", action, resource);`, "\n@id(\"x\") permit (principal == User::\"b\", action, resource);"}, ErrDuplicateID, "extra[1]", "x", 2},
		{"duplicate of a baseline id", []string{`@id("admin-full-access") permit (principal == User::"a", action, resource);`}, ErrDuplicateID, "extra[0]", "admin-full-access", 1},
		{"empty id", []string{`@id("") permit (principal, action, resource);`}, ErrInvalidID, "extra[0]", "", 1},
		{"id with a space", []string{`@id("a b") permit (principal, action, resource);`}, ErrInvalidID, "extra[0]", "", 1},
		{"id with a newline", []string{`@id("a\nb") permit (principal, action, resource);`}, ErrInvalidID, "extra[0]", "", 1},
		{"id too long", []string{`@id("` + strings.Repeat("a", maxPolicyIDLen+1) + `") permit (principal, action, resource);`}, ErrInvalidID, "extra[0]", "", 1},
		{"syntax error", []string{`@id("x") permit (principal, action, resource) when {`}, ErrSyntax, "extra[0]", "", 0},
		{"duplicate annotation", []string{`@id("x") @id("y") permit (principal, action, resource);`}, ErrSyntax, "extra[0]", "", 0},
		{"unknown action", []string{`@id("x") permit (principal, action == Action::"vault.get", resource);`}, ErrSchema, "extra[0]", "x", 1},
		{"unknown entity type", []string{`@id("x") permit (principal in Group::"ops", action, resource);`}, ErrSchema, "extra[0]", "x", 1},
		{"unknown context attribute", []string{`@id("x") permit (principal, action, resource) when { context.channel == "cli" };`}, ErrSchema, "extra[0]", "x", 1},
		{"type error", []string{`@id("x") permit (principal, action, resource) when { context.transport > 1 };`}, ErrSchema, "extra[0]", "x", 1},
		{"action that cannot apply to the resource", []string{`@id("x") permit (principal, action == Action::"vault.read", resource is Daemon);`}, ErrSchema, "extra[0]", "x", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			texts := make([][]byte, len(tt.extra))
			for i, s := range tt.extra {
				texts[i] = []byte(s)
			}
			e, err := NewEngine(texts...)
			if e != nil || !errors.Is(err, tt.want) {
				t.Fatalf("NewEngine = %v, %v; want error %v", e, err, tt.want)
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PolicyError", err)
			}
			if pe.Source != tt.source || pe.PolicyID != tt.id || pe.Line != tt.line {
				t.Errorf("PolicyError{Source: %q, PolicyID: %q, Line: %d}, want {%q, %q, %d}: %v",
					pe.Source, pe.PolicyID, pe.Line, tt.source, tt.id, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.source) {
				t.Errorf("error %q does not name the source %q", err, tt.source)
			}
		})
	}

	t.Run("named sources", func(t *testing.T) {
		_, err := NewEngineFromSources(Source{Name: "/etc/palyra/policies/ops.cedar", Text: []byte("\n\npermit (principal, action, resource);")})
		if want := "authz: /etc/palyra/policies/ops.cedar:3:1: policy has no @id annotation"; err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	})
}

func TestExtraPolicies(t *testing.T) {
	bobReadsOpenAI := `
@id("bob-reads-openai")
permit (
    principal == User::"bob",
    action == Action::"vault.read",
    resource == Secret::"global/openai_api_key"
);`
	e := newEngine(t, bobReadsOpenAI)
	if got, want := e.PolicyIDs(), []string{"admin-full-access", "bob-reads-openai", "connector-own-scope", "connector-renew-self", "device-admin-local-only", "device-renew-self", "no-self-approval"}; !slices.Equal(got, want) {
		t.Errorf("PolicyIDs = %q, want %q", got, want)
	}
	other := SecretResource("global", "anthropic_api_key")
	tests := []struct {
		name string
		req  Request
		want want
	}{
		{"bob reads the granted secret", local(bobUser, ActionVaultRead), allow("bob-reads-openai")},
		{"bob reads another secret", Request{Principal: bobUser, Action: ActionVaultRead, Resource: other, Transport: peer.Unix}, deny()},
		{"bob writes the granted secret", local(bobUser, ActionVaultWrite), deny()},
		{"bob's device is not bob", remote(bobDev, ActionVaultRead, peer.TCP), deny()},
		{"alice reads it", local(Principal{Kind: KindUser, ID: "alice"}, ActionVaultRead), deny()},
		{"admin is unaffected", local(adminUser, ActionVaultRead), allow("admin-full-access")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, e, tt.req, tt.want) })
	}

	t.Run("several determining policies are sorted", func(t *testing.T) {
		e := newEngine(t, `@id("aaa-admin-reads") permit (principal == User::"admin", action == Action::"vault.read", resource);`)
		check(t, e, local(adminUser, ActionVaultRead), allow("aaa-admin-reads", "admin-full-access"))
	})

	t.Run("a permit cannot lift the baseline forbid", func(t *testing.T) {
		e := newEngine(t, `@id("devices-do-anything") permit (principal is Device, action, resource);`)
		check(t, e, remote(bobDev, ActionDeviceEnroll, peer.TCP), deny("device-admin-local-only"))
		check(t, e, remote(adminDev, ActionDeviceRevoke, peer.QUIC), deny("device-admin-local-only"))
		check(t, e, remote(bobDev, ActionVaultRead, peer.QUIC), allow("devices-do-anything"))
	})

	t.Run("scope hierarchy", func(t *testing.T) {
		e := newEngine(t,
			`@id("bob-owns-his-scope") permit (principal in User::"bob", action in Action::"vault", resource in Vault::"bob");`,
			`@id("carol-reads-everything") permit (principal == User::"carol", action == Action::"vault.read", resource in Vault::"*");`,
		)
		carol := Principal{Kind: KindUser, ID: "carol"}
		check(t, e, Request{Principal: bobUser, Action: ActionVaultRead, Resource: SecretResource("bob", "gh/token"), Transport: peer.Unix}, allow("bob-owns-his-scope"))
		check(t, e, Request{Principal: bobDev, Action: ActionVaultWrite, Resource: SecretResource("bob", "k"), Transport: peer.TCP, DeviceID: bobDevice, Context: contextFor[ActionVaultWrite]}, allow("bob-owns-his-scope"))
		check(t, e, Request{Principal: bobUser, Action: ActionVaultList, Resource: Resource{Type: ResourceVault, ID: "bob"}, Transport: peer.Unix}, allow("bob-owns-his-scope"))
		check(t, e, Request{Principal: bobUser, Action: ActionVaultList, Resource: Resource{Type: ResourceVault, ID: AllScopes}, Transport: peer.Unix}, deny())
		check(t, e, Request{Principal: bobUser, Action: ActionVaultRead, Resource: SecretResource("global", "k"), Transport: peer.Unix}, deny())
		check(t, e, Request{Principal: bobUser, Action: ActionVaultRead, Resource: SecretResource("bobby", "k"), Transport: peer.Unix}, deny())
		check(t, e, Request{Principal: carol, Action: ActionVaultRead, Resource: SecretResource("bob", "k"), Transport: peer.Unix}, allow("carol-reads-everything"))
		check(t, e, Request{Principal: carol, Action: ActionVaultDelete, Resource: SecretResource("bob", "k"), Transport: peer.Unix}, deny())
	})
}

func TestFailClosed(t *testing.T) {
	// Both policies type-check, but adding to the largest Long overflows at
	// evaluation time.
	e := newEngine(t,
		`@id("broken-forbid") forbid (principal, action == Action::"vault.read", resource) when { 9223372036854775807 + 1 > 0 };`,
		`@id("broken-permit") permit (principal == User::"bob", action, resource) when { 9223372036854775807 + 1 > 0 };`,
	)
	d := e.Decide(local(adminUser, ActionVaultRead))
	if d.Allowed() || !slices.Equal(d.Policies, []string{"broken-forbid"}) || len(d.Errors) != 1 || !strings.HasPrefix(d.Errors[0], "broken-forbid: ") {
		t.Errorf("erroring forbid: Decide = %+v, want a deny by broken-forbid with its error", d)
	}
	d = e.Decide(local(adminUser, ActionVaultWrite))
	if !d.Allowed() || !slices.Equal(d.Policies, []string{"admin-full-access"}) || len(d.Errors) != 0 {
		t.Errorf("forbid out of scope: Decide = %+v, want allow by admin-full-access", d)
	}
	d = e.Decide(local(bobUser, ActionVaultWrite))
	if d.Allowed() || len(d.Policies) != 0 || len(d.Errors) != 1 || !strings.HasPrefix(d.Errors[0], "broken-permit: ") {
		t.Errorf("erroring permit: Decide = %+v, want a default deny with broken-permit's error", d)
	}
}

// TestEntitiesMatchSchema checks that the entity graph and request Decide
// builds conform to the schema the policies are validated against, so a
// validated policy sees exactly the shapes it was checked for.
func TestEntitiesMatchSchema(t *testing.T) {
	m, err := loadModel()
	if err != nil {
		t.Fatal(err)
	}
	conn := Principal{Kind: KindConnector, ID: "discord", Roles: []string{"bot", "bot"}}
	var reqs []Request
	for _, a := range allActions {
		reqs = append(reqs, local(adminUser, a), remote(adminDev, a, peer.TCP), remote(conn, a, peer.QUIC))
	}
	reqs = append(reqs,
		Request{Principal: adminUser, Action: ActionVaultList, Resource: Resource{Type: ResourceVault, ID: AllScopes}, Transport: peer.Unix},
		Request{Principal: adminDev, Action: ActionDeviceRevoke, Resource: Resource{Type: ResourceDevice, ID: adminDevice}, Transport: peer.TCP, DeviceID: adminDevice},
	)
	for _, req := range reqs {
		creq, ents, err := m.buildRequest(req)
		if err != nil {
			t.Fatalf("buildRequest(%+v): %v", req, err)
		}
		if err := m.validator.Request(creq); err != nil {
			t.Errorf("request %+v does not match the schema: %v", req, err)
		}
		for _, ent := range ents.entityMap() {
			if err := m.validator.Entity(ent); err != nil {
				t.Errorf("request %+v: entity %s does not match the schema: %v", req, ent.UID, err)
			}
		}
	}
	// Every action constant is requestable, and nothing else is.
	var got []Action
	for a := range m.actions {
		got = append(got, a)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(append(slices.Clone(allActions), deviceOnlyActions...)))
	if !slices.Equal(got, want) {
		t.Errorf("schema actions = %q, want %q", got, want)
	}
	if all := slices.Sorted(slices.Values(Actions())); !slices.Equal(all, want) {
		t.Errorf("Actions() = %q, want %q", all, want)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{adminUser.String(), `User::"admin"`},
		{adminDev.String(), `Device::"` + adminDevice + `"`},
		{Principal{Kind: KindConnector, ID: "discord"}.String(), `Connector::"discord"`},
		{Principal{Kind: KindUser, ID: `a"b\c`}.String(), `User::"a\"b\\c"`},
		{openAIKey.String(), `Secret::"global/openai_api_key"`},
		{Resource{Type: ResourceVault, ID: AllScopes}.String(), `Vault::"*"`},
		{daemon.String(), `Daemon::"local"`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %s, want %s", tt.got, tt.want)
		}
	}
}

func TestBaselineAndSchemaAccessors(t *testing.T) {
	if b := Baseline(); !strings.Contains(string(b), `@id("admin-full-access")`) {
		t.Errorf("Baseline() lacks admin-full-access")
	}
	if s := Schema(); !strings.Contains(string(s), `action "vault.read"`) {
		t.Errorf("Schema() lacks vault.read")
	}
}

func TestDecideConcurrent(t *testing.T) {
	e := newEngine(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				a := allActions[(g+i)%len(allActions)]
				d := e.Decide(remote(adminDev, a, peer.TCP))
				wantAllowed := !localOnly(a) && a != ActionApprovalDecide
				if d.Allowed() != wantAllowed {
					errs <- fmt.Errorf("%s: %+v", a, d)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDeviceRenew(t *testing.T) {
	e := newEngine(t)
	self := func(p Principal, res string) Request {
		return Request{Principal: p, Action: ActionDeviceRenew, Resource: Resource{Type: ResourceDevice, ID: res}, Transport: peer.TCP, DeviceID: identity.DeviceID(p.ID)}
	}
	bobDev := Principal{Kind: KindDevice, ID: bobDevice, Owner: "bob"}
	// A device without any role renews itself by device-renew-self.
	if d := e.Decide(self(bobDev, bobDevice)); !d.Allowed() || !slices.Contains(d.Policies, "device-renew-self") {
		t.Fatalf("self renewal: %+v", d)
	}
	// Not another device's certificate.
	if d := e.Decide(self(bobDev, adminDevice)); d.Allowed() {
		t.Fatalf("renewed another device: %+v", d)
	}
	// Users do not renew device certificates.
	if d := e.Decide(Request{Principal: adminUser, Action: ActionDeviceRenew, Resource: Resource{Type: ResourceDevice, ID: bobDevice}, Transport: peer.Unix}); d.Allowed() || len(d.Errors) == 0 {
		t.Fatalf("user renewal: %+v", d)
	}
}

// TestDeviceDecidesOnlyWhenPermitted: an admin's device does not decide
// approvals under the baseline (a stolen bundle approves nothing); an
// operator permit naming the device lets it, and no-self-approval still
// holds.
func TestDeviceDecidesOnlyWhenPermitted(t *testing.T) {
	req := remote(adminDev, ActionApprovalDecide, peer.TCP)
	if d := newEngine(t).Decide(req); d.Allowed() {
		t.Fatalf("baseline: an admin device decides: %+v", d)
	}
	if d := newEngine(t).Decide(local(adminUser, ActionApprovalDecide)); !d.Allowed() {
		t.Fatalf("baseline: the owner on the socket cannot decide: %+v", d)
	}
	e, err := NewEngine([]byte(`@id("phone-decides") permit (principal == Device::"` + adminDevice + `", action == Action::"approval.decide", resource);`))
	if err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(req); !d.Allowed() || !slices.Equal(d.Policies, []string{"phone-decides"}) {
		t.Fatalf("operator permit: %+v", d)
	}
	own := req
	own.Context = map[string]types.Value{"requester": types.String(adminDev.String()), "requested_action": types.String("vault.read"), "own_request": types.True}
	if d := e.Decide(own); d.Allowed() || !slices.Equal(d.Policies, []string{"no-self-approval"}) {
		t.Fatalf("own request: %+v", d)
	}
	if d := e.Decide(remote(bobDev, ActionApprovalDecide, peer.TCP)); d.Allowed() {
		t.Fatalf("another device: %+v", d)
	}
}
