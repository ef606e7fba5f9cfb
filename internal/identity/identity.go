// Package identity is a device's cryptographic identity: an Ed25519 signing
// key (RFC 8032) that names the device in certificates and signatures, an
// X25519 key (RFC 7748) for key agreement, and a ULID device id.
//
// The daemon's own identity is sealed at rest under a sub-key of the master
// key (package sealed, logical name "identity"). A client's identity lives in
// its bundle directory, 0600, and never leaves the client: the daemon only
// ever sees its public key, inside a CSR.
package identity

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// URIScheme and uriPrefix form the URI SAN that carries a device id in
// certificates: palyra://device/<ULID>.
const (
	URIScheme = "palyra"
	uriPrefix = URIScheme + "://device/"
)

// Identity is a device's key pairs and id. Treat it as secret.
type Identity struct {
	DeviceID    DeviceID           // canonical ULID
	SigningKey  ed25519.PrivateKey // 64 bytes (seed || public key)
	ExchangeKey *ecdh.PrivateKey   // X25519
}

// Generate returns a new identity with fresh keys and a new ULID.
func Generate() (*Identity, error) {
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	xk, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return &Identity{DeviceID: NewDeviceID(), SigningKey: sk, ExchangeKey: xk}, nil
}

// PublicKey returns the Ed25519 public key (32 bytes).
func (id *Identity) PublicKey() ed25519.PublicKey {
	return id.SigningKey.Public().(ed25519.PublicKey)
}

// Fingerprint returns the identity's fingerprint (see Fingerprint).
func (id *Identity) Fingerprint() string { return Fingerprint(id.PublicKey()) }

// Fingerprint returns SHA-256 of the raw 32-byte Ed25519 public key as 64
// lowercase hex characters.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// encoded is the version-1 serialized form (JSON; []byte fields are base64).
type encoded struct {
	Version     int    `json:"v"`
	DeviceID    string `json:"device_id"`
	Ed25519Seed []byte `json:"ed25519_seed"`
	X25519      []byte `json:"x25519"`
}

// MarshalBinary serializes the identity, private keys included, as version-1
// JSON. The output is secret: seal it or write it 0600.
func (id *Identity) MarshalBinary() ([]byte, error) {
	return json.Marshal(encoded{Version: 1, DeviceID: id.DeviceID.String(), Ed25519Seed: id.SigningKey.Seed(), X25519: id.ExchangeKey.Bytes()})
}

// Unmarshal parses the output of MarshalBinary. It rejects unknown versions,
// malformed device ids and keys of the wrong length.
func Unmarshal(b []byte) (*Identity, error) {
	var e encoded
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, errors.New("identity: malformed identity encoding")
	}
	if e.Version != 1 {
		return nil, fmt.Errorf("identity: unsupported version %d", e.Version)
	}
	devID, err := ParseDeviceID(e.DeviceID)
	if err != nil {
		return nil, err
	}
	if len(e.Ed25519Seed) != ed25519.SeedSize {
		return nil, errors.New("identity: malformed Ed25519 seed")
	}
	xk, err := ecdh.X25519().NewPrivateKey(e.X25519)
	if err != nil {
		return nil, errors.New("identity: malformed X25519 key")
	}
	return &Identity{DeviceID: devID, SigningKey: ed25519.NewKeyFromSeed(e.Ed25519Seed), ExchangeKey: xk}, nil
}

// DeviceURI returns the URI SAN for a device id: palyra://device/<id>.
func DeviceURI(deviceID DeviceID) *url.URL {
	u, _ := url.Parse(uriPrefix + string(deviceID))
	return u
}

// DeviceIDFromURIs extracts the device id from a certificate's URI SANs. It
// requires exactly one palyra:// URI, of the form palyra://device/<ULID>.
func DeviceIDFromURIs(uris []*url.URL) (DeviceID, error) {
	var found DeviceID
	for _, u := range uris {
		if u.Scheme != URIScheme {
			continue
		}
		if found != "" {
			return "", errors.New("identity: more than one palyra URI SAN")
		}
		// Exactly palyra://device/<id>: read from the parsed fields rather
		// than by formatting the URL again, as this runs on every request.
		if u.Opaque != "" || u.User != nil || u.Host != "device" || u.RawPath != "" || u.ForceQuery ||
			u.RawQuery != "" || u.Fragment != "" || u.RawFragment != "" || !strings.HasPrefix(u.Path, "/") {
			return "", errors.New("identity: palyra URI SAN is not a device URI")
		}
		id, err := ParseDeviceID(u.Path[1:])
		if err != nil {
			return "", err
		}
		found = id
	}
	if found == "" {
		return "", errors.New("identity: no palyra device URI SAN")
	}
	return found, nil
}
