package arp

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// State is the state of a neighbour cache entry. The names and String words
// follow Linux (`ip neigh`) and RFC 4861's neighbour unreachability
// detection, which Linux applies to ARP as well.
type State uint8

// Entry states.
//
// The life of an entry (Linux's neighbour unreachability detection): a
// send to an unknown next hop creates it INCOMPLETE and broadcasts
// requests; a reply makes it REACHABLE (a request or an unsolicited update
// makes it STALE); after a randomised ReachableTime a REACHABLE entry
// becomes STALE, which is still used to send. The first send through a
// STALE entry moves it to DELAY; if no reply confirms it within
// DelayFirstProbeTime it goes to PROBE and unicast requests are sent to
// the known MAC, RetransTime apart, UcastProbes times; a reply makes it
// REACHABLE again, silence makes it FAILED. When broadcast resolution
// gives up the entry becomes FAILED too. STALE entries nobody sends
// through and FAILED entries are removed after GCStaleTime. Static entries
// are PERMANENT.
const (
	// Incomplete: a request was sent and no answer came yet; packets for
	// the next hop wait in the entry's queue.
	Incomplete State = iota + 1
	// Reachable: the link address was confirmed within ReachableTime.
	Reachable
	// Stale: the link address is known but not recently confirmed. It is
	// used to send.
	Stale
	// Delay: a STALE entry was used to send; waiting DelayFirstProbeTime
	// for a confirmation before probing. Still used to send.
	Delay
	// Probe: unicast requests are reconfirming the entry. Still used to
	// send.
	Probe
	// Failed: resolution gave up; the next send starts it again.
	Failed
	// Permanent: a static entry (AddStatic): never aged, never replaced by
	// traffic, removed only by Delete.
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

// String returns the state as `ip neigh` prints it ("REACHABLE").
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

// Flags are the ATF_* flags of an entry as the Linux `arp` command shows
// them in its Flags column.
type Flags uint8

// Entry flags.
const (
	// FlagComplete (C): the link address is known.
	FlagComplete Flags = 1 << iota
	// FlagPermanent (M): a static entry, never aged or replaced.
	FlagPermanent
	// FlagPublished (P): a published (proxy) entry: we answer requests for
	// its address, or any address of its prefix, on another host's behalf.
	FlagPublished
)

// String returns the flags as `arp` prints them: "C", "CM", "MP", "".
func (f Flags) String() string {
	var b [3]byte
	n := 0
	for i, c := range "CMP" {
		if f&(1<<i) != 0 {
			b[n] = byte(c)
			n++
		}
	}
	return string(b[:n])
}

// Entry is a snapshot of one neighbour cache entry, for status pages.
type Entry struct {
	// Addr is the neighbour's IPv4 address.
	Addr netip.Addr
	// MAC is its link address; zero while INCOMPLETE (or FAILED).
	MAC stack.MAC
	// NIC is the name of the interface the neighbour is on.
	NIC string
	// State is the entry's state.
	State State
	// Queued is how many packets wait for resolution, QueuedBytes their
	// total size.
	Queued      int
	QueuedBytes int
	// Flags are C (the MAC is known), M (static) and P (published).
	Flags Flags
	// Prefix is, for a published entry, the prefix it answers for (a /32
	// for a single address); Addr is its first address. It is the zero
	// Prefix for other entries.
	Prefix netip.Prefix
}

// key identifies an entry: a next hop on one interface.
type key struct {
	nic  *stack.NIC
	addr netip.Addr
}

// queued is a packet waiting for its next hop to resolve.
type queued struct {
	p         *stack.Packet
	etherType uint16
	size      int // p.Len() when queued, for the byte limit
}

// entry is one neighbour. Every field is guarded by Protocol.mu.
type entry struct {
	key   key
	mac   stack.MAC
	state State
	// probes is how many requests this resolution attempt has sent.
	probes int
	// queue holds the packets waiting for resolution, oldest first;
	// qbytes is the sum of their sizes. Take it with takeQueue.
	queue  []queued
	qbytes int
	// timer drives the current state's timeout (retransmission,
	// REACHABLE→STALE, garbage collection); it fires only once the clock
	// has reached deadline, so a late call of a re-armed timer is ignored.
	timer    stack.Timer
	deadline time.Time
	// prev and next link the entry into the eviction list of its state
	// (FAILED or STALE), oldest first.
	prev, next *entry
	list       *entryList
}

// takeQueue empties e's queue and returns what it held.
func (e *entry) takeQueue() []queued {
	q := e.queue
	e.queue, e.qbytes = nil, 0
	return q
}

// entryList is an intrusive doubly-linked list of entries, oldest first.
type entryList struct {
	head, tail *entry
	n          int
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
	l.n++
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
	l.n--
}

// cache is the neighbour table with its eviction lists. Protocol.mu guards
// it.
type cache struct {
	m      map[key]*entry
	failed entryList // FAILED entries, first evicted
	stale  entryList // STALE entries, evicted next
}

// setState moves e to state s, keeping the eviction lists in step.
func (c *cache) setState(e *entry, s State) {
	if e.list != nil {
		e.list.remove(e)
	}
	if e.state != s && e.key.nic != nil {
		if st := e.key.nic.Stack(); st.Tracer() != nil {
			st.TraceState("arp", "neighbour "+e.key.addr.String()+" on "+e.key.nic.Name(), e.state.String(), s.String(),
				netip.AddrPort{}, netip.AddrPortFrom(e.key.addr, 0))
		}
	}
	e.state = s
	switch s {
	case Failed:
		c.failed.pushBack(e)
	case Stale:
		c.stale.pushBack(e)
	}
}

// remove deletes e from the table and stops its timer. Its queue must have
// been taken by the caller.
func (c *cache) remove(e *entry) {
	if e.list != nil {
		e.list.remove(e)
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	delete(c.m, e.key)
}

// victim returns the entry to evict when the cache is full: the oldest
// FAILED entry, else the oldest STALE one, else nil.
func (c *cache) victim() *entry {
	if c.failed.head != nil {
		return c.failed.head
	}
	return c.stale.head
}
