package authz

import (
	"errors"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"

	"github.com/palyra/palyra/internal/peer"
)

func TestRequestContext(t *testing.T) {
	e := newEngine(t,
		// Bots may write small secrets.
		`@id("bots-write-small") permit (principal in Role::"bot", action == Action::"vault.write", resource) when { context.value_size <= 4096 };`,
		// Ops may use the team-* scopes: a pattern the entity hierarchy
		// cannot express.
		`@id("ops-team-scopes") permit (principal in Role::"ops", action in Action::"vault", resource) when { context.scope like "team-*" };`,
		// A policy over every action may test for the attribute.
		`@id("no-secrets-scope") forbid (principal, action, resource) when { context has scope && context.scope == "secrets" };`,
	)
	bot := Principal{Kind: KindConnector, ID: "discord", Roles: []string{"bot"}}
	ops := Principal{Kind: KindUser, ID: "olga", Roles: []string{"ops"}}
	write := func(p Principal, scope string, ctx map[string]types.Value) Request {
		return Request{Principal: p, Action: ActionVaultWrite, Resource: SecretResource(scope, "k"), Transport: peer.Unix, Context: ctx}
	}
	size := func(n int64) map[string]types.Value { return map[string]types.Value{"value_size": types.Long(n)} }
	list := func(p Principal, scope string) Request {
		return Request{Principal: p, Action: ActionVaultList, Resource: Resource{Type: ResourceVault, ID: scope}, Transport: peer.Unix}
	}

	t.Run("policies", func(t *testing.T) {
		tests := []struct {
			name string
			req  Request
			want want
		}{
			{"small write", write(bot, "global", size(42)), allow("bots-write-small")},
			{"write at the limit", write(bot, "global", size(4096)), allow("bots-write-small")},
			{"large write", write(bot, "global", size(4097)), deny()},
			{"team scope read", Request{Principal: ops, Action: ActionVaultRead, Resource: SecretResource("team-a", "k"), Transport: peer.Unix}, allow("ops-team-scopes")},
			{"team scope write", write(ops, "team-b", size(1<<20)), allow("ops-team-scopes")},
			{"other scope read", Request{Principal: ops, Action: ActionVaultRead, Resource: SecretResource("global", "k"), Transport: peer.Unix}, deny()},
			{"team vault listing", list(ops, "team-c"), allow("ops-team-scopes")},
			{"all-scopes listing is scope *", list(ops, AllScopes), deny()},
			{"scope is the secret's, not the key's", Request{Principal: ops, Action: ActionVaultRead, Resource: SecretResource("global", "team-x/k"), Transport: peer.Unix}, deny()},
			{"forbid on the scope", Request{Principal: adminUser, Action: ActionVaultDelete, Resource: SecretResource("secrets", "k"), Transport: peer.Unix}, deny("no-secrets-scope")},
			{"forbid on the scope of a listing", list(adminUser, "secrets"), deny("no-secrets-scope")},
			{"forbid ignores actions without scope", local(adminUser, ActionDaemonStatus), allow("admin-full-access")},
			{"audit.read has no scope", local(adminUser, ActionAuditRead), allow("admin-full-access")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { check(t, e, tt.req, tt.want) })
		}
	})

	t.Run("malformed", func(t *testing.T) {
		tests := []struct {
			name    string
			req     Request
			errPart string
		}{
			{"missing required attribute", write(adminUser, "global", nil), `action "vault.write" needs context attribute(s) value_size (Long)`},
			{"empty context", write(adminUser, "global", map[string]types.Value{}), "needs context attribute"},
			{"each missing attribute with its type", Request{Principal: adminUser, Action: ActionToolExecute, Resource: Resource{Type: ResourceTool, ID: "exec"}, Transport: peer.Unix,
				Context: map[string]types.Value{"argv": types.NewSet(types.String("ls"))}},
				`action "tool.execute" needs context attribute(s) approval (String), command_line (String), cwd (String), flags (Set<String>), hosts (Set<String>), program (String), secrets (Set<String>), tool (String)`},
			{"wrong type", write(adminUser, "global", map[string]types.Value{"value_size": types.String("42")}), `context attribute "value_size" of action "vault.write": want Long, got String`},
			{"nil value", write(adminUser, "global", map[string]types.Value{"value_size": nil}), "want Long, got nil"},
			{"extension value", write(adminUser, "global", map[string]types.Value{"value_size": func() types.Value { v, _ := types.ParseIPAddr("10.0.0.1"); return v }()}), "want Long, got ipaddr"},
			{"unknown attribute besides the required one", write(adminUser, "global", map[string]types.Value{"value_size": types.Long(1), "reason": types.String("x")}), `context attribute "reason" is not declared for action "vault.write" (it takes ["value_size"])`},
			{"misspelt attribute", write(adminUser, "global", map[string]types.Value{"valuesize": types.Long(1)}), `"valuesize" is not declared`},
			{"attribute of another action", Request{Principal: adminUser, Action: ActionVaultRead, Resource: openAIKey, Transport: peer.Unix, Context: size(1)}, `"value_size" is not declared for action "vault.read" (it takes none)`},
			{"attribute on an action without extras", Request{Principal: adminUser, Action: ActionDaemonStatus, Resource: daemon, Transport: peer.Unix, Context: map[string]types.Value{"verbose": types.True}}, "(it takes none)"},
			{"caller sets transport", Request{Principal: adminUser, Action: ActionDaemonStatus, Resource: daemon, Transport: peer.TCP, Context: map[string]types.Value{"transport": types.String("unix")}}, `context attribute "transport" is set by the engine`},
			{"caller sets device_id", Request{Principal: adminUser, Action: ActionDaemonStatus, Resource: daemon, Transport: peer.Unix, Context: map[string]types.Value{"device_id": types.String("")}}, `"device_id" is set by the engine`},
			{"caller sets scope", Request{Principal: adminUser, Action: ActionVaultRead, Resource: openAIKey, Transport: peer.Unix, Context: map[string]types.Value{"scope": types.String("team-a")}}, `"scope" is set by the engine`},
			{"caller sets scope where there is none", Request{Principal: adminUser, Action: ActionAuditRead, Resource: journal, Transport: peer.Unix, Context: map[string]types.Value{"scope": types.String("x")}}, `"scope" is set by the engine`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := e.Decide(tt.req)
				if d.Allowed() || len(d.Policies) != 0 || len(d.Errors) != 1 ||
					!strings.HasPrefix(d.Errors[0], "request: ") || !strings.Contains(d.Errors[0], tt.errPart) {
					t.Errorf("Decide = %+v, want a deny with one request error containing %q", d, tt.errPart)
				}
			})
		}
	})

	t.Run("policies are validated against each action's context", func(t *testing.T) {
		for _, text := range []string{
			// scope exists on vault actions only.
			`@id("x") permit (principal, action, resource) when { context.scope == "global" };`,
			`@id("x") permit (principal, action == Action::"audit.read", resource) when { context.scope == "global" };`,
			// value_size exists on vault.write only.
			`@id("x") permit (principal, action in Action::"vault", resource) when { context.value_size < 10 };`,
			`@id("x") permit (principal, action == Action::"vault.read", resource) when { context.value_size < 10 };`,
			// Types are checked.
			`@id("x") permit (principal, action == Action::"vault.write", resource) when { context.value_size like "1*" };`,
		} {
			if _, err := NewEngine([]byte(text)); !errors.Is(err, ErrSchema) {
				t.Errorf("NewEngine(%s) = %v, want ErrSchema", text, err)
			}
		}
		for _, text := range []string{
			`@id("x") permit (principal, action in Action::"vault", resource) when { context.scope == "global" };`,
			`@id("x") permit (principal, action == Action::"vault.write", resource) when { context.value_size < 10 && context.scope like "t*" };`,
			`@id("x") permit (principal, action, resource) when { context has value_size && context.value_size < 10 };`,
		} {
			if _, err := NewEngine([]byte(text)); err != nil {
				t.Errorf("NewEngine(%s) = %v, want no error", text, err)
			}
		}
	})
}

