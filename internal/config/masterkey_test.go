package config

import (
	"strings"
	"testing"

	"github.com/palyra/palyra/internal/masterkey"
)

func TestMasterKeyProvider(t *testing.T) {
	for _, p := range masterkey.Providers {
		cfg, err := Parse([]byte("[master_key]\nprovider = \""+p+"\"\n"), Defaults())
		if err != nil || cfg.MasterKey.Provider != p {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if _, err := Parse([]byte("[master_key]\nprovider = \"tpm\"\n"), Defaults()); err == nil || !strings.Contains(err.Error(), "master_key.provider") {
		t.Fatalf("unknown provider: %v", err)
	}
	if _, err := Parse([]byte("[master_key]\nProvider = \"env\"\n"), Defaults()); err == nil {
		t.Fatal("accepted a case variant of master_key.provider")
	}
}
