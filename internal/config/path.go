package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

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
	data, err := readTrusted(path)
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

// readTrusted reads path, at most MaxConfigBytes+1 bytes, if it is a regular
// file that only its owner may write, owned by the current user or by root.
// The checks and the read use one open file.
func readTrusted(path string) ([]byte, error) {
	// O_NONBLOCK: a FIFO planted at path must not hang the start.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0) // #nosec G304 -- the configuration file: $PALYRA_CONFIG or the documented default path; checked below
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
		if bad := fi.Mode().Perm() & 0o022; bad != 0 {
			return nil, fmt.Errorf("%w: %s has mode %04o (group/other write bits %04o not allowed)", fileperm.ErrInsecure, fi.Name(), fi.Mode().Perm(), bad)
		}
	} else if err := fileperm.Check(fi, fileperm.Trusted); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
}
