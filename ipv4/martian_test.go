package ipv4

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// TestRFC1122MartiansSilentlyDiscarded checks RFC 1122 3.2.1.3 ("a host
// MUST silently discard an incoming datagram containing an IP source
// address that is invalid") and RFC 1812 5.3.7, with Linux's rules where
// the RFCs leave room (ip_route_input_slow, fib_validate_source): the
// datagram is neither delivered, nor answered, nor forwarded, and is
// counted; the addresses Linux accepts are delivered.
func TestRFC1122MartiansSilentlyDiscarded(t *testing.T) {
	a := netip.MustParseAddr
	bcast := a("255.255.255.255")
	tests := []struct {
		name     string
		src, dst netip.Addr
		linkDst  stack.MAC
		counter  string // "" when the datagram must be delivered
	}{
		{"loopback source", a("127.0.0.1"), ourAddr, ourMAC, "ipv4.rx.martian_source"},
		{"loopback source, other 127/8", a("127.9.8.7"), ourAddr, ourMAC, "ipv4.rx.martian_source"},
		{"loopback source to limited broadcast", a("127.0.0.1"), bcast, stack.BroadcastMAC, "ipv4.rx.martian_source"},
		{"loopback source to directed broadcast", a("127.0.0.1"), dirBcast, stack.BroadcastMAC, "ipv4.rx.martian_source"},
		{"this-network source 0.0.0.0 to us", a("0.0.0.0"), ourAddr, ourMAC, "ipv4.rx.martian_source"},
		{"this-network source in 0/8 to us", a("0.1.2.3"), ourAddr, ourMAC, "ipv4.rx.martian_source"},
		{"this-network source to directed broadcast", a("0.0.0.0"), dirBcast, stack.BroadcastMAC, "ipv4.rx.martian_source"},
		{"multicast source", a("224.0.0.1"), ourAddr, ourMAC, "ipv4.rx.martian_source"},
		{"multicast source, 239/8", a("239.255.255.250"), ourAddr, ourMAC, "ipv4.rx.martian_source"},
		{"limited broadcast source", bcast, ourAddr, ourMAC, "ipv4.rx.martian_source"},
		{"our directed broadcast as source", dirBcast, ourAddr, ourMAC, "ipv4.rx.martian_source"},
		{"our own address as source", ourAddr, ourAddr, ourMAC, "ipv4.rx.martian_source"},
		{"loopback destination", peerAddr, a("127.0.0.1"), ourMAC, "ipv4.rx.martian_destination"},
		{"this-network destination", peerAddr, a("0.0.0.0"), ourMAC, "ipv4.rx.martian_destination"},
		{"this-network destination in 0/8", peerAddr, a("0.0.0.2"), ourMAC, "ipv4.rx.martian_destination"},
		// What Linux accepts.
		{"DHCP client: 0.0.0.0 to limited broadcast", a("0.0.0.0"), bcast, stack.BroadcastMAC, ""},
		{"link-local source on a routable subnet (RFC 3927 3.3)", a("169.254.7.7"), ourAddr, ourMAC, ""},
		{"class E source (Linux since 2.6.25)", a("240.0.0.1"), ourAddr, ourMAC, ""},
		{"ordinary source", peerAddr, ourAddr, ourMAC, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, forwarding := range []bool{false, true} {
				e := newEnv(t, Options{Forwarding: forwarding})
				e.inject(ipPacket(Fields{Protocol: 17, Src: tc.src, Dst: tc.dst}, udpish("martian?")), tc.linkDst)
				got := len(e.udp.TakePackets())
				if tc.counter == "" {
					if got != 1 {
						t.Errorf("forwarding %v: %v -> %v not delivered (%d)", forwarding, tc.src, tc.dst, got)
					}
					continue
				}
				if got != 0 || e.count(tc.counter) != 1 {
					t.Errorf("forwarding %v: %v -> %v delivered %d times, %s = %d, want dropped and counted",
						forwarding, tc.src, tc.dst, got, tc.counter, e.count(tc.counter))
				}
				// An echo request is not answered either.
				e.inject(ipPacket(Fields{Protocol: 1, Src: tc.src, Dst: tc.dst}, icmpMsg(ICMPEcho, 0, EchoRest(7, 1), []byte("ping"))), tc.linkDst)
				if f := e.link.Take(); len(f) != 0 || e.count(tc.counter) != 2 || e.count("icmp.rx.echo_request") != 0 {
					t.Errorf("forwarding %v: echo from %v to %v: %d frames sent, %s = %d, echo requests seen %d",
						forwarding, tc.src, tc.dst, len(f), tc.counter, e.count(tc.counter), e.count("icmp.rx.echo_request"))
				}
				if e.count("ipv4.fwd.forwarded") != 0 {
					t.Errorf("forwarding %v: forwarded", forwarding)
				}
			}
		})
	}
}

// TestRFC1122MartianAnsweredViaDefaultRoute is the finding of issue 13:
// with a default route, an echo request from 127.0.0.1 was answered (to
// the router). It must not be.
func TestRFC1122MartianAnsweredViaDefaultRoute(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: peerAddr, NIC: e.nic}); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"127.0.0.1", "0.0.0.0", "0.3.3.3"} {
		e.inject(ipPacket(Fields{Protocol: 1, Src: netip.MustParseAddr(src), Dst: ourAddr}, icmpMsg(ICMPEcho, 0, EchoRest(1, 1), nil)), ourMAC)
		if f := e.link.Take(); len(f) != 0 {
			t.Errorf("echo from %s answered (%d frames)", src, len(f))
		}
	}
	if got := e.count("ipv4.rx.martian_source"); got != 3 {
		t.Errorf("ipv4.rx.martian_source = %d, want 3", got)
	}
}

// TestMartianOptionsNotAnswered: a martian with a malformed option list is
// dropped as a martian, never answered with a parameter problem (Linux
// routes, and so drops martians, before it parses options).
func TestMartianOptionsNotAnswered(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: peerAddr, NIC: e.nic}); err != nil {
		t.Fatal(err)
	}
	bad := []byte{OptionRecordRoute, 3, 1, 0} // pointer below 4
	e.inject(ipPacket(Fields{Protocol: 17, Src: netip.MustParseAddr("127.0.0.1"), Dst: ourAddr, Options: bad}, udpish("x")), ourMAC)
	if f := e.link.Take(); len(f) != 0 || e.count("ipv4.rx.bad_options") != 0 || e.count("ipv4.rx.martian_source") != 1 {
		t.Errorf("sent %d frames, bad_options %d, martian_source %d", len(f), e.count("ipv4.rx.bad_options"), e.count("ipv4.rx.martian_source"))
	}
}
