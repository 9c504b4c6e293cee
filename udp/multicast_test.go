package udp_test

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// TestMulticastOverRealIPv4 is the bug of issue 14: a conn on a group's
// port receives what a peer sends to the group once it joined, through the
// real ipv4 layer. Two conns bound to the group and one to the wildcard on
// the same port each get a copy (SO_REUSEADDR-style sharing for multicast);
// a group nobody joined is dropped as ipv4.rx.not_member; after Close the
// NIC is no longer a member.
func TestMulticastOverRealIPv4(t *testing.T) {
	a, b := realPair(t)
	group := netip.MustParseAddr("239.1.2.3")
	g1 := mustListen(t, b, "239.1.2.3:5000")
	g2 := mustListen(t, b, "239.1.2.3:5000")
	wild := mustListen(t, b, "0.0.0.0:5000")
	if err := g1.JoinGroup(nil, group); err != nil {
		t.Fatal(err)
	}
	bnic := b.NICs()[0]
	if !bnic.IsMember(group) {
		t.Fatal("JoinGroup did not make the NIC a member")
	}

	snd := mustListen(t, a, "0.0.0.0:0")
	snd.SetMulticastInterface(a.NICs()[0]) // no route to 239/8 on a: IP_MULTICAST_IF
	deadline := time.Now().Add(guard)      // failure guard only
	for _, c := range []*udp.Conn{g1, g2, wild} {
		c.SetReadDeadline(deadline)
	}
	// First to a group nobody joined, then to the joined one: only the
	// second arrives.
	if _, err := snd.WriteToUDPAddrPort([]byte("nobody"), netip.MustParseAddrPort("239.9.9.9:5000")); err != nil {
		t.Fatal(err)
	}
	if _, err := snd.WriteToUDPAddrPort([]byte("hello group"), netip.AddrPortFrom(group, 5000)); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*udp.Conn{g1, g2, wild} {
		buf := make([]byte, 64)
		n, m, err := c.ReadMsg(buf)
		if err != nil || string(buf[:n]) != "hello group" || m.To != netip.AddrPortFrom(group, 5000) || !m.Group || m.From.Addr() != netip.MustParseAddr("10.0.0.1") {
			t.Errorf("conn %d: read %q %+v, %v", i, buf[:n], m, err)
		}
	}
	if n := b.Counters().Value("ipv4.rx.not_member"); n != 1 {
		t.Errorf("ipv4.rx.not_member = %d, want 1", n)
	}
	g1.Close()
	if bnic.IsMember(group) {
		t.Error("Close did not leave the group")
	}
}

// recIP is an IPv4 writer that records what it is asked to send.
type recIP struct {
	mu     sync.Mutex
	sends  []recSend
	failed bool
}

type recSend struct {
	route  stack.Route
	params stack.NetworkParams
}

func (r *recIP) EtherType() uint16            { return stack.EtherTypeIPv4 }
func (r *recIP) HandlePacket(p *stack.Packet) { p.Release() }
func (r *recIP) WritePacket(rt *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	r.mu.Lock()
	r.sends = append(r.sends, recSend{*rt, params})
	r.mu.Unlock()
	p.Release()
	return nil
}

func (r *recIP) take() []recSend {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sends
	r.sends = nil
	return s
}

