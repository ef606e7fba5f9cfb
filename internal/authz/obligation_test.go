package authz

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go"

	"github.com/palyra/palyra/internal/peer"
)

func TestObligations(t *testing.T) {
	e := newEngine(t,
		`@id("bots-use-the-vault") permit (principal in Role::"bot", action in Action::"vault", resource);`,
		// Reading any secret from a connector waits for the owner.
		"@id(\"connector-reads-need-approval\")\n@approval(\"required\")\nforbid (principal is Connector, action == Action::\"vault.read\", resource);",
		// Annotation order does not matter.
		`@approval("required") @id("global-deletes-need-approval") forbid (principal, action == Action::"vault.delete", resource in Vault::"global") when { principal is Connector };`,
		`@id("evil-bot") forbid (principal == Connector::"evil", action, resource);`,
		// Evaluates to an error (integer overflow) on device.list.
		`@id("broken-approval") @approval("required") forbid (principal, action == Action::"device.list", resource) when { 9223372036854775807 + 1 > 0 };`,
		// On daemon.status, an approval forbid matches connectors while a
		// plain forbid errors.
		`@id("status-needs-approval") @approval("required") forbid (principal is Connector, action == Action::"daemon.status", resource);`,
		`@id("broken-plain") forbid (principal, action == Action::"daemon.status", resource) when { 9223372036854775807 + 1 > 0 };`,
	)
	bot := Principal{Kind: KindConnector, ID: "discord", Roles: []string{"bot"}}
	evil := Principal{Kind: KindConnector, ID: "evil", Roles: []string{"bot"}}
	approval := func(policy string) Obligation {
		return Obligation{Policy: policy, Name: ObligationApproval, Value: ApprovalRequired}
	}
	tests := []struct {
		name        string
		req         Request
		effect      Effect
		policies    []string
		obligations []Obligation
		errors      int
	}{
		{"approval forbid determines the deny", remote(bot, ActionVaultRead, peer.TCP),
			Pending, []string{"connector-reads-need-approval"}, []Obligation{approval("connector-reads-need-approval")}, 0},
		{"approval forbid on an admin connector too", remote(Principal{Kind: KindConnector, ID: "ops", Roles: []string{"admin"}}, ActionVaultRead, peer.QUIC),
			Pending, []string{"connector-reads-need-approval"}, []Obligation{approval("connector-reads-need-approval")}, 0},
		{"plain and approval forbids: both reported, only one obligation", remote(evil, ActionVaultRead, peer.TCP),
			Deny, []string{"connector-reads-need-approval", "evil-bot"}, []Obligation{approval("connector-reads-need-approval")}, 0},
		{"plain forbid alone: no obligation", remote(evil, ActionVaultWrite, peer.TCP),
			Deny, []string{"evil-bot"}, nil, 0},
		{"resource-scoped approval forbid", Request{Principal: bot, Action: ActionVaultDelete, Resource: SecretResource("global", "k"), Transport: peer.TCP},
			Pending, []string{"global-deletes-need-approval"}, []Obligation{approval("global-deletes-need-approval")}, 0},
		{"approval forbid out of scope", Request{Principal: bot, Action: ActionVaultDelete, Resource: SecretResource("bots", "k"), Transport: peer.TCP},
			Allow, []string{"bots-use-the-vault"}, nil, 0},
		{"permit without annotations", remote(bot, ActionVaultWrite, peer.TCP),
			Allow, []string{"bots-use-the-vault"}, nil, 0},
		{"users are not connectors", local(adminUser, ActionVaultRead),
			Allow, []string{"admin-full-access"}, nil, 0},
		{"an erroring approval forbid is a plain deny", local(adminUser, ActionDeviceList),
			Deny, []string{"broken-approval"}, nil, 1},
		{"a matching approval forbid next to an erroring forbid is a plain deny", remote(bot, ActionDaemonStatus, peer.TCP),
			Deny, []string{"status-needs-approval"}, nil, 1},
		{"default deny", local(bobUser, ActionAuditRead),
			Deny, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.req)
			if d.Effect != tt.effect || !slices.Equal(d.Policies, tt.policies) ||
				!slices.Equal(d.Obligations, tt.obligations) || len(d.Errors) != tt.errors {
				t.Errorf("Decide = %+v, want effect %v, policies %q, obligations %+v, %d errors",
					d, tt.effect, tt.policies, tt.obligations, tt.errors)
			}
		})
	}

	t.Run("obligations are sorted by policy", func(t *testing.T) {
		e := newEngine(t,
			`@id("zz") @approval("required") forbid (principal is Connector, action == Action::"vault.read", resource);`,
			`@id("aa") @approval("required") forbid (principal is Connector, action in Action::"vault", resource);`,
		)
		d := e.Decide(remote(bot, ActionVaultRead, peer.TCP))
		if want := []Obligation{approval("aa"), approval("zz")}; d.Effect != Deny || !slices.Equal(d.Obligations, want) {
			t.Errorf("Decide = %+v, want obligations %+v", d, want)
		}
	})

	t.Run("decisions do not share obligation slices", func(t *testing.T) {
		d1 := e.Decide(remote(bot, ActionVaultRead, peer.TCP))
		d1.Obligations[0].Value = "mutated"
		d2 := e.Decide(remote(bot, ActionVaultRead, peer.TCP))
		if d2.Obligations[0].Value != ApprovalRequired {
			t.Errorf("a caller's change leaked into the engine: %+v", d2)
		}
	})

	t.Run("baseline has no obligations", func(t *testing.T) {
		if e := newEngine(t); e.obligations != nil {
			t.Errorf("baseline obligations = %v", e.obligations)
		}
	})
}

