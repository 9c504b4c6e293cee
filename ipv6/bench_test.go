package ipv6

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

// BenchmarkWritePacket sends a TCP-size segment (20-byte header, 1440 bytes
// of data): header pushed into the headroom, handed to the link.
func BenchmarkWritePacket(b *testing.B) {
	e := newEnv(b, Options{})
	e.link.SetDiscard(true)
	r, err := e.s.FindRoute(peerAddr, netip.Addr{})
	if err != nil {
		b.Fatal(err)
	}
	params := stack.NetworkParams{Protocol: stack.ProtocolTCP}
	b.ReportAllocs()
	b.SetBytes(1460)
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, 1460)
		if err := e.pr.WritePacket(&r, params, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleDeliver receives a TCP-size segment addressed to us and
// delivers it to the transport.
func BenchmarkHandleDeliver(b *testing.B) {
	e := newEnv(b, Options{})
	tcp := stacktest.NewTransport(stack.ProtocolTCP)
	tcp.SetDiscard(true)
	if err := e.s.RegisterTransport(tcp); err != nil {
		b.Fatal(err)
	}
	req := ipPacket(Fields{NextHeader: stack.ProtocolTCP, Src: peerAddr, Dst: ourAddr}, make([]byte, 1460))
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, len(req))
		copy(p.Bytes(), req)
		p.EtherType = stack.EtherTypeIPv6
		e.nic.DeliverNetworkPacket(p)
	}
	if e.count("ipv6.rx.delivered") == 0 {
		b.Fatal("nothing delivered")
	}
}

// BenchmarkHandleEcho answers a 56-byte ping in place.
func BenchmarkHandleEcho(b *testing.B) {
	e := newEnv(b, Options{})
	e.link.SetDiscard(true)
	req := icmpPacket(peerAddr, ourAddr, ICMPEchoRequest, 0, EchoRest(1, 1), make([]byte, 56))
	b.ReportAllocs()
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, len(req))
		copy(p.Bytes(), req)
		p.EtherType = stack.EtherTypeIPv6
		e.nic.DeliverNetworkPacket(p)
	}
	if e.count("icmpv6.tx.echo_reply") == 0 {
		b.Fatal("no replies")
	}
}

// BenchmarkForward forwards a TCP-size packet between two NICs.
func BenchmarkForward(b *testing.B) {
	e := newEnv(b, Options{Forwarding: true})
	e.link.SetDiscard(true)
	nic2, err := e.s.AddNIC("eth1", discardLink(1500))
	if err != nil {
		b.Fatal(err)
	}
	if err := nic2.AddAddress(lan2Us); err != nil {
		b.Fatal(err)
	}
	req := ipPacket(Fields{NextHeader: stack.ProtocolTCP, Src: peerAddr, Dst: lan2Host}, make([]byte, 1460))
	b.ReportAllocs()
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, len(req))
		copy(p.Bytes(), req)
		p.EtherType = stack.EtherTypeIPv6
		e.nic.DeliverNetworkPacket(p)
	}
	if e.count("ipv6.fwd.forwarded") == 0 {
		b.Fatal("nothing forwarded")
	}
}
