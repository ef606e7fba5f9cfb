package devices

import (
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/palyra/palyra/internal/identity"
)

// Lookalike names. Unicode's full confusables data (UTS #39 skeletons) has
// no well-kept Go package, so Skeleton folds what fools people most often:
// compatibility forms (NFKC: fullwidth letters, ligatures, superscripts),
// case, the Cyrillic and Greek letters drawn like Latin ones, and the
// digits 0 and 1 against o and l. A lookalike from another script or a
// symbol outside this table is not caught; the listing also prints names
// quoted with non-ASCII characters escaped, so a non-ASCII name shows as
// such.

// lookalikes maps a (lower-case) character to the Latin letter it is drawn
// like.
var lookalikes = map[rune]rune{
	// Cyrillic.
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'һ': 'h', 'і': 'i', 'ї': 'i', 'ј': 'j', 'к': 'k', 'м': 'm',
	'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's', 'ԁ': 'd', 'ԛ': 'q',
	'ԝ': 'w', 'ӏ': 'l', 'ɡ': 'g',
	// Greek.
	'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'n', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't',
	'υ': 'u', 'χ': 'x', 'ϲ': 'c', 'ϳ': 'j', 'ζ': 'z',
	// Latin and digits drawn alike.
	'0': 'o', '1': 'l', 'ı': 'i', 'ℓ': 'l',
}

// Skeleton returns the form of name that two names drawn alike share (see
// above): NFKC, lower case, lookalike letters replaced, "rn" read as "m"
// and "vv" as "w".
func Skeleton(name string) string {
	s := strings.ToLower(norm.NFKC.String(name))
	var b strings.Builder
	for _, r := range s {
		if l, ok := lookalikes[r]; ok {
			r = l
		}
		if r == 'i' {
			r = 'l' // i, l and 1 are one character in many fonts
		}
		b.WriteRune(r)
	}
	return strings.NewReplacer("rn", "m", "vv", "w").Replace(b.String())
}

// NameLookalike returns the name of an active device other than except
// that name looks like (same Skeleton) without being equal to, ignoring
// case; ok is false when there is none.
func (r *Registry) NameLookalike(name string, except identity.DeviceID) (other string, ok bool) {
	sk := Skeleton(name)
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, o := range r.m {
		if o.ID != except && !o.Revoked() && !strings.EqualFold(o.Name, name) && Skeleton(o.Name) == sk {
			return o.Name, true
		}
	}
	return "", false
}
