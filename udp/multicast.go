package udp

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

// MaxMemberships bounds the groups one Conn may join, Linux's
// IP_MAX_MEMBERSHIPS (net.ipv4.igmp_max_memberships) default.
const MaxMemberships = 20

// DefaultMulticastTTL is the TTL (IPv6: hop limit) of datagrams sent to a
// multicast group, Linux's IP_MULTICAST_TTL default: the link only.
const DefaultMulticastTTL = 1

// Errors of the multicast calls, wrapped in a *net.OpError.
var (
	errNotMulticast    = stack.NewError("invalid argument: not a multicast group address", syscall.EINVAL)
	errAlreadyMember   = stack.NewError("address already in use: the conn already joined this group on this interface", syscall.EADDRINUSE)
	errNotMember       = stack.NewError("cannot assign requested address: the conn has not joined this group", syscall.EADDRNOTAVAIL)
	errTooManyGroups   = stack.NewError("no buffer space available: a conn joins at most 20 groups (IP_MAX_MEMBERSHIPS)", syscall.ENOBUFS)
	errNoInterface     = stack.NewError("no such device: the stack has no interface to join the group on", syscall.ENODEV)
	errBadMulticastTTL = stack.NewError("invalid argument: the multicast TTL is 1 to 255", syscall.EINVAL)
)

// membership is one group a Conn joined on one NIC.
type membership struct {
	nic   *stack.NIC
	group netip.Addr
}

// multicast is a Conn's multicast state: its memberships (undone on
// Close), and how it sends to groups.
type multicast struct {
	mu     sync.Mutex
	groups []membership // at most MaxMemberships

	ttl  atomic.Uint32 // 0: DefaultMulticastTTL
	loop atomic.Bool
	ifi  atomic.Pointer[stack.NIC]
}

// JoinGroup joins the multicast group on nic for c, like
// golang.org/x/net/ipv4.PacketConn.JoinGroup (IP_ADD_MEMBERSHIP): the NIC
// then accepts datagrams to the group, and IGMP or MLD, when registered,
// report the membership so snooping bridges and routers send them to us.
// A nil nic means the interface of the route to the group (the first
// interface when there is none). To receive, c must be bound to the
// group's port on the wildcard or the group address; several conns may
// bind the same group and port, and each gets a copy. A conn joins at most
// MaxMemberships groups; Close leaves them.
func (c *Conn) JoinGroup(nic *stack.NIC, group netip.Addr) error {
	group = group.Unmap().WithZone("")
	if !group.IsMulticast() {
		return c.opError("join", netip.AddrPortFrom(group, 0), errNotMulticast)
	}
	if nic == nil {
		if nic = c.groupNIC(group); nic == nil {
			return c.opError("join", netip.AddrPortFrom(group, 0), errNoInterface)
		}
	}
	m := &c.mc
	m.mu.Lock()
	defer m.mu.Unlock()
	if isClosed(c.done) {
		return c.opError("join", netip.AddrPortFrom(group, 0), errClosed)
	}
	for _, g := range m.groups {
		if g.nic == nic && g.group == group {
			return c.opError("join", netip.AddrPortFrom(group, 0), errAlreadyMember)
		}
	}
	if len(m.groups) >= MaxMemberships {
		return c.opError("join", netip.AddrPortFrom(group, 0), errTooManyGroups)
	}
	if err := nic.JoinGroup(group); err != nil {
		return c.opError("join", netip.AddrPortFrom(group, 0), err)
	}
	m.groups = append(m.groups, membership{nic, group})
	return nil
}

// LeaveGroup undoes JoinGroup (IP_DROP_MEMBERSHIP); a nil nic leaves the
// group on whichever interface c joined it. When c was the group's last
// member on the NIC, IGMP or MLD report the leave.
func (c *Conn) LeaveGroup(nic *stack.NIC, group netip.Addr) error {
	group = group.Unmap().WithZone("")
	m := &c.mc
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, g := range m.groups {
		if g.group == group && (nic == nil || g.nic == nic) {
			m.groups = append(m.groups[:i], m.groups[i+1:]...)
			if err := g.nic.LeaveGroup(group); err != nil {
				return c.opError("leave", netip.AddrPortFrom(group, 0), err)
			}
			return nil
		}
	}
	return c.opError("leave", netip.AddrPortFrom(group, 0), errNotMember)
}

