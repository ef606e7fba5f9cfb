package httpfetch

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The three benchmarks GET the same 1 KiB body from one loopback server:
// Fetch (new transport, checks and a new connection per call), a plain
// net/http client that reuses its connection (the usual client), and a
// plain client without keep-alives (the same connection cost as Fetch).
func benchServer(b *testing.B) *httptest.Server {
	body := make([]byte, 1024)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }))
	b.Cleanup(s.Close)
	return s
}

func BenchmarkFetch(b *testing.B) {
	s := benchServer(b)
	o := Options{Allow: only127}
	b.ReportAllocs()
	for b.Loop() {
		r, err := Fetch(context.Background(), Request{URL: s.URL + "/"}, o)
		if err != nil || len(r.Body) != 1024 {
			b.Fatal(err)
		}
	}
}

func benchPlain(b *testing.B, c *http.Client) {
	s := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get(s.URL + "/")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != 1024 {
			b.Fatal(n)
		}
	}
}

func BenchmarkNetHTTPReused(b *testing.B) {
	tr := &http.Transport{}
	b.Cleanup(tr.CloseIdleConnections)
	benchPlain(b, &http.Client{Transport: tr})
}

func BenchmarkNetHTTPNoKeepAlive(b *testing.B) {
	tr := &http.Transport{DisableKeepAlives: true}
	b.Cleanup(tr.CloseIdleConnections)
	benchPlain(b, &http.Client{Transport: tr})
}
