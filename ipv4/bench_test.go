package ipv4

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

func BenchmarkWritePacket(b *testing.B) {
	e := newEnv(b, Options{})
	e.link.SetDiscard(true)
	r, err := e.s.FindRoute(peerAddr, netip.Addr{})
	if err != nil {
		b.Fatal(err)
	}
	params := stack.NetworkParams{Protocol: stack.ProtocolUDP}
	b.ReportAllocs()
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, 64)
		if err := e.pr.WritePacket(&r, params, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandleEcho(b *testing.B) {
	e := newEnv(b, Options{})
	e.link.SetDiscard(true)
	req := ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(ICMPEcho, 0, EchoRest(1, 1), make([]byte, 56)))
	b.ReportAllocs()
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, len(req))
		copy(p.Bytes(), req)
		p.EtherType = stack.EtherTypeIPv4
		e.nic.DeliverNetworkPacket(p)
	}
	if e.count("icmp.tx.echo_reply") == 0 {
		b.Fatal("no replies")
	}
}

// BenchmarkHandleEchoRecordRoute: a ping -R request, whose reply carries
// the record route option with our address added.
func BenchmarkHandleEchoRecordRoute(b *testing.B) {
	e := newEnv(b, Options{})
	e.link.SetDiscard(true)
	rr := append([]byte{OptionNOP, OptionRecordRoute, 39, 4}, make([]byte, 36)...)
	req := ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr, Options: rr}, icmpMsg(ICMPEcho, 0, EchoRest(1, 1), make([]byte, 56)))
	b.ReportAllocs()
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, len(req))
		copy(p.Bytes(), req)
		p.EtherType = stack.EtherTypeIPv4
		e.nic.DeliverNetworkPacket(p)
	}
	if e.count("icmp.tx.echo_reply") == 0 {
		b.Fatal("no replies")
	}
}

func BenchmarkHandleDeliver(b *testing.B) {
	e := newEnv(b, Options{})
	e.udp.SetDiscard(true)
	req := ipPacket(Fields{Protocol: stack.ProtocolUDP, Src: peerAddr, Dst: ourAddr}, make([]byte, 1000))
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, len(req))
		copy(p.Bytes(), req)
		p.EtherType = stack.EtherTypeIPv4
		e.nic.DeliverNetworkPacket(p)
	}
	if e.count("ipv4.rx.delivered") == 0 {
		b.Fatal("nothing delivered")
	}
}
