// Package offline works on a state directory without the daemon: it reads
// what palyrad wrote, whether palyrad is running or stopped, and creates
// nothing. Today that is verifying the audit journal.
package offline

import (
	"context"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/statedir"
)

// VerifyAudit verifies the audit journal of the state directory l, offline
// (the daemon may be running or stopped; nothing is created). Checkpoints
// are checked with the daemon's own public key, taken from its sealed
// identity rather than from any file an attacker could swap beside the
// journal. A broken journal is an *audit.BrokenError.
func VerifyAudit(ctx context.Context, l statedir.Layout) (audit.VerifyResult, error) {
	if err := l.Check(); err != nil {
		return audit.VerifyResult{}, err
	}
	in, err := l.Inspect(ctx)
	if err != nil {
		return audit.VerifyResult{}, err
	}
	provider := in.KeyProvider
	if provider == "" {
		provider = masterkey.ProviderFile
	}
	mk, err := masterkey.Open(provider, l.Dir, masterkey.Source{})
	if err != nil {
		return audit.VerifyResult{}, err
	}
	id, err := identity.LoadSealed(l.Identity, mk.Derive(masterkey.LabelIdentitySeal))
	if err != nil {
		return audit.VerifyResult{}, err
	}
	return audit.Verify(ctx, l.Audit, id.PublicKey(), AuditOrigin(id.DeviceID))
}

// AuditOrigin is the origin line of the audit journal's signed checkpoints
// for the daemon whose device id is id: "palyra/<id>".
func AuditOrigin(id identity.DeviceID) string {
	return "palyra/" + id.String()
}
