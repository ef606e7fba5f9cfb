package approval

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
)

// canonicalDomain starts every canonical request encoding, so the hash of
// a request can never equal the hash of anything else Palyra hashes.
const canonicalDomain = "palyra.approval.request.v2"

// GrantAttribute is the context attribute that names the approval grant in
// force for a request (ToolContext's "approval"). It is left out of the
// canonical request: it is the answer, not part of the question.
const GrantAttribute = "approval"

// CanonicalRequest is the exact request an approval is for.
type CanonicalRequest struct {
	// Principal is the requester's Cedar UID, e.g. `Device::"01J..."`.
	Principal string
	// Action is the action name, e.g. "vault.read".
	Action string
	// Resource is the resource's Cedar UID, e.g. `Secret::"global/k"`.
	Resource string
	// Context is the full Cedar context of the request: the connection
	// attributes (transport, device_id, ...) and the action's own.
	Context map[string]types.Value
	// Digest is the exact request digest: what determines what the
	// action does beyond the Cedar context (for a tool, the SHA-256 of
	// its full decoded arguments; for a vault read, the reference with
	// its version; otherwise the request message's deterministic
	// encoding). Two requests with different digests never share an
	// approval.
	Digest []byte
	// Summary is the human summary the approver is shown (see
	// approval.Summary); it is covered by the hash so that what was shown
	// is what was approved.
	Summary string
}

// Encode returns the canonical encoding of r (docs/approvals.md):
//
//	str("palyra.approval.request.v2") str(principal) str(action)
//	str(resource) u32(n) n × (str(name) value) str(digest) str(summary)
//
// with the context attributes sorted by name (bytewise) and GrantAttribute
// left out; str(s) is u32(len(s)) followed by the bytes of s, u32 and u64
// are big-endian. A value is a tag byte and its payload:
//
//	's' str     String
//	'l' u64     Long (two's complement)
//	'b' 0|1     Boolean
//	'e' str str EntityUID (type, id)
//	'S' u32(n) n × str(encoded element), elements sorted bytewise
//	'R' u32(n) n × (str(key) value), keys sorted bytewise
//
// Any other Cedar type (decimal, datetime, ip, duration) is an error: no
// action context uses one.
func (r CanonicalRequest) Encode() ([]byte, error) {
	var b []byte
	for _, s := range []string{canonicalDomain, r.Principal, r.Action, r.Resource} {
		b = putStr(b, s)
	}
	names := make([]string, 0, len(r.Context))
	for k := range r.Context {
		if k != GrantAttribute {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	b = binary.BigEndian.AppendUint32(b, uint32(len(names))) // #nosec G115 -- a context has a handful of attributes
	for _, k := range names {
		b = putStr(b, k)
		var err error
		if b, err = putValue(b, r.Context[k]); err != nil {
			return nil, fmt.Errorf("approval: context attribute %q: %w", k, err)
		}
	}
	b = putStr(b, string(r.Digest))
	return putStr(b, r.Summary), nil
}

// Hash returns the SHA-256 of r's canonical encoding.
func (r CanonicalRequest) Hash() ([32]byte, error) {
	b, err := r.Encode()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

func putStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s))) // #nosec G115 -- request fields are bounded far below 4 GiB
	return append(b, s...)
}

func putValue(b []byte, v types.Value) ([]byte, error) {
	switch v := v.(type) {
	case types.String:
		return putStr(append(b, 's'), string(v)), nil
	case types.Long:
		return binary.BigEndian.AppendUint64(append(b, 'l'), uint64(v)), nil // #nosec G115 -- two's complement, documented
	case types.Boolean:
		if v {
			return append(b, 'b', 1), nil
		}
		return append(b, 'b', 0), nil
	case types.EntityUID:
		return putStr(putStr(append(b, 'e'), string(v.Type)), string(v.ID)), nil
	case types.Set:
		var elems []string
		for e := range v.All() {
			eb, err := putValue(nil, e)
			if err != nil {
				return nil, err
			}
			elems = append(elems, string(eb))
		}
		slices.Sort(elems)
		elems = slices.Compact(elems)
		b = binary.BigEndian.AppendUint32(append(b, 'S'), uint32(len(elems))) // #nosec G115 -- bounded by the request size
		for _, e := range elems {
			b = putStr(b, e)
		}
		return b, nil
	case types.Record:
		var keys []string
		for k := range v.All() {
			keys = append(keys, string(k))
		}
		slices.SortFunc(keys, strings.Compare)
		b = binary.BigEndian.AppendUint32(append(b, 'R'), uint32(len(keys))) // #nosec G115 -- bounded by the request size
		for _, k := range keys {
			val, _ := v.Get(types.String(k))
			b = putStr(b, k)
			var err error
			if b, err = putValue(b, val); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}
