// Package redact masks secrets in text: exact known values (the secrets
// palyra itself handed out, each replaced by a label such as
// "[vault://global/openai_api_key]") and, optionally, the shapes of common
// credentials (replaced by "[redacted:KIND]").
//
// # Known values
//
// A Redactor is built once from a map of values to labels and is then safe
// for concurrent use. Matching is leftmost-longest and non-overlapping: at
// each position of the input, the longest value that starts there is
// replaced by its label and scanning resumes after it; where none starts,
// the byte is passed through. Candidates are found with bytes.Index when
// the values have few distinct beginnings, else by a hash of 4 bytes, else
// by tables of first bytes and byte pairs; values are bucketed by first
// byte, longest first.
//
// Writer streams: a value split across any number of writes is still
// masked, and the output of a sequence of writes is byte-for-byte the output
// of one write of their concatenation (which is also String of it). A write
// passes its bytes on at once, except a tail that is still a proper prefix
// of some value: that tail — at most maxLen-1 bytes, where maxLen is the
// longest value — is held back until the next write decides it, or Close
// flushes it. Interactive output therefore stalls only while what it ends
// with could still be the start of a secret.
//
// Labels are not scanned again. A value that is a substring of a label
// (say "vault") can therefore appear in the output, inside labels; very
// short values (one or two bytes) also mask every ordinary occurrence of
// those bytes. Both are the caller's choice of values.
//
// # Patterns
//
// With patterns on, String (and so Handler) also replaces the shapes of
// common credentials: OpenAI keys (sk-...), GitHub tokens (ghp_..., gho_,
// ghu_, ghs_, ghr_, github_pat_...), Slack tokens (xox[abprs]-...), AWS
// access key ids (AKIA..., ASIA...), bearer tokens (the token after
// "Bearer "), JWTs (eyJ... three dot-separated base64url parts) and PEM
// private key blocks. Patterns are matched on whole strings only; Writer
// masks known values only, so that a stream passes through unchanged except
// for the secrets it was told about (a pattern has no bounded length to hold
// back on, and would rewrite ordinary output such as documentation of key
// formats).
//
// # Logs
//
// Handler wraps a slog.Handler: the message, string attributes, errors and
// other values whose text form contains a secret are redacted; a value with
// nothing to redact keeps its type.
package redact

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
)

// Redactor masks known values and, if enabled, credential patterns.
type Redactor struct {
	entries  []entry
	first    [256][]int32 // entries by first byte, longest first
	start    [256]bool    // some value starts with this byte
	single   [256]bool    // a one-byte value is this byte
	pair     []uint64     // bitset over the first two bytes of values of 2+ bytes
	anchors  [][]byte     // with few values: the distinct first alen bytes of the values
	quads    []uint64     // with many values of 4+ bytes: bitset over hashes of their first 4 bytes
	alen     int
	maxLen   int
	patterns bool
}

type entry struct {
	value []byte
	label []byte
}

// New returns a Redactor for values, a map from each secret value to the
// label that replaces it (for example "[vault://global/k]"), and with
// credential patterns if patterns is true. Empty values are ignored. The
// Redactor keeps copies of the values; Zero overwrites them.
func New(values map[string]string, patterns bool) *Redactor {
	r := &Redactor{patterns: patterns}
	for v, label := range values {
		if v == "" {
			continue
		}
		r.entries = append(r.entries, entry{value: []byte(v), label: []byte(label)})
	}
	// Longest first within a bucket; ties by value, for a deterministic order.
	slices.SortFunc(r.entries, func(a, b entry) int {
		if len(a.value) != len(b.value) {
			return len(b.value) - len(a.value)
		}
		return bytes.Compare(a.value, b.value)
	})
	if len(r.entries) > 0 {
		// Read only after a byte some value starts with (start), so a
		// Redactor of patterns alone does without it.
		r.pair = make([]uint64, 65536/64)
	}
	for i, e := range r.entries {
		c := e.value[0]
		r.first[c] = append(r.first[c], int32(i))
		r.start[c] = true
		if len(e.value) == 1 {
			r.single[c] = true
		} else {
			p := int(c)<<8 | int(e.value[1])
			r.pair[p/64] |= 1 << (p % 64)
		}
		r.maxLen = max(r.maxLen, len(e.value))
	}
	// With few distinct beginnings, scan for them with bytes.Index
	// (vectorized) instead of looking at every byte.
	// The longest anchor length (at most maxAnchor) that gives at most
	// maxAnchors distinct anchors wins.
	if len(r.entries) > 0 {
		for alen := min(len(r.entries[len(r.entries)-1].value), maxAnchor); alen > 0 && r.anchors == nil; alen-- {
			var anchors [][]byte
			for _, e := range r.entries {
				a := e.value[:alen]
				if !slices.ContainsFunc(anchors, func(b []byte) bool { return bytes.Equal(a, b) }) {
					anchors = append(anchors, a)
				}
				if len(anchors) > maxAnchors {
					break
				}
			}
			if len(anchors) <= maxAnchors {
				r.anchors, r.alen = anchors, alen
			}
		}
	}
	// Many values (no anchors), none shorter than 4 bytes: a hash of the 4
	// bytes at each position filters candidates.
	if len(r.entries) > 0 && len(r.entries[len(r.entries)-1].value) >= 4 {
		r.quads = make([]uint64, 1<<quadBits/64)
		for _, e := range r.entries {
			h := quadHash(binary.LittleEndian.Uint32(e.value))
			r.quads[h/64] |= 1 << (h % 64)
		}
	}
	return r
}

