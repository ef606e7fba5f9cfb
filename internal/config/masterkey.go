package config

import (
	"fmt"
	"strings"

	"github.com/palyra/palyra/internal/masterkey"
)

// MasterKey is the [master_key] table.
//
//	[master_key]
//	provider = "file"   # file | passphrase | keyring | env
//
// The provider must be the one the state directory was created with (or
// last moved to with `palyra vault provider migrate`): palyrad refuses to
// start otherwise, naming both.
type MasterKey struct {
	// Provider (provider) is where the master key is kept: one of
	// masterkey.Providers (file, the default; passphrase; keyring; env).
	Provider string `toml:"provider"`
}

func defaultMasterKey() MasterKey { return MasterKey{Provider: masterkey.ProviderFile} }

func (m MasterKey) validate() error {
	if !masterkey.ValidProvider(m.Provider) {
		return fmt.Errorf("config: master_key.provider %q is not one of %s", m.Provider, strings.Join(masterkey.Providers, ", "))
	}
	return nil
}
