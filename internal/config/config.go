// Package config is palyrad's configuration: its TOML file format, built-in
// defaults, environment overrides and validation.
//
// # Model
//
// A configuration is built in layers, each overriding the one before:
//
//  1. the built-in [Defaults];
//  2. the TOML file given with --config, else the one $PALYRA_CONFIG names,
//     else the default file [DefaultPath] if it exists ([Parse], [Load],
//     [LoadLocated]); a key absent from the file keeps its default;
//  3. the environment variables PALYRA_STATE_DIR, PALYRA_LISTEN and
//     PALYRA_LOG_LEVEL ([Load]), which set state_dir, listen and log_level;
//  4. command-line flags, which the command applies to the Config that Load
//     returns and then checks again with [Config.Validate].
//
// The file has top-level keys (state_dir, policy_dir, listen, server_names,
// server_cert_ttl, client_cert_ttl, log_level, log_format; see [Daemon] and
// [Certs]) and one table per subsystem ([audit], see [Audit]; [vault], see
// [Vault]). Each section's Go type and its checks live in a file of their
// own; [Config] gathers them.
//
// # Strictness
//
// A file is accepted only if every key, at every level, is spelled exactly
// as documented: an unknown key, a misspelt key or a case variant ("Listen"
// for "listen", "Sync" for "sync") is an error naming the key's full dotted
// path, as in `config: unknown key "audit.Sync"`. (The TOML decoder alone
// would match keys case-insensitively.) A value of the wrong TOML type, a
// malformed duration and a value out of range are also errors naming the
// key; TOML itself rejects duplicate keys and tables. Nothing is silently
// ignored or corrected, so a typo cannot leave a setting at a default the
// operator did not intend.
//
// Files are read with a size bound ([MaxConfigBytes]) so that a device or a
// FIFO given as the configuration cannot exhaust memory.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// MaxConfigBytes bounds the configuration file: 1 MiB.
const MaxConfigBytes = 1 << 20

// Environment variables that Load applies over the file.
const (
	// EnvStateDir overrides state_dir.
	EnvStateDir = "PALYRA_STATE_DIR"
	// EnvListen overrides listen.
	EnvListen = "PALYRA_LISTEN"
	// EnvLogLevel overrides log_level.
	EnvLogLevel = "PALYRA_LOG_LEVEL"
)

// Config is palyrad's configuration. Daemon and Certs are embedded so that
// their keys stay at the top level of the file (and their fields read as
// cfg.Listen, cfg.ServerCertTTL, …); Audit and Vault are the [audit] and
// [vault] tables.
type Config struct {
	// Daemon holds the top-level keys of the daemon itself: state
	// directory, listen address, server names and logging.
	Daemon
	// Certs holds the top-level certificate lifetimes.
	Certs
	// Audit is the [audit] table: durability and checkpointing of the
	// audit journal.
	Audit Audit `toml:"audit"`
	// Vault is the [vault] table.
	Vault Vault `toml:"vault"`
	// MasterKey is the [master_key] table: where the master key is kept.
	MasterKey MasterKey `toml:"master_key"`
	// Tools is the [tools] table: the governed tools' workspace, sandbox
	// and limits.
	Tools Tools `toml:"tools"`
	// Approvals is the [approvals] table: how long a request waits for a
	// human decision.
	Approvals Approvals `toml:"approvals"`
}

// Defaults returns the built-in configuration. StateDir is left empty: the
// command picks the platform default when nothing sets it.
func Defaults() Config {
	return Config{
		Daemon: defaultDaemon(),
		Certs:  defaultCerts(),
		Audit:  defaultAudit(),
		Vault:  defaultVault(),

		MasterKey: defaultMasterKey(),
		Tools:     defaultTools(),
		Approvals: defaultApprovals(),
	}
}

// Validate checks every key's syntax and range. Its error joins one error per
// offending key, each naming the key ("config: audit.sync_window 0s out of
// range [1ms, 1s]").
func (c Config) Validate() error {
	return errors.Join(
		c.Daemon.validate(),
		c.Certs.validate(),
		c.Audit.validate(),
		c.Vault.validate(),
		c.MasterKey.validate(),
		c.Tools.validate(),
		c.Approvals.validate(),
	)
}

