package redact

import "regexp"

// A pattern is the shape of one kind of credential. keep, when set, is the
// submatch kept before the replacement (the "Bearer " of a bearer token).
type pattern struct {
	kind string
	re   *regexp.Regexp
	keep bool
}

// The patterns, in the order they are applied. Each replacement,
// "[redacted:KIND]", matches none of them.
var patterns = []pattern{
	{kind: "private_key", re: regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|[\s\S]*$)`)},
	{kind: "jwt", re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)},
	{kind: "bearer", re: regexp.MustCompile(`(?i)(\bbearer[ \t]+)[A-Za-z0-9._~+/-]{8,}=*`), keep: true},
	{kind: "openai", re: regexp.MustCompile(`\bsk-[A-Za-z0-9_-]{20,}`)},
	{kind: "github", re: regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})`)},
	{kind: "slack", re: regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`)},
	{kind: "aws", re: regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
}

// replacePatterns replaces every credential pattern in b.
func replacePatterns(b []byte) []byte {
	for _, p := range patterns {
		repl := []byte("[redacted:" + p.kind + "]")
		if p.keep {
			repl = []byte("${1}[redacted:" + p.kind + "]")
			b = p.re.ReplaceAll(b, repl)
			continue
		}
		b = p.re.ReplaceAllLiteral(b, repl)
	}
	return b
}
