package approval

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s as one line safe to show on a terminal, at most
// 1024 bytes (the bound of Request.Summary): every control or format
// character (newlines, escape sequences, bidirectional overrides) is
// written as its Go escape (`\n`, `\x1b`, `\u202e`), invalid UTF-8 as
// `\xNN`, and a longer text is cut at a character boundary and ends with
// "…".
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
		if b.Len()+len(piece) > maxSummary-len("…") {
			b.WriteString("…")
			break
		}
		b.WriteString(piece)
		i += n
	}
	return b.String()
}
