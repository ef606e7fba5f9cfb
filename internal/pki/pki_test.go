package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/identity"
)

var sealKey = bytes.Repeat([]byte{3}, 32)

func newTestCA(t testing.TB) (*CA, string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key.sealed"), sealKey, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca, dir
}

func TestCACreateAndReload(t *testing.T) {
	ca, dir := newTestCA(t)
	if !ca.Cert.IsCA || ca.Cert.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatal("CA must be an ECDSA CA certificate")
	}
	if life := ca.Cert.NotAfter.Sub(ca.Cert.NotBefore); life < 9*365*24*time.Hour || life > 11*365*24*time.Hour {
		t.Fatalf("CA lifetime %v", life)
	}
	for _, f := range []string{"ca.crt", "ca.key.sealed"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, fi.Mode())
		}
	}
	again, err := LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key.sealed"), sealKey, "x")
	if err != nil || again.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("reload: %v", err)
	}
	if _, err := LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key.sealed"), bytes.Repeat([]byte{4}, 32), "x"); err == nil {
		t.Fatal("loaded CA key with the wrong sealing key")
	}
	os.Remove(filepath.Join(dir, "ca.crt"))
	if _, err := LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key.sealed"), sealKey, "x"); err == nil {
		t.Fatal("a key without its certificate must be an error, not a new CA")
	}
}

func TestIssueClientUsesTheDevicesOwnKey(t *testing.T) {
	ca, _ := newTestCA(t)
	id, _ := identity.Generate()
	der, err := CreateDeviceCSR(id, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParseDeviceCSR(der)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := ca.IssueClient(req, "laptop", now, DefaultLeafTTL)
	if err != nil {
		t.Fatal(err)
	}
	if !id.PublicKey().Equal(cert.PublicKey) {
		t.Fatal("certificate does not carry the device's key")
	}
	if got, err := DeviceIDFromCert(cert); err != nil || got != id.DeviceID {
		t.Fatalf("device id %q %v", got, err)
	}
	if cert.NotBefore.After(now.Add(-Backdate+time.Second)) || cert.NotAfter.Sub(now) > DefaultLeafTTL+time.Second {
		t.Fatalf("validity %v..%v", cert.NotBefore, cert.NotAfter)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := cert.Verify(opts); err != nil {
		t.Fatal(err)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if _, err := cert.Verify(opts); err == nil {
		t.Fatal("client certificate verifies for serverAuth")
	}
}

func TestParseDeviceCSRRejects(t *testing.T) {
	id, _ := identity.Generate()
	good, _ := CreateDeviceCSR(id, "x")
	tampered := bytes.Clone(good)
	tampered[len(tampered)-5] ^= 1
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCSR, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{identity.DeviceURI(id.DeviceID)}}, ecKey)
	withDNS, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}, DNSNames: []string{"evil.example"}, URIs: []*url.URL{identity.DeviceURI(id.DeviceID)}}, id.SigningKey)
	noURI, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, id.SigningKey)
	for name, der := range map[string][]byte{"empty": nil, "tampered": tampered, "ecdsa": ecCSR, "dns": withDNS, "no uri": noURI, "huge": make([]byte, MaxCSRBytes+1)} {
		if _, err := ParseDeviceCSR(der); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestServerCertRenewsAndSwaps(t *testing.T) {
	ca, _ := newTestCA(t)
	sc, err := NewServerCert(ca, []string{"palyra.test"}, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	first := sc.Leaf()
	if !containsAll(first.DNSNames, "localhost", "palyra.test") || len(first.IPAddresses) != 2 {
		t.Fatalf("SANs %v %v", first.DNSNames, first.IPAddresses)
	}
	if first.NotAfter.Sub(first.NotBefore) != 3*time.Second+Backdate {
		t.Fatalf("lifetime %v", first.NotAfter.Sub(first.NotBefore))
	}
	renewed := make(chan *x509.Certificate, 1)
	sc.Renewed = func(c *x509.Certificate) {
		select {
		case renewed <- c:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sc.Run(ctx, func(err error) { t.Error(err) }); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case c := <-renewed:
		if c.SerialNumber.Cmp(first.SerialNumber) == 0 {
			t.Fatal("renewal kept the serial")
		}
		got, _ := sc.GetCertificate(nil)
		if got.Leaf != c {
			t.Fatal("GetCertificate does not serve the renewed certificate")
		}
		if c.NotBefore.Before(first.NotBefore) {
			t.Fatal("renewed certificate is older")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no renewal within 10s for a 3s certificate")
	}
}

func TestRenewAtIsAboutTwoThirds(t *testing.T) {
	issued := time.Unix(0, 0)
	end := issued.Add(24 * time.Hour)
	for range 100 {
		at := RenewAt(issued, end).Sub(issued)
		if at > 16*time.Hour || at < 16*time.Hour-144*time.Minute {
			t.Fatalf("renew at %v", at)
		}
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func FuzzParseDeviceCSR(f *testing.F) {
	id, _ := identity.Generate()
	good, _ := CreateDeviceCSR(id, "seed")
	f.Add(good)
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		req, err := ParseDeviceCSR(der)
		if err != nil {
			return
		}
		if _, perr := identity.ParseDeviceID(req.DeviceID.String()); perr != nil || len(req.PublicKey) != 32 {
			t.Fatal("accepted CSR with invalid device id or key")
		}
	})
}
