package arp_test

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

func TestStaticEntry(t *testing.T) {
	f := newFixture(t, arp.Options{})
	// A packet waits for a learned resolution; the static entry sends it.
	f.send(peerIP, "waiting")
	f.link.Take()
	if err := f.arp.AddStatic(f.nic, peerIP, otherMAC); err != nil {
		t.Fatal(err)
	}
	if frames := f.link.Take(); len(frames) != 1 || frames[0].Dst != otherMAC || string(frames[0].Data) != "waiting" {
		t.Fatalf("queued packet after AddStatic: %+v", frames)
	}
	e, ok := f.entry(peerIP)
	if !ok || e.State != arp.Permanent || e.MAC != otherMAC || e.Flags != arp.FlagComplete|arp.FlagPermanent || e.Flags.String() != "CM" {
		t.Fatalf("entry %+v", e)
	}
	// Traffic claiming another MAC changes nothing: a reply, a request, a
	// gratuitous ARP.
	f.reply(peerIP, peerMAC)
	f.request(peerIP, peerMAC, ourIP)
	f.request(peerIP, peerMAC, peerIP)
	if e, _ := f.entry(peerIP); e.MAC != otherMAC || e.State != arp.Permanent {
		t.Fatalf("traffic changed the static entry: %+v", e)
	}
	// The request for us is still answered.
	if frames := f.link.Take(); len(frames) != 1 || decodeARP(t, frames[0]).Op != arp.OpReply {
		t.Fatalf("frames %+v", frames)
	}
	// Never aged, never a request.
	f.clk.Advance(24 * time.Hour)
	f.send(peerIP, "later")
	if frames := f.link.Take(); len(frames) != 1 || frames[0].Dst != otherMAC {
		t.Fatalf("send after a day: %+v", frames)
	}
	if e, _ := f.entry(peerIP); e.State != arp.Permanent {
		t.Fatalf("entry aged: %+v", e)
	}
	// Flush keeps it; Delete removes it; a second Delete fails.
	if n := f.arp.Flush(nil); n != 0 {
		t.Fatalf("Flush removed %d entries, want 0", n)
	}
	if err := f.arp.Delete(f.nic, peerIP); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.entry(peerIP); ok {
		t.Fatal("entry still there after Delete")
	}
	if err := f.arp.Delete(nil, peerIP); !errors.Is(err, arp.ErrNoEntry) || !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("Delete of a missing entry = %v, want ErrNoEntry (ENXIO)", err)
	}
}

func TestAddStaticInvalid(t *testing.T) {
	f := newFixture(t, arp.Options{})
	for _, tt := range []struct {
		nic *stack.NIC
		ip  netip.Addr
		mac stack.MAC
	}{
		{nil, peerIP, peerMAC},
		{f.nic, netip.Addr{}, peerMAC},
		{f.nic, netip.MustParseAddr("224.0.0.1"), peerMAC},
		{f.nic, netip.MustParseAddr("0.0.0.0"), peerMAC},
		{f.nic, peerIP, stack.MAC{}},
		{f.nic, peerIP, stack.BroadcastMAC},
	} {
		if err := f.arp.AddStatic(tt.nic, tt.ip, tt.mac); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("AddStatic(%v, %v, %v) = %v, want EINVAL", tt.nic, tt.ip, tt.mac, err)
		}
	}
	if err := f.arp.AddPublished(f.nic, netip.Prefix{}, peerMAC); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("AddPublished(invalid prefix) = %v", err)
	}
}

func TestPublishedEntries(t *testing.T) {
	f := newFixture(t, arp.Options{})
	proxied := netip.MustParseAddr("10.0.0.50")
	// A single address answered with another host's MAC, and a prefix
	// answered with ours.
	if err := f.arp.AddPublished(f.nic, netip.PrefixFrom(proxied, 32), otherMAC); err != nil {
		t.Fatal(err)
	}
	if err := f.arp.AddPublished(f.nic, netip.MustParsePrefix("10.0.0.128/25"), stack.MAC{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sender  netip.Addr
		target  netip.Addr
		wantMAC stack.MAC // zero: no answer
	}{
		{"published address", peerIP, proxied, otherMAC},
		{"in published prefix", peerIP, netip.MustParseAddr("10.0.0.200"), ourMAC},
		{"probe for published", netip.IPv4Unspecified(), netip.MustParseAddr("10.0.0.129"), ourMAC},
		{"outside", peerIP, netip.MustParseAddr("10.0.0.51"), stack.MAC{}},
		{"announcement of a published address", netip.MustParseAddr("10.0.0.130"), netip.MustParseAddr("10.0.0.130"), stack.MAC{}},
		{"our own address", peerIP, ourIP, ourMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.request(tt.sender, peerMAC, tt.target)
			frames := f.link.Take()
			if tt.wantMAC.IsZero() {
				if len(frames) != 0 {
					t.Fatalf("answered: %+v", frames)
				}
				return
			}
			if len(frames) != 1 {
				t.Fatalf("%d frames, want one reply", len(frames))
			}
			r := decodeARP(t, frames[0])
			if r.Op != arp.OpReply || r.SenderMAC != tt.wantMAC || r.SenderIP != tt.target || r.TargetMAC != peerMAC || frames[0].Dst != peerMAC {
				t.Fatalf("reply %+v to %v", r, frames[0].Dst)
			}
		})
	}
	// Requests for published addresses taught us the sender, as for ours.
	if e, ok := f.entry(peerIP); !ok || e.MAC != peerMAC {
		t.Fatalf("sender not learnt: %+v", e)
	}
	// Entries shows them with P; Delete by the prefix address removes one.
	var pubs []arp.Entry
	for _, e := range f.arp.Entries() {
		if e.Flags&arp.FlagPublished != 0 {
			pubs = append(pubs, e)
		}
	}
	if len(pubs) != 2 || pubs[0].Addr != proxied || pubs[0].Flags.String() != "CMP" ||
		pubs[1].Prefix != netip.MustParsePrefix("10.0.0.128/25") || pubs[1].Flags.String() != "MP" {
		t.Fatalf("published entries %+v", pubs)
	}
	if err := f.arp.Delete(f.nic, netip.MustParseAddr("10.0.0.128")); err != nil {
		t.Fatal(err)
	}
	f.request(peerIP, peerMAC, netip.MustParseAddr("10.0.0.200"))
	if frames := f.link.Take(); len(frames) != 0 {
		t.Fatalf("deleted published prefix still answered: %+v", frames)
	}
}

