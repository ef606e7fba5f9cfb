package authn

import (
	"context"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
)

// fixture is a real CA and device registry with one enrolled device, one
// revoked device, and a certificate whose key differs from its enrolled one.
type fixture struct {
	reg                         *devices.Registry
	active, revoked, rekeyed    *x509.Certificate
	activeID                    identity.DeviceID
	unknown, nonDevice, expired *x509.Certificate
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"), make([]byte, 32), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := devices.Open(context.Background(), filepath.Join(dir, "devices.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	now := time.Now()
	issue := func(id *identity.Identity, ttl time.Duration, at time.Time) *x509.Certificate {
		der, err := pki.CreateDeviceCSR(id, "d")
		if err != nil {
			t.Fatal(err)
		}
		csr, err := pki.ParseDeviceCSR(der)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ca.IssueClient(csr, "d", at, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	enroll := func(id *identity.Identity, c *x509.Certificate) {
		if _, err := reg.Record(context.Background(), devices.Device{ID: id.DeviceID, Name: string(id.DeviceID), Owner: OwnerUser, PublicKey: id.PublicKey()}, c); err != nil {
			t.Fatal(err)
		}
	}
	var f fixture
	f.reg = reg
	a, _ := identity.Generate()
	f.active, f.activeID = issue(a, time.Hour, now), a.DeviceID
	enroll(a, f.active)
	f.expired = issue(a, time.Minute, now.Add(-time.Hour))

	r, _ := identity.Generate()
	f.revoked = issue(r, time.Hour, now)
	enroll(r, f.revoked)
	if err := reg.Revoke(context.Background(), r.DeviceID); err != nil {
		t.Fatal(err)
	}

	// Same device id as a, another key: the registry binds ids to keys.
	other, _ := identity.Generate()
	other.DeviceID = a.DeviceID
	f.rekeyed = issue(other, time.Hour, now)

	u, _ := identity.Generate()
	f.unknown = issue(u, time.Hour, now)

	f.nonDevice = &x509.Certificate{NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour)}
	return f
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	const owner = 1000
	now := time.Now()
	device := authz.Principal{Kind: authz.KindDevice, ID: f.activeID.String(), Owner: OwnerUser, Roles: []string{"admin"}}
	for _, tc := range []struct {
		name      string
		peer      peer.Peer
		want      authz.Principal
		wantDevID identity.DeviceID
		fail      string // substring of the refusal, "" for success
	}{
		{name: "owner on the socket", peer: peer.Peer{Transport: peer.Unix, UID: owner}, want: Owner()},
		{name: "another uid on the socket", peer: peer.Peer{Transport: peer.Unix, UID: owner + 1}, fail: "not the daemon owner"},
		{name: "no uid on the socket", peer: peer.Peer{Transport: peer.Unix, UID: -1}, fail: "not the daemon owner"},
		{name: "root is not the owner", peer: peer.Peer{Transport: peer.Unix, UID: 0}, fail: "not the daemon owner"},
		{name: "tcp without certificate", peer: peer.Peer{Transport: peer.TCP, UID: -1}, fail: "client certificate required"},
		{name: "quic without certificate", peer: peer.Peer{Transport: peer.QUIC, UID: -1}, fail: "client certificate required"},
		{name: "enrolled device on tcp", peer: peer.Peer{Transport: peer.TCP, Cert: f.active, UID: -1}, want: device, wantDevID: f.activeID},
		{name: "enrolled device on quic", peer: peer.Peer{Transport: peer.QUIC, Cert: f.active, UID: -1}, want: device, wantDevID: f.activeID},
		{name: "expired certificate", peer: peer.Peer{Transport: peer.TCP, Cert: f.expired, UID: -1}, fail: "not valid now"},
		{name: "revoked device", peer: peer.Peer{Transport: peer.TCP, Cert: f.revoked, UID: -1}, fail: "device is revoked"},
		{name: "device never enrolled", peer: peer.Peer{Transport: peer.QUIC, Cert: f.unknown, UID: -1}, fail: "not enrolled"},
		{name: "enrolled id with another key", peer: peer.Peer{Transport: peer.TCP, Cert: f.rekeyed, UID: -1}, fail: "does not match the enrolled device"},
		{name: "certificate without a device URI", peer: peer.Peer{Transport: peer.TCP, Cert: f.nonDevice, UID: -1}, fail: "not a device certificate"},
		{name: "device certificate on the socket is ignored", peer: peer.Peer{Transport: peer.Unix, Cert: f.active, UID: owner + 1}, fail: "not the daemon owner"},
		{name: "no transport", peer: peer.Peer{Transport: peer.None, Cert: f.active, UID: owner}, fail: "unknown transport"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Authenticate(tc.peer, f.reg, owner, now)
			if tc.fail != "" {
				if !errors.Is(err, ErrUnauthenticated) || !contains(err.Error(), tc.fail) {
					t.Fatalf("err = %v, want unauthenticated: %s", err, tc.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Principal.String() != tc.want.String() || c.Principal.Owner != tc.want.Owner || len(c.Principal.Roles) != len(tc.want.Roles) {
				t.Fatalf("principal %+v, want %+v", c.Principal, tc.want)
			}
			if c.DeviceID != tc.wantDevID || c.Transport != tc.peer.Transport {
				t.Fatalf("caller %+v", c)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
