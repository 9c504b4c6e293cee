package lacp

import (
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Config describes the aggregation system of one bond: the actor.
type Config struct {
	// System is the actor's System ID MAC (the bond's MAC address).
	System stack.MAC
	// SystemPriority is the actor's system priority; 0 means 65535.
	SystemPriority uint16
	// Key is the operational key every port of the bond shares; 0
	// means 1.
	Key uint16
	// PortPriority is every port's priority; 0 means 255.
	PortPriority uint16
	// Fast asks the partner for the fast rate (LACP_Timeout short:
	// LACPDUs every second, partner timeout 3 s), like Linux's
	// lacp_rate=fast; otherwise slow (30 s, timeout 90 s).
	Fast bool
	// Passive makes every port's LACP_Activity passive (Linux's
	// lacp_active=off): a port sends no LACPDU while its partner is
	// passive too, so it stays silent until an active partner speaks
	// (802.1AX-2014 6.4.13, NO_PERIODIC; 6.4.16).
	Passive bool
}

// Transmission is an LACPDU a port asks to send.
type Transmission struct {
	Port *Port
	PDU  LACPDUFields
}

// System is the LACP actor of one aggregation system with its ports and
// their aggregators (one per port, with the port's number as ID, as Linux
// numbers them). It is not safe for concurrent use: the caller (a bond)
// serialises calls and passes the time into each.
type System struct {
	cfg    Config
	ports  []*Port
	active uint16 // ID of the active aggregator; 0: none
}

// NewSystem returns a system with no ports.
func NewSystem(cfg Config) *System {
	if cfg.SystemPriority == 0 {
		cfg.SystemPriority = 65535
	}
	if cfg.Key == 0 {
		cfg.Key = 1
	}
	if cfg.PortPriority == 0 {
		cfg.PortPriority = 255
	}
	return &System{cfg: cfg}
}

// Config returns the system's configuration with defaults filled in.
func (s *System) Config() Config { return s.cfg }

// AddPort adds port number n (1 or more, unique), disabled, and returns
// it. Its receive machine starts in PORT_DISABLED; enable it with
// SetEnabled.
func (s *System) AddPort(n uint16) *Port {
	p := &Port{sys: s, number: n, rx: RxPortDisabled, mux: MuxDetached}
	p.partner = s.adminPartner()
	p.actorState = StateAggregation | StateDefaulted
	if !s.cfg.Passive {
		p.actorState |= StateActivity
	}
	if s.cfg.Fast {
		p.actorState |= StateTimeout
	}
	s.ports = append(s.ports, p)
	return p
}

// Ports returns the ports in the order they were added.
func (s *System) Ports() []*Port { return s.ports }

// ActiveAggregator returns the ID of the aggregator whose distributing
// ports carry the bond's traffic (0: none).
func (s *System) ActiveAggregator() uint16 { return s.active }

// adminPartner is the administrative default partner (802.1AX-2014
// 6.4.7, Partner_Admin_*): nobody. Its LACP_Timeout follows our own
// rate, so a fast actor keeps transmitting every second while it has
// no partner and a returning partner is found at once.
func (s *System) adminPartner() Info {
	st := StateAggregation
	if s.cfg.Fast {
		st |= StateTimeout
	}
	return Info{State: st}
}

// SetEnabled tells the system that port p's link (its MAC service) is
// up or down (802.1AX-2014 6.4.7 port_enabled).
func (s *System) SetEnabled(now time.Time, p *Port, up bool) {
	if p.enabled == up {
		return
	}
	p.enabled = up
	if !up {
		p.rxDisable()
	} else {
		p.rxExpire(now)
	}
	s.run(now)
}

// Receive runs the receive machine of port p on an LACPDU (validated
// by the caller) and then the other machines.
func (s *System) Receive(now time.Time, p *Port, pdu LACPDUFields) {
	p.RxLACPDUs++
	if !p.enabled {
		return
	}
	p.rxCurrent(now, pdu)
	s.run(now)
}

// Tick runs the timers and machines at now and appends the LACPDUs the
// transmit machines send to out.
func (s *System) Tick(now time.Time, out []Transmission) []Transmission {
	s.run(now)
	for _, p := range s.ports {
		if pdu, ok := p.transmit(now); ok {
			out = append(out, Transmission{Port: p, PDU: pdu})
		}
	}
	return out
}

// run runs the machines until nothing changes (bounded: each pass can
// only move a mux one state, and there are four).
func (s *System) run(now time.Time) {
	for range 6 {
		changed := false
		for _, p := range s.ports {
			changed = p.rxTimers(now) || changed
			p.periodic(now)
		}
		changed = s.selection() || changed
		for _, p := range s.ports {
			changed = p.muxStep(now) || changed
		}
		for _, p := range s.ports {
			p.actorChurn.step(now, p.enabled, p.actorState.Has(StateSync))
			p.partnerChurn.step(now, p.enabled, p.partner.State.Has(StateSync))
		}
		if !changed {
			return
		}
	}
}
