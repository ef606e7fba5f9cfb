package audit

import (
	"crypto/sha256"
	"encoding/binary"
)

// recordLabel separates record hashes from every other SHA-256 use of the
// same bytes; formatVersion changes whenever the encoding below does.
const (
	recordLabel   = "palyra.audit.record"
	formatVersion = 1
)

// appendRecordEncoding appends the canonical encoding of a record to b and
// returns the extended slice. Every variable-length field is prefixed with
// its length, so no two different records share an encoding (see
// docs/audit-format.md). timeText is the stored RFC 3339 form, hashed as
// stored so that Verify never depends on time parsing.
func appendRecordEncoding(b []byte, seq int64, timeText string, e *Entry, prev *[32]byte) []byte {
	b = appendString(b, recordLabel)
	b = binary.BigEndian.AppendUint32(b, formatVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = appendString(b, timeText)
	b = appendString(b, e.Principal)
	b = appendString(b, e.Action)
	b = appendString(b, e.Resource)
	b = appendString(b, e.Decision)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Policies)))
	for _, p := range e.Policies {
		b = appendString(b, p)
	}
	b = appendString(b, e.Transport)
	b = appendString(b, e.Reason)
	return append(b, prev[:]...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// recordHash computes a record's hash; buf is scratch space reused across
// calls and returned grown.
func recordHash(buf []byte, seq int64, timeText string, e *Entry, prev *[32]byte) ([32]byte, []byte) {
	buf = appendRecordEncoding(buf[:0], seq, timeText, e, prev)
	return sha256.Sum256(buf), buf
}