// Parse decodes the TOML document data over a copy of base (keys absent from
// data keep base's values) and validates the result. It rejects documents
// larger than MaxConfigBytes, TOML syntax errors (including duplicate keys),
// any key not spelled exactly as documented, at any level, values of the
// wrong type, and values that fail Validate. Errors name the offending key's
// dotted path or the line and column of a syntax error.
func Parse(data []byte, base Config) (Config, error) {
	if len(data) > MaxConfigBytes {
		return Config{}, fmt.Errorf("config: larger than %d bytes", MaxConfigBytes)
	}
	// First pass: a generic tree, checked key by key against Config's toml
	// tags. go-toml matches keys to fields case-insensitively, even with
	// DisallowUnknownFields, so this is what makes the file strict.
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		return Config{}, decodeError(err)
	}
	if err := checkTable(raw, reflect.TypeFor[Config](), ""); err != nil {
		return Config{}, err
	}
	// Second pass: decode into the struct. Every key and type was checked
	// above, so this only assigns.
	cfg := base.clone()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, decodeError(err)
	}
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Load reads the file at path (if path is not empty) over Defaults, then
// applies the environment overrides PALYRA_STATE_DIR, PALYRA_LISTEN and
// PALYRA_LOG_LEVEL (a variable that is set overrides even when empty), then
// validates. The file is read with a bound, so at most MaxConfigBytes+1
// bytes of it are ever held. Errors about the file start with its path.
func Load(path string) (Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = readLimited(path, MaxConfigBytes); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	return loadData(path, data)
}

// loadData is Load of data, the content of the file at path ("" for no
// file).
func loadData(path string, data []byte) (Config, error) {
	cfg := Defaults()
	if path != "" {
		var err error
		if cfg, err = Parse(data, cfg); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	applied := cfg.applyEnv(os.LookupEnv)
	if err := cfg.Validate(); err != nil {
		if len(applied) > 0 {
			return Config{}, fmt.Errorf("%w (after environment overrides %v)", err, applied)
		}
		return Config{}, err
	}
	return cfg, nil
}

// applyEnv applies the environment overrides found by lookup and returns the
// names of the variables that were set.
func (c *Config) applyEnv(lookup func(string) (string, bool)) []string {
	var applied []string
	for _, o := range []struct {
		env string
		dst *string
	}{
		{EnvStateDir, &c.StateDir},
		{EnvListen, &c.Listen},
		{EnvLogLevel, &c.LogLevel},
	} {
		if v, ok := lookup(o.env); ok {
			*o.dst = v
			applied = append(applied, o.env)
		}
	}
	return applied
}

// clone returns a copy of c that shares no slice with it, so decoding into
// the copy cannot write through to the caller's Config.
func (c Config) clone() Config {
	c.ServerNames = slices.Clone(c.ServerNames)
	c.Tools.TrustedDirs = slices.Clone(c.Tools.TrustedDirs)
	c.Tools.SystemDirs = slices.Clone(c.Tools.SystemDirs)
	c.Tools.FetchAllowPrefixes = slices.Clone(c.Tools.FetchAllowPrefixes)
	return c
}

// normalize gives values that mean the same one representation: an empty
// server_names list is nil, as in Defaults, and so are empty
// tools.fetch_allow_prefixes and tools.system_dirs.
func (c *Config) normalize() {
	if len(c.ServerNames) == 0 {
		c.ServerNames = nil
	}
	if len(c.Tools.FetchAllowPrefixes) == 0 {
		c.Tools.FetchAllowPrefixes = nil
	}
	if len(c.Tools.SystemDirs) == 0 {
		c.Tools.SystemDirs = nil
	}
}

// decodeError formats a go-toml error with the line and column it carries.
// (Its key is not used: for a duplicate key it is only the last component,
// not the full path.)
func decodeError(err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Errorf("config: line %d, column %d: %s", row, col, decodeMessage(de))
	}
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) && len(sm.Errors) > 0 {
		return fmt.Errorf("config: unknown key %q", formatPath(sm.Errors[0].Key()))
	}
	return fmt.Errorf("config: %w", err)
}

// decodeMessage is a DecodeError's message without go-toml's "toml: "
// prefix.
func decodeMessage(de *toml.DecodeError) string {
	msg, _ := strings.CutPrefix(de.Error(), "toml: ")
	return msg
}

// readLimited reads at most maxBytes+1 bytes of path, so an oversized file,
// a device or a FIFO cannot exhaust memory; Parse rejects the excess.
func readLimited(path string, maxBytes int64) ([]byte, error) {
	f, err := os.Open(path) // #nosec G304 -- the configuration file the operator named
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxBytes+1))
}

// Duration is a time.Duration written in the file as a Go duration string
// ("24h", "90s", "10ms").
type Duration time.Duration

// UnmarshalText parses a Go duration string such as "24h" or "10ms".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration as a Go duration string ("1h0m0s"),
// which UnmarshalText parses back to the same value.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// checkRange reports a duration outside [lo, hi] for key.
func checkRange(key string, d Duration, lo, hi time.Duration) error {
	if time.Duration(d) < lo || time.Duration(d) > hi {
		return fmt.Errorf("config: %s %v out of range [%v, %v]", key, time.Duration(d), lo, hi)
	}
	return nil
}
