package policy

import (
	"os"
	"regexp"
	"testing"
)

// The test case example in docs/policies.md parses and its requests are
// well formed.
func TestDocsExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no JSON example in docs/policies.md")
	}
	cases, err := ParseCases("docs/policies.md", m[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if _, err := c.Request(); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}
