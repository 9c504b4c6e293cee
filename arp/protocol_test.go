package arp_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

func TestAnswersRequests(t *testing.T) {
	second := netip.MustParseAddr("192.168.7.9")
	tests := []struct {
		name      string
		req       arp.Fields
		wantReply bool
		wantFrom  netip.Addr // our address in the reply
		wantLearn bool
	}{
		{
			name:      "for our address",
			req:       arp.Fields{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: ourIP},
			wantReply: true, wantFrom: ourIP, wantLearn: true,
		},
		{
			name:      "for our second address",
			req:       arp.Fields{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: second},
			wantReply: true, wantFrom: second, wantLearn: true,
		},
		{
			name:      "RFC 5227 probe for our address: answered, not learnt",
			req:       arp.Fields{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: netip.IPv4Unspecified(), TargetIP: ourIP},
			wantReply: true, wantFrom: ourIP,
		},
		{
			name: "for another host",
			req:  arp.Fields{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: otherIP},
		},
		{
			name: "gratuitous from a stranger",
			req:  arp.Fields{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: peerIP},
		},
		{
			name: "reply to us (unsolicited)",
			req:  arp.Fields{Op: arp.OpReply, SenderMAC: peerMAC, SenderIP: peerIP, TargetMAC: ourMAC, TargetIP: ourIP},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, arp.Options{})
			if err := f.nic.AddAddress(netip.MustParsePrefix("192.168.7.9/24")); err != nil {
				t.Fatal(err)
			}
			f.link.Take()
			f.deliver(tc.req, stack.BroadcastMAC)
			frames := f.link.Take()
			if !tc.wantReply {
				if len(frames) != 0 {
					t.Fatalf("sent %d frames, want none", len(frames))
				}
			} else {
				if len(frames) != 1 {
					t.Fatalf("sent %d frames, want one reply", len(frames))
				}
				fr := frames[0]
				if fr.Dst != tc.req.SenderMAC {
					t.Errorf("reply sent to %v, want unicast to %v", fr.Dst, tc.req.SenderMAC)
				}
				want := arp.Fields{Op: arp.OpReply, SenderMAC: ourMAC, SenderIP: tc.wantFrom,
					TargetMAC: tc.req.SenderMAC, TargetIP: tc.req.SenderIP}
				if got := decodeARP(t, fr); got != want {
					t.Errorf("reply\n got %+v\nwant %+v", got, want)
				}
				// The same reply through an independent decoder.
				l, ok := gopacket.NewPacket(fr.Data, layers.LayerTypeARP, gopacket.Default).Layer(layers.LayerTypeARP).(*layers.ARP)
				if !ok {
					t.Fatal("gopacket cannot decode our reply")
				}
				if l.AddrType != layers.LinkTypeEthernet || l.Protocol != layers.EthernetTypeIPv4 ||
					l.HwAddressSize != 6 || l.ProtAddressSize != 4 || l.Operation != layers.ARPReply ||
					!bytes.Equal(l.SourceHwAddress, ourMAC[:]) || !bytes.Equal(l.SourceProtAddress, tc.wantFrom.AsSlice()) ||
					!bytes.Equal(l.DstHwAddress, tc.req.SenderMAC[:]) || !bytes.Equal(l.DstProtAddress, tc.req.SenderIP.AsSlice()) {
					t.Errorf("gopacket decodes our reply as %+v", l)
				}
				if got := f.counter("arp.tx.replies"); got != 1 {
					t.Errorf("arp.tx.replies = %d, want 1", got)
				}
			}
			e, ok := f.entry(tc.req.SenderIP)
			if ok != tc.wantLearn {
				t.Fatalf("learnt %v: %v, want %v (cache %+v)", tc.req.SenderIP, ok, tc.wantLearn, f.arp.Entries())
			}
			if ok && (e.MAC != peerMAC || e.State != arp.Stale || e.NIC != "eth0") {
				t.Errorf("entry %+v, want STALE %v on eth0", e, peerMAC)
			}
			if got := len(f.arp.Entries()); got != map[bool]int{false: 0, true: 1}[tc.wantLearn] {
				t.Errorf("cache has %d entries: %+v", got, f.arp.Entries())
			}
		})
	}
}

