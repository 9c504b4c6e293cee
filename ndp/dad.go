package ndp

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// ConflictError is the error of duplicate address detection that found
// its address in use. It unwraps to stack.ErrAddressInUse (EADDRINUSE).
type ConflictError struct {
	// Addr is the address probed for.
	Addr netip.Addr
	// MAC is the link address of the node that answered or probed too.
	MAC stack.MAC
	// NIC is the interface name.
	NIC string
}

// Error returns one line for an operator: "fd00::2 is already in use by
// 02:00:00:00:00:01 (on tap0)".
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v is already in use by %v (on %s)", e.Addr, e.MAC, e.NIC)
}

// Unwrap returns stack.ErrAddressInUse.
func (e *ConflictError) Unwrap() error { return stack.ErrAddressInUse }

// probeState is one duplicate address detection in progress. Its fields
// are guarded by Protocol.mu.
type probeState struct {
	key      key
	nonce    [6]byte
	sent     int
	timer    stack.Timer
	finished bool
	done     func(error)
}

// startDAD begins duplicate address detection for addr on nic (RFC 4862
// 5.4): it joins addr's solicited-node group, sends
// DupAddrDetectTransmits solicitations from :: RetransTimer apart, and
// calls done once: with nil after the last interval, with a
// *ConflictError when another node answers or probes for addr too, with
// stack.ErrClosed when the protocol closes. done runs without p.mu held.
func (p *Protocol) startDAD(nic *stack.NIC, addr netip.Addr, done func(error)) (*probeState, error) {
	if nic == nil || !addr.Is6() || addr.IsUnspecified() || addr.IsMulticast() || addr.Is4In6() {
		return nil, fmt.Errorf("ndp: cannot probe for %v: %w", addr, stack.ErrInvalid)
	}
	addr = addr.WithZone("")
	st := &probeState{key: key{nic, addr}, done: done}
	rand.Read(st.nonce[:])
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, stack.ErrClosed
	}
	if p.probing[st.key] != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("ndp: duplicate address detection for %v on %s is already running: %w", addr, nic.Name(), stack.ErrInvalid)
	}
	p.probing[st.key] = st
	st.sent = 1
	st.timer = p.clock.AfterFunc(p.retransLocked(nic), func() { p.dadTick(st) })
	p.mu.Unlock()
	nic.JoinGroup(stack.SolicitedNodeAddress(addr))
	p.sendDAD(st)
	return st, nil
}

// sendDAD sends one DAD probe: an NS from :: to the solicited-node
// address, with no source link-layer option and our nonce (RFC 7527).
func (p *Protocol) sendDAD(st *probeState) {
	ns := NeighborSolicitation{Target: st.key.addr, Nonce: st.nonce}
	p.send(st.key.nic, netip.IPv6Unspecified(), stack.SolicitedNodeAddress(st.key.addr), &ns)
	p.txNS.Inc()
	p.txDADProbes.Inc()
}

func (p *Protocol) dadTick(st *probeState) {
	p.mu.Lock()
	if st.finished {
		p.mu.Unlock()
		return
	}
	if st.sent < p.opts.DupAddrDetectTransmits {
		st.sent++
		st.timer.Reset(p.retransLocked(st.key.nic))
		p.mu.Unlock()
		p.sendDAD(st)
		return
	}
	p.mu.Unlock()
	p.finishDAD(st, nil)
}

// finishDAD ends st once, leaving the group and calling its done.
func (p *Protocol) finishDAD(st *probeState, err error) {
	p.mu.Lock()
	if st.finished {
		p.mu.Unlock()
		return
	}
	st.finished = true
	st.timer.Stop()
	if p.probing[st.key] == st {
		delete(p.probing, st.key)
	}
	p.mu.Unlock()
	st.key.nic.LeaveGroup(stack.SolicitedNodeAddress(st.key.addr))
	st.done(err)
}

// checkProbes reports an inbound NS or NA to the DAD of its target, if one
// runs on the NIC; it returns true when the message concerned a tentative
// address (and must not be processed further). An NA for the address, or
// an NS from :: for it that is not our own looped back (same nonce, or no
// nonce and our MAC), is a conflict; an NS from a unicast source is
// address resolution for the tentative address and is ignored (RFC 4862
// 5.4.3).
func (p *Protocol) checkProbes(pkt *stack.Packet, m Message) bool {
	nic := pkt.NIC
	p.mu.Lock()
	st := p.probing[key{nic, m.Target()}]
	p.mu.Unlock()
	if st == nil {
		return false
	}
	mac := pkt.LinkSrc
	if m.Type() == TypeNeighborSolicitation {
		if !pkt.Src.IsUnspecified() {
			return true
		}
		nonce, ok := m.NonceOption()
		if (ok && nonce == st.nonce) || (!ok && mac == nic.LinkAddress()) {
			p.rxLooped.Inc()
			return true
		}
	} else if tll, ok := m.LinkAddrOption(OptionTargetLinkAddr); ok {
		mac = tll
	}
	p.dadConflict.Inc()
	p.finishDAD(st, &ConflictError{Addr: st.key.addr, MAC: mac, NIC: nic.Name()})
	return true
}

// Probe runs duplicate address detection for addr on nic (RFC 4862 5.4)
// before the caller assigns it: DupAddrDetectTransmits neighbour
// solicitations from :: to addr's solicited-node group (joined
// meanwhile), RetransTimer apart, then RetransTimer of listening. It
// returns a *ConflictError naming the MAC of a node that advertises addr
// or probes for it at the same time (unwrapping to
// stack.ErrAddressInUse), ctx.Err() if ctx ends first, stack.ErrClosed
// if the protocol closes. With the defaults it takes 1 second of the
// stack's clock. On an L3 interface (a TUN) it returns nil at once.
func (p *Protocol) Probe(ctx context.Context, nic *stack.NIC, addr netip.Addr) error {
	if nic != nil && nic.IsL3() {
		return nil // no neighbours to ask on a TUN, as Linux on IFF_NOARP links
	}
	ch := make(chan error, 1)
	st, err := p.startDAD(nic, addr, func(err error) { ch <- err })
	if err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		p.finishDAD(st, ctx.Err())
		return ctx.Err()
	case <-p.done:
		p.finishDAD(st, stack.ErrClosed)
		return stack.ErrClosed
	}
}

// ProbeAndAdd runs Probe for addr's address and, if no other node uses
// it, adds it to nic (which joins its solicited-node group and announces
// it). A conflict is returned as from Probe and the address is not added.
func (p *Protocol) ProbeAndAdd(ctx context.Context, nic *stack.NIC, addr netip.Prefix) error {
	if !addr.IsValid() || !addr.Addr().Is6() {
		return fmt.Errorf("ndp: %v is not an IPv6 address with a prefix length like fd00::2/64: %w", addr, stack.ErrInvalid)
	}
	if err := p.Probe(ctx, nic, addr.Addr()); err != nil {
		return err
	}
	return nic.AddAddress(addr)
}
