// Package fetchtool is the governed http.fetch tool: a thin adapter that
// decodes its arguments strictly, checks the URL (netguard.CheckURL) so
// that ToolContext.hosts names the host policy judges, and calls
// httpfetch.Fetch bound to exactly that host, with credential headers
// injected from secret.use references and the body masked.
package fetchtool

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/tool"
	"github.com/palyra/palyra/internal/tool/args"
	"github.com/palyra/palyra/internal/tool/httpfetch"
	"github.com/palyra/palyra/internal/tool/netguard"
	"github.com/palyra/palyra/internal/vault"
)

// Name is the tool's name, the id of Tool::"http.fetch".
const Name = "http.fetch"

// MaxSecretHeaders bounds the injected headers.
const MaxSecretHeaders = 8

// Config is the tool's configuration.
type Config struct {
	// Allow lets address classes or prefixes through the address check
	// (the operator's exceptions; the zero value: public unicast only).
	Allow netguard.Allow
	// Timeout and MaxResponseBytes bound one call (0: httpfetch's
	// defaults, 30 s and 1 MiB).
	Timeout          time.Duration
	MaxResponseBytes int64
}

// Tool is the http.fetch tool.
type Tool struct{ cfg Config }

// New returns the http.fetch tool.
func New(cfg Config) *Tool { return &Tool{cfg} }

// Args is the arguments object.
type Args struct {
	URL           string            `json:"url"`
	Method        string            `json:"method,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Body          string            `json:"body,omitempty"`
	SecretHeaders map[string]string `json:"secret_headers,omitempty"`
}

type spec struct {
	req   httpfetch.Request
	hosts []string
}

var headerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// Name implements tool.Tool.
func (*Tool) Name() string { return Name }

// Describe implements tool.Tool.
func (*Tool) Describe() tool.Description {
	return tool.Description{Name: Name, Summary: "one HTTP(S) request to a public address (every address checked, connection pinned, redirects re-checked)",
		Arguments: []tool.Argument{
			{Name: "url", Type: "string", Required: true, Doc: "http or https URL, canonical host, no userinfo"},
			{Name: "method", Type: "string", Doc: "default GET"},
			{Name: "headers", Type: "{string:string}", Doc: "request headers (no credentials: use secret_headers)"},
			{Name: "body", Type: "string", Doc: "request body"},
			{Name: "secret_headers", Type: "{string:string}", Doc: "NAME: vault://SCOPE/KEY[#N] — the header's whole value from the vault, sent only to the URL's origin; each a secret.use decision"},
		}}
}

// Plan implements tool.Tool.
func (t *Tool) Plan(raw []byte) (*tool.Plan, error) {
	var a Args
	if err := args.Decode(raw, &a); err != nil {
		return nil, err
	}
	target, err := netguard.CheckURL(a.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", tool.ErrInvalid, err)
	}
	if len(a.SecretHeaders) > MaxSecretHeaders {
		return nil, fmt.Errorf("%w: %d secret headers, at most %d", tool.ErrInvalid, len(a.SecretHeaders), MaxSecretHeaders)
	}
	h := http.Header{}
	for k, v := range a.Headers {
		h.Set(k, v)
	}
	p := &tool.Plan{Tool: Name, Hash: tool.Hash(Name, a)}
	for n, uri := range a.SecretHeaders {
		if !headerName.MatchString(n) {
			return nil, fmt.Errorf("%w: secret header name %q", tool.ErrInvalid, n)
		}
		if _, dup := a.Headers[n]; dup || h.Get(n) != "" {
			return nil, fmt.Errorf("%w: header %s given both plainly and as a secret", tool.ErrInvalid, n)
		}
		ref, v, err := vault.ParseURI(uri)
		if err != nil {
			return nil, fmt.Errorf("%w: secret header %s: %w", tool.ErrInvalid, n, err)
		}
		p.Secrets = append(p.Secrets, tool.SecretUse{Name: http.CanonicalHeaderKey(n), Ref: ref, Version: v})
	}
	slices.SortFunc(p.Secrets, func(x, y tool.SecretUse) int { return strings.Compare(x.Name, y.Name) })
	var body []byte
	if a.Body != "" {
		body = []byte(a.Body)
	}
	hosts := []string{target.Host}
	p.Spec = spec{req: httpfetch.Request{Method: a.Method, URL: a.URL, Header: h, Body: body}, hosts: hosts}
	p.Context = tool.Context{Hosts: hosts, CommandLine: strings.ToUpper(cmp(a.Method, "GET")) + " " + target.URL.Redacted()}
	names := slices.Sorted(maps.Keys(h))
	p.Detail = fmt.Sprintf("headers [%s]; body %d bytes", strings.Join(names, " "), len(body))
	return p, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Run implements tool.Tool.
func (t *Tool) Run(ctx context.Context, p *tool.Plan, secrets map[string][]byte) (*tool.Result, error) {
	sp, ok := p.Spec.(spec)
	if !ok {
		return nil, fmt.Errorf("fetchtool: plan is not an http.fetch plan")
	}
	masks := map[string]string{}
	sh := http.Header{}
	for _, s := range p.Secrets {
		v, ok := secrets[s.Name]
		if !ok {
			return nil, fmt.Errorf("fetchtool: secret for %s not resolved", s.Name)
		}
		sh.Set(s.Name, string(v))
		masks[string(v)] = "[" + vault.URI(s.Ref, s.Version) + "]"
	}
	red := redact.New(masks, true)
	defer red.Zero()
	opts := httpfetch.Options{Allow: t.cfg.Allow, Hosts: sp.hosts, Secrets: sh, Timeout: t.cfg.Timeout, MaxResponseBytes: t.cfg.MaxResponseBytes}
	start := time.Now()
	resp, err := httpfetch.Fetch(ctx, sp.req, opts)
	if err != nil {
		return nil, err
	}
	res := &tool.Result{
		Wall:      time.Since(start),
		Stdout:    red.Bytes(resp.Body),
		Truncated: resp.Truncated,
		Limits:    []string{"timeout=" + cmpDur(t.cfg.Timeout, httpfetch.DefaultTimeout), "response=" + strconv.FormatInt(cmpInt(t.cfg.MaxResponseBytes, httpfetch.DefaultMaxResponseBytes), 10), "redirects=" + strconv.Itoa(httpfetch.DefaultMaxRedirects)},
		Sandbox:   "none (runs in the daemon; every resolved address checked by netguard, the connection pinned to it, redirects re-checked and bound to the judged hosts)",
		Details: map[string]string{
			"status": strconv.Itoa(resp.Status), "proto": resp.Proto, "url": red.String(resp.URL),
			"remote_addr": resp.RemoteAddr.String(), "redirects": strconv.Itoa(resp.Redirects),
			"content_type": resp.Header.Get("Content-Type"),
		},
	}
	res.HashOutput()
	return res, nil
}

func cmpDur(d, def time.Duration) string {
	if d == 0 {
		d = def
	}
	return d.String()
}

func cmpInt(n, def int64) int64 {
	if n == 0 {
		return def
	}
	return n
}
