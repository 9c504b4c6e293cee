package arp

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// ConflictError is the error of a Probe that found its address in use. It
// unwraps to stack.ErrAddressInUse (EADDRINUSE).
type ConflictError struct {
	// Addr is the address probed for.
	Addr netip.Addr
	// MAC is the hardware address of the host that claimed it.
	MAC stack.MAC
	// NIC is the name of the interface the probe ran on.
	NIC string
}

// Error returns one line for an operator: "10.0.0.2 is already in use by
// 02:00:00:00:00:01 (on tap0)".
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v is already in use by %v (on %s)", e.Addr, e.MAC, e.NIC)
}

// Unwrap returns stack.ErrAddressInUse.
func (e *ConflictError) Unwrap() error { return stack.ErrAddressInUse }

// probeState is one Probe in progress; conflict receives the MAC of the
// first host that claims the address.
type probeState struct {
	conflict chan stack.MAC
}

// Probe checks, by RFC 5227 address conflict detection, that no other host
// on nic's segment uses addr, before the caller assigns it
// (nic.AddAddress, which then announces it). It waits a random time up to
// ProbeWait, broadcasts ProbeNum ARP probes (requests with sender address
// 0.0.0.0) ProbeMin..ProbeMax apart, and waits AnnounceWait after the last.
// If during that window another host sends any ARP packet with addr as its
// sender address (a reply to our probe, an announcement), or probes for
// addr itself, Probe returns a *ConflictError naming that host's MAC,
// which unwraps to stack.ErrAddressInUse. It returns ctx.Err() if ctx ends
// first, and stack.ErrClosed if the protocol is closed. With the default
// options it takes 4 to 7 seconds of the stack's clock.
func (p *Protocol) Probe(ctx context.Context, nic *stack.NIC, addr netip.Addr) error {
	if nic == nil || !unicastIP(addr) {
		return fmt.Errorf("arp: cannot probe for %v: %w", addr, stack.ErrInvalid)
	}
	if nic.IsL3() {
		return nil // a link without addresses has no conflicts to detect
	}
	k := key{nic, addr}
	st := &probeState{conflict: make(chan stack.MAC, 1)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return stack.ErrClosed
	}
	if p.probing[k] != nil {
		p.mu.Unlock()
		return fmt.Errorf("arp: a probe for %v on %s is already running: %w", addr, nic.Name(), stack.ErrInvalid)
	}
	p.probing[k] = st
	p.nprobing.Add(1)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.probing, k)
		p.nprobing.Add(-1)
		p.mu.Unlock()
	}()

	conflict := func(mac stack.MAC) error {
		return &ConflictError{Addr: addr, MAC: mac, NIC: nic.Name()}
	}
	wait := func(d time.Duration) error {
		fired := make(chan struct{})
		t := p.clock.AfterFunc(d, func() { close(fired) })
		select {
		case <-fired:
			// A conflict that arrived as the timer fired wins: select
			// picks at random among ready cases.
			select {
			case mac := <-st.conflict:
				return conflict(mac)
			default:
			}
			return nil
		case mac := <-st.conflict:
			t.Stop()
			return conflict(mac)
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-p.done:
			t.Stop()
			return stack.ErrClosed
		}
	}
	o := &p.opts
	if err := wait(time.Duration(o.Rand() * float64(o.ProbeWait))); err != nil {
		return err
	}
	for i := range o.ProbeNum {
		p.send(nic, stack.BroadcastMAC, Fields{
			Op:        OpRequest,
			SenderMAC: nic.LinkAddress(),
			SenderIP:  netip.IPv4Unspecified(),
			TargetIP:  addr,
		})
		p.txProbes.Inc()
		d := o.AnnounceWait
		if i < o.ProbeNum-1 {
			d = o.ProbeMin + time.Duration(o.Rand()*float64(o.ProbeMax-o.ProbeMin))
		}
		if err := wait(d); err != nil {
			return err
		}
	}
	select {
	case mac := <-st.conflict:
		return conflict(mac)
	default:
		return nil
	}
}

// checkProbes reports an inbound ARP packet to a Probe it conflicts with:
// one whose sender address is being probed for, or another host's probe
// (sender 0.0.0.0) for an address being probed for. It returns true when
// the packet conflicted.
func (p *Protocol) checkProbes(nic *stack.NIC, sha stack.MAC, spa, tpa netip.Addr) bool {
	a := spa
	if spa.IsUnspecified() {
		a = tpa
	}
	p.mu.Lock()
	st := p.probing[key{nic, a}]
	p.mu.Unlock()
	if st == nil {
		return false
	}
	p.acdConflict.Inc()
	select {
	case st.conflict <- sha:
	default: // the first conflict is reported
	}
	return true
}

// defend answers another host's claim of addr, one of our addresses on
// nic, with one announcement of our own, at most once per DefendInterval
// per address (RFC 5227 section 2.4 (b)).
func (p *Protocol) defend(nic *stack.NIC, addr netip.Addr) {
	k := key{nic, addr}
	now := p.clock.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if last, ok := p.defended[k]; ok && now.Sub(last) < p.opts.DefendInterval {
		p.mu.Unlock()
		p.defendLimited.Inc()
		return
	}
	p.defended[k] = now
	p.mu.Unlock()
	p.announce(nic, addr)
	p.txDefend.Inc()
}

// announce broadcasts a gratuitous ARP for addr: a request whose sender and
// target are both addr.
func (p *Protocol) announce(nic *stack.NIC, addr netip.Addr) {
	p.send(nic, stack.BroadcastMAC, Fields{
		Op:        OpRequest,
		SenderMAC: nic.LinkAddress(),
		SenderIP:  addr,
		TargetIP:  addr,
	})
	p.txRequests.Inc()
	p.txGratuitous.Inc()
}

// ProbeAndAdd probes for addr's address on nic (see Probe) and, if no
// other host uses it, adds it to nic, which announces it with a gratuitous
// ARP. It is what a host does when it brings an address up; a conflict is
// returned as from Probe (a *ConflictError, EADDRINUSE) and the address is
// not added.
func (p *Protocol) ProbeAndAdd(ctx context.Context, nic *stack.NIC, addr netip.Prefix) error {
	if !addr.IsValid() {
		return fmt.Errorf("arp: %v is not an address with a prefix length: %w", addr, stack.ErrInvalid)
	}
	if err := p.Probe(ctx, nic, addr.Addr()); err != nil {
		return err
	}
	return nic.AddAddress(addr)
}
