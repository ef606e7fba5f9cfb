package approval

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxSummary is the bound of Request.Summary in bytes, after Printable.
// A request whose summary is longer is refused, never shown cut: what an
// approver does not see could be the part that matters.
const MaxSummary = 4096

// Printable returns s as one line safe to show on a terminal: every
// control or format character (newlines, escape sequences, bidirectional
// overrides) is written as its Go escape (`\n`, `\x1b`, `\u202e`), a
// backslash as `\\` and invalid UTF-8 as `\xNN`. Nothing is cut: the
// caller bounds the input (see MaxSummary).
func Printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && n == 1:
			piece = `\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:]
		case r == '\\':
			piece = `\\`
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			q := strconv.QuoteRuneToASCII(r)
			piece = q[1 : len(q)-1]
		default:
			piece = s[i : i+n]
		}
		b.WriteString(piece)
		i += n
	}
	return b.String()
}
