package server

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// LeaseState is the state of one address of the pool.
type LeaseState uint8

// States of an address. Free addresses are not listed by Leases.
const (
	Free LeaseState = iota
	// Offered: reserved for a client that was sent a DHCPOFFER, until
	// Expires (OfferHold after the offer).
	Offered
	// Bound: leased to a client until Expires.
	Bound
	// Expired: the lease ran out or was released; the address is
	// remembered for its client and handed to others only when no
	// never-used address is left.
	Expired
	// Declined: a client reported the address in use by someone else
	// (DHCPDECLINE); it is out of the pool until Expires.
	Declined
	// reserved: the router, server, DNS or broadcast address; never leased.
	reserved
)

var stateNames = [...]string{"free", "offered", "bound", "expired", "declined", "reserved"}

// String returns the state's name as FormatLeases prints it: "bound".
func (s LeaseState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "?"
}

// Lease is one entry of the lease table.
type Lease struct {
	Addr  netip.Addr
	State LeaseState
	// MAC is the client's hardware address (chaddr).
	MAC stack.MAC
	// ClientID is the client identifier (option 61), or nil when the
	// client sent none and the lease is filed under MAC.
	ClientID []byte
	// Hostname is the name the client sent (option 12), if any.
	Hostname string
	// Expires is when the lease, offer or decline hold ends.
	Expires time.Time
}

// slot is one address of the range.
type slot struct {
	state    LeaseState
	key      string // dhcp.Message.ClientKey of the client, "" when none
	mac      stack.MAC
	clientID []byte
	hostname string
	expires  time.Time
}

// pool is the lease table: one slot per address of the range, and an
// index from client key to slot. Both are bounded by the range.
type pool struct {
	start uint32
	slots []slot
	byKey map[string]int
}

func newPool(c Config) *pool {
	p := &pool{start: u32(c.RangeStart), byKey: map[string]int{}}
	p.slots = make([]slot, u32(c.RangeEnd)-p.start+1)
	skip := append([]netip.Addr{c.Router, c.ServerID, c.Subnet.Addr(), broadcast(c.Subnet)}, c.DNS...)
	for _, a := range skip {
		if i, ok := p.index(a); ok {
			p.slots[i].state = reserved
		}
	}
	return p
}

// index returns a's slot.
func (p *pool) index(a netip.Addr) (int, bool) {
	if !a.Is4() {
		return 0, false
	}
	v := u32(a)
	if v < p.start || v-p.start >= uint32(len(p.slots)) {
		return 0, false
	}
	return int(v - p.start), true
}

func (p *pool) addr(i int) netip.Addr { return addrOf(p.start + uint32(i)) }

// age moves slot i along when its timer ran out: offers and leases become
// Expired (remembered for the client), declines become Free.
func (p *pool) age(i int, now time.Time) {
	sl := &p.slots[i]
	if now.Before(sl.expires) {
		return
	}
	switch sl.state {
	case Offered, Bound:
		sl.state = Expired
	case Declined:
		*sl = slot{}
	}
}

// lookup returns the slot filed under key.
func (p *pool) lookup(key string, now time.Time) (int, bool) {
	i, ok := p.byKey[key]
	if !ok {
		return 0, false
	}
	p.age(i, now)
	return i, true
}

// available reports whether slot i may be given to key: it is free, or
// key's already, or an expired lease of another client.
func (p *pool) available(i int, key string, now time.Time) bool {
	p.age(i, now)
	sl := &p.slots[i]
	switch sl.state {
	case Free, Expired:
		return true
	case Offered, Bound:
		return sl.key == key
	}
	return false
}

// choose picks an address for key (RFC 2131 4.3.1): the client's current
// or previous one, else the requested one if available, else a never-used
// one, else the longest-expired one of another client. It returns false
// when the pool is exhausted.
func (p *pool) choose(key string, requested netip.Addr, now time.Time) (int, bool) {
	if i, ok := p.lookup(key, now); ok {
		return i, true
	}
	if i, ok := p.index(requested); ok && p.available(i, key, now) {
		return i, true
	}
	oldest := -1
	for i := range p.slots {
		p.age(i, now)
		switch p.slots[i].state {
		case Free:
			return i, true
		case Expired:
			if oldest < 0 || p.slots[i].expires.Before(p.slots[oldest].expires) {
				oldest = i
			}
		}
	}
	return oldest, oldest >= 0
}

// assign files slot i under key with state st until expires, taking it
// from its previous client and freeing key's previous slot.
func (p *pool) assign(i int, key string, mac stack.MAC, clientID []byte, hostname string, st LeaseState, expires time.Time) {
	sl := &p.slots[i]
	if sl.key != key {
		if sl.key != "" && p.byKey[sl.key] == i {
			delete(p.byKey, sl.key)
		}
		if j, ok := p.byKey[key]; ok && j != i {
			p.slots[j] = slot{}
		}
	}
	*sl = slot{state: st, key: key, mac: mac, clientID: clientID, hostname: hostname, expires: expires}
	p.byKey[key] = i
}

// unfile removes slot i from its client's index entry and sets its state.
func (p *pool) unfile(i int, st LeaseState, expires time.Time) {
	sl := &p.slots[i]
	if sl.key != "" && p.byKey[sl.key] == i {
		delete(p.byKey, sl.key)
	}
	*sl = slot{state: st, expires: expires}
}

// leases lists the slots that are not free, in address order.
func (p *pool) leases(now time.Time) []Lease {
	var out []Lease
	for i := range p.slots {
		p.age(i, now)
		sl := &p.slots[i]
		if sl.state == Free || sl.state == reserved {
			continue
		}
		out = append(out, Lease{Addr: p.addr(i), State: sl.state, MAC: sl.mac, ClientID: sl.clientID, Hostname: sl.hostname, Expires: sl.expires})
	}
	return out
}
