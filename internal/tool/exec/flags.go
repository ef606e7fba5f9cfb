package exec

import (
	"strings"
)

// normalizeFlags returns the flags among args, normalized so that a policy
// sees one spelling of each: short clusters are split ("-rf" gives "-r"
// and "-f"), long flags lose their "=value" ("--color=auto" gives
// "--color"). Everything after "--" is an operand, as is "-". Flags after
// operands count too (GNU tools accept them anywhere). The result is
// sorted-free but duplicate-free, in order of first appearance. A short
// option's attached value ("-n5") is split as flags too: over-reporting
// errs on the side of a forbid matching.
func normalizeFlags(args []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, a := range args {
		switch {
		case a == "--":
			return out
		case a == "-" || !strings.HasPrefix(a, "-"):
			continue
		case strings.HasPrefix(a, "--"):
			name, _, _ := strings.Cut(a, "=")
			add(name)
		default:
			for _, c := range a[1:] {
				add("-" + string(c))
			}
		}
	}
	return out
}

// shellQuote is argv as a POSIX shell would read it back: each word in
// single quotes unless it consists only of safe characters.
func shellQuote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}
