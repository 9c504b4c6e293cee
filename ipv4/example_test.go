package ipv4_test

import (
	"fmt"
	"net/netip"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/stack"
)

// nullLink is a link endpoint that drops what it is given.
type nullLink struct{}

func (nullLink) MTU() int                       { return 1500 }
func (nullLink) LinkAddress() stack.MAC         { return stack.MAC{2, 0, 0, 0, 0, 1} }
func (nullLink) Attach(stack.NetworkDispatcher) {}
func (nullLink) Close() error                   { return nil }
func (nullLink) WritePacket(_ stack.MAC, _ uint16, p *stack.Packet) error {
	p.Release()
	return nil
}

func ExampleRegister() {
	s := stack.New(stack.Options{})
	defer s.Close() // also closes the ipv4 Protocol (its loopback goroutine)

	ip, err := ipv4.Register(s, ipv4.Options{}) // TTL 64, Linux-like ICMP rate limit
	if err != nil {
		fmt.Println(err)
		return
	}
	nic, _ := s.AddNIC("eth0", nullLink{})
	_ = nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24"))

	// Transports now send through the route; ipv4 prepends the header.
	r, _ := s.FindRoute(netip.MustParseAddr("10.0.0.2"), netip.Addr{})
	fmt.Printf("EtherType %#04x, IP layer registered: %v, route to ourselves is local: %v\n",
		ip.EtherType(), s.IP(stack.EtherTypeIPv4) == stack.IPWriter(ip), r.Local)
	// Output: EtherType 0x0800, IP layer registered: true, route to ourselves is local: true
}

func ExampleValidateOptions() {
	// A record route option with a pointer below its minimum (4), after a
	// NOP: an ICMP parameter problem would point at octet 20+3.
	opts := []byte{ipv4.OptionNOP, ipv4.OptionRecordRoute, 7, 3, 0, 0, 0, 0}
	fmt.Println(ipv4.ValidateOptions(opts), ipv4.ValidateOptions([]byte{ipv4.OptionRouterAlert, 4, 0, 0}))
	// Output: 3 -1
}

func ExampleOptions_forwarding() {
	s := stack.New(stack.Options{})
	defer s.Close()
	// A router: packets not for us are forwarded; fragments for us are
	// reassembled within 2 MiB and 15 seconds.
	ip, err := ipv4.Register(s, ipv4.Options{Forwarding: true, ReassemblyMemory: 2 << 20, ReassemblyTimeout: 15e9})
	if err != nil {
		fmt.Println(err)
		return
	}
	lan, _ := s.AddNIC("lan", nullLink{})
	wan, _ := s.AddNIC("wan", nullLink{})
	_ = lan.AddAddress(netip.MustParsePrefix("192.168.1.1/24"))
	_ = wan.AddAddress(netip.MustParsePrefix("10.0.0.2/24"))
	_ = s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.1")})
	datagrams, bytes := ip.ReassemblyPending()
	fmt.Println(datagrams, bytes)
	// Output: 0 0
}

// The accept-any-destination mode for transparent proxies: packets to
// addresses that are not the stack's are delivered to the local
// transports (whose forwarders take them), and pings to 192.0.2.0/24 are
// answered from the address they were sent to.
func ExampleProtocol_SetAcceptAnyDestination() {
	s := stack.New(stack.Options{})
	defer s.Close()
	ip, err := ipv4.Register(s, ipv4.Options{})
	if err != nil {
		panic(err)
	}
	ip.SetAcceptAnyDestination(true)
	proxied := netip.MustParsePrefix("192.0.2.0/24")
	ip.SetForwardedEcho(func(_, dst netip.Addr) bool { return proxied.Contains(dst) })
	fmt.Println(ip.AcceptsAnyDestination())
	// Output: true
}
