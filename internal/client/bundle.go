// Package client connects to a palyrad daemon: over the local admin Unix
// socket as the machine's owner, or over mutual TLS (gRPC on TCP, or HTTP/3
// on QUIC) as an enrolled device using a client bundle.
//
// A bundle is a directory (0700) holding the device's identity and private
// keys (identity.json, 0600), its certificate (cert.pem), the daemon's CA
// certificate pinned at enrollment (ca.pem) and the daemon's addresses
// (daemon.json). The private key never leaves the client machine.
package client

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/palyra/palyra/internal/fileperm"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
)

// Bundle file names.
const (
	IdentityFile = "identity.json"
	CertFile     = "cert.pem"
	CAFile       = "ca.pem"
	DaemonFile   = "daemon.json"
)

// DaemonInfo is daemon.json: where the daemon listens and which CA it uses.
type DaemonInfo struct {
	TCP           string `json:"tcp"`
	QUIC          string `json:"quic"`
	CAFingerprint string `json:"ca_fingerprint"`
}

// Bundle is a loaded client bundle.
type Bundle struct {
	Identity *identity.Identity
	Cert     tls.Certificate // leaf parsed into Cert.Leaf
	CA       *x509.Certificate
	Daemon   DaemonInfo
}

// ErrBundleDirNotEmpty means the directory chosen for a new bundle already
// holds files; a bundle never overwrites anything.
var ErrBundleDirNotEmpty = errors.New("client: bundle directory is not empty")

// PrepareBundleDir makes dir ready for a new bundle: it must be absent or an
// empty directory, and ends up 0700. discard undoes it for a caller that
// fails later: it removes the directory if it was made here, else the
// bundle files written into it, so that nothing is left behind, above all
// not a private key.
func PrepareBundleDir(dir string) (discard func(), err error) {
	created, err := prepareBundleDir(dir)
	discard = func() {
		if created {
			os.RemoveAll(dir)
			return
		}
		for _, name := range []string{IdentityFile, CertFile, CAFile, DaemonFile} {
			os.Remove(filepath.Join(dir, name))
		}
	}
	return discard, err
}

func prepareBundleDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return false, fmt.Errorf("%w: %s", ErrBundleDirNotEmpty, dir)
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("client: %w", err)
		}
		created = true
	default:
		return false, fmt.Errorf("client: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { // #nosec G302 -- a directory: 0700 is owner-only, the x bit is needed to enter it
		return created, fmt.Errorf("client: %w", err)
	}
	return created, nil
}

// WriteBundle writes a bundle into dir, which PrepareBundleDir prepared,
// every file 0600.
func WriteBundle(dir string, id *identity.Identity, certDER, caDER []byte, d DaemonInfo) error {
	if err := identity.WritePlain(filepath.Join(dir, IdentityFile), id); err != nil {
		return err
	}
	dj, _ := json.MarshalIndent(d, "", "  ")
	for name, data := range map[string][]byte{
		CertFile:   pki.EncodeCertPEM(certDER),
		CAFile:     pki.EncodeCertPEM(caDER),
		DaemonFile: append(dj, '\n'),
	} {
		if err := renameio.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("client: write %s: %w", name, err)
		}
	}
	return nil
}

