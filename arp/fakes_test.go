package arp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

// newClock is the virtual clock of the tests: timers fire, synchronously
// and in deadline order, only when the test advances it.
func newClock() *vclock.Clock { return vclock.New(time.Unix(1_700_000_000, 0)) }

// frame is one packet a link was asked to write.
type frame = stacktest.Frame

// newLink is a recording link at mac (see stacktest.Link: Connect two for
// a two-host test).
func newLink(mac stack.MAC) *stacktest.Link { return stacktest.NewLink(mac, 1500) }

// fakeIPv4 stands in for the ipv4 package at EtherType 0x0800: it drops
// inbound packets and records resolution failures.
type fakeIPv4 struct {
	stacktest.FailureLog
	rx chan []byte // if set, receives a copy of each inbound packet
}

func (f *fakeIPv4) EtherType() uint16 { return stack.EtherTypeIPv4 }

func (f *fakeIPv4) HandlePacket(p *stack.Packet) {
	if f.rx != nil {
		f.rx <- append([]byte(nil), p.Bytes()...)
	}
	p.Release()
}

var (
	ourMAC   = stack.MAC{0x02, 0, 0, 0, 0, 0x02}
	peerMAC  = stack.MAC{0x02, 0, 0, 0, 0, 0x01}
	otherMAC = stack.MAC{0x02, 0, 0, 0, 0, 0x03}
	ourIP    = netip.MustParseAddr("10.0.0.2")
	peerIP   = netip.MustParseAddr("10.0.0.1")
	otherIP  = netip.MustParseAddr("10.0.0.3")
)

// fixture is a stack with ARP, a fake IPv4 and one NIC eth0 at 10.0.0.2/24
// on a recording link, driven by a virtual clock.
type fixture struct {
	t     testing.TB
	clk   *vclock.Clock
	s     *stack.Stack
	arp   *arp.Protocol
	ip    *fakeIPv4
	link  *stacktest.Link
	nic   *stack.NIC
	start int64 // live packets when the fixture was made
}

func newFixture(t testing.TB, opts arp.Options) *fixture {
	t.Helper()
	stacktest.CheckLeaks(t)
	if opts.Rand == nil {
		// Deterministic: ReachableTime exactly, probe delays mid-range.
		opts.Rand = func() float64 { return 0.5 }
	}
	f := &fixture{t: t, clk: newClock(), ip: &fakeIPv4{}, link: newLink(ourMAC), start: stack.LivePackets()}
	f.s = stack.New(stack.Options{Clock: f.clk})
	var err error
	if f.arp, err = arp.Register(f.s, opts); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RegisterNetwork(f.ip); err != nil {
		t.Fatal(err)
	}
	if f.nic, err = f.s.AddNIC("eth0", f.link); err != nil {
		t.Fatal(err)
	}
	if err := f.nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	if got := f.link.Take(); len(got) != 1 {
		t.Fatalf("adding an address sent %d frames, want 1 gratuitous ARP", len(got))
	}
	t.Cleanup(func() {
		if t.Failed() {
			// The failure may be a deadlock that Close would join.
			return
		}
		stacktest.CloseStack(t, f.s)
	})
	return f
}

// deliver hands an ARP packet with fields a, padded to the Ethernet
// minimum, to eth0 as if it arrived from a.SenderMAC for linkDst.
func (f *fixture) deliver(a arp.Fields, linkDst stack.MAC) {
	b := make([]byte, 46)
	a.Encode(b)
	f.deliverRaw(b, a.SenderMAC, linkDst)
}

func (f *fixture) deliverRaw(b []byte, linkSrc, linkDst stack.MAC) {
	stacktest.Deliver(f.nic, stack.EtherTypeARP, linkSrc, linkDst, b)
}

// reply delivers a unicast reply from ip at mac to us.
func (f *fixture) reply(ip netip.Addr, mac stack.MAC) {
	f.deliver(arp.Fields{Op: arp.OpReply, SenderMAC: mac, SenderIP: ip, TargetMAC: ourMAC, TargetIP: ourIP}, ourMAC)
}

// request delivers a broadcast request from ip at mac for target.
func (f *fixture) request(ip netip.Addr, mac stack.MAC, target netip.Addr) {
	f.deliver(arp.Fields{Op: arp.OpRequest, SenderMAC: mac, SenderIP: ip, TargetIP: target}, stack.BroadcastMAC)
}

// send writes an IPv4-typed packet holding payload to nextHop through ARP.
func (f *fixture) send(nextHop netip.Addr, payload string) error {
	return f.arp.WriteTo(f.nic, nextHop, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte(payload)))
}

func (f *fixture) counter(name string) uint64 { return f.s.Counters().Value(name) }

// entry returns the cache entry for addr and whether there is one.
func (f *fixture) entry(addr netip.Addr) (arp.Entry, bool) {
	for _, e := range f.arp.Entries() {
		if e.Addr == addr {
			return e, true
		}
	}
	return arp.Entry{}, false
}

// decodeARP validates a recorded frame as ARP and returns its fields.
func decodeARP(t testing.TB, fr frame) arp.Fields {
	t.Helper()
	if fr.EtherType != stack.EtherTypeARP {
		t.Fatalf("frame EtherType %#04x, want ARP", fr.EtherType)
	}
	h := arp.Header(fr.Data)
	if err := h.Validate(); err != nil {
		t.Fatalf("we sent an invalid ARP packet: %v", err)
	}
	if len(fr.Data) != arp.Len {
		t.Fatalf("ARP packet is %d bytes, want %d", len(fr.Data), arp.Len)
	}
	return h.Fields()
}
