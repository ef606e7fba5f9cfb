package pairing

// TEMPORARY: stand-ins with the exact API of internal/paircode and
// internal/pake, so that this package builds until those land. The "PAKE"
// here is NOT a PAKE (an HMAC of the password: offline-guessable); it only
// lets the protocol around it be exercised. This file is deleted when the
// real packages are merged.

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

type pairCode struct {
	ID     uint32
	Secret string
}

func generateCode(id uint32, rand io.Reader) (pairCode, error) {
	var b [4]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return pairCode{}, err
	}
	n := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) % 1000000
	return pairCode{ID: id, Secret: fmt.Sprintf("%06d", n)}, nil
}

func parseCode(s string) (pairCode, error) {
	a, b, ok := strings.Cut(s, "-")
	id, err := strconv.ParseUint(a, 10, 32)
	if !ok || err != nil || id == 0 || len(b) != 6 || strings.Trim(b, "0123456789") != "" {
		return pairCode{}, errors.New("paircode: want ID-DIGITS")
	}
	return pairCode{ID: uint32(id), Secret: b}, nil
}

func (c pairCode) String() string { return fmt.Sprintf("%d-%s", c.ID, c.Secret) }
func (c pairCode) Password() []byte {
	h := sha256.Sum256([]byte("palyra-paircode\x00" + c.Secret))
	return h[:]
}

type invite struct {
	Code          pairCode
	TCP, QUIC     string
	CAFingerprint string
}

func (i invite) URI() string {
	q := url.Values{"code": {i.Code.String()}}
	if i.TCP != "" {
		q.Set("tcp", i.TCP)
	}
	if i.QUIC != "" {
		q.Set("quic", i.QUIC)
	}
	if i.CAFingerprint != "" {
		q.Set("ca", i.CAFingerprint)
	}
	return "palyra://pair?" + q.Encode()
}

func parseInvite(s string) (invite, error) {
	if !strings.HasPrefix(s, "palyra://pair?") {
		c, err := parseCode(s)
		return invite{Code: c}, err
	}
	q, err := url.ParseQuery(strings.TrimPrefix(s, "palyra://pair?"))
	if err != nil {
		return invite{}, err
	}
	c, err := parseCode(q.Get("code"))
	return invite{Code: c, TCP: q.Get("tcp"), QUIC: q.Get("quic"), CAFingerprint: q.Get("ca")}, err
}

type pakeRole uint8

const (
	pakeInitiator pakeRole = 1
	pakeResponder pakeRole = 2
)

type pakeConfig struct{ Password, ChannelBinding, InitiatorID, ResponderID, Context []byte }

var errPakeConfirmation = errors.New("pake: key confirmation failed")

type pakeParty struct {
	role  pakeRole
	cfg   pakeConfig
	share []byte
}

type pakeResult struct {
	role pakeRole
	key  []byte
}

func pakeStart(role pakeRole, cfg pakeConfig, rand io.Reader) (*pakeParty, []byte, error) {
	s := make([]byte, 32)
	if _, err := io.ReadFull(rand, s); err != nil {
		return nil, nil, err
	}
	return &pakeParty{role, cfg, s}, s, nil
}

func (p *pakeParty) Finish(peer []byte) (*pakeResult, error) {
	if len(peer) != 32 {
		return nil, errors.New("pake: bad share")
	}
	x, y := p.share, peer
	if p.role == pakeResponder {
		x, y = peer, p.share
	}
	m := hmac.New(sha256.New, p.cfg.Password)
	for _, b := range [][]byte{p.cfg.ChannelBinding, p.cfg.InitiatorID, p.cfg.ResponderID, p.cfg.Context, x, y} {
		m.Write([]byte{byte(len(b))})
		m.Write(b)
	}
	return &pakeResult{p.role, m.Sum(nil)}, nil
}

func (r *pakeResult) conf(role pakeRole) []byte {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte{byte(role)})
	return m.Sum(nil)
}
func (r *pakeResult) Confirmation() []byte { return r.conf(r.role) }
func (r *pakeResult) Verify(peer []byte) error {
	if subtle.ConstantTimeCompare(peer, r.conf(3-r.role)) != 1 {
		return errPakeConfirmation
	}
	return nil
}
func (r *pakeResult) Key() ([]byte, error) { return r.key, nil }
