package daemon

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
)

func TestRenewLimiterWindows(t *testing.T) {
	var l renewLimiter
	a, b := identity.NewDeviceID(), identity.NewDeviceID()
	t0 := time.Unix(1000, 0)
	for i := range renewPerWin {
		if !l.allow(a, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("renewal %d refused", i+1)
		}
	}
	if l.allow(a, t0.Add(time.Minute)) {
		t.Fatal("renewal over the limit allowed")
	}
	if !l.allow(b, t0.Add(time.Minute)) {
		t.Fatal("another device limited")
	}
	if !l.allow(a, t0.Add(renewWindow)) {
		t.Fatal("limit kept after the window")
	}
}

// TestRenewalIsRateLimited: a device that renews in a loop is refused
// (ResourceExhausted) after renewPerWin renewals, and other devices are not.
func TestRenewalIsRateLimited(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	a, b := td.enroll(t, "a"), td.enroll(t, "b")
	renew := func(bundle *client.Bundle) error {
		c, _ := client.DialBundle(bundle, peer.TCP)
		defer c.Close()
		csr, err := pki.CreateDeviceCSR(bundle.Identity, "x")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Devices.Renew(ctx, connect.NewRequest(&palyrav1.RenewCertificateRequest{Csr: csr}))
		return err
	}
	for i := range renewPerWin {
		if err := renew(a); err != nil {
			t.Fatalf("renewal %d: %v", i+1, err)
		}
	}
	if err := renew(a); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("renewal over the limit: %v", err)
	}
	if err := renew(b); err != nil {
		t.Fatalf("another device: %v", err)
	}
}
