package policy

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// FuzzParseCases: no input makes the case parser panic, and what it accepts
// satisfies its documented invariants.
func FuzzParseCases(f *testing.F) {
	f.Add([]byte(aliceCases))
	f.Add([]byte(`{"cases": []}`))
	f.Add([]byte(`{"cases": [{"name": "n", "principal": "User::\"a\"", "principal": "User::\"b\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "expect": "deny"}]}`))
	f.Add([]byte(`{"cases": [{"name": "n", "principal": "Device::\"01JCXYZ8R6Q0D0E6V4V5N7Z2KA\"", "owner": "a", "roles": ["admin"], "action": "tool.execute", "resource": "Tool::\"exec\"", "transport": "quic", "context": {"argv": ["ls"], "n": 1, "e": {"__entity": {"type": "User", "id": "a"}}}, "expect": "pending", "policies": []}]}`))
	f.Add([]byte(`{"Cases": [{"NAME": "x"}]}`))
	f.Add([]byte("{\"cases\": [{\"name\": \"\xff\"}]}"))
	f.Add([]byte(`{"cases": [{"name": "n", "principal": "User::\"a\"", "action": "vault.read", "resource": "Secret::\"g/k\"", "expect": "deny", "policies": null}]}`))
	f.Add([]byte(`{"cases": [{"name": "n", "principal": "User::\"a\"", "action": "vault.read", "resource": "Secret::\"g/k\"", "expect": "deny", "policies": ["x", "x"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cases, err := ParseCases("f.cedartest", data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, c := range cases {
			if c.Name == "" || seen[c.Name] || c.Principal == "" || c.Action == "" || c.Resource == "" {
				t.Fatalf("accepted an invalid case %+v", c)
			}
			seen[c.Name] = true
			if c.Policies != nil {
				ids := map[string]bool{}
				for _, id := range *c.Policies {
					if ids[id] {
						t.Fatalf("accepted duplicate expected policy %q", id)
					}
					ids[id] = true
				}
			}
			// Building the request must not panic either.
			_, _ = c.Request()
		}
	})
}

// FuzzParseContext: the context decoder (explain's --context, reaching the
// daemon over the API) never panics, refuses duplicate keys, and accepts
// only objects.
func FuzzParseContext(f *testing.F) {
	f.Add([]byte(`{"argv": ["ls", "-l"], "n": 3, "ok": true}`))
	f.Add([]byte(`{"a": 1, "a": 2}`))
	f.Add([]byte(`{"a": {"b": 1, "b": 2}}`))
	f.Add([]byte(`{"e": {"__entity": {"type": "User", "id": "alice"}}, "x": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}}`))
	f.Add([]byte(`[1, 2]`))
	f.Add([]byte(`{"n": 1e400}`))
	f.Add([]byte("{\"\xff\": 1}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, err := ParseContext(data)
		if err != nil {
			return
		}
		if ctx != nil && len(ctx) == 0 {
			t.Fatal("an empty map instead of nil")
		}
		trimmed := strings.TrimSpace(string(data))
		if ctx == nil && trimmed != "" && trimmed != "{}" {
			// Only empty input or an empty object means no attributes.
			if !regexp.MustCompile(`^\{\s*\}$`).MatchString(trimmed) {
				t.Fatalf("accepted %q as no attributes", data)
			}
		}
		if ctx != nil && (!strings.HasPrefix(trimmed, "{") || !jsontext.Value(trimmed).IsValid()) {
			t.Fatalf("accepted %q: not one JSON object without duplicate names", data)
		}
	})
}

// FuzzCheckText: the text check of policy and case files never panics,
// accepts only UTF-8 without a byte-order mark, and locates a refusal
// inside the text.
func FuzzCheckText(f *testing.F) {
	f.Add([]byte(alicePermit))
	f.Add([]byte("\xef\xbb\xbf@id(\"x\")"))
	f.Add([]byte("// a\n// caf\xe9\n"))
	f.Add([]byte("\n\n\xc3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fe := checkText(data)
		if fe == nil {
			if !utf8.Valid(data) || bytes.HasPrefix(data, utf8BOM) {
				t.Fatalf("accepted %q", data)
			}
			return
		}
		if fe.Line < 1 || fe.Column < 1 || fe.Line > bytes.Count(data, []byte("\n"))+1 || fe.Column > len(data)+1 {
			t.Fatalf("position %d:%d outside %q", fe.Line, fe.Column, data)
		}
	})
}
