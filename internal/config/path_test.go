package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/palyra/palyra/internal/fileperm"
)

// clearLocateEnv unsets every variable the configuration's location and
// Load depend on, for the duration of the test.
func clearLocateEnv(t *testing.T) {
	t.Helper()
	clearEnv(t)
	for _, k := range []string{EnvConfig, "XDG_CONFIG_HOME"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func writeConfigFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultPath(t *testing.T) {
	clearLocateEnv(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	if got, want := DefaultPath(), filepath.Join(home, ".config", "palyra", "config.toml"); got != want {
		t.Errorf("DefaultPath() = %q, want %q", got, want)
	}
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	if got, want := DefaultPath(), filepath.Join(xdg, "palyra", "config.toml"); got != want {
		t.Errorf("with XDG_CONFIG_HOME: DefaultPath() = %q, want %q", got, want)
	}
	// A relative XDG_CONFIG_HOME is ignored, as the XDG specification says.
	t.Setenv("XDG_CONFIG_HOME", "relative/dir")
	if got, want := DefaultPath(), filepath.Join(home, ".config", "palyra", "config.toml"); got != want {
		t.Errorf("with a relative XDG_CONFIG_HOME: DefaultPath() = %q, want %q", got, want)
	}
}

func TestLocate(t *testing.T) {
	clearLocateEnv(t)
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	def := filepath.Join(xdg, "palyra", "config.toml")
	if p, named := Locate(""); p != def || named {
		t.Errorf("Locate(\"\") = %q, %v; want %q, false", p, named, def)
	}
	t.Setenv(EnvConfig, "/etc/palyra.toml")
	if p, named := Locate(""); p != "/etc/palyra.toml" || !named {
		t.Errorf("with PALYRA_CONFIG: Locate(\"\") = %q, %v", p, named)
	}
	if p, named := Locate("/flag.toml"); p != "/flag.toml" || !named {
		t.Errorf("Locate(flag) = %q, %v; the flag wins over PALYRA_CONFIG", p, named)
	}
	// An empty PALYRA_CONFIG is as if unset.
	t.Setenv(EnvConfig, "")
	if p, named := Locate(""); p != def || named {
		t.Errorf("with an empty PALYRA_CONFIG: Locate(\"\") = %q, %v", p, named)
	}
}

func TestLoadLocated(t *testing.T) {
	clearLocateEnv(t)
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	def := filepath.Join(xdg, "palyra", "config.toml")

	// No default file: the built-in defaults, no path.
	cfg, path, err := LoadLocated("")
	if err != nil || path != "" || cfg.Listen != DefaultListen {
		t.Fatalf("without a default file: %+v, %q, %v", cfg, path, err)
	}

	// The default file is read.
	writeConfigFile(t, def, "listen = \"127.0.0.1:9001\"\n", 0o600)
	cfg, path, err = LoadLocated("")
	if err != nil || path != def || cfg.Listen != "127.0.0.1:9001" {
		t.Fatalf("with a default file: %+v, %q, %v", cfg, path, err)
	}
	// ... and its errors name it.
	writeConfigFile(t, def, "listen = 7\n", 0o600)
	if _, _, err = LoadLocated(""); err == nil || !strings.Contains(err.Error(), def) {
		t.Fatalf("a bad default file: %v", err)
	}
	// ... readable by others is fine, writable by others is not.
	writeConfigFile(t, def, "log_level = \"debug\"\n", 0o644)
	if cfg, _, err = LoadLocated(""); err != nil || cfg.LogLevel != "debug" {
		t.Fatalf("a 0644 default file: %+v, %v", cfg, err)
	}
	for _, mode := range []os.FileMode{0o664, 0o646} {
		writeConfigFile(t, def, "log_level = \"debug\"\n", mode)
		if _, _, err = LoadLocated(""); !errors.Is(err, fileperm.ErrInsecure) || !strings.Contains(err.Error(), "config.toml") {
			t.Errorf("a %04o default file: %v, want an insecure-permissions error naming it", mode, err)
		}
	}
	// A directory where the file should be is an error, not the defaults.
	os.Remove(def)
	if err := os.Mkdir(def, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err = LoadLocated(""); err == nil {
		t.Errorf("a directory at the default path: no error")
	}

	// PALYRA_CONFIG names a file that must exist, and is checked like the
	// default file.
	named := filepath.Join(t.TempDir(), "palyrad.toml")
	t.Setenv(EnvConfig, named)
	if _, _, err = LoadLocated(""); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), EnvConfig) {
		t.Errorf("a missing PALYRA_CONFIG file: %v, want not-exist naming %s", err, EnvConfig)
	}
	writeConfigFile(t, named, "[vault]\nretention = 3\n", 0o600)
	if cfg, path, err = LoadLocated(""); err != nil || path != named || cfg.Vault.Retention != 3 {
		t.Errorf("PALYRA_CONFIG: %+v, %q, %v", cfg, path, err)
	}
	writeConfigFile(t, named, "[vault]\nretention = 3\n", 0o666)
	if _, _, err = LoadLocated(""); !errors.Is(err, fileperm.ErrInsecure) {
		t.Errorf("a world-writable PALYRA_CONFIG file: %v", err)
	}

	// --config wins over both, and a missing one is an error.
	flag := filepath.Join(t.TempDir(), "flag.toml")
	if _, _, err = LoadLocated(flag); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing --config file: %v", err)
	}
	writeConfigFile(t, flag, "log_format = \"json\"\n", 0o600)
	if cfg, path, err = LoadLocated(flag); err != nil || path != flag || cfg.LogFormat != "json" || cfg.Vault.Retention != DefaultRetention {
		t.Errorf("--config: %+v, %q, %v", cfg, path, err)
	}

	// The environment overrides still apply over the located file.
	t.Setenv(EnvConfig, "")
	os.Remove(def)
	t.Setenv(EnvListen, "127.0.0.1:0")
	if cfg, _, err = LoadLocated(""); err != nil || cfg.Listen != "127.0.0.1:0" {
		t.Errorf("PALYRA_LISTEN over the defaults: %+v, %v", cfg, err)
	}
}

// A FIFO planted at the default path is refused without hanging the start
// (the root-owned case is fileperm's System kind, tested there).
func TestDefaultPathFIFO(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv(EnvConfig, "")
	os.MkdirAll(filepath.Join(dir, "palyra"), 0o700)
	if err := syscall.Mkfifo(filepath.Join(dir, "palyra", "config.toml"), 0o600); err != nil {
		t.Skip(err)
	}
	if _, _, err := LoadLocated(""); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a FIFO: %v", err)
	}
}
