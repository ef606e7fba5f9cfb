package authz

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestActionText(t *testing.T) {
	for _, a := range Actions() {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %q, %v", a, got, err)
		}
		text, err := a.MarshalText()
		if err != nil || string(text) != string(a) {
			t.Errorf("%q.MarshalText() = %q, %v", a, text, err)
		}
		var back Action
		if err := back.UnmarshalText(text); err != nil || back != a {
			t.Errorf("UnmarshalText(%q) = %q, %v", text, back, err)
		}
	}
	if got := ActionVaultRead.String(); got != "vault.read" {
		t.Errorf("String() = %q", got)
	}
	if got := ActionAuditRead.String(); got != "audit.read" {
		t.Errorf("String() = %q", got)
	}

	for _, s := range []string{
		"", "Vault.Read", "VAULT.READ", "vault.Read", "Audit.read",
		"vault", "device", "audit", // groups are not requestable
		" vault.read", "vault.read ", "vault.read\x00", "vault_read", "vault.steal",
	} {
		if a, err := ParseAction(s); err == nil {
			t.Errorf("ParseAction(%q) = %q, want an error", s, a)
		}
		var a Action = ActionDaemonStatus
		if err := a.UnmarshalText([]byte(s)); err == nil || a != ActionDaemonStatus {
			t.Errorf("UnmarshalText(%q) = %v, left %q; want an error and no change", s, err, a)
		}
		if _, err := Action(s).MarshalText(); err == nil {
			t.Errorf("Action(%q).MarshalText() succeeded, want an error", s)
		}
	}
	if _, err := ParseAction(strings.Repeat("x", 1000)); err == nil || len(err.Error()) > 100 {
		t.Errorf("ParseAction(long) error = %v, want a short error", err)
	}

	// Actions returns a copy.
	all := Actions()
	all[0] = "mutated"
	if Actions()[0] != ActionVaultRead {
		t.Errorf("Actions() shares its backing array")
	}

	// As a JSON map key and value.
	b, err := json.Marshal(map[Action]Action{ActionVaultRead: ActionVaultWrite})
	if err != nil || string(b) != `{"vault.read":"vault.write"}` {
		t.Errorf("json.Marshal = %s, %v", b, err)
	}
	var m map[Action]Action
	if err := json.Unmarshal([]byte(`{"vault.read":"Vault.Write"}`), &m); err == nil {
		t.Errorf("json.Unmarshal accepted a case variant: %v", m)
	}
}

func TestEffectText(t *testing.T) {
	var zero Effect
	if zero != Deny || zero.String() != "deny" {
		t.Errorf("zero Effect = %v (%d), want deny", zero, zero)
	}
	tests := []struct {
		e    Effect
		text string
	}{
		{Deny, "deny"},
		{Allow, "allow"},
		{Pending, "pending"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.text {
			t.Errorf("%d.String() = %q, want %q", tt.e, got, tt.text)
		}
		text, err := tt.e.MarshalText()
		if err != nil || string(text) != tt.text {
			t.Errorf("%v.MarshalText() = %q, %v", tt.e, text, err)
		}
		back := Effect(200)
		if err := back.UnmarshalText(text); err != nil || back != tt.e {
			t.Errorf("UnmarshalText(%q) = %v, %v", text, back, err)
		}
		if got, err := ParseEffect(tt.text); err != nil || got != tt.e {
			t.Errorf("ParseEffect(%q) = %v, %v", tt.text, got, err)
		}
	}
	for _, s := range []string{"", "Allow", "DENY", "permit", "forbid", "allow "} {
		if e, err := ParseEffect(s); err == nil {
			t.Errorf("ParseEffect(%q) = %v, want an error", s, e)
		}
		e := Allow
		if err := e.UnmarshalText([]byte(s)); err == nil || e != Allow {
			t.Errorf("UnmarshalText(%q) = %v, left %v; want an error and no change", s, err, e)
		}
	}
	if got := Effect(7).String(); got != "effect(7)" {
		t.Errorf("Effect(7).String() = %q", got)
	}
	if _, err := Effect(7).MarshalText(); err == nil {
		t.Errorf("Effect(7).MarshalText() succeeded")
	}

	b, err := json.Marshal(Decision{Effect: Allow, Policies: []string{"p"}})
	if err != nil || !strings.Contains(string(b), `"Effect":"allow"`) {
		t.Errorf("json.Marshal(Decision) = %s, %v", b, err)
	}
}

func TestDecisionAllowed(t *testing.T) {
	for _, tt := range []struct {
		e    Effect
		want bool
	}{{Deny, false}, {Allow, true}, {Pending, false}, {Effect(9), false}} {
		if got := (Decision{Effect: tt.e}).Allowed(); got != tt.want {
			t.Errorf("Decision{Effect: %v}.Allowed() = %v, want %v", tt.e, got, tt.want)
		}
	}
}
