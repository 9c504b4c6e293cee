package server_test

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/dhcp/server"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

var (
	gw      = netip.MustParseAddr("10.0.2.2")
	dnsAddr = netip.MustParseAddr("10.0.2.3")
	slirp   = server.Config{
		Subnet:     netip.MustParsePrefix("10.0.2.0/24"),
		Router:     gw,
		DNS:        []netip.Addr{dnsAddr},
		RangeStart: netip.MustParseAddr("10.0.2.15"),
	}
)

// gateway is a host at 10.0.2.2/24 (and .3) on dev running a DHCP server.
func gateway(t *testing.T, dev link.Device, cfg server.Config) (*host.Host, *server.Server) {
	t.Helper()
	h, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{
		Device: dev, Addr: netip.PrefixFrom(gw, 24), Addrs: []netip.Prefix{netip.PrefixFrom(dnsAddr, 24)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s := h.Stack()
	srv, err := server.New(s, s.NICs()[0], cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return h, srv
}

// guest is a bare stack (IPv4, ARP, UDP, no address) on dev.
func guest(t *testing.T, dev link.Device, mac stack.MAC) (*stack.Stack, *stack.NIC) {
	t.Helper()
	s := stack.New(stack.Options{})
	if _, err := ipv4.Register(s, ipv4.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := arp.Register(s, arp.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := udp.Register(s, udp.Options{}); err != nil {
		t.Fatal(err)
	}
	nic, err := s.AddNIC("eth0", link.NewEthernet(dev, mac))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, nic
}

// Our own DHCP client gets slirp's first address, the router and the DNS
// server from the server over a pipe, renews the same lease, and the
// lease table shows it; a RELEASE on stop is seen by the server.
func TestClientGetsLeaseOverPipe(t *testing.T) {
	a, b := link.Pipe(1500)
	_, srv := gateway(t, a, slirp)
	mac := stack.MAC{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	gs, gnic := guest(t, b, mac)
	renewed := make(chan dhcp.Lease, 4)
	c := dhcp.New(gs, gnic, dhcp.Options{Hostname: "vm1", RenewAfter: 50 * time.Millisecond, OnBound: func(l dhcp.Lease) {
		select {
		case renewed <- l:
		default:
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	l, err := c.WaitBound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l.Addr != netip.MustParsePrefix("10.0.2.15/24") || l.Router != gw || len(l.DNS) != 1 || l.DNS[0] != dnsAddr || l.Server != gw || l.LeaseTime != time.Hour {
		t.Fatalf("lease %v", l)
	}
	for range 3 { // the first bind and two renewals
		select {
		case l2 := <-renewed:
			if l2.Addr != l.Addr {
				t.Fatalf("renewal moved the lease from %v to %v", l.Addr, l2.Addr)
			}
		case <-ctx.Done():
			t.Fatal("no renewal")
		}
	}
	ls := srv.Leases()
	if len(ls) != 1 || ls[0].Addr != l.Addr.Addr() || ls[0].State != server.Bound || ls[0].MAC != mac || ls[0].Hostname != "vm1" {
		t.Fatalf("lease table %+v", ls)
	}
	var buf bytes.Buffer
	server.FormatLeases(&buf, ls, time.Now())
	if !strings.Contains(buf.String(), "10.0.2.15  bound  52:54:00:12:34:56  vm1") {
		t.Fatalf("status table:\n%s", buf.String())
	}
	buf.Reset()
	if err := srv.WriteLeases(&buf); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.HasPrefix(s, "\n# dhcp leases (server on 10.0.2.0/24)\nADDRESS") || !strings.Contains(s, "10.0.2.15  bound  52:54:00:12:34:56  vm1") {
		t.Fatalf("status section:\n%s", s)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The client's RELEASE reached the server; the stop is synchronous on
	// the client side only, so poll with a bounded deadline.
	deadline := time.Now().Add(10 * time.Second)
	for srv.Leases()[0].State != server.Expired {
		if time.Now().After(deadline) {
			t.Fatalf("lease after RELEASE: %+v", srv.Leases())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Start refuses a NIC that does not own the server identifier, with a
// line that says what to do.
func TestStartNeedsServerAddress(t *testing.T) {
	a, _ := link.Pipe(1500)
	h, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{Device: a, Addr: netip.MustParsePrefix("10.0.2.9/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv, err := server.New(h.Stack(), h.Stack().NICs()[0], slirp)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err == nil || !strings.Contains(err.Error(), "add it to the NIC") {
		t.Fatalf("Start: %v", err)
	}
}

// The runner counts what the core drops as dhcpd.rx.<reason>.
func TestServerCountsDrops(t *testing.T) {
	a, b := link.Pipe(1500)
	gwHost, _ := gateway(t, a, slirp)
	g, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{Device: b, Addr: netip.MustParsePrefix("10.0.2.200/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c, err := udp.Listen(g.Stack(), netip.MustParseAddrPort("10.0.2.200:68"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := netip.MustParseAddrPort("10.0.2.2:67")
	c.WriteToUDPAddrPort([]byte("not dhcp"), to)
	c.WriteToUDPAddrPort(dhcp.Fields{Op: dhcp.OpReply, MessageType: dhcp.Offer}.Marshal(), to)
	counters := gwHost.Stack().Counters()
	deadline := time.Now().Add(10 * time.Second)
	for counters.Value("dhcpd.rx.malformed") != 1 || counters.Value("dhcpd.rx.not_request") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("malformed %d not_request %d, want 1 and 1", counters.Value("dhcpd.rx.malformed"), counters.Value("dhcpd.rx.not_request"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := counters.Value("dhcpd.tx.replies"); n != 0 {
		t.Fatalf("%d replies to bad input", n)
	}
}
