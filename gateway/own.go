package gateway

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tapstack/tapstack/stack"
)

// The loop guard. A guest address can also be one of the gateway
// namespace's own: the host's bridge takes a SLAAC address from the
// gateway's router advertisements (or a DHCP lease from its server), and
// its default route then points back at the gateway. A flow or ping from
// such an address, relayed through the host's sockets, comes back to the
// gateway, is relayed again, and so on without end (each relay is a new
// packet with a fresh hop limit). The gateway refuses flows and pings
// whose source is an address of its own namespace (counter
// gateway.rx.own_source). The set is re-read on every address change of
// the namespace (a netlink subscription, for the default OwnAddrs) and
// when it is older than ownRefresh and a flow or ping asks; a ping's loop
// is also caught exactly, by the relay's own identifier (ping.go).
const ownRefresh = time.Second

// ownAddrs is the set of the namespace's addresses.
type ownAddrs struct {
	list  func() ([]netip.Addr, error)
	set   atomic.Pointer[map[netip.Addr]struct{}]
	stamp atomic.Int64 // stack.Nanos(time.Now()) of the last read
	kick  chan struct{}
}

// interfaceAddrs lists the addresses of the process's namespace.
func interfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if p, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(p.IP); ok {
				out = append(out, x.Unmap())
			}
		}
	}
	return out, nil
}

// newOwnAddrs reads the set once and starts the goroutine that re-reads
// it on demand (and, with subscribe, on the namespace's address changes)
// until ctx ends; done is called when it returns.
func newOwnAddrs(ctx context.Context, list func() ([]netip.Addr, error), subscribe bool, done func()) *ownAddrs {
	o := &ownAddrs{list: list, kick: make(chan struct{}, 1)}
	var updates chan netlink.AddrUpdate
	if subscribe {
		updates = make(chan netlink.AddrUpdate, 16)
		if netlink.AddrSubscribe(updates, ctx.Done()) != nil {
			updates = nil // polled on demand only
		}
	}
	o.refresh()
	go func() {
		defer done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-o.kick:
			case _, ok := <-updates:
				if !ok {
					updates = nil
				}
			}
			o.refresh()
		}
	}()
	return o
}

// refresh re-reads the set; on an error the old one stays.
func (o *ownAddrs) refresh() {
	as, err := o.list()
	o.stamp.Store(stack.Nanos(time.Now()))
	if err != nil {
		return
	}
	m := make(map[netip.Addr]struct{}, len(as))
	for _, a := range as {
		m[a.Unmap().WithZone("")] = struct{}{}
	}
	o.set.Store(&m)
}

// has reports whether a is one of the namespace's addresses, asking for
// a re-read when the set is old.
func (o *ownAddrs) has(a netip.Addr) bool {
	if stack.Nanos(time.Now())-o.stamp.Load() > int64(ownRefresh) {
		select {
		case o.kick <- struct{}{}:
		default:
		}
	}
	m := o.set.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[a.Unmap().WithZone("")]
	return ok
}
