package pairing

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/palyra/palyra/internal/identity"
)

// Protocol constants.
const (
	// Version is the pairing protocol version.
	Version = 1
	// ExporterLabel and ExporterLength are the TLS exporter channel
	// binding of RFC 9266 ("tls-exporter"): 32 bytes, empty context.
	ExporterLabel  = "EXPORTER-Channel-Binding"
	ExporterLength = 32
	// sessionIDLen is the length of a session id.
	sessionIDLen = 16
	// maxShareBytes bounds a PAKE share.
	maxShareBytes = 256
	// maxConfirmationBytes bounds a key confirmation.
	maxConfirmationBytes = 128
)

// PAKE identities and context, so that a key agreed for pairing means
// nothing anywhere else.
var (
	initiatorID = []byte("palyra-pairing-client")
	responderID = []byte("palyra-daemon")
)

// pakeContext binds the PAKE to the protocol version and the code id.
func pakeContext(codeID uint32) []byte {
	return fmt.Appendf(nil, "palyra-pairing-v%d code=%d", Version, codeID)
}

// ChannelBinding returns the RFC 9266 tls-exporter value of a TLS 1.3
// connection.
func ChannelBinding(st *tls.ConnectionState) ([]byte, error) {
	if st == nil || st.Version != tls.VersionTLS13 {
		return nil, errors.New("pairing: needs a TLS 1.3 connection")
	}
	return st.ExportKeyingMaterial(ExporterLabel, nil, ExporterLength)
}

// sessionKeys are the keys derived from a confirmed PAKE key: one AEAD per
// direction and the poll token that authenticates Poll.
type sessionKeys struct {
	toDaemon, toClient cipher.AEAD
	pollToken          []byte
}

// deriveKeys derives the session keys from the PAKE key with HKDF-SHA256
// (RFC 5869), salted with the session id.
func deriveKeys(key, sessionID []byte) (sessionKeys, error) {
	derive := func(label string) ([]byte, error) {
		return hkdf.Key(sha256.New, key, sessionID, "palyra-pairing-v1 "+label, 32)
	}
	var k sessionKeys
	for _, x := range []struct {
		label string
		aead  *cipher.AEAD
	}{{"client to daemon", &k.toDaemon}, {"daemon to client", &k.toClient}} {
		b, err := derive(x.label)
		if err != nil {
			return k, err
		}
		if *x.aead, err = chacha20poly1305.New(b); err != nil {
			return k, err
		}
	}
	var err error
	k.pollToken, err = derive("poll")
	return k, err
}

// seal encrypts plaintext under a with a random nonce and the session id as
// AAD; the result is nonce || ciphertext.
func seal(a cipher.AEAD, sessionID, plaintext []byte) []byte {
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, plaintext, sessionID)
}

// errSealed is the one answer for anything wrong with a sealed message.
var errSealed = errors.New("pairing: sealed message does not open")

// open reverses seal.
func open(a cipher.AEAD, sessionID, sealed []byte) ([]byte, error) {
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, errSealed
	}
	pt, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], sessionID)
	if err != nil {
		return nil, errSealed
	}
	return pt, nil
}

// pollHash is what the daemon stores of a poll token.
func pollHash(token []byte) []byte {
	h := sha256.Sum256(token)
	return h[:]
}

// ShortFingerprint is a short, human-comparable form of a key's
// fingerprint: the first 16 hex digits of identity.Fingerprint in groups of
// four, e.g. "3f2a 9c01 77be 0d4e". Both sides show it so an operator can
// compare it with the device's screen.
func ShortFingerprint(fp string) string {
	if len(fp) < 16 {
		return fp
	}
	var b strings.Builder
	for i := 0; i < 16; i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(fp[i : i+4])
	}
	return b.String()
}

// KeyShortFingerprint is ShortFingerprint of an identity's key.
func KeyShortFingerprint(id *identity.Identity) string { return ShortFingerprint(id.Fingerprint()) }