func TestNotAnswered(t *testing.T) {
	tests := []struct {
		name    string
		in      arp.Fields
		counter string
	}{
		{"gratuitous claim of our address (conflict)",
			arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: ourIP, TargetIP: ourIP}, "arp.rx.conflict"},
		{"request from our address for a neighbour (conflict)",
			arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: ourIP, TargetIP: peerIP}, "arp.rx.conflict"},
		{"our own announcement looped back",
			arp.Fields{Op: arp.OpRequest, SenderMAC: ourMAC, SenderIP: ourIP, TargetIP: ourIP}, "arp.rx.looped"},
		{"our own MAC with another address",
			arp.Fields{Op: arp.OpRequest, SenderMAC: ourMAC, SenderIP: peerIP, TargetIP: ourIP}, "arp.rx.looped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, arp.Options{})
			f.deliver(tc.in, stack.BroadcastMAC)
			frames := f.link.Take()
			if tc.counter == "arp.rx.conflict" {
				// Not answered, but defended with one announcement.
				if len(frames) != 1 {
					t.Fatalf("sent %+v, want one defending announcement", frames)
				}
				a := decodeARP(t, frames[0])
				if a.Op != arp.OpRequest || a.SenderIP != ourIP || a.TargetIP != ourIP || a.SenderMAC != ourMAC || frames[0].Dst != stack.BroadcastMAC {
					t.Fatalf("defence %+v", a)
				}
				frames = nil
			}
			if len(frames) != 0 {
				t.Fatalf("answered: %+v", frames)
			}
			if n := len(f.arp.Entries()); n != 0 {
				t.Fatalf("learnt: %+v", f.arp.Entries())
			}
			if got := f.counter(tc.counter); got != 1 {
				t.Fatalf("%s = %d, want 1", tc.counter, got)
			}
		})
	}
}

func TestRequestCounters(t *testing.T) {
	f := newFixture(t, arp.Options{})
	f.request(peerIP, peerMAC, ourIP)
	f.request(peerIP, peerMAC, otherIP)
	f.reply(otherIP, otherMAC)
	for name, want := range map[string]uint64{
		"arp.rx.requests": 2, "arp.rx.replies": 1, "arp.tx.replies": 1,
		"arp.tx.requests": 1, "arp.tx.gratuitous": 1, // the announcement of 10.0.0.2
	} {
		if got := f.counter(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

func TestGratuitousARPOnAddressAdded(t *testing.T) {
	f := newFixture(t, arp.Options{})
	a := netip.MustParsePrefix("172.16.0.5/16")
	if err := f.nic.AddAddress(a); err != nil {
		t.Fatal(err)
	}
	frames := f.link.Take()
	if len(frames) != 1 || frames[0].Dst != stack.BroadcastMAC {
		t.Fatalf("frames %+v, want one broadcast", frames)
	}
	want := arp.Fields{Op: arp.OpRequest, SenderMAC: ourMAC, SenderIP: a.Addr(), TargetIP: a.Addr()}
	if got := decodeARP(t, frames[0]); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestMergeRule(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(f *fixture)
		in        arp.Fields
		linkDst   stack.MAC
		wantState arp.State // 0: no entry
		wantMAC   stack.MAC
	}{
		{
			name:  "gratuitous request updates an existing entry",
			setup: func(f *fixture) { f.request(peerIP, peerMAC, ourIP) },
			in:    arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: peerIP, TargetIP: peerIP},
			// MAC changed: STALE with the new address.
			linkDst: stack.BroadcastMAC, wantState: arp.Stale, wantMAC: otherMAC,
		},
		{
			name:      "request for someone else updates an existing entry",
			setup:     func(f *fixture) { f.request(peerIP, peerMAC, ourIP) },
			in:        arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: peerIP, TargetIP: otherIP},
			linkDst:   stack.BroadcastMAC,
			wantState: arp.Stale, wantMAC: otherMAC,
		},
		{
			name:      "unicast reply confirms: REACHABLE",
			setup:     func(f *fixture) { f.request(peerIP, peerMAC, ourIP) },
			in:        arp.Fields{Op: arp.OpReply, SenderMAC: peerMAC, SenderIP: peerIP, TargetMAC: ourMAC, TargetIP: ourIP},
			linkDst:   ourMAC,
			wantState: arp.Reachable, wantMAC: peerMAC,
		},
		{
			name:      "broadcast reply: STALE",
			setup:     func(f *fixture) { f.request(peerIP, peerMAC, ourIP) },
			in:        arp.Fields{Op: arp.OpReply, SenderMAC: otherMAC, SenderIP: peerIP, TargetIP: peerIP},
			linkDst:   stack.BroadcastMAC,
			wantState: arp.Stale, wantMAC: otherMAC,
		},
		{
			name: "same address does not demote REACHABLE",
			setup: func(f *fixture) {
				f.send(peerIP, "x")
				f.reply(peerIP, peerMAC)
			},
			in:        arp.Fields{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: otherIP},
			linkDst:   stack.BroadcastMAC,
			wantState: arp.Reachable, wantMAC: peerMAC,
		},
		{
			name:    "no entry and not for us: nothing learnt",
			in:      arp.Fields{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: otherIP},
			linkDst: stack.BroadcastMAC,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, arp.Options{})
			if tc.setup != nil {
				tc.setup(f)
			}
			f.link.Take()
			f.deliver(tc.in, tc.linkDst)
			e, ok := f.entry(tc.in.SenderIP)
			if tc.wantState == 0 {
				if ok {
					t.Fatalf("learnt %+v, want nothing", e)
				}
				return
			}
			if !ok || e.State != tc.wantState || e.MAC != tc.wantMAC {
				t.Fatalf("entry %+v (present %v), want %v %v", e, ok, tc.wantState, tc.wantMAC)
			}
		})
	}
}

