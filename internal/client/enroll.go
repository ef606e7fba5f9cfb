package client

import (
	"context"
	"fmt"
	"net"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
)

// Enroll creates a new device identity on this machine, has the daemon
// behind admin issue a certificate for it from a CSR (the private key never
// leaves this process), checks what came back, and writes the bundle to
// outDir, which must be absent or empty (checked before the daemon is
// asked, so a refused directory enrolls nothing). daemonHost, if not empty,
// replaces the host of the daemon's listen addresses in the bundle (for a
// device on another machine); otherwise an unspecified listen address
// (0.0.0.0, ::) becomes the matching loopback address.
func Enroll(ctx context.Context, admin *Conn, name, outDir, daemonHost string) (_ *Bundle, err error) {
	discard, err := PrepareBundleDir(outDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			discard()
		}
	}()
	id, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	csr, err := pki.CreateDeviceCSR(id, name)
	if err != nil {
		return nil, err
	}
	st, err := admin.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{}))
	if err != nil {
		return nil, err
	}
	resp, err := admin.Devices.Enroll(ctx, connect.NewRequest(&palyrav1.EnrollDeviceRequest{Name: name, Csr: csr}))
	if err != nil {
		return nil, err
	}
	caFP := pki.CertFingerprint(resp.Msg.GetCaCertificate())
	if caFP != st.Msg.GetCaFingerprint() {
		return nil, fmt.Errorf("client: enrollment returned a CA certificate that does not match the daemon's fingerprint")
	}
	l := st.Msg.GetListeners()
	info := DaemonInfo{TCP: dialAddr(l.GetTcp(), daemonHost), QUIC: dialAddr(l.GetQuic(), daemonHost), CAFingerprint: caFP}
	if err := WriteBundle(outDir, id, resp.Msg.GetCertificate(), resp.Msg.GetCaCertificate(), info); err != nil {
		return nil, err
	}
	return LoadBundle(outDir)
}

// DialAddr turns a daemon's listen address into one a client can dial:
// host replaces its host when not empty, and an unspecified address
// (0.0.0.0, ::) becomes the matching loopback address.
func DialAddr(listen, host string) string { return dialAddr(listen, host) }

// dialAddr turns a listen address into one a client can dial.
func dialAddr(listen, host string) string {
	h, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch {
	case host != "":
		h = host
	case h == "0.0.0.0" || h == "":
		h = "127.0.0.1"
	case h == "::":
		h = "::1"
	}
	return net.JoinHostPort(h, port)
}
