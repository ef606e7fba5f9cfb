package fetchtool

import (
	"strings"
	"testing"
)

// TestSummary: what an approver sees of an http.fetch names the method,
// the URL without its password, the header names, the body size and each
// secret header by reference, never a value; two calls that differ only in
// their body or headers have different hashes.
func TestSummary(t *testing.T) {
	tl := New(Config{})
	p, err := tl.Plan([]byte(`{"url":"https://example.com/x?q=1","method":"post","headers":{"Accept":"text/plain"},"body":"hello","secret_headers":{"Authorization":"vault://global/tok#2"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "http.fetch; POST https://example.com/x?q=1; hosts example.com; secret Authorization<-global/tok#2; headers [Accept]; body 5 bytes"
	if got := p.Summary(); got != want {
		t.Fatalf("summary\n got %q\nwant %q", got, want)
	}
	q, err := tl.Plan([]byte(`{"url":"https://example.com/x?q=1","method":"post","headers":{"Accept":"text/html"},"body":"hello","secret_headers":{"Authorization":"vault://global/tok#2"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if q.Hash == p.Hash {
		t.Fatal("another header value, same hash")
	}
	if strings.Contains(p.Summary(), "text/plain") || strings.Contains(p.Summary(), "hello") {
		t.Fatal("the summary shows header values or the body")
	}
}