func TestResolveQueueAndFlush(t *testing.T) {
	f := newFixture(t, arp.Options{})
	for i := range 3 {
		if err := f.send(peerIP, fmt.Sprintf("packet %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	frames := f.link.Take()
	if len(frames) != 1 || frames[0].Dst != stack.BroadcastMAC {
		t.Fatalf("sent %+v, want one broadcast request", frames)
	}
	want := arp.Fields{Op: arp.OpRequest, SenderMAC: ourMAC, SenderIP: ourIP, TargetIP: peerIP}
	if got := decodeARP(t, frames[0]); got != want {
		t.Fatalf("request %+v, want %+v", got, want)
	}
	if e, _ := f.entry(peerIP); e.State != arp.Incomplete || e.Queued != 3 {
		t.Fatalf("entry %+v, want INCOMPLETE with 3 queued", e)
	}

	f.reply(peerIP, peerMAC)
	frames = f.link.Take()
	if len(frames) != 3 {
		t.Fatalf("flushed %d frames, want 3", len(frames))
	}
	for i, fr := range frames {
		if fr.Dst != peerMAC || fr.EtherType != stack.EtherTypeIPv4 || string(fr.Data) != fmt.Sprintf("packet %d", i) {
			t.Errorf("frame %d: to %v type %#04x %q", i, fr.Dst, fr.EtherType, fr.Data)
		}
	}
	if e, _ := f.entry(peerIP); e.State != arp.Reachable || e.MAC != peerMAC || e.Queued != 0 {
		t.Fatalf("entry %+v, want REACHABLE %v", e, peerMAC)
	}

	// A hit goes straight out.
	if err := f.send(peerIP, "hit"); err != nil {
		t.Fatal(err)
	}
	frames = f.link.Take()
	if len(frames) != 1 || frames[0].Dst != peerMAC || string(frames[0].Data) != "hit" {
		t.Fatalf("hit sent %+v", frames)
	}
	if got := f.counter("arp.tx.requests"); got != 2 { // gratuitous + one request
		t.Errorf("arp.tx.requests = %d, want 2", got)
	}
}

func TestRequestResolvesIncompleteEntry(t *testing.T) {
	// A request from the host we are resolving answers our question too.
	f := newFixture(t, arp.Options{})
	f.send(peerIP, "waiting")
	f.link.Take()
	f.request(peerIP, peerMAC, ourIP)
	frames := f.link.Take()
	if len(frames) != 2 || string(frames[0].Data) != "waiting" || frames[0].Dst != peerMAC ||
		decodeARP(t, frames[1]).Op != arp.OpReply {
		t.Fatalf("frames %+v, want the queued packet then our reply", frames)
	}
	if e, _ := f.entry(peerIP); e.State != arp.Stale {
		t.Fatalf("entry %+v, want STALE", e)
	}
}

func TestRequestSenderAddress(t *testing.T) {
	f := newFixture(t, arp.Options{})
	if err := f.nic.AddAddress(netip.MustParsePrefix("192.168.1.2/24")); err != nil {
		t.Fatal(err)
	}
	f.link.Take()
	tests := []struct{ nextHop, wantSender string }{
		{"192.168.1.1", "192.168.1.2"},
		{"10.0.0.77", "10.0.0.2"},
		{"172.16.0.1", "10.0.0.2"}, // off every subnet: the first address
	}
	for _, tc := range tests {
		f.send(netip.MustParseAddr(tc.nextHop), "x")
		frames := f.link.Take()
		if len(frames) != 1 {
			t.Fatalf("%s: %d frames", tc.nextHop, len(frames))
		}
		got := decodeARP(t, frames[0])
		if got.SenderIP != netip.MustParseAddr(tc.wantSender) || got.TargetIP != netip.MustParseAddr(tc.nextHop) {
			t.Errorf("request for %s: sender %v target %v, want sender %s", tc.nextHop, got.SenderIP, got.TargetIP, tc.wantSender)
		}
	}
}

// TestTwoStacksSynchronousWire connects two stacks by a wire that delivers
// inside WritePacket, so every ARP write re-enters the other stack (and,
// through its reply, ours) while the first call is still running: ARP must
// not hold its lock across writes.
func TestTwoStacksSynchronousWire(t *testing.T) {
	a := newFixture(t, arp.Options{})
	b := newFixture(t, arp.Options{})
	b.link.SetMAC(peerMAC)
	b.nic.RemoveAddress(ourIP)
	if err := b.nic.AddAddress(netip.MustParsePrefix("10.0.0.1/24")); err != nil {
		t.Fatal(err)
	}
	stacktest.Connect(a.link, b.link)
	a.link.Take()
	b.link.Take()

	done := make(chan error, 1)
	go func() { done <- a.send(peerIP, "over the wire") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteTo deadlocked on a re-entrant link")
	}
	// a: request, then the flushed packet; b: the reply.
	fa := a.link.Take()
	if len(fa) != 2 || decodeARP(t, fa[0]).Op != arp.OpRequest || string(fa[1].Data) != "over the wire" || fa[1].Dst != peerMAC {
		t.Fatalf("a sent %+v", fa)
	}
	if e, _ := a.entry(peerIP); e.State != arp.Reachable || e.MAC != peerMAC {
		t.Fatalf("a's entry %+v", e)
	}
	if e, _ := b.entry(ourIP); e.State != arp.Stale || e.MAC != ourMAC {
		t.Fatalf("b's entry %+v", e)
	}
}

// TestConcurrentUse runs senders, an inbound reader and the clock at once,
// for the race detector, then proves nothing leaked.
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, arp.Options{CacheSize: 8})
	f.link.SetDiscard(true)
	hops := make([]netip.Addr, 12)
	for i := range hops {
		hops[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)})
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				f.send(hops[(i*7+w)%len(hops)], "data")
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h := hops[i%len(hops)]
			f.reply(h, stack.MAC{0x02, 9, 9, 9, 9, byte(i)})
			f.request(h, stack.MAC{0x02, 9, 9, 9, 9, byte(i)}, ourIP)
			_ = f.arp.Entries()
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			f.clk.Advance(500 * time.Millisecond)
		}
	}()
	// Let the writers finish, then stop the others.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			f.send(hops[i%len(hops)], "more")
		}
	}()
	<-done
	close(stop)
	wg.Wait()
	if got := len(f.arp.Entries()); got > 8 {
		t.Fatalf("cache has %d entries, limit 8", got)
	}
	// The fixture's cleanup closes the stack and checks for leaks.
}
