// Package statedir names the files in palyrad's state directory and creates
// the directory with safe permissions. Everything the daemon persists lives
// here; the directory is 0700 and every file in it 0600.
package statedir

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/palyra/palyra/internal/fileperm"
)

// Layout is the set of paths inside one state directory.
type Layout struct {
	Dir       string
	MasterKey string // master.key: the key-file master key provider
	Identity  string // identity.sealed: the daemon's device identity
	CACert    string // ca.crt: the device CA certificate (PEM)
	CAKey     string // ca.key.sealed: the CA private key
	Vault     string // vault.db
	Audit     string // audit.db
	Devices   string // devices.db: enrolled devices and revocations
	Approvals string // approvals.db: requests waiting for approval, and grants
	Socket    string // palyrad.sock: the local admin socket
	AddrFile  string // palyrad.addr: JSON listener addresses, written when ready
	Lock      string // palyrad.lock: held by the running daemon
}

// At returns the layout of dir (made absolute).
func At(dir string) (Layout, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Layout{}, fmt.Errorf("statedir: %w", err)
	}
	j := func(name string) string { return filepath.Join(abs, name) }
	return Layout{
		Dir: abs, MasterKey: j("master.key"), Identity: j("identity.sealed"),
		CACert: j("ca.crt"), CAKey: j("ca.key.sealed"), Vault: j("vault.db"),
		Audit: j("audit.db"), Devices: j("devices.db"), Approvals: j("approvals.db"), Socket: j("palyrad.sock"),
		AddrFile: j("palyrad.addr"), Lock: j("palyrad.lock"),
	}, nil
}

// Default returns the default state directory: $PALYRA_STATE_DIR if set,
// else $XDG_STATE_HOME/palyra, else ~/.local/state/palyra.
func Default() (string, error) {
	if d := os.Getenv("PALYRA_STATE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "palyra"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("statedir: no home directory; pass --state-dir: %w", err)
	}
	return filepath.Join(home, ".local", "state", "palyra"), nil
}

// Create makes the directory 0700 if absent. An existing directory must be
// owned by this user and not accessible to group or others.
func (l Layout) Create() error {
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return fmt.Errorf("statedir: %w", err)
	}
	return l.Check()
}

// Check verifies that the directory exists with mode 0700 (no group or other
// bits) and belongs to the current user.
func (l Layout) Check() error {
	fi, err := os.Stat(l.Dir)
	if err != nil {
		return fmt.Errorf("statedir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("statedir: %s is not a directory", l.Dir)
	}
	if err := fileperm.Check(fi, fileperm.Private); err != nil {
		return fmt.Errorf("statedir: %s must be this user's, mode 0700: %w", l.Dir, err)
	}
	return nil
}