// recHost is a stack with two NICs (10.0.0.1/24 on eth0, 10.0.9.1/24 on
// eth1) whose IP layer only records sends.
func recHost(t *testing.T) (*stack.Stack, *recIP, []*stack.NIC) {
	t.Helper()
	s := stack.New(stack.Options{})
	t.Cleanup(func() { s.Close() })
	ip := &recIP{}
	if err := s.RegisterNetwork(ip); err != nil {
		t.Fatal(err)
	}
	var nics []*stack.NIC
	for i, p := range []string{"10.0.0.1/24", "10.0.9.1/24"} {
		nic, err := s.AddNIC(fmt.Sprintf("eth%d", i), dropLink(stack.MAC{2, 0, 0, 0, 1, byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		if err := nic.AddAddress(netip.MustParsePrefix(p)); err != nil {
			t.Fatal(err)
		}
		nics = append(nics, nic)
	}
	if err := s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.254")}); err != nil {
		t.Fatal(err)
	}
	if _, err := udp.Register(s, udp.Options{}); err != nil {
		t.Fatal(err)
	}
	return s, ip, nics
}

// TestMulticastSendLinux checks the sending side against Linux's socket
// defaults: IP_MULTICAST_TTL 1 (unicast keeps the IP layer's default),
// settable 1-255; the group is the next hop even with a default gateway;
// IP_MULTICAST_IF picks the interface; IP_MULTICAST_LOOP (off by default
// here) loops a copy back only when the interface joined the group.
func TestMulticastSendLinux(t *testing.T) {
	s, ip, nics := recHost(t)
	c := mustListen(t, s, "0.0.0.0:0")
	group := netip.MustParseAddrPort("239.1.2.3:5000")
	send := func(to netip.AddrPort) []recSend {
		t.Helper()
		if _, err := c.WriteToUDPAddrPort([]byte("x"), to); err != nil {
			t.Fatal(err)
		}
		return ip.take()
	}

	got := send(group)
	if len(got) != 1 || got[0].params.TTL != udp.DefaultMulticastTTL || got[0].route.NextHop != group.Addr() || got[0].route.NIC != nics[0] {
		t.Fatalf("default multicast send: %+v", got)
	}
	if got := send(netip.MustParseAddrPort("10.0.0.7:5000")); len(got) != 1 || got[0].params.TTL != 0 {
		t.Errorf("unicast send has TTL %d, want 0 (the IP default)", got[0].params.TTL)
	}
	if err := c.SetMulticastTTL(0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetMulticastTTL(0) = %v, want EINVAL", err)
	}
	if err := c.SetMulticastTTL(32); err != nil {
		t.Fatal(err)
	}
	if got := send(group); got[0].params.TTL != 32 {
		t.Errorf("TTL %d after SetMulticastTTL(32)", got[0].params.TTL)
	}

	c.SetMulticastInterface(nics[1])
	if got := send(group); got[0].route.NIC != nics[1] || got[0].route.LocalAddr != netip.MustParseAddr("10.0.9.1") {
		t.Errorf("IP_MULTICAST_IF: sent out of %v from %v", got[0].route.NIC.Name(), got[0].route.LocalAddr)
	}
	c.SetMulticastInterface(nil)

	// Loopback: not by default, not when the NIC is no member, and a
	// second, Local copy when asked and a member.
	if err := c.JoinGroup(nics[0], group.Addr()); err != nil {
		t.Fatal(err)
	}
	if got := send(group); len(got) != 1 {
		t.Errorf("loopback off: %d sends, want 1", len(got))
	}
	c.SetMulticastLoopback(true)
	got = send(group)
	if len(got) != 2 || !got[0].route.Local || got[1].route.Local {
		t.Errorf("loopback on: %+v, want a Local copy then the wire", got)
	}
	if err := c.LeaveGroup(nil, group.Addr()); err != nil {
		t.Fatal(err)
	}
	if got := send(group); len(got) != 1 {
		t.Errorf("loopback on, not a member: %d sends, want 1", len(got))
	}
}

// TestJoinGroupLinuxErrors checks IP_ADD_MEMBERSHIP and IP_DROP_MEMBERSHIP
// as Linux answers them: EINVAL for a unicast group, EADDRINUSE for a
// second join of the same group on the same interface, ENOBUFS past
// IP_MAX_MEMBERSHIPS (20), EADDRNOTAVAIL for leaving a group not joined;
// and the NIC stays a member while another conn still holds the group.
func TestJoinGroupLinuxErrors(t *testing.T) {
	s, _, nics := recHost(t)
	c := mustListen(t, s, "0.0.0.0:5000")
	d := mustListen(t, s, "0.0.0.0:5001")
	g := netip.MustParseAddr("239.1.2.3")
	if err := c.JoinGroup(nil, netip.MustParseAddr("10.0.0.9")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("join unicast: %v", err)
	}
	if err := c.JoinGroup(nics[0], g); err != nil {
		t.Fatal(err)
	}
	if err := c.JoinGroup(nics[0], g); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second join: %v", err)
	}
	if err := c.JoinGroup(nics[1], g); err != nil {
		t.Errorf("join on the other NIC: %v", err)
	}
	for i := 2; i < udp.MaxMemberships; i++ {
		if err := c.JoinGroup(nics[0], netip.AddrFrom4([4]byte{239, 0, 0, byte(i)})); err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
	}
	if err := c.JoinGroup(nics[0], netip.MustParseAddr("239.0.1.0")); !errors.Is(err, syscall.ENOBUFS) {
		t.Errorf("join 21: %v", err)
	}
	if len(c.Groups()) != udp.MaxMemberships {
		t.Errorf("%d groups", len(c.Groups()))
	}
	if err := d.LeaveGroup(nil, g); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("leave not joined: %v", err)
	}
	if err := d.JoinGroup(nics[0], g); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !nics[0].IsMember(g) || nics[1].IsMember(g) || nics[0].IsMember(netip.MustParseAddr("239.0.0.2")) {
		t.Errorf("after Close: eth0 %v (want true), eth1 %v, eth0 239.0.0.2 %v (want false)", nics[0].IsMember(g), nics[1].IsMember(g), nics[0].IsMember(netip.MustParseAddr("239.0.0.2")))
	}
	if err := c.JoinGroup(nics[0], g); err == nil {
		t.Errorf("join after Close: %v", err)
	}
	d.Close()
	if nics[0].IsMember(g) {
		t.Error("last member closed, NIC still a member")
	}
}