func TestFlush(t *testing.T) {
	f := newFixture(t, arp.Options{})
	f.send(peerIP, "x")
	f.reply(peerIP, peerMAC)
	f.send(otherIP, "waiting") // INCOMPLETE, a queued packet to drop
	if err := f.arp.AddStatic(f.nic, netip.MustParseAddr("10.0.0.9"), otherMAC); err != nil {
		t.Fatal(err)
	}
	if n := f.arp.Flush(f.nic); n != 2 {
		t.Fatalf("Flush removed %d, want 2", n)
	}
	if es := f.arp.Entries(); len(es) != 1 || es[0].State != arp.Permanent {
		t.Fatalf("after Flush: %+v", es)
	}
	// The fixture's cleanup checks that the dropped packet was released.
}

func TestFormatTable(t *testing.T) {
	entries := []arp.Entry{
		{Addr: netip.MustParseAddr("10.0.0.1"), MAC: stack.MAC{0xda, 0x22, 0xd0, 0x85, 0x78, 0xe2}, NIC: "tap0", State: arp.Reachable, Flags: arp.FlagComplete},
		{Addr: netip.MustParseAddr("10.0.0.9"), NIC: "tap0", State: arp.Incomplete},
		{Addr: netip.MustParseAddr("10.0.0.5"), MAC: stack.MAC{2, 0, 0, 0, 0, 5}, NIC: "tap0", State: arp.Permanent, Flags: arp.FlagComplete | arp.FlagPermanent},
		{Addr: netip.MustParseAddr("10.0.0.50"), MAC: stack.MAC{2, 0, 0, 0, 0, 0x50}, NIC: "tap0", State: arp.Permanent, Flags: arp.FlagComplete | arp.FlagPermanent | arp.FlagPublished, Prefix: netip.MustParsePrefix("10.0.0.50/32")},
		{Addr: netip.MustParseAddr("10.0.1.0"), NIC: "tap0.10", State: arp.Permanent, Flags: arp.FlagPermanent | arp.FlagPublished, Prefix: netip.MustParsePrefix("10.0.1.0/24")},
		{Addr: netip.MustParseAddr("192.168.100.200"), NIC: "tap0.20", State: arp.Failed},
	}
	// The golden lines follow net-tools arp_disp(): "%-23.23s  " address,
	// "%-8.8s%-20.20s" type and address, "%-6.6s%-15.15s %s" flags, mask,
	// interface.
	want := "" +
		"Address                  HWtype  HWaddress           Flags Mask            Iface\n" +
		"10.0.0.1                 ether   da:22:d0:85:78:e2   C                     tap0\n" +
		"10.0.0.9                         (incomplete)                              tap0\n" +
		"10.0.0.5                 ether   02:00:00:00:00:05   CM                    tap0\n" +
		"10.0.0.50                ether   02:00:00:00:00:50   CMP                   tap0\n" +
		"10.0.1.0                 *       <from_interface>    MP    255.255.255.0   tap0.10\n" +
		"192.168.100.200                  (incomplete)                              tap0.20\n"
	var b strings.Builder
	if err := arp.FormatTable(&b, entries); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Fatalf("FormatTable:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := arp.FormatTable(&b, nil); err != nil || b.Len() != 0 {
		t.Fatalf("no entries: %q, %v (arp prints nothing)", b.String(), err)
	}
}

// TestFormatTableFromCache prints a live cache: a learned, an incomplete,
// a static and a published entry.
func TestFormatTableFromCache(t *testing.T) {
	f := newFixture(t, arp.Options{})
	f.send(peerIP, "x")
	f.reply(peerIP, peerMAC)
	f.send(netip.MustParseAddr("10.0.0.9"), "y")
	if err := f.arp.AddStatic(f.nic, otherIP, otherMAC); err != nil {
		t.Fatal(err)
	}
	if err := f.arp.AddPublished(f.nic, netip.MustParsePrefix("10.0.0.64/26"), stack.MAC{}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	arp.FormatTable(&b, f.arp.Entries())
	want := "" +
		"Address                  HWtype  HWaddress           Flags Mask            Iface\n" +
		"10.0.0.1                 ether   02:00:00:00:00:01   C                     eth0\n" +
		"10.0.0.3                 ether   02:00:00:00:00:03   CM                    eth0\n" +
		"10.0.0.9                         (incomplete)                              eth0\n" +
		"10.0.0.64                *       <from_interface>    MP    255.255.255.192 eth0\n"
	if b.String() != want {
		t.Fatalf("FormatTable:\n%s\nwant:\n%s", b.String(), want)
	}
}
