package stack

import (
	"net/netip"
	"testing"
)

// dropProto is a network protocol that releases every packet.
type dropProto struct{}

func (dropProto) EtherType() uint16      { return EtherTypeIPv4 }
func (dropProto) HandlePacket(p *Packet) { p.Release() }

// countingTracer counts events by kind.
type countingTracer struct {
	n    [8]int
	last **TraceEvent // when set, receives a copy of each event
}

func (c *countingTracer) Trace(ev *TraceEvent) {
	c.n[ev.Kind]++
	if c.last != nil {
		cp := *ev
		*c.last = &cp
	}
}

// TestTracePoints: with a tracer set, a NIC reports what it receives and
// sends, a counter its increments (with the name), FindRoute its
// decision; SetTracer(nil) stops all of it.
func TestTracePoints(t *testing.T) {
	s := New(Options{})
	s.RegisterNetwork(dropProto{})
	nic, _ := s.AddNIC("eth0", nullLink{1500})
	nic.AddAddress(mustPrefix("10.0.0.2/24"))
	var ct countingTracer
	if s.SetTracer(&ct) != nil || s.Tracer() != &ct {
		t.Fatal("SetTracer")
	}
	in := NewPacket(Headroom, 20)
	in.EtherType = EtherTypeIPv4
	nic.DeliverNetworkPacket(in)
	nic.WriteLinkPacket(BroadcastMAC, EtherTypeIPv4, NewPacket(Headroom, 20))
	nic.WritePacket(netip.MustParseAddr("10.0.0.255"), EtherTypeIPv4, NewPacket(Headroom, 20))
	s.Counters().Get("x.rx.y").Inc()
	var rt *TraceEvent
	ct.last = &rt
	s.FindRoute(mustAddr("10.0.0.1"), netip.Addr{})
	if rt == nil || rt.Name != "10.0.0.0/24" || rt.Route.NextHop != mustAddr("10.0.0.1") {
		t.Errorf("route event %+v, want the entry 10.0.0.0/24", rt)
	}
	nic.AddAddress(mustPrefix("fd00::2/64"))
	s.FindRoute(mustAddr("fd00::1"), netip.Addr{})
	if rt == nil || rt.Name != "fd00::/64" || rt.Layer != "ipv6" {
		t.Errorf("route event %+v, want the entry fd00::/64", rt)
	}
	ct.n[TraceRoute]--
	want := [8]int{TraceFrameIn: 1, TraceFrameOut: 2, TraceCount: 1, TraceRoute: 1}
	if ct.n != want {
		t.Errorf("events %v, want %v", ct.n, want)
	}
	if s.SetTracer(nil) != &ct || s.Tracer() != nil {
		t.Fatal("SetTracer(nil)")
	}
	in = NewPacket(Headroom, 20)
	in.EtherType = EtherTypeIPv4
	nic.DeliverNetworkPacket(in)
	s.Counters().Get("x.rx.y").Inc()
	if ct.n != want {
		t.Errorf("events after SetTracer(nil) %v", ct.n)
	}
}

// BenchmarkNICTracingOff is a packet received and one sent through a NIC
// with nobody tracing: the trace points cost one atomic load each, and
// nothing is allocated.
func BenchmarkNICTracingOff(b *testing.B) {
	s := New(Options{})
	s.RegisterNetwork(dropProto{})
	nic, _ := s.AddNIC("eth0", nullLink{1500})
	c := s.Counters().Get("bench.rx.packets")
	b.ReportAllocs()
	for b.Loop() {
		p := NewPacket(Headroom, 64)
		p.EtherType = EtherTypeIPv4
		nic.DeliverNetworkPacket(p)
		nic.WriteLinkPacket(BroadcastMAC, EtherTypeIPv4, NewPacket(Headroom, 64))
		c.Inc()
	}
}