func TestContextSchemaChecks(t *testing.T) {
	base := `entity User; entity Vault; entity Secret in [Vault]; entity Daemon;
`
	tests := []struct {
		name    string
		decls   string
		errPart string
	}{
		{"no transport", `action "a" appliesTo { principal: [User], resource: [Daemon], context: { device_id: String } };`, `context lacks the "transport" attribute`},
		{"no device_id", `action "a" appliesTo { principal: [User], resource: [Daemon], context: { transport: String } };`, `context lacks the "device_id" attribute`},
		{"no context at all", `action "a" appliesTo { principal: [User], resource: [Daemon] };`, `context lacks the "transport" attribute`},
		{"transport of another type", `action "a" appliesTo { principal: [User], resource: [Daemon], context: { transport: Long, device_id: String } };`, `"transport" must be a required String`},
		{"optional device_id", `action "a" appliesTo { principal: [User], resource: [Daemon], context: { transport: String, device_id?: String } };`, `"device_id" must be a required String`},
		{"scope of another type", `action "a" appliesTo { principal: [User], resource: [Secret], context: { transport: String, device_id: String, scope: Long } };`, `"scope" must be a required String`},
		{"scope without a vault resource", `action "a" appliesTo { principal: [User], resource: [Secret, Daemon], context: { transport: String, device_id: String, scope: String } };`, `"scope" needs Secret or Vault resources, not Daemon`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadModelFrom([]byte(base + tt.decls))
			if err == nil || !strings.Contains(err.Error(), tt.errPart) || !strings.Contains(err.Error(), `action "a"`) {
				t.Errorf("loadModelFrom = %v, want an error about action \"a\" containing %q", err, tt.errPart)
			}
		})
	}

	m, err := loadModelFrom([]byte(base + `action "a" appliesTo { principal: [User], resource: [Secret], context: { transport: String, device_id: String, scope: String, n: Long, note?: String } };`))
	if err != nil {
		t.Fatal(err)
	}
	a := m.actions["a"]
	if !a.scope || len(a.extra) != 2 || a.required != 1 || !a.extra["note"].Optional {
		t.Errorf("actionInfo = %+v, want scope, extras n and note?, one required", a)
	}
	u := Principal{Kind: KindUser, ID: "u"}
	for _, tt := range []struct {
		ctx map[string]types.Value
		ok  bool
	}{
		{map[string]types.Value{"n": types.Long(1)}, true},
		{map[string]types.Value{"n": types.Long(1), "note": types.String("x")}, true},
		{map[string]types.Value{"note": types.String("x")}, false},
		{map[string]types.Value{"n": types.Long(1), "note": types.Long(2)}, false},
	} {
		_, _, err := m.buildRequest(Request{Principal: u, Action: "a", Resource: SecretResource("s", "k"), Transport: peer.Unix, Context: tt.ctx})
		if (err == nil) != tt.ok {
			t.Errorf("buildRequest with context %v: err = %v, want ok=%v", tt.ctx, err, tt.ok)
		}
	}
}

