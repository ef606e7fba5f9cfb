package httpfetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/palyra/palyra/internal/tool/netguard"
)

// read reads at most limit bytes of the final response body and closes it.
func (f *fetcher) read(ctx context.Context, resp *http.Response, target netguard.Target, limit int64) (*Response, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("http.fetch: %s: reading the body: %w (%s)", target.Host, ErrTimeout, f.opts.Timeout)
		}
		return nil, fmt.Errorf("http.fetch: %s: reading the body: %w: %w", target.Host, ErrTransport, err)
	}
	truncated := int64(len(body)) > limit
	if truncated {
		body = body[:limit]
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &Response{
		Status:     resp.StatusCode,
		Proto:      resp.Proto,
		Header:     resp.Header,
		Body:       body,
		Truncated:  truncated,
		URL:        target.URL.String(),
		RemoteAddr: f.lastRemote,
		Timing:     f.timing,
	}, nil
}
