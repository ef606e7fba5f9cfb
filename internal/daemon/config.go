package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/palyra/palyra/internal/pki"
)

// DefaultListen is the default TCP (and UDP, for QUIC) listen address:
// loopback only.
const DefaultListen = "127.0.0.1:7443"

// Config is palyrad's configuration. It is read from a TOML file (strict:
// unknown keys are errors), then PALYRA_* environment variables, then
// command-line flags, each overriding the one before.
type Config struct {
	// StateDir is where palyrad keeps keys, certificates and databases.
	StateDir string `toml:"state_dir"`
	// Listen is host:port for TCP and QUIC (same port). Port 0 picks one.
	Listen string `toml:"listen"`
	// ServerNames are extra DNS names or IPs for the server certificate.
	ServerNames []string `toml:"server_names"`
	// ServerCertTTL is the server certificate lifetime; it is renewed at
	// about two thirds of it.
	ServerCertTTL Duration `toml:"server_cert_ttl"`
	// ClientCertTTL is the lifetime of issued client certificates.
	ClientCertTTL Duration `toml:"client_cert_ttl"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `toml:"log_format"`
}

// Duration is a time.Duration written as a Go duration string ("24h").
type Duration time.Duration

// UnmarshalText parses a duration string such as "24h" or "90s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Defaults returns the built-in configuration (StateDir left empty).
func Defaults() Config {
	return Config{
		Listen:        DefaultListen,
		ServerCertTTL: Duration(pki.DefaultLeafTTL),
		ClientCertTTL: Duration(pki.DefaultLeafTTL),
		LogLevel:      "info",
		LogFormat:     "text",
	}
}

// knownKeys are the exact top-level keys of the TOML file (Config's tags).
var knownKeys = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		m[t.Field(i).Tag.Get("toml")] = true
	}
	return m
}()

// MaxConfigBytes bounds the configuration file.
const MaxConfigBytes = 1 << 20

// ParseConfig decodes TOML into a copy of base. Unknown keys, wrong types
// and values that fail Validate are errors naming the key.
func ParseConfig(data []byte, base Config) (Config, error) {
	if len(data) > MaxConfigBytes {
		return Config{}, fmt.Errorf("config: larger than %d bytes", MaxConfigBytes)
	}
	// go-toml matches keys to fields case-insensitively; a config is
	// strict only if every key is spelled exactly as documented.
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	for k := range raw {
		if !knownKeys[k] {
			return Config{}, fmt.Errorf("config: unknown key %q", k)
		}
	}
	cfg := base
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			return Config{}, fmt.Errorf("config: unknown key(s):\n%s", sm.String())
		}
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, cfg.Validate()
}

// LoadConfigFile reads path (if non-empty) over Defaults, then applies the
// environment overrides PALYRA_STATE_DIR, PALYRA_LISTEN and PALYRA_LOG_LEVEL.
func LoadConfigFile(path string) (Config, error) {
	cfg := Defaults()
	if path != "" {
		data, err := readLimited(path, MaxConfigBytes)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if cfg, err = ParseConfig(data, cfg); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	for env, dst := range map[string]*string{
		"PALYRA_STATE_DIR": &cfg.StateDir,
		"PALYRA_LISTEN":    &cfg.Listen,
		"PALYRA_LOG_LEVEL": &cfg.LogLevel,
	} {
		if v, ok := os.LookupEnv(env); ok {
			*dst = v
		}
	}
	return cfg, cfg.Validate()
}

// Validate checks every field's syntax and range.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config: listen %q: %w", c.Listen, err)
	}
	if c.ServerCertTTL < Duration(time.Second) || c.ServerCertTTL > Duration(90*24*time.Hour) {
		return fmt.Errorf("config: server_cert_ttl %v out of range [1s, 2160h]", time.Duration(c.ServerCertTTL))
	}
	if c.ClientCertTTL < Duration(time.Second) || c.ClientCertTTL > Duration(90*24*time.Hour) {
		return fmt.Errorf("config: client_cert_ttl %v out of range [1s, 2160h]", time.Duration(c.ClientCertTTL))
	}
	for _, n := range c.ServerNames {
		if n == "" || strings.ContainsAny(n, " /\\\x00") || len(n) > 253 {
			return fmt.Errorf("config: server_names: invalid name %q", n)
		}
	}
	if _, err := c.level(); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("config: log_format %q: want text or json", c.LogFormat)
	}
	return nil
}

func (c Config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("config: log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// NewLogger returns the slog logger the configuration asks for, writing to w.
func (c Config) NewLogger(w *os.File) *slog.Logger {
	l, _ := c.level()
	opts := &slog.HandlerOptions{Level: l}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loopbackOnly reports whether the listen host is a loopback address.
func (c Config) loopbackOnly() bool {
	host, _, _ := net.SplitHostPort(c.Listen)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readLimited reads at most maxBytes+1 bytes of path, so an oversized file,
// a device or a FIFO cannot exhaust memory; ParseConfig rejects the excess.
func readLimited(path string, maxBytes int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxBytes+1))
}
