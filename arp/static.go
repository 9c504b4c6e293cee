package arp

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

// ErrNoEntry is returned by Delete when there is no entry for the address.
// It unwraps to ENXIO, as the kernel's SIOCDARP does ("No ARP entry for").
var ErrNoEntry = stack.NewError("no ARP entry", syscall.ENXIO)

// published is a proxy entry: requests on nic for an address in prefix are
// answered with mac (the NIC's own when zero).
type published struct {
	nic    *stack.NIC
	prefix netip.Prefix
	mac    stack.MAC
}

// AddStatic adds a static (permanent, flag M) entry mapping ip to mac on
// nic, like `arp -s ip mac` or `ip neigh replace ip lladdr mac nud
// permanent`. A static entry is never aged, evicted or changed by traffic;
// it replaces a learned entry for the same address (packets waiting for
// that one are sent to mac) and another static one. Delete removes it.
func (p *Protocol) AddStatic(nic *stack.NIC, ip netip.Addr, mac stack.MAC) error {
	if nic == nil {
		return fmt.Errorf("arp: static entry for %v needs an interface: %w", ip, stack.ErrInvalid)
	}
	if !unicastIP(ip) {
		return fmt.Errorf("arp: %v is not a unicast IPv4 address: %w", ip, stack.ErrInvalid)
	}
	if mac.IsZero() || mac.IsMulticast() {
		return fmt.Errorf("arp: %v is not a unicast MAC address: %w", mac, stack.ErrInvalid)
	}
	k := key{nic, ip}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return stack.ErrClosed
	}
	e := p.cache.m[k]
	if e == nil {
		// Static entries do not take part in eviction, so they may exceed
		// CacheSize: the operator asked for each one.
		e = &entry{key: k}
		p.cache.m[k] = e
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.mac = mac
	e.probes = 0
	p.cache.setState(e, Permanent)
	q := e.takeQueue()
	p.mu.Unlock()
	p.flush(nic, mac, q)
	return nil
}

// AddPublished publishes prefix on nic (flag P, proxy ARP, like `arp -s ip
// mac pub` or `ip neigh add proxy ip`): a request received on nic for an
// address in prefix (a /32 for a single address) is answered on the other
// host's behalf with mac, or with the NIC's own address when mac is zero
// (so the traffic comes to us). Requests for our own addresses and
// announcements (sender and target the same) are not answered for a
// published entry. Publishing the same prefix again replaces its MAC.
func (p *Protocol) AddPublished(nic *stack.NIC, prefix netip.Prefix, mac stack.MAC) error {
	if nic == nil {
		return fmt.Errorf("arp: published entry for %v needs an interface: %w", prefix, stack.ErrInvalid)
	}
	if !prefix.IsValid() || !prefix.Addr().Is4() {
		return fmt.Errorf("arp: %v is not an IPv4 prefix: %w", prefix, stack.ErrInvalid)
	}
	if mac.IsMulticast() {
		return fmt.Errorf("arp: %v is not a unicast MAC address: %w", mac, stack.ErrInvalid)
	}
	prefix = prefix.Masked()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return stack.ErrClosed
	}
	for i, pub := range p.published {
		if pub.nic == nic && pub.prefix == prefix {
			p.published[i].mac = mac
			return nil
		}
	}
	p.published = append(p.published, published{nic, prefix, mac})
	return nil
}

// publishedFor returns the MAC to answer with for a request for target on
// nic, from the most specific published prefix containing it. p.mu must be
// held.
func (p *Protocol) publishedFor(nic *stack.NIC, target netip.Addr) (stack.MAC, bool) {
	best := -1
	var mac stack.MAC
	for _, pub := range p.published {
		if pub.nic == nic && pub.prefix.Bits() > best && pub.prefix.Contains(target) {
			best, mac = pub.prefix.Bits(), pub.mac
		}
	}
	if best < 0 {
		return stack.MAC{}, false
	}
	if mac.IsZero() {
		mac = nic.LinkAddress()
	}
	return mac, true
}

// Delete removes the entries for ip on nic (on every interface when nic is
// nil), like `arp -d ip`: a learned or static neighbour entry and a
// published entry whose prefix starts at ip. Packets waiting for the
// neighbour are dropped. It returns ErrNoEntry when there was none.
func (p *Protocol) Delete(nic *stack.NIC, ip netip.Addr) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return stack.ErrClosed
	}
	var drop []queued
	n := 0
	for k, e := range p.cache.m {
		if k.addr == ip && (nic == nil || k.nic == nic) {
			drop = append(drop, e.takeQueue()...)
			p.cache.remove(e)
			n++
		}
	}
	kept := p.published[:0]
	for _, pub := range p.published {
		if pub.prefix.Addr() == ip && (nic == nil || pub.nic == nic) {
			n++
			continue
		}
		kept = append(kept, pub)
	}
	clear(p.published[len(kept):])
	p.published = kept
	p.mu.Unlock()
	for _, w := range drop {
		w.p.Release()
	}
	if n == 0 {
		return fmt.Errorf("arp: %v: %w", ip, ErrNoEntry)
	}
	return nil
}

// Flush removes every learned entry on nic (on every interface when nic
// is nil), like `ip neigh flush`; static and published entries stay.
// Packets waiting for resolution are dropped. It returns how many entries
// were removed.
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
