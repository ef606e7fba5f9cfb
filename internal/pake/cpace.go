package pake

import (
	"crypto/hmac"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// The CPACE-RISTR255-SHA512 cipher suite (draft-irtf-cfrg-cpace-21,
// section "CPace group objects G_Ristretto255 and G_Decaf448").
const (
	groupDSI = "CPaceRistretto255"
	// hashBlockSize is H.s_in_bytes for SHA-512.
	hashBlockSize = 128
	// ShareSize is the length of a share: one encoded ristretto255 element.
	ShareSize = 32
	// ConfirmationSize is the length of a confirmation: one HMAC-SHA-512 tag.
	ConfirmationSize = sha512.Size
)

// identity is G.I, the encoding of the neutral element.
var identity [ShareSize]byte

// prependLen returns dst with the LEB128 length of data and data appended
// (prepend_len).
func prependLen(dst, data []byte) []byte {
	n := len(data)
	for {
		if n < 128 {
			dst = append(dst, byte(n))
		} else {
			dst = append(dst, byte(n&0x7f)|0x80)
		}
		n >>= 7
		if n == 0 {
			break
		}
	}
	return append(dst, data...)
}

// lvCat is the length-value concatenation lv_cat(a0, a1, ...).
func lvCat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = prependLen(out, p)
	}
	return out
}

// generatorString is generator_string(DSI, PRS, CI, sid, s_in_bytes): the
// zero padding fills the first hash block after DSI and PRS.
func generatorString(dsi, prs, ci, sid []byte, blockSize int) []byte {
	zpad := max(0, blockSize-1-len(prependLen(nil, prs))-len(prependLen(nil, dsi)))
	return lvCat(dsi, prs, make([]byte, zpad), ci, sid)
}

// calculateGenerator is G_Ristretto255.calculate_generator: SHA-512 of the
// generator string (64 bytes) through the element derivation of RFC 9496.
func calculateGenerator(prs, ci, sid []byte) *ristretto255.Element {
	h := sha512.Sum512(generatorString([]byte(groupDSI), prs, ci, sid, hashBlockSize))
	return ristretto255.NewElement().FromUniformBytes(h[:])
}

// sampleScalar is G.sample_scalar as the draft recommends: 32 random bytes
// with the bits above group_size_bits (252) cleared, read little-endian. The
// result is below 2^252, so always a canonical scalar. Zero (probability
// 2^-252) is drawn again, so a share is never the identity.
func sampleScalar(rand io.Reader) (*ristretto255.Scalar, error) {
	var b [32]byte
	defer clear(b[:])
	s := ristretto255.NewScalar()
	for {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return nil, fmt.Errorf("pake: read random bytes: %w", err)
		}
		b[31] &= 0x0f
		if err := s.Decode(b[:]); err != nil {
			return nil, errors.New("pake: internal error: sampled scalar not canonical")
		}
		if s.Equal(ristretto255.NewScalar()) == 0 {
			return s, nil
		}
	}
}

// scalarMultVfy is G.scalar_mult_vfy(y, X): the encoding of y*decode(X), or
// G.I when X is not a canonical encoding of a group element.
func scalarMultVfy(y *ristretto255.Scalar, x []byte) []byte {
	e := ristretto255.NewElement()
	if err := e.Decode(x); err != nil {
		return identity[:]
	}
	return e.ScalarMult(y, e).Encode(nil)
}

// isIdentity reports, in constant time, whether k is G.I.
func isIdentity(k []byte) bool {
	return subtle.ConstantTimeCompare(k, identity[:]) == 1
}

// transcriptIR is transcript_ir(Ya, ADa, Yb, ADb).
func transcriptIR(ya, adA, yb, adB []byte) []byte {
	return append(lvCat(ya, adA), lvCat(yb, adB)...)
}

// intermediateKey is ISK = H.hash(lv_cat(G.DSI || "_ISK", sid, K) || transcript).
func intermediateKey(sid, k, transcript []byte) []byte {
	h := sha512.New()
	h.Write(lvCat([]byte(groupDSI+"_ISK"), sid, k))
	h.Write(transcript)
	return h.Sum(nil)
}

// confirmationTag is the tag of the draft's "Key confirmation" section:
// MAC(mac_key, lv_cat(Y, AD)) with mac_key = H.hash("CPaceMac" || sid || ISK)
// and MAC = HMAC-SHA-512 (RFC 2104).
func confirmationTag(sid, isk, y, ad []byte) []byte {
	kh := sha512.New()
	kh.Write([]byte("CPaceMac"))
	kh.Write(sid)
	kh.Write(isk)
	macKey := kh.Sum(nil)
	defer clear(macKey)
	m := hmac.New(sha512.New, macKey)
	m.Write(lvCat(y, ad))
	return m.Sum(nil)
}
