package lacp

import "github.com/tapstack/tapstack/stack"

// lagID identifies a link aggregation group (802.1AX-2014 6.3.6): our
// key and the partner's system and key. An individual port (its partner
// not aggregatable) is its own group.
type lagID struct {
	key, partnerKey, partnerPriority uint16
	partner                          stack.MAC
	individual                       uint16 // the port number, or 0
}

func (p *Port) lag() lagID {
	id := lagID{key: p.sys.cfg.Key, partnerKey: p.partner.Key, partnerPriority: p.partner.SystemPriority, partner: p.partner.System}
	if !p.partner.State.Has(StateAggregation) {
		id.individual = p.number
	}
	return id
}

// selection is the selection logic (802.1AX-2014 6.4.14). Aggregators
// are numbered 1..n for n ports. An enabled port keeps the aggregator it
// selected until it is disabled or its partner changes; then, once its
// mux has detached, it joins the aggregator of its LAG, or else the
// free aggregator with its own number, or else the lowest free one. One
// aggregator is active, as in Linux's ad_select: the one with a real
// partner (a port in CURRENT), then the most ports, then the lowest ID;
// ports of the others are STANDBY. A port whose LAG changes goes
// UNSELECTED first, so its mux detaches before it attaches elsewhere.
func (s *System) selection() bool {
	changed := false
	set := func(p *Port, sel Selected) {
		if p.selected != sel {
			p.selected, changed = sel, true
		}
	}
	// Leave: disabled ports. (A port whose partner changes was
	// unselected by its receive machine: update_Selected.)
	for _, p := range s.ports {
		if !p.enabled {
			set(p, Unselected)
		}
	}
	// Join: unselected, detached, enabled ports.
	for _, p := range s.ports {
		if p.mux == MuxDetached && p.selected == Unselected {
			p.aggregator = 0
		}
		if !p.enabled || p.selected != Unselected || p.mux != MuxDetached {
			continue
		}
		id := p.lag()
		used := map[uint16]bool{}
		other := map[uint16]bool{} // aggregators with a port of another LAG
		for _, q := range s.ports {
			if q == p || q.selected == Unselected || q.aggregator == 0 {
				continue
			}
			used[q.aggregator] = true
			if q.lag() != id || id.individual != 0 {
				other[q.aggregator] = true
			}
		}
		var agg uint16
		for _, q := range s.ports {
			if q != p && q.selected != Unselected && q.aggregator != 0 && !other[q.aggregator] {
				agg = q.aggregator
				break
			}
		}
		if agg == 0 && !used[p.number] {
			agg = p.number
		}
		for n := uint16(1); agg == 0 && int(n) <= len(s.ports); n++ {
			if !used[n] {
				agg = n
			}
		}
		p.aggregator = agg
		set(p, SelectedYes)
	}
	// The active aggregator.
	count := map[uint16]int{}
	real := map[uint16]bool{}
	for _, p := range s.ports {
		if p.selected != Unselected {
			count[p.aggregator]++
			if p.rx == RxCurrent {
				real[p.aggregator] = true
			}
		}
	}
	var best uint16
	for agg, n := range count {
		switch {
		case best == 0,
			real[agg] && !real[best],
			real[agg] == real[best] && (n > count[best] || n == count[best] && agg < best):
			best = agg
		}
	}
	if best != s.active {
		s.active, changed = best, true
	}
	for _, p := range s.ports {
		if p.selected == Unselected {
			continue
		}
		if p.aggregator == best {
			set(p, SelectedYes)
		} else {
			set(p, Standby)
		}
	}
	return changed
}
