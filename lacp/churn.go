package lacp

import "time"

// ChurnDetectionTime is how long a port may stay out of sync before its
// churn machine says so (802.1AX-2014 6.4.4).
const ChurnDetectionTime = 60 * time.Second

// ChurnState is a state of the actor or partner churn detection machine
// (802.1AX-2014 6.4.17).
type ChurnState uint8

// Churn states, named as Linux's /proc/net/bonding shows them.
const (
	ChurnMonitor ChurnState = iota // ACTOR_CHURN_MONITOR: out of sync, timing
	ChurnNone                      // NO_ACTOR_CHURN: in sync
	Churned                        // ACTOR_CHURN: out of sync too long
)

// String returns Linux's name of the state.
func (s ChurnState) String() string { return [...]string{"monitoring", "none", "churned"}[s] }

// churn is one churn detection machine.
type churn struct {
	state ChurnState
	timer deadline
	count uint64
}

// step runs the machine: enabled is port_enabled, sync the
// Synchronization bit it watches (the actor's or the partner's).
func (c *churn) step(now time.Time, enabled, sync bool) {
	if !enabled { // the global transition: (re-)enter the monitor
		c.state = ChurnMonitor
		c.timer.start(now, ChurnDetectionTime)
		return
	}
	switch c.state {
	case ChurnMonitor:
		switch {
		case !c.timer.running(): // a new port: BEGIN
			c.timer.start(now, ChurnDetectionTime)
		case sync:
			c.state = ChurnNone
			c.timer.stop()
		case c.timer.expired(now):
			c.state = Churned
			c.count++
		}
	case ChurnNone:
		if !sync {
			c.state = ChurnMonitor
			c.timer.start(now, ChurnDetectionTime)
		}
	case Churned:
		if sync {
			c.state = ChurnNone
		}
	}
}

// ActorChurn returns the actor churn machine's state and how many times
// it entered ACTOR_CHURN.
func (p *Port) ActorChurn() (ChurnState, uint64) { return p.actorChurn.state, p.actorChurn.count }

// PartnerChurn returns the partner churn machine's state and count.
func (p *Port) PartnerChurn() (ChurnState, uint64) {
	return p.partnerChurn.state, p.partnerChurn.count
}
