package udp_test

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// sinkIP is an IP layer that releases what it is given, for send
// benchmarks.
type sinkIP struct{}

func (sinkIP) EtherType() uint16            { return stack.EtherTypeIPv4 }
func (sinkIP) HandlePacket(p *stack.Packet) { p.Release() }
func (sinkIP) WritePacket(_ *stack.Route, _ stack.NetworkParams, p *stack.Packet) error {
	p.Release()
	return nil
}

// sinkIP6 is sinkIP for IPv6.
type sinkIP6 struct{ sinkIP }

func (sinkIP6) EtherType() uint16 { return stack.EtherTypeIPv6 }

// sinkStack is a stack with 10.0.0.1/24 and fd00::1/64 whose IP layers
// drop what they are given.
func sinkStack(b *testing.B) *stack.Stack {
	s := stack.New(stack.Options{})
	if err := s.RegisterNetwork(sinkIP{}); err != nil {
		b.Fatal(err)
	}
	if err := s.RegisterNetwork(sinkIP6{}); err != nil {
		b.Fatal(err)
	}
	nic, err := s.AddNIC("eth0", dropLink(stack.MAC{}))
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{"10.0.0.1/24", "fd00::1/64"} {
		if err := nic.AddAddress(netip.MustParsePrefix(p)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := udp.Register(s, udp.Options{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkReceive is the inbound path of one 1000-byte datagram:
// HandlePacket (validate, checksum, demux, queue) and ReadFromUDPAddrPort
// (the one copy). Building the inbound packet is part of the loop.
func BenchmarkReceive(b *testing.B) {
	benchReceive(b, "0.0.0.0:53", "10.0.0.2:999", "10.0.0.1:53")
}

// BenchmarkReceiveIPv6 is BenchmarkReceive over IPv6, on a dual-stack
// socket.
func BenchmarkReceiveIPv6(b *testing.B) {
	benchReceive(b, "[::]:53", "[fd00::2]:999", "[fd00::1]:53")
}

func benchReceive(b *testing.B, laddr, from, to string) {
	s := sinkStack(b)
	c, err := udp.Listen(s, netip.MustParseAddrPort(laddr))
	if err != nil {
		b.Fatal(err)
	}
	u := s.Transport(stack.ProtocolUDP)
	src, dst := netip.MustParseAddrPort(from), netip.MustParseAddrPort(to)
	proto := datagram(nil, src, dst, make([]byte, 1000), -1)
	raw := append([]byte(nil), proto.Bytes()...)
	proto.Release()
	nic := s.NICs()[0]
	buf := make([]byte, 2048)
	b.SetBytes(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := stack.NewPacket(stack.Headroom, len(raw))
		copy(p.Bytes(), raw)
		p.Src, p.Dst, p.NIC = src.Addr(), dst.Addr(), nic
		if !u.HandlePacket(p) {
			b.Fatal("not handled")
		}
		if n, _, err := c.ReadFromUDPAddrPort(buf); err != nil || n != 1000 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkSend is the outbound path of one 1000-byte datagram through
// WriteToUDPAddrPort on an unconnected conn, to an IP layer that drops it.
func BenchmarkSend(b *testing.B) {
	benchSend(b, "0.0.0.0:0", "10.0.0.2:53")
}

// BenchmarkSendIPv6 is BenchmarkSend over IPv6 from a dual-stack socket.
func BenchmarkSendIPv6(b *testing.B) {
	benchSend(b, "[::]:0", "[fd00::2]:53")
}

func benchSend(b *testing.B, laddr, to string) {
	s := sinkStack(b)
	c, err := udp.Listen(s, netip.MustParseAddrPort(laddr))
	if err != nil {
		b.Fatal(err)
	}
	dst := netip.MustParseAddrPort(to)
	msg := make([]byte, 1000)
	b.SetBytes(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.WriteToUDPAddrPort(msg, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendConnected is Write on a connected conn (cached route).
func BenchmarkSendConnected(b *testing.B) {
	s := sinkStack(b)
	c, err := udp.Dial(b.Context(), s, netip.MustParseAddrPort("10.0.0.2:53"))
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 1000)
	b.SetBytes(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiveForwarded is BenchmarkReceive for a datagram of an
// accepted forwarded flow to an address that is not the stack's: the flow
// table lookup replaces the port demultiplexer.
func BenchmarkReceiveForwarded(b *testing.B) {
	s := sinkStack(b)
	accepted := make(chan *udp.Conn, 1)
	if _, err := udp.NewForwarder(s, udp.ForwarderOptions{}, func(r *udp.ForwarderRequest) {
		c, err := r.Accept()
		if err == nil {
			accepted <- c
		}
	}); err != nil {
		b.Fatal(err)
	}
	u := s.Transport(stack.ProtocolUDP)
	src, dst := netip.MustParseAddrPort("10.0.0.2:999"), netip.MustParseAddrPort("192.0.2.53:53")
	proto := datagram(nil, src, dst, make([]byte, 1000), -1)
	raw := append([]byte(nil), proto.Bytes()...)
	proto.Release()
	nic := s.NICs()[0]
	buf := make([]byte, 2048)
	deliver := func() {
		p := stack.NewPacket(stack.Headroom, len(raw))
		copy(p.Bytes(), raw)
		p.Src, p.Dst, p.NIC = src.Addr(), dst.Addr(), nic
		p.MarkNetworkHeader()
		if !u.HandlePacket(p) {
			b.Fatal("not handled")
		}
	}
	deliver() // the first datagram makes the flow
	c := <-accepted
	if _, err := c.Read(buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		deliver()
		if n, err := c.Read(buf); err != nil || n != 1000 {
			b.Fatal(n, err)
		}
	}
}
