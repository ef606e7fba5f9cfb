package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/approval"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/peer"
)

// approveExec sends every exec for approval.
const approveExec = `@id("approve-exec") @approval("required") forbid (principal, action == Action::"tool.execute", resource == Tool::"exec");`

// TestApprovalSummaryNeverHidesArguments reproduces the hidden-tail
// attack: a long argument pushed the rest of argv past the summary's
// bound, and the approver saw only the head. Now the program and the
// flags come first and the whole argv is shown; a summary too long to
// show whole is refused (no approval is created) rather than cut.
func TestApprovalSummaryNeverHidesArguments(t *testing.T) {
	td := startToolDaemon(t, nil, approveExec)
	dev, err := client.DialBundle(td.enroll(t, "agent"), peer.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	ctx := context.Background()
	call := func(argv string) error {
		req := connect.NewRequest(&palyrav1.ToolExecuteRequest{Tool: "exec", Arguments: []byte(`{"argv":` + argv + `}`)})
		req.Header().Set(guard.HeaderApprovalWait, "0")
		_, err := dev.Tools.Execute(ctx, req)
		return err
	}

	// 560 characters, then the tail that matters: shown whole.
	tail := "--tail-that-matters=rm -rf d"
	err = call(`["printf","%s","` + strings.Repeat("a", 560) + `","` + tail + `"]`)
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("want a pending approval, got %v", err)
	}
	a := pendingID(t, td.admin)
	if !strings.HasSuffix(a.Summary, "'"+tail+"'") || !strings.HasPrefix(a.Summary, "exec; program /") {
		t.Fatalf("summary does not show the program first and the whole argv: %q", a.Summary)
	}
	if _, err := decide(ctx, td.admin, a.Id, false, "", "no"); err != nil {
		t.Fatal(err)
	}

	// Past the bound: refused with a clear reason, no approval created.
	err = call(`["printf","%s","` + strings.Repeat("a", approval.MaxSummary) + `","` + tail + `"]`)
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodePermissionDenied || !strings.Contains(ce.Message(), "too long to show an approver") || !strings.Contains(ce.Message(), "shorten the arguments") {
		t.Fatalf("a summary past the bound: %v", err)
	}
	r, err := td.admin.Approvals.List(ctx, connect.NewRequest(&palyrav1.ApprovalListRequest{State: "pending"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Msg.Approvals) != 0 {
		t.Fatalf("an approval was created for a summary too long to show: %q", r.Msg.Approvals[0].Summary)
	}
}
