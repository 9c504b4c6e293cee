package arp_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

// l3FakeLink is a recording link without link-layer addressing (a TUN).
type l3FakeLink struct{ *stacktest.Link }

func (*l3FakeLink) IsL3() bool { return true }

// newL3Fixture returns a stack with ARP and a fake IPv4, and one L3 NIC
// tun0 on a recording link.
func newL3Fixture(t *testing.T) (*stack.Stack, *arp.Protocol, *stack.NIC, *l3FakeLink) {
	t.Helper()
	stacktest.CheckLeaks(t)
	s := stack.New(stack.Options{Clock: newClock()})
	p, err := arp.Register(s, arp.Options{Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterNetwork(&fakeIPv4{}); err != nil {
		t.Fatal(err)
	}
	l := &l3FakeLink{stacktest.NewLink(stack.MAC{}, 1500)}
	nic, err := s.AddNIC("tun0", l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p, nic, l
}

// Linux sends no gratuitous ARP on an IFF_NOARP device (a TUN): there is
// nobody with a cache to update.
func TestL3NoGratuitousARP(t *testing.T) {
	_, _, nic, l := newL3Fixture(t)
	if err := nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	if got := l.Take(); len(got) != 0 {
		t.Errorf("adding an address on an L3 NIC sent %d frames, want none: %+v", len(got), got)
	}
}

// RFC 5227 conflict detection needs link-layer addresses: on an L3 link
// Probe finds no conflict at once and sends nothing; ProbeAndAdd adds the
// address.
func TestL3ProbeSendsNothing(t *testing.T) {
	_, p, nic, l := newL3Fixture(t)
	if err := p.ProbeAndAdd(context.Background(), nic, netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		t.Fatalf("ProbeAndAdd on an L3 NIC: %v", err)
	}
	if !nic.HasAddress(ourIP) {
		t.Error("address not added")
	}
	if got := l.Take(); len(got) != 0 {
		t.Errorf("probing on an L3 NIC sent %d frames, want none", len(got))
	}
}

// An ARP request that reaches ARP for an L3 NIC is counted and dropped:
// not answered, not learnt.
func TestL3RequestNotAnswered(t *testing.T) {
	s, p, nic, l := newL3Fixture(t)
	if err := nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 46)
	req := arp.Fields{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: ourIP}
	req.Encode(b)
	pkt := stack.NewPacketFrom(b)
	pkt.NIC, pkt.EtherType = nic, stack.EtherTypeARP
	p.HandlePacket(pkt)
	if got := l.Take(); len(got) != 0 {
		t.Errorf("request on an L3 NIC answered with %d frames", len(got))
	}
	if n := s.Counters().Value(arp.CounterRxL3Link); n != 1 {
		t.Errorf("%s = %d, want 1", arp.CounterRxL3Link, n)
	}
	if len(p.Entries()) != 0 {
		t.Errorf("learnt %+v from a request on an L3 NIC", p.Entries())
	}
}

// WriteTo on an L3 NIC writes at once, unresolved, to the zero MAC: no
// request, no cache entry.
func TestL3WriteToUnresolved(t *testing.T) {
	_, p, nic, l := newL3Fixture(t)
	if err := p.WriteTo(nic, peerIP, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("E..."))); err != nil {
		t.Fatal(err)
	}
	got := l.Take()
	if len(got) != 1 || got[0].Dst != (stack.MAC{}) || got[0].EtherType != stack.EtherTypeIPv4 || string(got[0].Data) != "E..." {
		t.Errorf("WriteTo on an L3 NIC wrote %+v, want the packet once to the zero MAC", got)
	}
	if len(p.Entries()) != 0 {
		t.Errorf("WriteTo on an L3 NIC made entries %+v", p.Entries())
	}
}