// TestBindMulticastSharing checks which binds may share a port: a group
// may be bound many times and beside the wildcard; unicast rules stay.
func TestBindMulticastSharing(t *testing.T) {
	tests := []struct {
		first, next string
		ok          bool
	}{
		{"239.1.2.3:5353", "239.1.2.3:5353", true},
		{"0.0.0.0:5353", "224.0.0.251:5353", true},
		{"224.0.0.251:5353", "0.0.0.0:5353", true},
		{"239.1.2.3:5353", "239.1.2.4:5353", true},
		{"0.0.0.0:5353", "0.0.0.0:5353", false},
		{"10.0.0.1:5353", "10.0.0.1:5353", false},
	}
	for _, tt := range tests {
		t.Run(tt.first+"+"+tt.next, func(t *testing.T) {
			s, _, _ := recHost(t)
			mustListen(t, s, tt.first)
			c, err := udp.Listen(s, netip.MustParseAddrPort(tt.next))
			if (err == nil) != tt.ok {
				t.Fatalf("second Listen: %v, want ok=%v", err, tt.ok)
			}
			if err == nil {
				c.Close()
			}
		})
	}
}

// TestMulticastLoopbackOverRealIPv4 checks IP_MULTICAST_LOOP through the
// real ipv4 layer: with loopback on, a datagram to a group the sending
// interface joined reaches the host's own member as well.
func TestMulticastLoopbackOverRealIPv4(t *testing.T) {
	a, _ := realPair(t)
	group := netip.MustParseAddr("239.4.4.4")
	member := mustListen(t, a, "0.0.0.0:6000")
	if err := member.JoinGroup(nil, group); err != nil {
		t.Fatal(err)
	}
	snd := mustListen(t, a, "0.0.0.0:0")
	snd.SetMulticastInterface(a.NICs()[0])
	snd.SetMulticastLoopback(true)
	if _, err := snd.WriteToUDPAddrPort([]byte("to myself"), netip.AddrPortFrom(group, 6000)); err != nil {
		t.Fatal(err)
	}
	member.SetReadDeadline(time.Now().Add(guard)) // failure guard only
	buf := make([]byte, 64)
	n, m, err := member.ReadMsg(buf)
	if err != nil || string(buf[:n]) != "to myself" || m.From != netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), snd.LocalAddrPort().Port()) || !m.Group {
		t.Fatalf("read %q %+v, %v", buf[:n], m, err)
	}
}
