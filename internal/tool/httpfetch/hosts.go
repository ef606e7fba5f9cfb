package httpfetch

import (
	"fmt"
	"strings"

	"github.com/palyra/palyra/internal/tool/netguard"
)

// checkHost applies Options.Hosts to t (see there). A trailing dot on the
// name is ignored for matching.
func checkHost(t netguard.Target, hosts []string) error {
	if hosts == nil {
		return nil
	}
	name := strings.TrimSuffix(t.Host, ".")
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if suffix, ok := strings.CutPrefix(h, "*."); ok && !t.Addr.IsValid() {
			if strings.HasSuffix(name, "."+suffix) {
				return nil
			}
		} else if h == name {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not among the hosts this request may reach", ErrHostNotAllowed, t.Host)
}
