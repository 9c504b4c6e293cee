package ipv6_test

import (
	"fmt"
	"net/netip"

	"github.com/tapstack/tapstack/ipv6"
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
	defer s.Close() // also closes the ipv6 Protocol (its loopback goroutine)

	ip, err := ipv6.Register(s, ipv6.Options{}) // hop limit 64, 60 s reassembly
	if err != nil {
		fmt.Println(err)
		return
	}
	nic, _ := s.AddNIC("eth0", nullLink{})
	_ = nic.AddAddress(netip.MustParsePrefix("fd00::2/64"))

	// Transports now send through the route; ipv6 prepends the header.
	r, _ := s.FindRoute(netip.MustParseAddr("fd00::1"), netip.Addr{})
	fmt.Printf("EtherType %#04x, IPv6 writer: %v, source %v, MTU %d, path MTU learned: %d\n",
		ip.EtherType(), s.IP(stack.EtherTypeIPv6) == stack.IPWriter(ip), r.LocalAddr, ip.RouteMTU(&r), ip.PathMTU(r.RemoteAddr))
	// Output: EtherType 0x86dd, IPv6 writer: true, source fd00::2, MTU 1500, path MTU learned: 0
}

func ExampleWalkChain() {
	// A packet with a destination options header holding an unknown
	// option of type 10xxxxxx (0x9e): the destination must answer a
	// parameter problem, code 2, pointing at the option (offset 42).
	b := make([]byte, ipv6.HeaderLen+8+8)
	f := ipv6.Fields{PayloadLength: 16, NextHeader: ipv6.ProtoDestOptions, HopLimit: 64,
		Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2")}
	f.Encode(b)
	copy(b[40:], []byte{17, 0, 0x9e, 4, 0, 0, 0, 0})
	r := ipv6.WalkChain(b, ipv6.Start(b), false)
	fmt.Println(r.Err, r.Code, r.Pointer)
	// Output: ipv6: parameter problem 2 42
}

func ExampleOptions_forwarding() {
	s := stack.New(stack.Options{})
	defer s.Close()
	// A router: packets not for us are forwarded; fragments for us are
	// reassembled within 1 MiB and 256 datagrams.
	ip, err := ipv6.Register(s, ipv6.Options{Forwarding: true, ReassemblyMemory: 1 << 20, ReassemblyDatagrams: 256})
	if err != nil {
		fmt.Println(err)
		return
	}
	lan, _ := s.AddNIC("lan", nullLink{})
	wan, _ := s.AddNIC("wan", nullLink{})
	_ = lan.AddAddress(netip.MustParsePrefix("fd00:1::1/64"))
	_ = wan.AddAddress(netip.MustParsePrefix("fd00::2/64"))
	_ = s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix("::/0"), Gateway: netip.MustParseAddr("fd00::1")})
	datagrams, bytes := ip.ReassemblyPending()
	fmt.Println(datagrams, bytes)
	// Output: 0 0
}

func ExampleProtocol_WriteWithHopByHop() {
	s := stack.New(stack.Options{})
	defer s.Close()
	ip, err := ipv6.Register(s, ipv6.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	nic, _ := s.AddNIC("eth0", nullLink{})
	_ = nic.AddAddress(netip.MustParsePrefix("fe80::2/64"))

	// A Router Alert option (RFC 2711, value 0: MLD) and a PadN of two
	// bytes: 8 bytes, Hdr Ext Len 0. The Next Header byte is filled in
	// from the params.
	hbh := []byte{0, 0, ipv6.OptionRouterAlert, 2, 0, 0, ipv6.OptionPadN, 0}
	fmt.Println(ipv6.CheckHopByHop(hbh), ipv6.CheckHopByHop(hbh[:6]))

	r := nic.LinkRoute(netip.MustParseAddr("fe80::2"), netip.MustParseAddr("ff02::16"))
	p := stack.NewPacket(stack.Headroom, 28) // an ICMPv6 message, checksum done by the caller
	err = ip.WriteWithHopByHop(&r, stack.NetworkParams{Protocol: stack.ProtocolICMPv6, TTL: 1}, hbh, p)
	fmt.Println(err, s.Counters().Value("ipv6.tx.hop_by_hop"))
	// Output:
	// <nil> ipv6: malformed hop-by-hop options header
	// <nil> 1
}
