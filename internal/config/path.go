package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/palyra/palyra/internal/fileperm"
)

// EnvConfig names the configuration file palyrad reads when --config is not
// given. A file it names must exist.
const EnvConfig = "PALYRA_CONFIG"

// DefaultPath returns the configuration file palyrad reads when neither
// --config nor $PALYRA_CONFIG names one: $XDG_CONFIG_HOME/palyra/config.toml
// when XDG_CONFIG_HOME is set to an absolute path (the XDG base directory
// specification says to ignore a relative one), else
// ~/.config/palyra/config.toml. Without a home directory there is no default
// file and it returns "".
func DefaultPath() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "palyra", "config.toml")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".config", "palyra", "config.toml")
}

// Locate returns the configuration file to read and whether it was named:
// flagPath (the --config flag) if not empty, else $PALYRA_CONFIG if set and
// not empty, else DefaultPath. A named file must exist; the default file may
// be absent, which means the built-in defaults.
func Locate(flagPath string) (path string, named bool) {
	if flagPath != "" {
		return flagPath, true
	}
	if p := os.Getenv(EnvConfig); p != "" {
		return p, true
	}
	return DefaultPath(), false
}

// LoadLocated is Load of the file Locate(flagPath) finds, and returns that
// file's path, or "" when no file was read (the default file is absent).
//
// A file named by --config is read as Load reads it. A file found through
// $PALYRA_CONFIG or the default path, which nobody typed on this command
// line, must also pass the trusted-file check of internal/fileperm: a
// regular file owned by the current user and not writable by group or
// others, since whoever can write it decides, say, where palyrad listens.
// A file owned by root passes too (as for ssh): root can replace any file
// anyway, and a system service's /etc/palyra/config.toml is root's.
// A missing default file is not an error; a missing named file is.
func LoadLocated(flagPath string) (Config, string, error) {
	path, named := Locate(flagPath)
	if flagPath != "" {
		cfg, err := Load(path)
		return cfg, path, err
	}
	if path == "" {
		cfg, err := Load("")
		return cfg, "", err
	}
	// A regular file that only its owner may write, owned by this user or
	// by root (a system service's /etc/palyra/config.toml).
	data, err := fileperm.ReadFile(path, fileperm.System, MaxConfigBytes)
	if err != nil {
		if !named && errors.Is(err, fs.ErrNotExist) {
			cfg, err := Load("")
			return cfg, "", err
		}
		if named {
			return Config{}, path, fmt.Errorf("config: %s (from %s): %w", path, EnvConfig, err)
		}
		return Config{}, path, fmt.Errorf("config: %s: %w", path, err)
	}
	cfg, err := loadData(path, data)
	return cfg, path, err
}
