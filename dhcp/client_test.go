package dhcp_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

var (
	serverAddr = netip.MustParseAddr("10.0.0.1")
	leaseAddr  = netip.MustParseAddr("10.0.0.50")
	dnsServer  = netip.MustParseAddr("10.0.0.53")
)

// bareStack is a stack with IPv4, ARP and UDP and one NIC that has no
// address, on dev. (Package host would add TCP, which these tests do not
// need, and insists on an address.)
func bareStack(t *testing.T, dev link.Device, arpOpts arp.Options) (*stack.Stack, *stack.NIC, *arp.Protocol) {
	t.Helper()
	s := stack.New(stack.Options{})
	if err := ipv4Register(s); err != nil {
		t.Fatal(err)
	}
	a, err := arp.Register(s, arpOpts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := udp.Register(s, udp.Options{}); err != nil {
		t.Fatal(err)
	}
	nic, err := s.AddNIC("eth0", link.NewEthernet(dev, randomMAC()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, nic, a
}

// seen is a message the fake server received, with its source.
type seen struct {
	from netip.AddrPort
	f    dhcp.Fields
}

// fakeServer is a minimal DHCP server on a host at 10.0.0.1: it offers
// offer, ACKs every REQUEST for it, and reports every message it receives.
type fakeServer struct {
	conn  *udp.Conn
	offer netip.Addr
	lease time.Duration
	msgs  chan seen
	wg    sync.WaitGroup
	// rogue, when valid, is the server identifier of a forged ACK (for
	// another address, via another router) sent just before each
	// renewal's real one.
	rogue netip.Addr
}

func startServer(t *testing.T, dev link.Device, offer netip.Addr, lease time.Duration) *fakeServer {
	t.Helper()
	s, nic, _ := bareStack(t, dev, arp.Options{})
	if err := nic.AddAddress(netip.PrefixFrom(serverAddr, 24)); err != nil {
		t.Fatal(err)
	}
	conn, err := udp.Listen(s, netip.MustParseAddrPort("0.0.0.0:67"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &fakeServer{conn: conn, offer: offer, lease: lease, msgs: make(chan seen, 64)}
	srv.conn.SetBroadcast(true)
	srv.wg.Add(1)
	go srv.serve()
	t.Cleanup(func() {
		conn.Close()
		srv.wg.Wait()
	})
	return srv
}

func (srv *fakeServer) serve() {
	defer srv.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := srv.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		m := dhcp.Message(buf[:n])
		if m.Validate() != nil || m.Op() != dhcp.OpRequest {
			continue
		}
		req := m.Fields()
		srv.msgs <- seen{from, req}
		rep := dhcp.Fields{
			Op: dhcp.OpReply, XID: req.XID, Flags: req.Flags, CHAddr: req.CHAddr, YIAddr: srv.offer,
			ServerID: serverAddr, SubnetMask: 24, Router: []netip.Addr{serverAddr}, DNS: []netip.Addr{dnsServer},
			LeaseTime: srv.lease,
		}
		switch req.MessageType {
		case dhcp.Discover:
			rep.MessageType = dhcp.Offer
		case dhcp.Request:
			rep.MessageType = dhcp.Ack
		default:
			continue
		}
		to := netip.MustParseAddrPort("255.255.255.255:68")
		if req.CIAddr.IsValid() && !req.CIAddr.IsUnspecified() {
			to = netip.AddrPortFrom(req.CIAddr, dhcp.ClientPort) // renewing: unicast
			if srv.rogue.IsValid() {
				forged := rep
				forged.ServerID, forged.YIAddr, forged.Router = srv.rogue, rogueLease, []netip.Addr{srv.rogue}
				srv.conn.WriteToUDPAddrPort(forged.Marshal(), to)
			}
		}
		srv.conn.WriteToUDPAddrPort(rep.Marshal(), to)
	}
}

// next returns the next message of type typ the server saw, skipping
// others.
func (srv *fakeServer) next(t *testing.T, typ dhcp.MessageType) seen {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-srv.msgs:
			if m.f.MessageType == typ {
				return m
			}
		case <-timeout:
			t.Fatalf("server saw no %v", typ)
		}
	}
}

// A full exchange over two stacks on a link.Pipe: discover, request, bind
// (address and default route configured), renew by unicast, release on
// Close (address and route removed).
func TestClientOverPipe(t *testing.T) {
	a, b := link.Pipe(1500)
	srv := startServer(t, b, leaseAddr, time.Hour)
	s, nic, _ := bareStack(t, a, arp.Options{})

	bound := make(chan dhcp.Lease, 8)
	unbound := make(chan dhcp.Lease, 8)
	c := dhcp.New(s, nic, dhcp.Options{
		Hostname:   "vm1",
		RenewAfter: 100 * time.Millisecond,
		OnBound:    func(l dhcp.Lease) { bound <- l },
		OnUnbound:  func(l dhcp.Lease) { unbound <- l },
	})
	c.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := c.WaitBound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := srv.next(t, dhcp.Discover)
	if d.from != netip.MustParseAddrPort("0.0.0.0:68") || d.f.Flags != dhcp.FlagBroadcast || d.f.Hostname != "vm1" || d.f.CHAddr != nic.LinkAddress() {
		t.Errorf("DISCOVER from %v flags %#x hostname %q chaddr %v", d.from, d.f.Flags, d.f.Hostname, d.f.CHAddr)
	}
	r := srv.next(t, dhcp.Request)
	if r.from != netip.MustParseAddrPort("0.0.0.0:68") || r.f.RequestedIP != leaseAddr || r.f.ServerID != serverAddr {
		t.Errorf("REQUEST from %v requested %v server id %v", r.from, r.f.RequestedIP, r.f.ServerID)
	}
	if l.Addr != netip.MustParsePrefix("10.0.0.50/24") || l.Router != serverAddr || len(l.DNS) != 1 || l.DNS[0] != dnsServer || l.Server != serverAddr {
		t.Errorf("lease %v", l)
	}
	if !nic.HasAddress(leaseAddr) {
		t.Errorf("NIC addresses %v, want %v", nic.Addresses(), leaseAddr)
	}
	rt, err := s.FindRoute(netip.MustParseAddr("192.0.2.1"), netip.Addr{})
	if err != nil || rt.NextHop != serverAddr || rt.LocalAddr != leaseAddr {
		t.Errorf("route off-link: %+v, %v", rt, err)
	}
	if got, ok := c.Lease(); !ok || got.Addr != l.Addr {
		t.Errorf("Lease() = %v, %v", got, ok)
	}

	// Renewal: a REQUEST unicast from the leased address, answered by
	// unicast, and the lease reported again.
	<-bound
	rn := srv.next(t, dhcp.Request)
	if rn.from != netip.AddrPortFrom(leaseAddr, 68) || rn.f.CIAddr != leaseAddr || rn.f.ServerID.IsValid() {
		t.Errorf("renewal from %v ciaddr %v server id %v", rn.from, rn.f.CIAddr, rn.f.ServerID)
	}
	select {
	case l2 := <-bound:
		if l2.Addr != l.Addr || !l2.Obtained.After(l.Obtained) {
			t.Errorf("renewed lease %v obtained %v (first %v)", l2, l2.Obtained, l.Obtained)
		}
	case <-ctx.Done():
		t.Fatal("renewal not bound")
	}

	// Close releases: DHCPRELEASE from the leased address, configuration gone.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	rel := srv.next(t, dhcp.Release)
	if rel.from != netip.AddrPortFrom(leaseAddr, 68) || rel.f.CIAddr != leaseAddr || rel.f.ServerID != serverAddr {
		t.Errorf("RELEASE from %v ciaddr %v server id %v", rel.from, rel.f.CIAddr, rel.f.ServerID)
	}
	if len(nic.Addresses()) != 0 {
		t.Errorf("addresses after release: %v", nic.Addresses())
	}
	for _, e := range s.Routes() {
		t.Errorf("route left after release: %v", e)
	}
	select {
	case u := <-unbound:
		if u.Addr != l.Addr {
			t.Errorf("OnUnbound %v", u)
		}
	default:
		t.Error("OnUnbound not called")
	}
	if _, ok := c.Lease(); ok || c.State() != dhcp.StateStopped {
		t.Errorf("after Close: lease held %v, state %v", ok, c.State())
	}
}

var rogueLease = netip.MustParseAddr("10.0.0.66")

// RFC 2131 4.4.5: while renewing, the client takes only the ACK of the
// server that gave the lease. Another server's ACK, with the right xid,
// arriving first, is counted (dhcp.rx.wrong_server) and ignored; the
// lease's server's ACK renews the lease.
func TestClientIgnoresAnotherServersRenewalACK(t *testing.T) {
	a, b := link.Pipe(1500)
	srv := startServer(t, b, leaseAddr, time.Hour)
	srv.rogue = netip.MustParseAddr("10.0.0.99")
	s, nic, _ := bareStack(t, a, arp.Options{})
	bound := make(chan dhcp.Lease, 8)
	c := dhcp.New(s, nic, dhcp.Options{RenewAfter: 100 * time.Millisecond, OnBound: func(l dhcp.Lease) { bound <- l }})
	c.Start()
	defer c.Close()
	for i := range 2 {
		select {
		case l := <-bound:
			if l.Addr.Addr() != leaseAddr || l.Server != serverAddr || l.Router != serverAddr {
				t.Fatalf("bind %d: lease %v, want %v from %v", i, l, leaseAddr, serverAddr)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("bind %d: none within 30s", i)
		}
	}
	if n := s.Counters().Value("dhcp.rx.wrong_server"); n == 0 {
		t.Error("dhcp.rx.wrong_server = 0 after a forged renewal ACK")
	}
	if nic.HasAddress(rogueLease) {
		t.Errorf("the forged lease's address was configured: %v", nic.Addresses())
	}
}

// The offered address is already in use on the link (the server's own):
// the real ARP probe finds it and the client declines it.
func TestClientDeclinesAddressInUse(t *testing.T) {
	a, b := link.Pipe(1500)
	srv := startServer(t, b, serverAddr, time.Hour) // offers its own address
	fast := arp.Options{ProbeWait: time.Millisecond, ProbeMin: 10 * time.Millisecond, ProbeMax: 20 * time.Millisecond, AnnounceWait: 20 * time.Millisecond}
	s, nic, ap := bareStack(t, a, fast)
	probed := make(chan error, 1)
	c := dhcp.New(s, nic, dhcp.Options{Probe: func(ctx context.Context, n *stack.NIC, addr netip.Addr) error {
		err := ap.Probe(ctx, n, addr)
		probed <- err
		return err
	}})
	c.Start()
	defer c.Close()
	select {
	case err := <-probed:
		if !errors.Is(err, stack.ErrAddressInUse) {
			t.Fatalf("probe of the server's address: %v, want address in use", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no probe")
	}
	dec := srv.next(t, dhcp.Decline)
	if dec.f.RequestedIP != serverAddr || dec.f.ServerID != serverAddr || dec.from != netip.MustParseAddrPort("0.0.0.0:68") {
		t.Errorf("DECLINE from %v requested %v server %v", dec.from, dec.f.RequestedIP, dec.f.ServerID)
	}
	if nic.HasAddress(serverAddr) || c.State() != dhcp.StateInit {
		t.Errorf("after decline: addresses %v, state %v", nic.Addresses(), c.State())
	}
}

// Finding for the lower layers: a plain udp.Conn on 0.0.0.0:68 can
// broadcast from a NIC that has no address yet (source 0.0.0.0), which is
// what a DHCP client on a single-NIC stack needs.
func TestUDPBroadcastWithoutAddress(t *testing.T) {
	a, b := link.Pipe(1500)
	srv := startServer(t, b, leaseAddr, time.Hour)
	s, _, _ := bareStack(t, a, arp.Options{})
	c, err := udp.Listen(s, netip.MustParseAddrPort("0.0.0.0:68"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetBroadcast(true)
	msg := dhcp.Fields{Op: dhcp.OpRequest, XID: 7, MessageType: dhcp.Discover, Flags: dhcp.FlagBroadcast}
	if _, err := c.WriteToUDPAddrPort(msg.Marshal(), netip.MustParseAddrPort("255.255.255.255:67")); err != nil {
		t.Fatal(err)
	}
	d := srv.next(t, dhcp.Discover)
	if d.from != netip.MustParseAddrPort("0.0.0.0:68") || d.f.XID != 7 {
		t.Errorf("server got xid %d from %v", d.f.XID, d.from)
	}
	// And the broadcast OFFER comes back to the address-less conn.
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if m := dhcp.Message(buf[:n]); m.Validate() != nil || m.MessageType() != dhcp.Offer {
		t.Errorf("got %d bytes, not an OFFER", n)
	}
}

// randomMAC returns a random locally administered unicast address.
func randomMAC() stack.MAC {
	var m stack.MAC
	for i := range m {
		m[i] = byte(rand.Uint32())
	}
	m[0] = m[0]&^1 | 2
	return m
}

func ipv4Register(s *stack.Stack) error {
	_, err := ipv4.Register(s, ipv4.Options{})
	return err
}
