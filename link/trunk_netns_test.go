package link_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// TestTrunkOverLinuxBridge runs two trunked stacks on TAPs of one Linux
// bridge (in a private network namespace; the bridge has no VLAN filtering,
// so it carries tags transparently). They reach each other on VLAN 10 and
// on VLAN 20, and tagged ARP requests crafted on a third port of the bridge
// get tagged replies with the same VID and the replier's PCP.
func TestTrunkOverLinuxBridge(t *testing.T) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "")
	open := func(name string) *tap.Device {
		var d *tap.Device
		if err := ns.Run(func() (err error) {
			d, err = tap.Open(tap.Config{Name: name, Bridge: "br0", NoOffload: true})
			return err
		}); err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		return d
	}
	macA := stack.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB := stack.MAC{0x02, 0, 0, 0, 0, 0x0b}
	macC := stack.MAC{0x02, 0, 0, 0, 0, 0x0c}
	a := newTrunkHost(t, open("tap0"), macA, 1, 0)
	defer a.s.Close()
	b := newTrunkHost(t, open("tap1"), macB, 2, 6)
	defer b.s.Close()

	// The crafting port: a raw device that keeps the ARP replies to macC.
	c := open("tap2")
	defer c.Close()
	replies := make(chan link.Frame, 16)
	c.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) {
		defer p.Release()
		f, err := link.ParseFrame(p.Bytes())
		if err != nil || f.Dst != macC || f.EtherType != stack.EtherTypeARP {
			return
		}
		h := arp.Header(p.Bytes()[f.HeaderLen:])
		if h.Validate() != nil || h.Op() != arp.OpReply {
			return
		}
		select {
		case replies <- f:
		default:
		}
	}))

	ip := netip.MustParseAddr
	for _, tc := range []struct {
		dst  netip.Addr
		nic  string
		data string
	}{
		{ip("10.0.10.2"), "vlan10", "over the bridge on 10"},
		{ip("10.0.20.2"), "vlan20", "over the bridge on 20"},
	} {
		a.send(t, tc.dst, tc.data)
		if got := b.recv(t); got.nic != tc.nic || got.data != tc.data {
			t.Fatalf("b received %+v, want %q on %s", got, tc.data, tc.nic)
		}
	}
	b.send(t, ip("10.0.20.1"), "back on 20")
	if got := a.recv(t); got.nic != "vlan20" || got.data != "back on 20" {
		t.Fatalf("a received %+v", got)
	}

	// Crafted tagged requests from the third port.
	request := func(tci uint16, tpid uint16, target netip.Addr, sender netip.Addr) {
		p := stack.NewPacket(stack.Headroom, link.EthernetHeaderLen+link.VLANTagLen+arp.Len)
		bb := p.Bytes()
		link.EthernetFields{Dst: stack.BroadcastMAC, Src: macC, EtherType: tpid}.Encode(bb)
		link.VLANFields{TPID: tpid, PCP: uint8(tci >> 13), VID: tci & 0xfff}.Encode(bb[12:])
		bb[16], bb[17] = 0x08, 0x06
		f := arp.Fields{Op: arp.OpRequest, SenderMAC: macC, SenderIP: sender, TargetIP: target}
		f.Encode(bb[18:])
		if err := c.WriteFrame(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		vid     uint16
		target  netip.Addr
		wantPCP uint8
	}{
		{20, ip("10.0.20.2"), 0},
		{10, ip("10.0.10.2"), 6},
		{10, ip("10.0.10.1"), 0},
	} {
		request(3<<13|tc.vid, stack.EtherTypeVLAN, tc.target, netip.AddrFrom4([4]byte{10, 0, byte(tc.vid), 9}))
		select {
		case f := <-replies:
			if f.NumTags != 1 || f.Tags[0].VID != tc.vid || f.Tags[0].PCP != tc.wantPCP || f.Tags[0].TPID != stack.EtherTypeVLAN {
				t.Fatalf("reply to a VLAN %d request for %v: %+v, want VID %d PCP %d", tc.vid, tc.target, f, tc.vid, tc.wantPCP)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no reply to a VLAN %d request for %v", tc.vid, tc.target)
		}
	}
	// Unknown VID and an 802.1ad tag: counted by both hosts, not answered.
	request(30, stack.EtherTypeVLAN, ip("10.0.10.2"), ip("10.0.10.9"))
	request(10, stack.EtherTypeQinQ, ip("10.0.10.2"), ip("10.0.10.9"))
	// A marker both hosts answer, to know the two were handled.
	request(20, stack.EtherTypeVLAN, ip("10.0.20.1"), ip("10.0.20.9"))
	request(20, stack.EtherTypeVLAN, ip("10.0.20.2"), ip("10.0.20.9"))
	for range 2 {
		select {
		case f := <-replies:
			if f.Tags[0].VID != 20 {
				t.Fatalf("reply %+v, want one on VLAN 20 (the markers)", f)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no reply to the markers")
		}
	}
	for _, h := range []*trunkHost{a, b} {
		for _, name := range []string{link.CounterRxVLANUnknown, link.CounterRxQinQDropped} {
			if n := h.s.Counters().Value(name); n != 1 {
				t.Errorf("%s = %d, want 1", name, n)
			}
		}
	}
}
