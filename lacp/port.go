package lacp

import "time"

// RxState is a state of the receive machine (802.1AX-2014 6.4.12).
type RxState uint8

// Receive machine states (LACP_DISABLED is not modelled: every port of
// a bond in 802.3ad mode runs LACP).
const (
	RxPortDisabled RxState = iota
	RxExpired
	RxDefaulted
	RxCurrent
)

// String returns the state's name in 802.1AX.
func (s RxState) String() string {
	return [...]string{"PORT_DISABLED", "EXPIRED", "DEFAULTED", "CURRENT"}[s]
}

// MuxState is a state of the mux machine with coupled control
// (802.1AX-2014 6.4.15, Figure 6-22).
type MuxState uint8

// Mux machine states.
const (
	MuxDetached MuxState = iota
	MuxWaiting
	MuxAttached
	MuxCollectingDistributing
)

// String returns the state's name in 802.1AX.
func (s MuxState) String() string {
	return [...]string{"DETACHED", "WAITING", "ATTACHED", "COLLECTING_DISTRIBUTING"}[s]
}

// Selected is the Selected variable of 802.1AX-2014 6.4.8.
type Selected uint8

// Selected values.
const (
	Unselected Selected = iota
	SelectedYes
	Standby
)

// String returns the value's name in 802.1AX.
func (s Selected) String() string { return [...]string{"UNSELECTED", "SELECTED", "STANDBY"}[s] }

// Port is one port of a System: its actor state, what it knows of its
// partner, and its machines' states. Read it only under the caller's
// serialisation of the System.
type Port struct {
	sys     *System
	number  uint16
	enabled bool

	actorState State
	partner    Info // Partner_Oper_*

	rx           RxState
	currentWhile deadline

	periodicTimer deadline
	periodicFast  bool
	noPeriodic    bool // the periodic machine is in NO_PERIODIC

	selected   Selected
	aggregator uint16 // the aggregator selected (0: none)
	mux        MuxState
	waitWhile  deadline

	actorChurn, partnerChurn churn

	ntt     bool
	txTimes [txLimit]time.Time // the last transmissions, for the rate limit

	// Counters (read under the caller's lock).
	RxLACPDUs, TxLACPDUs uint64
}

// Number returns the port number.
func (p *Port) Number() uint16 { return p.number }

// Enabled reports whether the port's link is up.
func (p *Port) Enabled() bool { return p.enabled }

// Actor returns the port's actor information as it sends it.
func (p *Port) Actor() Info {
	c := p.sys.cfg
	return Info{SystemPriority: c.SystemPriority, System: c.System, Key: c.Key, PortPriority: c.PortPriority, Port: p.number, State: p.actorState}
}

// Partner returns the operational partner information.
func (p *Port) Partner() Info { return p.partner }

// RxState returns the receive machine's state.
func (p *Port) RxState() RxState { return p.rx }

// MuxState returns the mux machine's state.
func (p *Port) MuxState() MuxState { return p.mux }

// Selected returns the selection logic's verdict for the port.
func (p *Port) Selected() Selected { return p.selected }

// Aggregator returns the ID of the aggregator the port selected (0:
// none).
func (p *Port) Aggregator() uint16 { return p.aggregator }

// Collecting reports whether frames received on the port are delivered.
func (p *Port) Collecting() bool { return p.actorState.Has(StateCollecting) }

// Distributing reports whether the bond may send frames on the port:
// it is collecting and distributing on the active aggregator.
func (p *Port) Distributing() bool {
	return p.actorState.Has(StateDistributing) && p.aggregator == p.sys.active
}

// rxDisable enters PORT_DISABLED: Partner_Oper_Port_State.Synchronization
// = FALSE.
func (p *Port) rxDisable() {
	p.rx = RxPortDisabled
	p.partner.State &^= StateSync
	p.currentWhile.stop()
}

// rxExpire enters EXPIRED: partner out of sync, partner timeout short,
// current_while = Short_Timeout_Time, Actor Expired.
func (p *Port) rxExpire(now time.Time) {
	p.rx = RxExpired
	p.partner.State &^= StateSync
	p.partner.State |= StateTimeout
	p.currentWhile.start(now, ShortTimeoutTime)
	p.actorState |= StateExpired
}

// rxDefault enters DEFAULTED: update_Default_Selected, recordDefault.
func (p *Port) rxDefault() {
	p.rx = RxDefaulted
	admin := p.sys.adminPartner()
	if !admin.sameLink(p.partner) || admin.State&StateAggregation != p.partner.State&StateAggregation {
		p.selected = Unselected
	}
	p.partner = admin
	p.actorState |= StateDefaulted
	p.actorState &^= StateExpired
	p.currentWhile.stop()
}

