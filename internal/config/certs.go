package config

import (
	"errors"
	"time"

	"github.com/palyra/palyra/internal/pki"
)

// Bounds of server_cert_ttl and client_cert_ttl.
const (
	// MinCertTTL is the shortest certificate lifetime accepted.
	MinCertTTL = time.Second
	// MaxCertTTL is the longest certificate lifetime accepted: 90 days.
	MaxCertTTL = 90 * 24 * time.Hour
)

// Certs holds the certificate lifetimes. Its keys are top-level keys of the
// file (not a table), as they always were.
type Certs struct {
	// ServerCertTTL (server_cert_ttl) is the lifetime of the daemon's
	// server certificate, in [MinCertTTL, MaxCertTTL] (default 24h); the
	// daemon renews it at about two thirds of its life.
	ServerCertTTL Duration `toml:"server_cert_ttl"`
	// ClientCertTTL (client_cert_ttl) is the lifetime of the client
	// certificates the daemon issues to devices, in [MinCertTTL,
	// MaxCertTTL] (default 24h).
	ClientCertTTL Duration `toml:"client_cert_ttl"`
}

func defaultCerts() Certs {
	return Certs{ServerCertTTL: Duration(pki.DefaultLeafTTL), ClientCertTTL: Duration(pki.DefaultLeafTTL)}
}

func (c Certs) validate() error {
	return errors.Join(
		checkRange("server_cert_ttl", c.ServerCertTTL, MinCertTTL, MaxCertTTL),
		checkRange("client_cert_ttl", c.ClientCertTTL, MinCertTTL, MaxCertTTL),
	)
}
