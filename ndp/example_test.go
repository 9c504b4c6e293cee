package ndp_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"

	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

// printLink is a link endpoint that prints the ND messages it is given.
type printLink struct{ mac stack.MAC }

func (l printLink) MTU() int                       { return 1500 }
func (l printLink) LinkAddress() stack.MAC         { return l.mac }
func (l printLink) Attach(stack.NetworkDispatcher) {}
func (l printLink) Close() error                   { return nil }
func (l printLink) WritePacket(dst stack.MAC, etherType uint16, p *stack.Packet) error {
	defer p.Release()
	b := p.Bytes()
	if etherType != stack.EtherTypeIPv6 || len(b) < 44 || b[6] != stack.ProtocolICMPv6 {
		fmt.Printf("to %v: %q\n", dst, b)
		return nil
	}
	src, dstIP := netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	m := ndp.Message(b[40:])
	switch m.Type() {
	case ndp.TypeNeighborSolicitation:
		fmt.Printf("%v > %v: who has %v\n", src, dstIP, m.Target())
	case ndp.TypeNeighborAdvertisement:
		fmt.Printf("%v > %v: %v is at %v\n", src, dstIP, m.Target(), m.NeighborAdvertisement().TargetLinkAddr)
	default:
		fmt.Printf("%v > %v: ICMPv6 type %d\n", src, dstIP, m.Type())
	}
	return nil
}

// miniIPv6 is the least IPv6 layer ndp needs: it prepends a header and
// hands inbound ICMPv6 to the registered handler. Package ipv6 is the real
// one.
type miniIPv6 struct{ s *stack.Stack }

func (miniIPv6) EtherType() uint16 { return stack.EtherTypeIPv6 }
func (ip miniIPv6) HandlePacket(p *stack.Packet) {
	b := p.Bytes()
	p.Src, p.Dst, p.TTL = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])), b[7]
	p.Pull(40)
	ip.s.ICMPv6Handler(p.Bytes()[0]).HandleICMPv6(p)
}
func (miniIPv6) WritePacket(r *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	n := p.Len()
	h := p.Push(40)
	clear(h)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(n))
	h[6], h[7] = params.Protocol, params.TTL
	s, d := r.LocalAddr.As16(), r.RemoteAddr.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv6, p)
}

func ExampleRegister() {
	s := stack.New(stack.Options{})
	defer s.Close()
	s.RegisterNetwork(miniIPv6{s})
	nd, err := ndp.Register(s, ndp.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nd.Close()
	nic, _ := s.AddNIC("eth0", printLink{stack.MAC{0x02, 0, 0, 0, 0, 0x02}})

	// Adding an address joins its solicited-node group and announces it.
	nic.AddAddress(netip.MustParsePrefix("fd00::2/64"))

	// Sending to an unknown neighbour queues the packet and solicits it.
	nic.WritePacket(netip.MustParseAddr("fd00::1"), stack.EtherTypeIPv6, stack.NewPacketFrom([]byte("hello")))

	// The advertisement arrives; the queued packet goes out.
	na := ndp.NeighborAdvertisement{Solicited: true, Override: true,
		Target: netip.MustParseAddr("fd00::1"), TargetLinkAddr: stack.MAC{0x02, 0, 0, 0, 0, 0x01}}
	b := make([]byte, 40+na.Len())
	b[0], b[6], b[7] = 0x60, 58, 255
	binary.BigEndian.PutUint16(b[4:], uint16(na.Len()))
	src, dst := netip.MustParseAddr("fd00::1").As16(), netip.MustParseAddr("fd00::2").As16()
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	na.Encode(b[40:])
	p := stack.NewPacketFrom(b)
	p.EtherType = stack.EtherTypeIPv6
	nic.DeliverNetworkPacket(p)

	ndp.FormatTable(os.Stdout, nd.Entries())
	// Output:
	// fd00::2 > ff02::1: fd00::2 is at 02:00:00:00:00:02
	// fd00::2 > ff02::1:ff00:1: who has fd00::1
	// to 02:00:00:00:00:01: "hello"
	// fd00::1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE
}

func ExampleProtocol_ProbeAndAdd() {
	s := stack.New(stack.Options{})
	defer s.Close()
	s.RegisterNetwork(miniIPv6{s})
	nd, _ := ndp.Register(s, ndp.Options{})
	defer nd.Close()
	nic, _ := s.AddNIC("eth0", printLink{stack.MAC{0x02, 0, 0, 0, 0, 0x02}})

	// Duplicate address detection for the link-local address, then add it
	// (one second of the stack's clock).
	err := nd.ProbeAndAdd(context.Background(), nic, ndp.LinkLocal(nic.LinkAddress()))
	fmt.Println(err, nic.Addresses())
	// Output:
	// :: > ff02::1:ff00:2: who has fe80::ff:fe00:2
	// fe80::ff:fe00:2 > ff02::1: fe80::ff:fe00:2 is at 02:00:00:00:00:02
	// <nil> [fe80::ff:fe00:2/64]
}

func ExampleProtocol_Autoconfigure() {
	s := stack.New(stack.Options{})
	defer s.Close()
	s.RegisterNetwork(miniIPv6{s})
	nd, _ := ndp.Register(s, ndp.Options{})
	defer nd.Close()
	nic, _ := s.AddNIC("eth0", printLink{stack.MAC{0x02, 0, 0, 0, 0, 0x02}})
	// DAD for the link-local address starts; when it passes the address is
	// added and router solicitations follow. Router advertisements then
	// add SLAAC addresses, default routes and DNS servers (DNSServers).
	nd.Autoconfigure(nic)
	// Output:
	// :: > ff02::1:ff00:2: who has fe80::ff:fe00:2
}
