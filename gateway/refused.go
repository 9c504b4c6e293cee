package gateway

import (
	"net/netip"
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// The refused cache remembers UDP destinations that answered ICMP port
// unreachable (ECONNREFUSED on the relay's socket), so the guest's next
// datagram to them is refused with port unreachable: udp.ForwarderRequest
// can answer unreachable only before Accept, and the gateway learns it
// only after relaying the first datagram.
const (
	refusedEntries = 1024
	refusedTTL     = 5 * time.Second
)

// refusedCache is a bounded set of destinations with expiry.
type refusedCache struct {
	clock stack.Clock
	max   int
	ttl   time.Duration

	mu sync.Mutex
	m  map[refusedKey]time.Time
}

// refusedKey is a refused flow: the guest and the destination it used.
type refusedKey struct{ guest, dst netip.AddrPort }

func newRefusedCache(clock stack.Clock, max int, ttl time.Duration) *refusedCache {
	return &refusedCache{clock: clock, max: max, ttl: ttl, m: make(map[refusedKey]time.Time)}
}

// add remembers k; when full, expired entries go first, then the add is
// dropped.
func (c *refusedCache) add(k refusedKey) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, t := range c.m {
			if now.After(t) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			return
		}
	}
	c.m[k] = now.Add(c.ttl)
}

// take reports whether k is remembered (and not expired), forgetting it:
// one unreachable answers one remembered refusal.
func (c *refusedCache) take(k refusedKey) bool {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[k]
	if !ok {
		return false
	}
	delete(c.m, k)
	return !now.After(t)
}
