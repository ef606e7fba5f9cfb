package transport

import (
	"crypto/x509"
	"io"
	"sync"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
)

// conns tracks live TLS connections by the device id in their client
// certificate so that revoking a device can close them at once.
type conns struct {
	mu   sync.Mutex
	next uint64
	m    map[identity.DeviceID]map[uint64]io.Closer
}

func (c *conns) add(cert *x509.Certificate, closer io.Closer) (remove func()) {
	id, err := pki.DeviceIDFromCert(cert)
	if err != nil {
		return func() {}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[identity.DeviceID]map[uint64]io.Closer{}
	}
	if c.m[id] == nil {
		c.m[id] = map[uint64]io.Closer{}
	}
	c.next++
	n := c.next
	c.m[id][n] = closer
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.m[id], n)
		if len(c.m[id]) == 0 {
			delete(c.m, id)
		}
	}
}

// closeDevice closes every tracked connection of deviceID and returns how
// many it closed.
func (c *conns) closeDevice(deviceID identity.DeviceID) int {
	c.mu.Lock()
	victims := c.m[deviceID]
	delete(c.m, deviceID)
	c.mu.Unlock()
	for _, cl := range victims {
		cl.Close()
	}
	return len(victims)
}
