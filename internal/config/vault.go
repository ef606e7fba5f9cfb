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
	// DefaultRetention is the default vault.retention.
	DefaultRetention = 10
	// MaxRetention is the largest vault.retention.
	MaxRetention = 1000
)

// Vault is the [vault] table.
//
//	[vault]
//	list_page_default = 100   # 1..1000
//	retention = 10            # versions kept per secret, 1..1000
type Vault struct {
	// ListPageDefault (list_page_default) is the number of secrets a vault
	// list returns when the client asks for no particular page size, in
	// [1, MaxListPage] (default DefaultListPage).
	ListPageDefault int `toml:"list_page_default"`
	// Retention (retention) is the number of versions kept per secret: each
	// put removes, and securely deletes, the versions older than the last
	// Retention, in [1, MaxRetention] (default DefaultRetention).
	Retention int `toml:"retention"`
}

func defaultVault() Vault {
	return Vault{ListPageDefault: DefaultListPage, Retention: DefaultRetention}
}

func (v Vault) validate() error {
	if v.ListPageDefault < 1 || v.ListPageDefault > MaxListPage {
		return fmt.Errorf("config: vault.list_page_default %d out of range [1, %d]", v.ListPageDefault, MaxListPage)
	}
	if v.Retention < 1 || v.Retention > MaxRetention {
		return fmt.Errorf("config: vault.retention %d out of range [1, %d]", v.Retention, MaxRetention)
	}
	return nil
}