// LoadBundle reads and checks a bundle: the identity's key must match the
// certificate, and the CA certificate must match the pinned fingerprint.
func LoadBundle(dir string) (*Bundle, error) {
	// Whoever can write the bundle can re-pin the device to another
	// daemon: the directory and every file must be this user's, and
	// writable by this user alone; the identity readable by this user alone.
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("client: bundle: %w", err)
	} else if err := fileperm.Check(fi, fileperm.Trusted); err != nil {
		return nil, fmt.Errorf("client: bundle %s: %w", dir, err)
	}
	read := func(name string) ([]byte, error) {
		kind := fileperm.Trusted
		if name == IdentityFile {
			kind = fileperm.Private
		}
		b, err := fileperm.ReadFile(filepath.Join(dir, name), kind, maxBundleFileBytes)
		if err != nil {
			return nil, fmt.Errorf("client: bundle %s: %w", dir, err)
		}
		return b, nil
	}
	idb, err := read(IdentityFile)
	if err != nil {
		return nil, err
	}
	id, err := identity.Unmarshal(idb)
	if err != nil {
		return nil, fmt.Errorf("client: bundle %s: %w", dir, err)
	}
	var b Bundle
	b.Identity = id
	certPEM, err := read(CertFile)
	if err != nil {
		return nil, err
	}
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("client: bundle %s: %s: %w", dir, CertFile, err)
	}
	if !id.PublicKey().Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("client: bundle %s: certificate is not for this identity's key", dir)
	}
	b.Cert = tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: id.SigningKey, Leaf: leaf}
	caPEM, err := read(CAFile)
	if err != nil {
		return nil, err
	}
	if b.CA, err = parseCertPEM(caPEM); err != nil {
		return nil, fmt.Errorf("client: bundle %s: %s: %w", dir, CAFile, err)
	}
	dj, err := read(DaemonFile)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(dj, &b.Daemon); err != nil {
		return nil, fmt.Errorf("client: bundle %s: %s: %w", dir, DaemonFile, err)
	}
	for _, addr := range []string{b.Daemon.TCP, b.Daemon.QUIC} {
		if err := validAddr(addr); err != nil {
			return nil, fmt.Errorf("client: bundle %s: %s: %w", dir, DaemonFile, err)
		}
	}
	if pki.CertFingerprint(b.CA.Raw) != b.Daemon.CAFingerprint {
		return nil, fmt.Errorf("client: bundle %s: CA certificate does not match the pinned fingerprint", dir)
	}
	return &b, nil
}

// Roots returns a pool holding only the bundle's CA.
func (b *Bundle) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(b.CA)
	return p
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// maxBundleFileBytes bounds each bundle file (all are under 4 KiB).
const maxBundleFileBytes = 64 << 10

// validAddr accepts host:port with a non-empty host and a numeric port, and
// nothing else (no scheme, path or query).
func validAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: bad port", addr)
	}
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return fmt.Errorf("address %q: bad host", addr)
	}
	return nil
}

// SetDaemonAddrs points the bundle in dir at new daemon addresses (a
// daemon restarted on another port), replacing daemon.json atomically
// (0600, in the bundle's directory, so the bundle's permission rules hold).
// The bundle must load (its files this user's, the CA matching its pin),
// and the pinned CA is kept: the daemon at the new address must still prove
// itself with it when next dialed. It returns the new daemon.json.
func SetDaemonAddrs(dir, tcp, quic string) (DaemonInfo, error) {
	b, err := LoadBundle(dir)
	if err != nil {
		return DaemonInfo{}, err
	}
	for _, addr := range []string{tcp, quic} {
		if err := validAddr(addr); err != nil {
			return DaemonInfo{}, fmt.Errorf("%w: %w", ErrBadAddr, err)
		}
	}
	d := DaemonInfo{TCP: tcp, QUIC: quic, CAFingerprint: b.Daemon.CAFingerprint}
	dj, _ := json.MarshalIndent(d, "", "  ")
	if err := renameio.WriteFile(filepath.Join(dir, DaemonFile), append(dj, '\n'), 0o600); err != nil {
		return DaemonInfo{}, fmt.Errorf("client: write %s: %w", DaemonFile, err)
	}
	return d, nil
}

// ErrBadAddr marks an address that is not host:port.
var ErrBadAddr = errors.New("client: bad daemon address")

// ListenAddrs reads a running daemon's address file (palyrad.addr in its
// state directory) and returns the TCP and QUIC addresses to dial it at:
// host, if not empty, replaces the listen host (as for enrollment);
// otherwise an unspecified listen address becomes loopback.
func ListenAddrs(addrFile, host string) (tcp, quic string, err error) {
	f, err := os.Open(addrFile) // #nosec G304 -- the daemon's address file in the state directory
	if err != nil {
		return "", "", fmt.Errorf("client: daemon address file: %w", err)
	}
	defer f.Close()
	var a struct{ TCP, QUIC string }
	if err := json.NewDecoder(io.LimitReader(f, maxBundleFileBytes)).Decode(&a); err != nil {
		return "", "", fmt.Errorf("client: daemon address file %s: %w", addrFile, err)
	}
	if a.TCP == "" || a.QUIC == "" {
		return "", "", fmt.Errorf("client: daemon address file %s: no tcp or quic address", addrFile)
	}
	return dialAddr(a.TCP, host), dialAddr(a.QUIC, host), nil
}