const quadBits = 16

func quadHash(x uint32) uint32 { return (x * 0x9E3779B1) >> (32 - quadBits) }

// Up to maxAnchors distinct beginnings of values (their first alen bytes,
// alen at most maxAnchor and the shortest value's length) are searched for
// with bytes.Index; with more, every byte is looked at.
const (
	maxAnchors = 8
	maxAnchor  = 8
)

// Patterns returns a Redactor with credential patterns and no known values.
func Patterns() *Redactor { return New(nil, true) }

// MaxHoldback is the most bytes Writer holds back between writes: the
// longest value's length minus one (0 without values).
func (r *Redactor) MaxHoldback() int { return max(r.maxLen-1, 0) }

// Zero overwrites the Redactor's copies of the values. It must not be used
// afterwards.
func (r *Redactor) Zero() {
	for _, e := range r.entries {
		clear(e.value)
	}
	r.entries = nil
	r.anchors = nil
	r.quads = nil
	r.first = [256][]int32{}
	r.start = [256]bool{}
	r.maxLen = 0
}

// match looks for a value at the start of rem. It returns the longest
// value that matches, or undecided when a value longer than rem starts with
// rem and more input could still complete it (final is false).
func (r *Redactor) match(rem []byte, final bool) (e *entry, undecided bool) {
	for _, i := range r.first[rem[0]] {
		v := r.entries[i].value
		if len(v) <= len(rem) {
			if bytes.Equal(rem[:len(v)], v) {
				return &r.entries[i], false
			}
		} else if !final && bytes.Equal(v[:len(rem)], rem) {
			return nil, true
		}
	}
	return nil, false
}

// scan appends buf, values replaced by labels, to dst. Unless final, it
// stops before the first position whose outcome depends on bytes after
// buf, and reports how much of buf it consumed.
func (r *Redactor) scan(dst, buf []byte, final bool) ([]byte, int) {
	if r.anchors != nil {
		return r.scanAnchors(dst, buf, final)
	}
	if r.quads != nil {
		return r.scanQuads(dst, buf, final)
	}
	last, n := 0, len(buf)
	for i := 0; i < n; {
		c := buf[i]
		if !r.start[c] {
			i++
			continue
		}
		if i+1 < n && !r.single[c] {
			p := int(c)<<8 | int(buf[i+1])
			if r.pair[p/64]&(1<<(p%64)) == 0 {
				i++
				continue
			}
		}
		e, undecided := r.match(buf[i:], final)
		if undecided {
			return append(dst, buf[last:i]...), i
		}
		if e == nil {
			i++
			continue
		}
		dst = append(dst, buf[last:i]...)
		dst = append(dst, e.label...)
		i += len(e.value)
		last = i
	}
	return append(dst, buf[last:]...), n
}

// scanAnchors is scan for few values: every value begins with one of the
// anchors, so values can start only where an anchor occurs in full, or in
// the last alen-1 bytes, where a value can only be undecided.
func (r *Redactor) scanAnchors(dst, buf []byte, final bool) ([]byte, int) {
	var next [maxAnchors]int // next occurrence of each anchor at or after i; n: none
	for k := range next {
		next[k] = -1
	}
	last, n, i := 0, len(buf), 0
	for {
		best := n
		for k, a := range r.anchors {
			if next[k] < i {
				if j := bytes.Index(buf[i:], a); j >= 0 {
					next[k] = i + j
				} else {
					next[k] = n
				}
			}
			best = min(best, next[k])
		}
		if best == n {
			break
		}
		e, undecided := r.match(buf[best:], final)
		if undecided {
			return append(dst, buf[last:best]...), best
		}
		if e == nil {
			i = best + 1
			continue
		}
		dst = append(dst, buf[last:best]...)
		dst = append(dst, e.label...)
		i = best + len(e.value)
		last = i
	}
	return r.scanTail(dst, buf, last, max(i, n-r.alen+1), final)
}

