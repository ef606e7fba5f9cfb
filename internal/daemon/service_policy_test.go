package daemon

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
)

// An explain request the engine would find malformed is InvalidArgument
// with what to change, not a deny carrying a "request:" error; too many
// roles are refused before any decision is built.
func TestPolicyExplainRefusesMalformedRequests(t *testing.T) {
	td := startDaemon(t, nil)
	many := make([]string, 65)
	for i := range many {
		many[i] = "r" + strings.Repeat("x", i)
	}
	for _, tc := range []struct {
		req  *palyrav1.PolicyExplainRequest
		want string
	}{
		{&palyrav1.PolicyExplainRequest{Principal: `User::"alice"`, Action: "vault.read", Resource: `Secret::"global/k"`, DeviceId: "01JCXYZ8R6Q0D0E6V4V5N7Z2KA"}, "drop device_id"},
		{&palyrav1.PolicyExplainRequest{Principal: `User::"alice"`, Action: "vault.read", Resource: `Secret::"global/k"`, ContextJson: `{"scope": "global"}`}, `the engine fills in context "scope" itself`},
		{&palyrav1.PolicyExplainRequest{Principal: `User::"alice"`, Action: "vault.read", Resource: `Secret::"global/k"`, Roles: many}, "roles: 65 given, at most 64"},
		{&palyrav1.PolicyExplainRequest{Principal: `User::"alice"`, Action: "vault.read", Resource: `Secret::"global/k"`, Roles: []string{""}}, "roles: role 1 is empty"},
	} {
		_, err := td.admin.Policy.Explain(context.Background(), connect.NewRequest(tc.req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want InvalidArgument with %q", tc.req, err, tc.want)
		}
	}
	r, err := td.admin.Policy.Explain(context.Background(), connect.NewRequest(&palyrav1.PolicyExplainRequest{
		Principal: `User::"bob"`, Action: "vault.read", Resource: `Secret::"global/k"`, Roles: []string{"admin"}}))
	if err != nil || r.Msg.Decision != "allow" {
		t.Fatalf("well-formed request: %v, %v", r, err)
	}
}
