package policy

import "testing"

// FuzzParseCases: no input makes the case parser panic, and what it accepts
// satisfies its documented invariants.
func FuzzParseCases(f *testing.F) {
	f.Add([]byte(aliceCases))
	f.Add([]byte(`{"cases": []}`))
	f.Add([]byte(`{"cases": [{"name": "n", "principal": "User::\"a\"", "principal": "User::\"b\"", "action": "vault.read", "resource": "Secret::\"global/k\"", "expect": "deny"}]}`))
	f.Add([]byte(`{"cases": [{"name": "n", "principal": "Device::\"01JCXYZ8R6Q0D0E6V4V5N7Z2KA\"", "owner": "a", "roles": ["admin"], "action": "tool.execute", "resource": "Tool::\"exec\"", "transport": "quic", "context": {"argv": ["ls"], "n": 1, "e": {"__entity": {"type": "User", "id": "a"}}}, "expect": "pending", "policies": []}]}`))
	f.Add([]byte(`{"Cases": [{"NAME": "x"}]}`))
	f.Add([]byte("{\"cases\": [{\"name\": \"\xff\"}]}"))
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
			// Building the request must not panic either.
			_, _ = c.Request()
		}
	})
}