// rxCurrent is CURRENT on a received PDU: update_Selected, update_NTT,
// recordPDU, current_while from our own LACP_Timeout.
func (p *Port) rxCurrent(now time.Time, pdu LACPDUFields) {
	p.rx = RxCurrent
	a := pdu.Actor
	if !a.sameLink(p.partner) || a.State&StateAggregation != p.partner.State&StateAggregation {
		p.selected = Unselected // update_Selected
	}
	me := p.Actor()
	const nttBits = StateActivity | StateTimeout | StateSync | StateAggregation
	if !pdu.Partner.sameLink(me) || pdu.Partner.State&nttBits != me.State&nttBits {
		p.ntt = true // update_NTT: the partner's view of us is stale
	}
	// recordPDU
	p.partner = a
	p.actorState &^= StateDefaulted | StateExpired
	matched := pdu.Partner.sameLink(me) && pdu.Partner.State&StateAggregation == me.State&StateAggregation
	sync := a.State.Has(StateSync) && (matched || !a.State.Has(StateAggregation))
	if sync {
		p.partner.State |= StateSync
	} else {
		p.partner.State &^= StateSync
	}
	if p.actorState.Has(StateTimeout) {
		p.currentWhile.start(now, ShortTimeoutTime)
	} else {
		p.currentWhile.start(now, LongTimeoutTime)
	}
}

// rxTimers runs current_while: CURRENT → EXPIRED → DEFAULTED.
func (p *Port) rxTimers(now time.Time) bool {
	if !p.currentWhile.expired(now) {
		return false
	}
	switch p.rx {
	case RxCurrent:
		p.rxExpire(now)
	case RxExpired:
		p.rxDefault()
	}
	return true
}

// periodic is the periodic transmission machine (6.4.13): NTT every
// fast or slow period, by the partner's LACP_Timeout; NO_PERIODIC while
// the port is disabled or both the actor and the partner are passive.
func (p *Port) periodic(now time.Time) {
	p.noPeriodic = !p.enabled || !p.actorState.Has(StateActivity) && !p.partner.State.Has(StateActivity)
	if p.noPeriodic {
		p.periodicTimer.stop()
		return
	}
	fast := p.partner.State.Has(StateTimeout)
	period := SlowPeriodicTime
	if fast {
		period = FastPeriodicTime
	}
	switch {
	case !p.periodicTimer.running():
		p.periodicTimer.start(now, period)
	case fast && !p.periodicFast:
		// SLOW_PERIODIC → PERIODIC_TX when the partner asks for fast.
		p.ntt = true
		p.periodicTimer.start(now, period)
	case p.periodicTimer.expired(now):
		p.ntt = true
		p.periodicTimer.start(now, period)
	}
	p.periodicFast = fast
}

// muxStep moves the mux machine (coupled control) at most one state.
func (p *Port) muxStep(now time.Time) bool {
	switch p.mux {
	case MuxDetached:
		if p.selected == SelectedYes || p.selected == Standby {
			p.mux = MuxWaiting
			p.waitWhile.start(now, AggregateWaitTime)
			return true
		}
	case MuxWaiting:
		switch {
		case p.selected == Unselected:
			p.detach()
			return true
		case p.selected == SelectedYes && p.waitWhile.expired(now):
			p.mux = MuxAttached
			p.waitWhile.stop()
			p.actorState |= StateSync
			p.actorState &^= StateCollecting | StateDistributing
			p.ntt = true
			return true
		}
	case MuxAttached:
		switch {
		case p.selected == Unselected || p.selected == Standby:
			p.detach()
			return true
		case p.selected == SelectedYes && p.partner.State.Has(StateSync):
			p.mux = MuxCollectingDistributing
			p.actorState |= StateCollecting | StateDistributing
			p.ntt = true
			return true
		}
	case MuxCollectingDistributing:
		if p.selected != SelectedYes || !p.partner.State.Has(StateSync) {
			p.mux = MuxAttached
			p.actorState &^= StateCollecting | StateDistributing
			p.actorState |= StateSync
			p.ntt = true
			return true
		}
	}
	return false
}

// detach enters DETACHED: out of sync, not collecting or distributing.
func (p *Port) detach() {
	p.mux = MuxDetached
	p.waitWhile.stop()
	p.actorState &^= StateSync | StateCollecting | StateDistributing
	p.ntt = true
}

// transmit is the transmit machine (6.4.16): on NTT, an LACPDU, at most
// three per Fast_Periodic_Time; none while the periodic machine is in
// NO_PERIODIC, which clears NTT (two passive ports never speak).
func (p *Port) transmit(now time.Time) (LACPDUFields, bool) {
	if p.noPeriodic {
		p.ntt = false
	}
	if !p.ntt || !p.enabled {
		return LACPDUFields{}, false
	}
	oldest := p.txTimes[0]
	if !oldest.IsZero() && now.Sub(oldest) < FastPeriodicTime {
		return LACPDUFields{}, false // rate limited; NTT stays set
	}
	copy(p.txTimes[:], p.txTimes[1:])
	p.txTimes[txLimit-1] = now
	p.ntt = false
	p.TxLACPDUs++
	return LACPDUFields{Actor: p.Actor(), Partner: p.partner}, true
}
