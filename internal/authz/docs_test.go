package authz

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// cedarBlocks returns the ```cedar code blocks of a Markdown document.
func cedarBlocks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```cedar\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// policyText is Cedar text without comments and with runs of white space
// collapsed, to compare policies as written.
func policyText(s string) string {
	s = regexp.MustCompile(`(?m)//.*$`).ReplaceAllString(s, "")
	return strings.Join(strings.Fields(s), " ")
}

// TestDocumentedPolicies loads every Cedar example of
// docs/authorization.md: each must parse and validate against the schema
// on top of the baseline, except the copy of the baseline itself, which
// must say exactly what baseline.cedar says.
func TestDocumentedPolicies(t *testing.T) {
	blocks := cedarBlocks(t, "../../docs/authorization.md")
	if len(blocks) < 5 {
		t.Fatalf("%d cedar blocks in docs/authorization.md; the examples are gone?", len(blocks))
	}
	baselines := 0
	for i, block := range blocks {
		if strings.Contains(block, `@id("admin-full-access")`) {
			baselines++
			if got, want := policyText(block), policyText(string(baselineText)); got != want {
				t.Errorf("block %d: the documented baseline differs from baseline.cedar:\n%s\nwant\n%s", i, got, want)
			}
			continue
		}
		if _, err := NewEngine([]byte(block)); err != nil {
			t.Errorf("block %d does not load: %v\n%s", i, err, block)
		}
	}
	if baselines != 1 {
		t.Errorf("%d documented baselines, want 1", baselines)
	}
}
