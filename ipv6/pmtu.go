package ipv6

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// pmtuCache holds path MTUs learned from packet too big messages (RFC
// 8201), per destination, bounded in size: when full, an expired entry or
// else the one closest to expiry makes room. Entries expire after
// Options.PathMTUTimeout, after which the link MTU is tried again (RFC 8201
// section 4).
type pmtuCache struct {
	mu      sync.Mutex
	m       map[netip.Addr]pmtuEntry
	n       atomic.Int32 // len(m), read without the lock on the send path
	max     int
	timeout time.Duration
}

type pmtuEntry struct {
	mtu     int
	expires time.Time
}

// lookup returns the learned path MTU towards dst, or 0.
func (c *pmtuCache) lookup(dst netip.Addr, now time.Time) int {
	if c.n.Load() == 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[dst]
	if !ok {
		return 0
	}
	if !now.Before(e.expires) {
		delete(c.m, dst)
		c.n.Store(int32(len(c.m)))
		return 0
	}
	return e.mtu
}

// learn records mtu (clamped to at least MinMTU) towards dst; it only ever
// lowers a known value. It reports whether the entry changed.
func (c *pmtuCache) learn(dst netip.Addr, mtu int, now time.Time, evicted *stack.Counter) bool {
	mtu = max(mtu, MinMTU)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[netip.Addr]pmtuEntry)
	}
	if e, ok := c.m[dst]; ok && now.Before(e.expires) && e.mtu <= mtu {
		return false
	}
	if _, ok := c.m[dst]; !ok && len(c.m) >= c.max {
		var victim netip.Addr
		var soonest time.Time
		for a, e := range c.m {
			if !now.Before(e.expires) {
				victim = a
				break
			}
			if !victim.IsValid() || e.expires.Before(soonest) {
				victim, soonest = a, e.expires
			}
		}
		delete(c.m, victim)
		evicted.Inc()
	}
	c.m[dst] = pmtuEntry{mtu: mtu, expires: now.Add(c.timeout)}
	c.n.Store(int32(len(c.m)))
	return true
}

// PathMTU returns the path MTU learned towards dst from packet too big
// messages (at least MinMTU), or 0 when none is known (nothing learned, or
// it expired): then the route's MTU applies. Transports use RouteMTU.
func (pr *Protocol) PathMTU(dst netip.Addr) int {
	return pr.pmtu.lookup(dst.WithZone(""), pr.s.Clock().Now())
}

// RouteMTU returns the largest IPv6 packet that goes along r unfragmented:
// the route's MTU, lowered to the learned path MTU of r.RemoteAddr. A TCP
// MSS is RouteMTU(r) - 60.
func (pr *Protocol) RouteMTU(r *stack.Route) int {
	mtu := r.MTU()
	if r.Local {
		return mtu
	}
	if pm := pr.PathMTU(r.RemoteAddr); pm > 0 && pm < mtu {
		return pm
	}
	return mtu
}

// PathMTUEntries reports how many destinations have a learned path MTU
// (expired ones not yet swept included); never more than
// Options.PathMTUEntries.
func (pr *Protocol) PathMTUEntries() int { return int(pr.pmtu.n.Load()) }
