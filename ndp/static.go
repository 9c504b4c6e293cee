package ndp

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

// ErrNoEntry is returned by Delete when there is no entry for the address
// (ENXIO, as the kernel answers).
var ErrNoEntry = stack.NewError("no neighbour entry", syscall.ENXIO)

// AddStatic adds a PERMANENT entry mapping addr to mac on nic, like `ip -6
// neigh replace addr lladdr mac nud permanent`: never aged, evicted or
// changed by traffic. Packets waiting for addr are sent to mac.
func (p *Protocol) AddStatic(nic *stack.NIC, addr netip.Addr, mac stack.MAC) error {
	addr = addr.WithZone("")
	if nic == nil || !addr.Is6() || addr.IsUnspecified() || addr.IsMulticast() || addr.Is4In6() {
		return fmt.Errorf("ndp: static entry %v: want a unicast IPv6 address and an interface: %w", addr, stack.ErrInvalid)
	}
	if mac.IsZero() || mac.IsMulticast() {
		return fmt.Errorf("ndp: %v is not a unicast MAC address: %w", mac, stack.ErrInvalid)
	}
	k := key{nic, addr}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return stack.ErrClosed
	}
	e := p.cache.m[k]
	if e == nil {
		e = &entry{key: k} // static entries may exceed CacheSize
		p.cache.m[k] = e
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.mac, e.probes = mac, 0
	p.cache.setState(e, Permanent)
	q := e.takeQueue()
	p.mu.Unlock()
	p.flush(nic, mac, q)
	return nil
}

// Delete removes the entry for addr on nic (every interface when nil).
func (p *Protocol) Delete(nic *stack.NIC, addr netip.Addr) error {
	addr = addr.WithZone("")
	p.mu.Lock()
	var drop []queued
	n := 0
	for k, e := range p.cache.m {
		if k.addr == addr && (nic == nil || k.nic == nic) {
			drop = append(drop, e.takeQueue()...)
			p.cache.remove(e)
			n++
		}
	}
	p.mu.Unlock()
	for _, w := range drop {
		w.p.Release()
	}
	if n == 0 {
		return fmt.Errorf("ndp: %v: %w", addr, ErrNoEntry)
	}
	return nil
}

// Flush removes every learned (non-PERMANENT) entry on nic (every
// interface when nil) and returns how many.
func (p *Protocol) Flush(nic *stack.NIC) int {
	p.mu.Lock()
	var drop []queued
	n := 0
	for k, e := range p.cache.m {
		if e.state != Permanent && (nic == nil || k.nic == nic) {
			drop = append(drop, e.takeQueue()...)
			p.cache.remove(e)
			n++
		}
	}
	p.mu.Unlock()
	for _, w := range drop {
		w.p.Release()
	}
	return n
}