func TestCheckValue(t *testing.T) {
	user := types.NewEntityUID("User", "u")
	dec, _ := types.NewDecimal(15, -1)
	ip, _ := types.ParseIPAddr("10.0.0.1")
	rec := resolved.RecordType{
		"a": {Type: resolved.LongType{}},
		"b": {Type: resolved.StringType{}, Optional: true},
	}
	tests := []struct {
		name string
		v    types.Value
		t    resolved.IsType
		ok   bool
	}{
		{"string", types.String("x"), resolved.StringType{}, true},
		{"long as string", types.Long(1), resolved.StringType{}, false},
		{"long", types.Long(1), resolved.LongType{}, true},
		{"bool", types.True, resolved.BoolType{}, true},
		{"string as bool", types.String("true"), resolved.BoolType{}, false},
		{"entity", user, resolved.EntityType("User"), true},
		{"entity of another type", user, resolved.EntityType("Device"), false},
		{"string as entity", types.String(`User::"u"`), resolved.EntityType("User"), false},
		{"set of longs", types.NewSet(types.Long(1), types.Long(2)), resolved.SetType{Element: resolved.LongType{}}, true},
		{"empty set", types.NewSet(), resolved.SetType{Element: resolved.LongType{}}, true},
		{"mixed set", types.NewSet(types.Long(1), types.String("2")), resolved.SetType{Element: resolved.LongType{}}, false},
		{"record", types.NewRecord(types.RecordMap{"a": types.Long(1)}), rec, true},
		{"record with optional", types.NewRecord(types.RecordMap{"a": types.Long(1), "b": types.String("x")}), rec, true},
		{"record missing required", types.NewRecord(types.RecordMap{"b": types.String("x")}), rec, false},
		{"record with extra", types.NewRecord(types.RecordMap{"a": types.Long(1), "c": types.True}), rec, false},
		{"record with wrong type", types.NewRecord(types.RecordMap{"a": types.String("1")}), rec, false},
		{"decimal", dec, resolved.ExtensionType("decimal"), true},
		{"ipaddr", ip, resolved.ExtensionType("ipaddr"), true},
		{"ipaddr as decimal", ip, resolved.ExtensionType("decimal"), false},
		{"unknown extension", ip, resolved.ExtensionType("geo"), false},
		{"nil", nil, resolved.StringType{}, false},
	}
	for _, tt := range tests {
		if err := checkValue(tt.v, tt.t); (err == nil) != tt.ok {
			t.Errorf("%s: checkValue = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
