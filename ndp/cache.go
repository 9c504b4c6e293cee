package ndp

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// State is the neighbour unreachability detection state of a cache entry
// (RFC 4861 7.3.2). The states, their names and their timers are those of
// package arp, which applies the same machine to IPv4 as Linux does.
type State uint8

// Entry states. A send to an unknown neighbour creates it INCOMPLETE and
// multicasts solicitations to its solicited-node address; a solicited
// advertisement makes it REACHABLE, other news STALE; REACHABLE decays to
// STALE after a randomised ReachableTime; the first send through a STALE
// entry moves it to DELAY, and without a confirmation within
// DelayFirstProbeTime to PROBE (unicast solicitations). Resolution or
// probing that gets no answer leaves it FAILED. Static entries are
// PERMANENT.
const (
	Incomplete State = iota + 1
	Reachable
	Stale
	Delay
	Probe
	Failed
	Permanent
	numStates
)

var stateNames = [...]string{
	Incomplete: "INCOMPLETE",
	Reachable:  "REACHABLE",
	Stale:      "STALE",
	Delay:      "DELAY",
	Probe:      "PROBE",
	Failed:     "FAILED",
	Permanent:  "PERMANENT",
}

// String returns the state as `ip -6 neigh` prints it.
func (s State) String() string {
	if s > 0 && s < numStates {
		return stateNames[s]
	}
	return "NONE"
}

// usable reports whether packets may be sent to the entry's link address.
func (s State) usable() bool {
	return s == Reachable || s == Stale || s == Delay || s == Probe || s == Permanent
}

// Entry is a snapshot of one neighbour cache entry.
type Entry struct {
	// Addr is the neighbour's IPv6 address.
	Addr netip.Addr
	// MAC is its link address; zero while INCOMPLETE or FAILED.
	MAC stack.MAC
	// NIC is the interface name.
	NIC string
	// State is the NUD state.
	State State
	// Router is the neighbour's IsRouter flag (from an NA's R flag or an
	// RA).
	Router bool
	// Queued and QueuedBytes are the packets waiting for resolution.
	Queued      int
	QueuedBytes int
}

type key struct {
	nic  *stack.NIC
	addr netip.Addr
}

type queued struct {
	p    *stack.Packet
	size int
}

// entry is one neighbour; Protocol.mu guards it.
type entry struct {
	key    key
	mac    stack.MAC
	state  State
	router bool
	probes int
	queue  []queued
	qbytes int
	// timer drives the state's timeout; it acts only once the clock has
	// reached deadline (a late call of a re-armed timer is ignored).
	timer      stack.Timer
	deadline   time.Time
	prev, next *entry
	list       *entryList
}

func (e *entry) takeQueue() []queued {
	q := e.queue
	e.queue, e.qbytes = nil, 0
	return q
}

// entryList is an intrusive list of entries, oldest first.
type entryList struct {
	head, tail *entry
}

func (l *entryList) pushBack(e *entry) {
	e.list = l
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *entryList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next, e.list = nil, nil, nil
}

// cache is the neighbour table with its eviction lists.
type cache struct {
	m      map[key]*entry
	failed entryList
	stale  entryList
}

func (c *cache) setState(e *entry, s State) {
	if e.list != nil {
		e.list.remove(e)
	}
	if e.state != s && e.key.nic != nil {
		if st := e.key.nic.Stack(); st.Tracer() != nil {
			st.TraceState("ndp", "neighbour "+e.key.addr.String()+" on "+e.key.nic.Name(), e.state.String(), s.String(),
				netip.AddrPort{}, netip.AddrPortFrom(e.key.addr, 0))
		}
	}
	e.state = s
	switch s {
	case Failed:
		c.failed.pushBack(e)
	case Stale, Delay:
		// DELAY is STALE with a probe pending: as evictable, so that an
		// answered solicitation flood cannot pin the table.
		c.stale.pushBack(e)
	}
}

func (c *cache) remove(e *entry) {
	if e.list != nil {
		e.list.remove(e)
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	delete(c.m, e.key)
}

// victim is the entry to evict when full: oldest FAILED, else oldest
// STALE or DELAY.
func (c *cache) victim() *entry {
	if c.failed.head != nil {
		return c.failed.head
	}
	return c.stale.head
}