// Groups returns the groups c has joined, in the order it joined them.
func (c *Conn) Groups() []netip.Addr {
	c.mc.mu.Lock()
	defer c.mc.mu.Unlock()
	out := make([]netip.Addr, len(c.mc.groups))
	for i, g := range c.mc.groups {
		out[i] = g.group
	}
	return out
}

// leaveGroups leaves every group c joined; Close calls it.
func (c *Conn) leaveGroups() {
	m := &c.mc
	m.mu.Lock()
	groups := m.groups
	m.groups = nil
	m.mu.Unlock()
	for _, g := range groups {
		g.nic.LeaveGroup(g.group)
	}
}

// groupNIC is the interface a nil-interface JoinGroup uses: the one the
// route to the group leaves by, else the first.
func (c *Conn) groupNIC(group netip.Addr) *stack.NIC {
	if r, err := c.u.s.FindRoute(group, netip.Addr{}); err == nil && r.NIC != nil {
		return r.NIC
	}
	if nics := c.u.s.NICs(); len(nics) > 0 {
		return nics[0]
	}
	return nil
}

// SetMulticastTTL sets the TTL (IPv6: hop limit) of datagrams c sends to
// multicast groups, IP_MULTICAST_TTL; the default is 1, the link only.
func (c *Conn) SetMulticastTTL(ttl int) error {
	if ttl < 1 || ttl > 255 {
		return c.opError("set", c.remote, errBadMulticastTTL)
	}
	c.mc.ttl.Store(uint32(ttl))
	return nil
}

// MulticastTTL returns the TTL of datagrams c sends to multicast groups.
func (c *Conn) MulticastTTL() int {
	if t := c.mc.ttl.Load(); t != 0 {
		return int(t)
	}
	return DefaultMulticastTTL
}

// SetMulticastLoopback makes datagrams c sends to a group that the
// outgoing interface has joined also arrive at the host's own members
// (IP_MULTICAST_LOOP). The default is off: unlike Linux, whose default is
// on, tapstack does not hear its own multicast unless asked.
func (c *Conn) SetMulticastLoopback(on bool) { c.mc.loop.Store(on) }

// SetMulticastInterface makes c send datagrams to multicast groups out of
// nic whatever the route table says (IP_MULTICAST_IF); nil goes back to
// the route table.
func (c *Conn) SetMulticastInterface(nic *stack.NIC) { c.mc.ifi.Store(nic) }

// findRoute is Stack.FindRoute, except that a multicast destination leaves
// by the interface SetMulticastInterface chose, from src or that
// interface's address of the group's family.
func (c *Conn) findRoute(dst, src netip.Addr) (stack.Route, error) {
	nic := c.mc.ifi.Load()
	if nic == nil || !dst.IsMulticast() {
		return c.u.s.FindRoute(dst, src)
	}
	if !src.IsValid() {
		for _, p := range nic.Addresses() {
			if p.Addr().Is4() == dst.Is4() {
				src = p.Addr()
				break
			}
		}
		if !src.IsValid() {
			return stack.Route{}, stack.ErrAddressNotLocal
		}
	}
	return nic.LinkRoute(src, dst), nil
}

// multicastParams returns the network parameters of a datagram along r:
// multicast groups get the multicast TTL.
func (c *Conn) multicastParams(r *stack.Route) stack.NetworkParams {
	params := stack.NetworkParams{Protocol: stack.ProtocolUDP}
	if r.RemoteAddr.IsMulticast() {
		params.TTL = uint8(c.MulticastTTL())
	}
	return params
}

// loopMulticast sends a copy of p (a whole datagram along r) to the host's
// own members of r's group when c asked for multicast loopback and the
// outgoing interface joined the group. It does not take ownership of p.
func (c *Conn) loopMulticast(r *stack.Route, params stack.NetworkParams, p *stack.Packet) {
	if !c.mc.loop.Load() || !r.RemoteAddr.IsMulticast() || r.Local || r.NIC == nil || !r.NIC.IsMember(r.RemoteAddr) {
		return
	}
	lr := *r
	lr.Local = true
	lr.WritePacket(params, p.Clone())
}

// bindConflict reports whether an endpoint bound to a may not share a port
// with one bound to b: the same address, or either is the wildcard. A
// multicast group never conflicts (SO_REUSEADDR-style): several
// endpoints, and a wildcard one, may listen on the same group and port,
// and each receives a copy of every datagram to it.
func bindConflict(a, b netip.Addr) bool {
	if a.IsMulticast() || b.IsMulticast() {
		return false
	}
	return a == b || a.IsUnspecified() || b.IsUnspecified()
}
