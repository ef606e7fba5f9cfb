package client

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
)

// Enroll creates a new device identity on this machine, has the daemon
// behind admin issue a certificate for it from a CSR (the private key never
// leaves this process), checks what came back, and writes the bundle to
// outDir. It returns the written bundle.
func Enroll(ctx context.Context, admin *Conn, name, outDir string) (*Bundle, error) {
	id, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	csr, err := pki.CreateDeviceCSR(id, name)
	if err != nil {
		return nil, err
	}
	st, err := admin.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{}))
	if err != nil {
		return nil, err
	}
	resp, err := admin.EnrollDevice(ctx, connect.NewRequest(&palyrav1.EnrollDeviceRequest{Name: name, Csr: csr}))
	if err != nil {
		return nil, err
	}
	caFP := pki.CertFingerprint(resp.Msg.GetCaCertificate())
	if caFP != st.Msg.GetCaFingerprint() {
		return nil, fmt.Errorf("client: enrollment returned a CA certificate that does not match the daemon's fingerprint")
	}
	l := st.Msg.GetListeners()
	if err := WriteBundle(outDir, id, resp.Msg.GetCertificate(), resp.Msg.GetCaCertificate(), DaemonInfo{TCP: l.GetTcp(), QUIC: l.GetQuic(), CAFingerprint: caFP}); err != nil {
		return nil, err
	}
	return LoadBundle(outDir)
}
