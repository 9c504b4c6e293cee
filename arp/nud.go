package arp

// The neighbour unreachability detection side of the cache: an entry's
// timer and its state changes.

import (
	"time"

	"github.com/tapstack/tapstack/stack"
)

// fire is the timer callback of entry e.
func (p *Protocol) fire(e *entry) {
	p.mu.Lock()
	if p.closed || p.cache.m[e.key] != e || p.clock.Now().Before(e.deadline) {
		// Closed, removed, or a late call of a timer re-armed since.
		p.mu.Unlock()
		return
	}
	var (
		request bool
		unicast stack.MAC // the address of a unicast probe to send
		failed  []queued
	)
	switch e.state {
	case Incomplete:
		if e.probes < p.opts.MaxProbes {
			e.probes++
			request = true
			p.arm(e, p.opts.RetransTime)
		} else {
			failed = e.takeQueue()
			p.cache.setState(e, Failed)
			p.cacheFailed.Inc()
			p.arm(e, p.opts.GCStaleTime)
		}
	case Reachable:
		p.cache.setState(e, Stale)
		p.arm(e, p.opts.GCStaleTime)
	case Stale:
		// Not used for GCStaleTime (a send would have moved it to DELAY).
		p.cache.remove(e)
	case Delay:
		// No confirmation came: reconfirm with unicast requests.
		p.cache.setState(e, Probe)
		e.probes = 1
		unicast = e.mac
		p.arm(e, p.opts.RetransTime)
	case Probe:
		if e.probes < p.opts.UcastProbes {
			e.probes++
			unicast = e.mac
			p.arm(e, p.opts.RetransTime)
		} else {
			// The neighbour is gone; the next send resolves afresh.
			e.mac = stack.MAC{}
			p.cache.setState(e, Failed)
			p.cacheFailed.Inc()
			p.arm(e, p.opts.GCStaleTime)
		}
	case Failed:
		p.cache.remove(e)
	}
	if !request && failed == nil && unicast.IsZero() {
		p.mu.Unlock()
		return
	}
	p.running++
	p.mu.Unlock()

	nic, addr := e.key.nic, e.key.addr
	if request {
		p.sendRequest(nic, addr)
	}
	if !unicast.IsZero() {
		p.sendUnicastRequest(nic, addr, unicast)
	}
	for _, w := range failed {
		p.txUnresolved.Inc()
		nic.Stack().ResolutionFailed(nic, addr, w.etherType, w.p)
	}

	p.mu.Lock()
	p.running--
	if p.running == 0 {
		p.idle.Broadcast()
	}
	p.mu.Unlock()
}

// update records that the neighbour of e is at mac, in state next
// (REACHABLE for a reply to us, STALE otherwise). It returns the packets
// that were waiting for resolution, to be sent to mac by the caller after
// unlocking. p.mu must be held.
func (p *Protocol) update(e *entry, mac stack.MAC, next State) []queued {
	old := e.state
	if old.usable() && e.mac == mac && next == Stale {
		// Nothing new: the address is confirmed no more than before.
		return nil
	}
	e.mac = mac
	e.probes = 0
	p.cache.setState(e, next)
	if next == Reachable {
		p.arm(e, p.reachableTime())
	} else {
		p.arm(e, p.opts.GCStaleTime)
	}
	return e.takeQueue()
}

// reachableTime returns a random time in [0.5, 1.5) × ReachableTime, as
// Linux draws reachable_time from base_reachable_time.
func (p *Protocol) reachableTime() time.Duration {
	return time.Duration((0.5 + p.opts.Rand()) * float64(p.opts.ReachableTime))
}
