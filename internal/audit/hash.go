package audit

import (
	"crypto/sha256"
	"encoding/binary"
)

// recordLabel separates record hashes from every other SHA-256 use of the
// same bytes. The format version that follows it changes whenever the
// encoding does; records keep the version they were written with.
const (
	recordLabel = "palyra.audit.record"
	formatV1    = 1
	formatV2    = 2
	formatV3    = 3
)

// recordFormat is the format a new record is written in: 3 for an outcome
// record with details, 2 otherwise.
func recordFormat(e *Entry) uint32 {
	if len(e.Details) > 0 {
		return formatV3
	}
	return formatV2
}

// v1Fields are the hashed fields of a format 1 record, as stored: format 1
// hashed the stored time text and transport text exactly.
type v1Fields struct {
	timeText                              string
	principal, action, resource, decision string
	policies                              []string
	transport, reason                     string
}

// appendV1Encoding appends the canonical format 1 encoding of a record to b
// (docs/audit-format.md, section 3.1).
func appendV1Encoding(b []byte, seq int64, f *v1Fields, prev *[32]byte) []byte {
	b = appendString(b, recordLabel)
	b = binary.BigEndian.AppendUint32(b, formatV1)
	b = binary.BigEndian.AppendUint64(b, uint64(seq)) // #nosec G115 -- canonical encoding (docs/audit-format.md): int64 reinterpreted bit for bit, injective
	b = appendString(b, f.timeText)
	b = appendString(b, f.principal)
	b = appendString(b, f.action)
	b = appendString(b, f.resource)
	b = appendString(b, f.decision)
	b = appendList(b, f.policies)
	b = appendString(b, f.transport)
	b = appendString(b, f.reason)
	return append(b, prev[:]...)
}

// appendV2Encoding appends the canonical format 2 encoding of a record to b
// (docs/audit-format.md, section 3.2). Every field of either kind is
// encoded, zero when it does not apply, fixed-width integers at fixed
// positions and every variable-length field after its length, so the
// encoding decodes back into exactly one record.
//
// Format 3 (section 3.3) is the same encoding with 3 as the format version
// and the details list after version; it is used exactly when the record
// has details, so every record has one encoding.
func appendV2Encoding(b []byte, seq int64, e *Entry, prev *[32]byte) []byte {
	format := recordFormat(e)
	b = appendString(b, recordLabel)
	b = binary.BigEndian.AppendUint32(b, format)
	b = binary.BigEndian.AppendUint64(b, uint64(seq)) // #nosec G115 -- canonical encoding (docs/audit-format.md): int64 reinterpreted bit for bit, injective
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = append(b, byte(e.Kind))
	b = appendString(b, e.Principal)
	b = appendString(b, e.Action)
	b = appendString(b, e.Resource)
	b = appendString(b, e.Decision)
	b = appendList(b, e.Policies)
	b = appendList(b, e.Obligations)
	b = appendString(b, e.Transport.String())
	b = appendString(b, e.Reason)
	b = binary.BigEndian.AppendUint64(b, uint64(e.DecisionSeq)) // #nosec G115 -- canonical encoding (docs/audit-format.md): int64 reinterpreted bit for bit, injective
	b = appendString(b, e.Outcome)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Version)) // #nosec G115 -- canonical encoding (docs/audit-format.md): int64 reinterpreted bit for bit, injective
	if format == formatV3 {
		b = appendList(b, e.Details)
	}
	return append(b, prev[:]...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s))) // #nosec G115 -- record fields are bounded far below 4 GiB (config and request limits)
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(l))) // #nosec G115 -- record fields are bounded far below 4 GiB (config and request limits)
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

// hashV2 computes a format 2 (or, with details, format 3) record's hash; buf is scratch space reused
// across calls and returned grown.
func hashV2(buf []byte, seq int64, e *Entry, prev *[32]byte) ([32]byte, []byte) {
	buf = appendV2Encoding(buf[:0], seq, e, prev)
	return sha256.Sum256(buf), buf
}

// hashV1 computes a format 1 record's hash.
func hashV1(buf []byte, seq int64, f *v1Fields, prev *[32]byte) ([32]byte, []byte) {
	buf = appendV1Encoding(buf[:0], seq, f, prev)
	return sha256.Sum256(buf), buf
}
