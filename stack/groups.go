package stack

import (
	"fmt"
	"net/netip"
)

// MulticastMAC returns the Ethernet address a multicast group maps to:
// 01:00:5e and the low 23 bits for IPv4 (RFC 1112), 33:33 and the low 32
// bits for IPv6 (RFC 2464).
func MulticastMAC(group netip.Addr) MAC {
	if group.Is4() {
		b := group.As4()
		return MAC{0x01, 0x00, 0x5e, b[1] & 0x7f, b[2], b[3]}
	}
	b := group.As16()
	return MAC{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// SolicitedNodeAddress returns the IPv6 solicited-node multicast address of
// a (ff02::1:ffXX:XXXX, RFC 4291 2.7.1).
func SolicitedNodeAddress(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// JoinGroup adds a member to the multicast group on n. The first member
// makes n accept datagrams to the group and tells each GroupObserver (IGMP,
// MLD), which reports the membership on the link. Each JoinGroup is undone
// by one LeaveGroup.
func (n *NIC) JoinGroup(group netip.Addr) error {
	group = group.WithZone("")
	if !group.IsMulticast() {
		return fmt.Errorf("%v is not a multicast address: %w", group, ErrInvalid)
	}
	n.groupMu.Lock()
	old := n.groupMap()
	next := make(map[netip.Addr]int, len(old)+1)
	for g, c := range old {
		next[g] = c
	}
	next[group]++
	first := next[group] == 1
	n.groups.Store(&next)
	n.groupMu.Unlock()
	if first {
		for _, o := range n.stack.observers() {
			if o, ok := o.(GroupObserver); ok {
				o.GroupJoined(n, group)
			}
		}
	}
	return nil
}

// LeaveGroup removes a member added by JoinGroup; when the last one leaves,
// each GroupObserver is told.
func (n *NIC) LeaveGroup(group netip.Addr) error {
	group = group.WithZone("")
	n.groupMu.Lock()
	old := n.groupMap()
	if old[group] == 0 {
		n.groupMu.Unlock()
		return fmt.Errorf("%s is not a member of %v: %w", n.name, group, ErrInvalid)
	}
	next := make(map[netip.Addr]int, len(old))
	for g, c := range old {
		next[g] = c
	}
	next[group]--
	last := next[group] == 0
	if last {
		delete(next, group)
	}
	n.groups.Store(&next)
	n.groupMu.Unlock()
	if last {
		for _, o := range n.stack.observers() {
			if o, ok := o.(GroupObserver); ok {
				o.GroupLeft(n, group)
			}
		}
	}
	return nil
}

// IsMember reports whether n has joined group. The all-hosts groups
// (224.0.0.1, ff02::1) are always joined.
func (n *NIC) IsMember(group netip.Addr) bool {
	if group == allHosts4 || group == allNodes6 {
		return true
	}
	return n.groupMap()[group.WithZone("")] > 0
}

// Groups returns the multicast groups n has joined, in no order.
func (n *NIC) Groups() []netip.Addr {
	m := n.groupMap()
	out := make([]netip.Addr, 0, len(m))
	for g := range m {
		out = append(out, g)
	}
	return out
}

func (n *NIC) groupMap() map[netip.Addr]int {
	if m := n.groups.Load(); m != nil {
		return *m
	}
	return nil
}

var (
	allHosts4 = netip.AddrFrom4([4]byte{224, 0, 0, 1})
	allNodes6 = netip.MustParseAddr("ff02::1")
)
