package config

import (
	"fmt"
	"slices"
	"strings"
)

// The values of master_key.provider. They are the master key providers of
// package masterkey (a test checks that the lists match).
const (
	// KeyProviderFile keeps the master key in master.key, a 0600 file in
	// the state directory. The default.
	KeyProviderFile = "file"
	// KeyProviderPassphrase keeps it in master.key.sealed, sealed under a
	// passphrase (Argon2id); palyrad reads the passphrase from the file
	// named by PALYRA_PASSPHRASE_FILE, else asks on its terminal.
	KeyProviderPassphrase = "passphrase"
	// KeyProviderKeyring keeps it in the OS keyring.
	KeyProviderKeyring = "keyring"
	// KeyProviderEnv takes it from PALYRA_MASTER_KEY at every start.
	KeyProviderEnv = "env"
)

// KeyProviders lists the values of master_key.provider.
var KeyProviders = []string{KeyProviderFile, KeyProviderPassphrase, KeyProviderKeyring, KeyProviderEnv}

// MasterKey is the [master_key] table.
//
//	[master_key]
//	provider = "file"   # file | passphrase | keyring | env
//
// The provider must be the one the state directory was created with (or
// last moved to with `palyra vault provider migrate`): palyrad refuses to
// start otherwise, naming both.
type MasterKey struct {
	// Provider (provider) is where the master key is kept.
	Provider string `toml:"provider"`
}

func defaultMasterKey() MasterKey { return MasterKey{Provider: KeyProviderFile} }

func (m MasterKey) validate() error {
	if !slices.Contains(KeyProviders, m.Provider) {
		return fmt.Errorf("config: master_key.provider %q is not one of %s", m.Provider, strings.Join(KeyProviders, ", "))
	}
	return nil
}
