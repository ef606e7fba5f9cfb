package daemon

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/statedir"
)

// keyProvider is the name of the master key provider the daemon uses
// ([master_key] provider: file, passphrase, keyring or env). Open refuses
// a state directory that holds its key with another provider, so this is
// also where the running daemon's key is kept.
func (d *Daemon) keyProvider() string {
	if d.cfg.MasterKey.Provider == "" {
		return masterkey.ProviderFile
	}
	return d.cfg.MasterKey.Provider
}

// discardKey removes the keyring entry a failed first start made: the
// state directory it belonged to is gone. Key files went with the
// directory; env keeps nothing.
func (d *Daemon) discardKey() {
	if d.keyProvider() == masterkey.ProviderKeyring {
		if err := masterkey.Remove(masterkey.ProviderKeyring, d.layout.Dir, masterkey.Source{}); err != nil {
			d.log.Warn("could not remove the keyring entry of the discarded state directory", "err", err)
		}
	}
}

// masterKey makes (create) or loads the master key of the state directory
// at l with the configured provider. A loaded key must have the check
// value state.json records: another key (a wrong PALYRA_MASTER_KEY, another
// keyring entry) is refused before anything is read with it.
func (d *Daemon) masterKey(l statedir.Layout, create bool) (*masterkey.Key, error) {
	p := d.keyProvider()
	if d.mk == nil {
		var err error
		if create {
			d.mk, err = masterkey.Create(p, l.Dir, d.layout.Dir, masterkey.Source{})
			if err == nil && p == masterkey.ProviderFile {
				d.log.Warn("created a master key in a plain 0600 key file; it protects against other users, not against this one", "path", filepath.Join(d.layout.Dir, masterkey.FileName))
			}
		} else {
			d.mk, err = masterkey.Open(p, l.Dir, masterkey.Source{})
		}
		if err != nil {
			return nil, err
		}
	}
	// A plaintext key file beside a state directory whose key is kept
	// elsewhere is left over from an interrupted migration: it would undo
	// what the provider protects, so it is refused until removed.
	if p != masterkey.ProviderFile {
		if _, err := os.Lstat(filepath.Join(l.Dir, masterkey.FileName)); err == nil {
			d.mk = nil
			return nil, fmt.Errorf("%s lies beside a state directory whose master key is kept by provider %q: a plaintext copy left by an interrupted migration; remove it (shred -u %s) and start again", masterkey.FileName, p, filepath.Join(l.Dir, masterkey.FileName))
		}
	}
	if !create && d.keyCheck != "" && d.mk.CheckValue() != d.keyCheck {
		d.mk = nil
		return nil, fmt.Errorf("the master key from provider %q is not this state directory's (its check value differs from the one in %s); nothing was read with it: give the right key", p, statedir.ManifestFile)
	}
	return d.mk, nil
}
