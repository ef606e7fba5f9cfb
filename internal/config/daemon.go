package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
)

// DefaultListen is the default TCP (and UDP, for QUIC) listen address:
// loopback only.
const DefaultListen = "127.0.0.1:7443"

// MaxServerNameBytes bounds one entry of server_names (the length of a DNS
// name).
const MaxServerNameBytes = 253

// Daemon is the daemon's own section: top-level keys of the file.
type Daemon struct {
	// StateDir (state_dir) is where palyrad keeps keys, certificates and
	// databases. Empty means the platform default, chosen by the command.
	// PALYRA_STATE_DIR and --state-dir override it.
	StateDir string `toml:"state_dir"`
	// PolicyDir (policy_dir) is the directory of operator policy files
	// (*.cedar) and their test cases (*.cedartest); docs/policies.md.
	// Empty means STATE_DIR/policies. It must be an absolute path.
	PolicyDir string `toml:"policy_dir"`
	// Listen (listen) is host:port for TCP and QUIC (the same port). Port 0
	// picks one. Default DefaultListen. PALYRA_LISTEN and --listen override
	// it.
	Listen string `toml:"listen"`
	// ServerNames (server_names) are extra DNS names or IP addresses for
	// the server certificate. Each is 1..MaxServerNameBytes bytes without
	// spaces, slashes, backslashes or NUL.
	ServerNames []string `toml:"server_names"`
	// LogLevel (log_level) is debug, info, warn or error (default info).
	// PALYRA_LOG_LEVEL overrides it.
	LogLevel string `toml:"log_level"`
	// LogFormat (log_format) is text (default) or json.
	LogFormat string `toml:"log_format"`
}

func defaultDaemon() Daemon {
	return Daemon{Listen: DefaultListen, LogLevel: "info", LogFormat: "text"}
}

func (d Daemon) validate() error {
	var errs []error
	if d.PolicyDir != "" && !filepath.IsAbs(d.PolicyDir) {
		errs = append(errs, fmt.Errorf("config: policy_dir %q: want an absolute path", d.PolicyDir))
	}
	if _, _, err := net.SplitHostPort(d.Listen); err != nil {
		errs = append(errs, fmt.Errorf("config: listen %q: %w", d.Listen, err))
	}
	for _, n := range d.ServerNames {
		if n == "" || strings.ContainsAny(n, " /\\\x00") || len(n) > MaxServerNameBytes {
			errs = append(errs, fmt.Errorf("config: server_names: invalid name %q", n))
			break
		}
	}
	if _, err := d.level(); err != nil {
		errs = append(errs, err)
	}
	if d.LogFormat != "text" && d.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("config: log_format %q: want text or json", d.LogFormat))
	}
	return errors.Join(errs...)
}

// level parses LogLevel. slog also accepts upper case and offsets such as
// "info+2"; these are accepted as before.
func (d Daemon) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(d.LogLevel)); err != nil {
		return 0, fmt.Errorf("config: log_level %q: want debug, info, warn or error", d.LogLevel)
	}
	return l, nil
}

// NewLogger returns the slog logger that log_level and log_format ask for,
// writing to w. An invalid level (one Validate rejects) logs at info.
func (d Daemon) NewLogger(w io.Writer) *slog.Logger {
	l, _ := d.level()
	opts := &slog.HandlerOptions{Level: l}
	if d.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// LoopbackOnly reports whether the listen host is a loopback address
// ("localhost", 127.0.0.0/8 or ::1), so that the daemon is reachable from
// this machine only. An empty host (all interfaces) is not loopback.
func (d Daemon) LoopbackOnly() bool {
	host, _, _ := net.SplitHostPort(d.Listen)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