func TestAnnotationErrors(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		id        string
		line, col int
		errPart   string
	}{
		{"misspelt obligation", `@id("x") @aproval("required") forbid (principal, action, resource);`,
			"x", 1, 10, "unknown annotation @aproval (known: @id, @approval)"},
		{"unknown annotation on its own line", "// ops rules\n@id(\"x\")\n  @reason(\"audit\")\npermit (principal, action, resource);",
			"x", 3, 3, "unknown annotation @reason"},
		{"unknown annotation before @id", "\n  @note(\"n\") @id(\"x\") permit (principal, action, resource);",
			"x", 2, 3, "unknown annotation @note"},
		{"after comments and non-ASCII text", "@id(\"x\") /* é, \"quoted\" */ @approval(\"required\") // ü\n\t@Approval(\"required\") forbid (principal, action, resource);",
			"x", 2, 2, "unknown annotation @Approval"},
		{"escaped quote in an earlier value", `@id("x") @approval("required") @because("a \"b\" c") forbid (principal, action, resource);`,
			"x", 1, 32, "unknown annotation @because"},
		{"reserved word as annotation", `@id("x") @if("y") forbid (principal, action, resource);`,
			"x", 1, 10, "unknown annotation @if"},
		{"unknown value", `@id("x") @approval("yes") forbid (principal, action, resource);`,
			"x", 1, 10, `@approval("yes"): value must be one of ["required"]`},
		{"case variant of the value", `@id("x") @approval("Required") forbid (principal, action, resource);`,
			"x", 1, 10, "value must be one of"},
		{"bare annotation", `@id("x") @approval forbid (principal, action, resource);`,
			"x", 1, 10, `@approval(""): value must be one of`},
		{"approval on a permit", `@id("x") @approval("required") permit (principal, action, resource);`,
			"x", 1, 10, "@approval is only allowed on forbid policies"},
		{"second policy", "@id(\"ok\") forbid (principal == User::\"a\", action, resource);\n\n@id(\"y\")\n@approval(\"required\") @aprooval(\"x\")\nforbid (principal, action, resource);",
			"y", 4, 23, "unknown annotation @aprooval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEngineFromSources(Source{Name: "ops.cedar", Text: []byte(tt.text)})
			if e != nil || !errors.Is(err, ErrAnnotation) {
				t.Fatalf("NewEngine = %v, %v; want ErrAnnotation", e, err)
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PolicyError", err)
			}
			if pe.Source != "ops.cedar" || pe.PolicyID != tt.id || pe.Line != tt.line || pe.Column != tt.col {
				t.Errorf("PolicyError{Source: %q, PolicyID: %q, Line: %d, Column: %d}, want {ops.cedar, %q, %d, %d}",
					pe.Source, pe.PolicyID, pe.Line, pe.Column, tt.id, tt.line, tt.col)
			}
			if !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("error %q does not contain %q", err, tt.errPart)
			}
		})
	}

	t.Run("message", func(t *testing.T) {
		_, err := NewEngineFromSources(Source{Name: "ops.cedar", Text: []byte("@id(\"x\")\n@aproval(\"required\") forbid (principal, action, resource);")})
		want := `authz: ops.cedar:2:1: policy "x": invalid policy annotation: unknown annotation @aproval (known: @id, @approval)`
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	})

	t.Run("id checks come first", func(t *testing.T) {
		_, err := NewEngine([]byte(`@approval("required") forbid (principal, action, resource);`))
		if !errors.Is(err, ErrMissingID) {
			t.Errorf("err = %v, want ErrMissingID", err)
		}
	})
}

// TestAnnotationPositionFallback checks that an annotation prefix the
// rescan does not understand leaves the policy's own position.
func TestAnnotationPositionFallback(t *testing.T) {
	for _, tt := range []struct {
		name  string
		text  string
		off   int
		index int
	}{
		{"offset past the end", `@id("x")`, 100, 0},
		{"offset not at an annotation", `  @id("x")`, 0, 0},
		{"index past the annotations", `@id("x") permit`, 0, 1},
		{"unterminated value", `@id("x`, 0, 1},
		{"value not a string", `@id(x) @a permit`, 0, 1},
		{"missing close paren", `@id("x" @a permit`, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pos := cedar.Position{Offset: tt.off, Line: 1, Column: tt.off + 1}
			if got, ok := annotationPosition([]byte(tt.text), pos, tt.index); ok {
				t.Errorf("annotationPosition = %+v, want not found", got)
			}
		})
	}
}
