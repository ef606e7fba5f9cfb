package config

import "fmt"

// Default and bounds of vault.list_page_default. They match the vault's own
// page limits (vault.DefaultListLimit and vault.MaxListLimit; a test checks
// this), so any configured default is a page size the vault accepts.
const (
	// DefaultListPage is the default vault.list_page_default.
	DefaultListPage = 100
	// MaxListPage is the largest vault.list_page_default.
	MaxListPage = 1000
)

// Vault is the [vault] table.
//
//	[vault]
//	list_page_default = 100   # 1..1000
type Vault struct {
	// ListPageDefault (list_page_default) is the number of secrets a vault
	// list returns when the client asks for no particular page size, in
	// [1, MaxListPage] (default DefaultListPage).
	ListPageDefault int `toml:"list_page_default"`
}

func defaultVault() Vault { return Vault{ListPageDefault: DefaultListPage} }

func (v Vault) validate() error {
	if v.ListPageDefault < 1 || v.ListPageDefault > MaxListPage {
		return fmt.Errorf("config: vault.list_page_default %d out of range [1, %d]", v.ListPageDefault, MaxListPage)
	}
	return nil
}
