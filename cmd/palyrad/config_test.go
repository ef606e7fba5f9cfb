package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/fileperm"
)

// palyrad without --config reads $PALYRA_CONFIG, else the default file
// under XDG_CONFIG_HOME when present, else runs on the built-in defaults;
// flags still override the file.
func TestConfigureDefaultPath(t *testing.T) {
	for _, k := range []string{config.EnvConfig, config.EnvStateDir, config.EnvListen, config.EnvLogLevel} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	t.Setenv("XDG_STATE_HOME", filepath.Join(xdg, "state"))
	def := filepath.Join(xdg, "palyra", "config.toml")

	// No file anywhere: the defaults, and the default state directory.
	cfg, file, err := configure("", nil, nil)
	if err != nil || file != "" || cfg.Listen != config.DefaultListen || cfg.StateDir != filepath.Join(xdg, "state", "palyra") {
		t.Fatalf("no file: %+v, %q, %v", cfg, file, err)
	}

	// The default file is read; flags override it.
	if err := os.MkdirAll(filepath.Dir(def), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(def, []byte("state_dir = \"/srv/palyra\"\nlisten = \"127.0.0.1:9100\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, file, err = configure("", nil, nil)
	if err != nil || file != def || cfg.StateDir != "/srv/palyra" || cfg.Listen != "127.0.0.1:9100" {
		t.Fatalf("default file: %+v, %q, %v", cfg, file, err)
	}
	listen, dir := "127.0.0.1:0", "/tmp/other"
	cfg, _, err = configure("", &dir, &listen)
	if err != nil || cfg.StateDir != dir || cfg.Listen != listen {
		t.Fatalf("flags over the default file: %+v, %v", cfg, err)
	}
	bad := "not an address"
	if _, _, err = configure("", nil, &bad); err == nil {
		t.Errorf("a bad --listen: no error")
	}

	// A default file others may write is refused, naming it.
	if err := os.Chmod(def, 0o662); err != nil {
		t.Fatal(err)
	}
	if _, _, err = configure("", nil, nil); !errors.Is(err, fileperm.ErrInsecure) || !strings.Contains(err.Error(), def) {
		t.Errorf("a group-writable default file: %v", err)
	}

	// A file named by PALYRA_CONFIG or --config must exist.
	missing := filepath.Join(t.TempDir(), "absent.toml")
	if _, _, err = configure(missing, nil, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing --config file: %v", err)
	}
	t.Setenv(config.EnvConfig, missing)
	if _, _, err = configure("", nil, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing PALYRA_CONFIG file: %v", err)
	}
}