// scanQuads is scan for many values of at least 4 bytes: a value can
// start only where the hash of the next 4 bytes is one of theirs, or in the
// last 3 bytes, where a value can only be undecided.
func (r *Redactor) scanQuads(dst, buf []byte, final bool) ([]byte, int) {
	last, n, i := 0, len(buf), 0
	for i+4 <= n {
		h := quadHash(binary.LittleEndian.Uint32(buf[i:]))
		if r.quads[h/64]&(1<<(h%64)) == 0 {
			i++
			continue
		}
		e, undecided := r.match(buf[i:], final)
		if undecided {
			return append(dst, buf[last:i]...), i
		}
		if e == nil {
			i++
			continue
		}
		dst = append(dst, buf[last:i]...)
		dst = append(dst, e.label...)
		i += len(e.value)
		last = i
	}
	return r.scanTail(dst, buf, last, i, final)
}

// scanTail finishes scanAnchors and scanQuads: from i on, no value fits
// in buf, so unless final the first position where one is undecided ends
// what is consumed.
func (r *Redactor) scanTail(dst, buf []byte, last, i int, final bool) ([]byte, int) {
	if !final {
		for p := i; p < len(buf); p++ {
			if !r.start[buf[p]] {
				continue
			}
			if _, undecided := r.match(buf[p:], false); undecided {
				return append(dst, buf[last:p]...), p
			}
		}
	}
	return append(dst, buf[last:]...), len(buf)
}

// Bytes returns b with known values (and patterns, if enabled) replaced.
func (r *Redactor) Bytes(b []byte) []byte {
	out := b
	if len(r.entries) > 0 {
		out, _ = r.scan(make([]byte, 0, len(b)), b, true)
	}
	if r.patterns {
		out = replacePatterns(out)
	}
	return out
}

// Truncated is Bytes for output that was cut short (a size limit, a
// killed process): a tail of b that is a proper prefix of a known value —
// the start of a secret whose rest was cut off — is dropped, by the rule
// Writer uses to hold such a tail back; the rest is masked as by Bytes.
// So cutting output at any byte never reveals the first bytes of a
// secret.
func (r *Redactor) Truncated(b []byte) []byte {
	out := b
	if len(r.entries) > 0 {
		out, _ = r.scan(make([]byte, 0, len(b)), b, false)
	}
	if r.patterns {
		out = replacePatterns(out)
	}
	return out
}

// String returns s with known values (and patterns, if enabled) replaced.
func (r *Redactor) String(s string) string {
	if len(r.entries) == 0 && !r.patterns {
		return s
	}
	return string(r.Bytes([]byte(s)))
}

// Writer returns a writer that masks known values in what is written to it
// and writes the result to w (see the package documentation for what is
// held back). Close flushes what is held back; it does not close w. The
// writer is not safe for concurrent use.
func (r *Redactor) Writer(w io.Writer) io.WriteCloser { return &writer{r: r, w: w} }

type writer struct {
	r       *Redactor
	w       io.Writer
	pending []byte // held back: a proper prefix of a value
	out     []byte
	err     error
	closed  bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	if len(w.r.entries) == 0 {
		n, err := w.w.Write(p)
		w.err = err
		return n, err
	}
	buf := p
	if len(w.pending) > 0 {
		if cap(w.pending)-len(w.pending) < len(p) {
			// Grow by hand, so that the old array is zeroed.
			grown := make([]byte, len(w.pending), 2*cap(w.pending)+len(p))
			copy(grown, w.pending)
			w.zero()
			w.pending = grown
		}
		w.pending = append(w.pending, p...)
		buf = w.pending
	}
	var k int
	w.out, k = w.r.scan(w.out[:0], buf, false)
	if len(w.out) > 0 {
		if _, err := w.w.Write(w.out); err != nil {
			w.err = err
			w.zero()
			return 0, err
		}
	}
	tail := buf[k:]
	if len(w.pending) > 0 {
		m := copy(w.pending, tail)
		clear(w.pending[m:])
		w.pending = w.pending[:m]
	} else {
		w.pending = append(w.pending, tail...)
	}
	return len(p), nil
}

// Close writes what is held back, its values masked, and zeroes the
// writer's buffers. It does not close the underlying writer.
func (w *writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil && len(w.pending) > 0 {
		w.out, _ = w.r.scan(w.out[:0], w.pending, true)
		_, w.err = w.w.Write(w.out)
	}
	w.zero()
	return w.err
}

func (w *writer) zero() {
	clear(w.pending[:cap(w.pending)])
	w.pending = w.pending[:0]
}
