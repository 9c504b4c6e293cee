package bond

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// monitor runs the periodic checks: miimon, the ARP monitor and LACP;
// mu is held.
func (b *Bond) monitor(now time.Time) {
	if now.Sub(b.lastMII) >= b.cfg.MIIMon {
		b.lastMII = now
		for _, s := range b.slaves {
			// A write that failed since the last poll takes the slave
			// down for this poll even when its carrier looks up (a TAP
			// refuses writes with EIO once it is down; a broken device
			// fails them without a carrier change).
			failed := s.writeFail.Swap(false)
			up := (s.carrier == nil || s.carrier()) && !failed
			b.carrierSeen(now, s, up)
		}
	}
	if b.arpMonitoring() && now.Sub(b.lastARP) >= b.cfg.ARPInterval {
		b.lastARP = now
		b.arpMonitor(now)
	}
	if b.lacp != nil {
		b.lacpTx(now)
	}
	b.update(now)
}

// carrierSeen applies miimon's updelay and downdelay to what a poll saw
// of slave s: a change takes effect once it held for the delay (Linux's
// BOND_LINK_BACK and BOND_LINK_FAIL states); mu is held.
func (b *Bond) carrierSeen(now time.Time, s *slave, up bool) {
	if up == s.mii {
		s.pendSince = time.Time{}
		return
	}
	delay := b.cfg.DownDelay
	if up {
		delay = b.cfg.UpDelay
	}
	if s.pendSince.IsZero() {
		s.pendSince = now
	}
	if now.Sub(s.pendSince) >= delay {
		s.pendSince = time.Time{}
		b.setMII(now, s, up)
	}
}

// setMII records a slave's carrier; mu is held.
func (b *Bond) setMII(now time.Time, s *slave, up bool) {
	if s.mii == up {
		return
	}
	s.mii = up
	if s.port != nil {
		b.lacp.SetEnabled(now, s.port, up)
	}
}

// arpMonitoring reports whether the ARP monitor runs.
func (b *Bond) arpMonitoring() bool {
	return b.cfg.Mode == ActiveBackup && b.cfg.ARPInterval > 0 && len(b.cfg.ARPTargets) > 0
}

// arpMonitor judges each slave by whether it received an ARP frame in
// the last two intervals (Linux's arp_validate=filter: the targets'
// replies, and the active slave's probes flooded back through the
// switches, keep slaves up), then probes every target on the active slave, or on
// every slave with carrier while none is active; mu is held.
func (b *Bond) arpMonitor(now time.Time) {
	window := 2 * b.cfg.ARPInterval
	for _, s := range b.slaves {
		s.arpUp = time.Duration(stack.Nanos(now)-s.lastRx.Load()) <= window
	}
	var via []*slave
	if a := b.active; a != nil && a.usable(b) {
		via = []*slave{a}
	} else {
		for _, s := range b.slaves {
			if s.mii {
				via = append(via, s)
			}
		}
	}
	for _, t := range b.cfg.ARPTargets {
		a := b.sourceFor(t)
		for _, s := range via {
			b.send(s, arpProbe(b.cfg.MAC, a.VID, a.Prefix.Addr(), t))
		}
	}
}

// sourceFor returns our address on the subnet of target (else the first
// IPv4 address, else none); mu is held.
func (b *Bond) sourceFor(target netip.Addr) Addr {
	if b.addrs == nil {
		return Addr{}
	}
	var first Addr
	for _, a := range b.addrs() {
		if !a.Prefix.Addr().Is4() {
			continue
		}
		if a.Prefix.Contains(target) {
			return a
		}
		if !first.Prefix.IsValid() {
			first = a
		}
	}
	return first
}

// usable reports whether the slave may carry traffic by its monitors.
func (s *slave) usable(b *Bond) bool {
	return s.mii && (!b.arpMonitoring() || s.arpUp)
}

// lacpTx runs LACP's machines and queues the LACPDUs they send; mu is
// held.
func (b *Bond) lacpTx(now time.Time) {
	b.txBuf = b.lacp.Tick(now, b.txBuf[:0])
	for _, t := range b.txBuf {
		s := b.slaves[t.Port.Number()-1]
		s.Counters.TxLACPDUs.Add(1)
		pdu := t.PDU
		b.send(s, slowFrame(b.cfg.MAC, pdu.Encode))
	}
}

// update recomputes which slaves send and receive and counts link
// failures (a slave that was usable and is not); mu is held.
func (b *Bond) update(now time.Time) {
	for _, s := range b.slaves {
		u := s.usable(b)
		if s.wasUsable && !u {
			s.failures++
		}
		s.wasUsable = u
	}
	var tx []*slave
	switch b.cfg.Mode {
	case ActiveBackup:
		b.reselect()
		for _, s := range b.slaves {
			s.rxOK.Store(s == b.active)
		}
		if b.active != nil {
			tx = []*slave{b.active}
		}
	case BalanceXOR:
		for _, s := range b.slaves {
			u := s.usable(b)
			s.rxOK.Store(u)
			if u {
				tx = append(tx, s)
			}
		}
	case LACP:
		for _, s := range b.slaves {
			s.rxOK.Store(s.port.Collecting() && s.port.Aggregator() == b.lacp.ActiveAggregator())
			if s.port.Distributing() && s.mii {
				tx = append(tx, s)
			}
		}
		if len(tx) < b.cfg.MinLinks {
			tx = nil // Linux turns the bond's carrier off
		}
	}
	old := *b.tx.Load()
	if !sameSlaves(old, tx) {
		b.tx.Store(&tx)
	}
}

func sameSlaves(a, b []*slave) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// reselect picks the active slave of active-backup: the primary when
// usable, else the current one while usable, else the first usable
// (Linux's primary_reselect=always). A change announces our addresses
// on the new active slave; mu is held.
func (b *Bond) reselect() {
	var next *slave
	for _, s := range b.slaves {
		if s.name == b.cfg.Primary && s.usable(b) {
			next = s
		}
	}
	if next == nil && b.active != nil && b.active.usable(b) {
		next = b.active
	}
	for _, s := range b.slaves {
		if next == nil && s.usable(b) {
			next = s
		}
	}
	if next == b.active {
		return
	}
	had := b.active != nil
	b.active = next
	if next == nil {
		return
	}
	if had {
		b.failovers++
	}
	b.announce(next)
}

// announce sends a gratuitous ARP for each IPv4 address and an
// unsolicited Neighbor Advertisement for each IPv6 address of the
// interfaces on the bond, on s; mu is held.
func (b *Bond) announce(s *slave) {
	if b.addrs == nil {
		return
	}
	for _, a := range b.addrs() {
		ip := a.Prefix.Addr()
		if ip.Is4() {
			b.send(s, gratuitousARP(b.cfg.MAC, a.VID, ip))
		} else {
			b.send(s, unsolicitedNA(b.cfg.MAC, a.VID, ip))
		}
	}
}
