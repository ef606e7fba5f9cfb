package httpfetch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/palyra/palyra/internal/tool/httpfetch"
	"github.com/palyra/palyra/internal/tool/netguard"
)

// An adapter passes what authorization granted (the hosts it decided on,
// any extra address classes or prefixes) and the credential headers it
// resolved from secret.use references.
func ExampleFetch() {
	res, err := httpfetch.Fetch(context.Background(), httpfetch.Request{
		URL:    "https://api.example.com/v1/items?limit=10",
		Header: http.Header{"Accept": {"application/json"}},
	}, httpfetch.Options{
		Hosts:            []string{"api.example.com"},
		Allow:            netguard.Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}},
		Secrets:          http.Header{"Authorization": {"Bearer <resolved by the daemon>"}},
		MaxResponseBytes: 256 << 10,
		Timeout:          10 * time.Second,
	})
	if err != nil {
		fmt.Println(err) // e.g. http.fetch: redirect 1 to 169.254.169.254: address refused: 169.254.169.254 is metadata
		return
	}
	fmt.Println(res.Status, len(res.Body), res.Truncated, res.RemoteAddr)
}
