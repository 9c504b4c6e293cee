package ndp_test

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

// TestResolve_RFC4861_7_2_2: a send to an unknown neighbour queues the
// packet and multicasts an NS with our SLLAO to its solicited-node address;
// a solicited NA makes the entry REACHABLE and releases the queue to its MAC.
func TestResolve_RFC4861_7_2_2(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	if err := f.send(peerIP, "first"); err != nil {
		t.Fatal(err)
	}
	f.send(peerIP, "second")
	msgs := f.takeMsgs()
	if len(msgs) != 1 {
		t.Fatalf("sent %d messages, want 1 NS", len(msgs))
	}
	ns := msgs[0]
	wantDst := netip.MustParseAddr("ff02::1:ff00:1")
	if ns.msg.Type() != ndp.TypeNeighborSolicitation || ns.dst != wantDst || ns.src != ourIP ||
		ns.linkDst != (stack.MAC{0x33, 0x33, 0xff, 0, 0, 1}) {
		t.Fatalf("NS %v -> %v (MAC %v), want %v -> %v", ns.src, ns.dst, ns.linkDst, ourIP, wantDst)
	}
	if got := ns.msg.NeighborSolicitation(); got.Target != peerIP || got.SourceLinkAddr != ourMAC {
		t.Fatalf("NS fields %+v", got)
	}
	f.checkState(peerIP, ndp.Incomplete)
	if e, _ := f.entry(peerIP); e.Queued != 2 {
		t.Fatalf("queued %d, want 2", e.Queued)
	}
	f.na(peerIP, peerMAC, true, true, false)
	f.checkState(peerIP, ndp.Reachable)
	frames := f.link.Take()
	if len(frames) != 2 || string(frames[0].Data) != "first" || string(frames[1].Data) != "second" ||
		frames[0].Dst != peerMAC {
		t.Fatalf("queue not flushed in order to peer: %+v", frames)
	}
}

// TestResolutionFails_MaxMulticastSolicit: three solicitations RetransTimer
// apart, then every waiting packet goes to ResolutionFailed and the entry
// is FAILED.
func TestResolutionFails_MaxMulticastSolicit(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.send(peerIP, "a")
	f.send(peerIP, "b")
	for i := 1; i < ndp.DefaultMaxMulticastSolicit; i++ {
		f.clk.Advance(ndp.DefaultRetransTimer)
	}
	if msgs := f.takeMsgs(); len(msgs) != 3 {
		t.Fatalf("sent %d NS, want 3", len(msgs))
	}
	if got := f.ip.TakeFailures(); len(got) != 0 {
		t.Fatalf("failed early: %+v", got)
	}
	f.clk.Advance(ndp.DefaultRetransTimer)
	got := f.ip.TakeFailures()
	if len(got) != 2 || got[0].NextHop != peerIP || string(got[0].Data) != "a" {
		t.Fatalf("failures %+v, want both packets for %v", got, peerIP)
	}
	f.checkState(peerIP, ndp.Failed)
	if f.counter("ndp.tx.unresolved") != 2 {
		t.Fatal("ndp.tx.unresolved not counted")
	}
	f.clk.Advance(ndp.DefaultGCStaleTime)
	if _, ok := f.entry(peerIP); ok {
		t.Fatal("FAILED entry not collected")
	}
}

// TestAnswerNS_RFC4861_7_2_4: an NS for our address is answered with a
// solicited, override NA carrying our TLLAO, to the source; the source is
// learnt STALE from its SLLAO (7.2.3), and sending the NA through it
// makes it DELAY (7.3.3).
func TestAnswerNS_RFC4861_7_2_4(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.ns(peerIP, peerMAC, ourIP)
	msgs := f.takeMsgs()
	if len(msgs) != 1 {
		t.Fatalf("sent %d messages, want 1 NA", len(msgs))
	}
	na := msgs[0]
	if na.src != ourIP || na.dst != peerIP || na.linkDst != peerMAC {
		t.Fatalf("NA %v -> %v (MAC %v)", na.src, na.dst, na.linkDst)
	}
	want := ndp.NeighborAdvertisement{Solicited: true, Override: true, Target: ourIP, TargetLinkAddr: ourMAC}
	if got := na.msg.NeighborAdvertisement(); got != want {
		t.Fatalf("NA %+v, want %+v", got, want)
	}
	f.checkState(peerIP, ndp.Delay)
}

// TestAnswerNS_Unspecified_RFC4862_5_4_3: a DAD probe (source ::) for our
// address is answered to all nodes, not solicited, and not learnt.
func TestAnswerNS_Unspecified_RFC4862_5_4_3(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.ns(netip.IPv6Unspecified(), peerMAC, ourIP)
	msgs := f.takeMsgs()
	if len(msgs) != 1 || msgs[0].dst != allNodes || msgs[0].msg.Solicited() || !msgs[0].msg.Override() {
		t.Fatalf("answer to DAD probe: %+v", msgs)
	}
	if n := len(f.ndp.Entries()); n != 0 {
		t.Fatalf("learnt %d entries from a DAD probe", n)
	}
}

// TestNSNotForUs: an NS for an address we do not have is not answered.
func TestNSNotForUs(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.ns(peerIP, peerMAC, otherIP)
	if msgs := f.takeMsgs(); len(msgs) != 0 {
		t.Fatalf("answered %+v", msgs)
	}
	if f.counter("ndp.rx.not_for_us") != 1 {
		t.Fatal("not counted")
	}
}

// TestNAUpdate_RFC4861_7_2_5 checks the advertisement rules on an entry
// that is REACHABLE (or STALE) with peerMAC.
func TestNAUpdate_RFC4861_7_2_5(t *testing.T) {
	tests := []struct {
		name                        string
		from                        ndp.State
		mac                         stack.MAC
		solicited, override, router bool
		want                        ndp.State
		wantMAC                     stack.MAC
	}{
		{"S=0 O=0 other MAC demotes REACHABLE", ndp.Reachable, otherMAC, false, false, false, ndp.Stale, peerMAC},
		{"S=1 O=0 other MAC demotes REACHABLE", ndp.Reachable, otherMAC, true, false, false, ndp.Stale, peerMAC},
		{"S=0 O=0 other MAC leaves STALE", ndp.Stale, otherMAC, false, false, false, ndp.Stale, peerMAC},
		{"S=0 O=1 other MAC replaces, STALE", ndp.Reachable, otherMAC, false, true, false, ndp.Stale, otherMAC},
		{"S=1 O=1 other MAC replaces, REACHABLE", ndp.Stale, otherMAC, true, true, false, ndp.Reachable, otherMAC},
		{"S=1 O=0 same MAC confirms", ndp.Stale, peerMAC, true, false, false, ndp.Reachable, peerMAC},
		{"S=0 O=1 same MAC changes nothing", ndp.Stale, peerMAC, false, true, false, ndp.Stale, peerMAC},
		{"R flag recorded", ndp.Reachable, peerMAC, true, true, true, ndp.Reachable, peerMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ndp.Options{})
			f.send(peerIP, "x")
			f.na(peerIP, peerMAC, true, true, false)
			if tt.from == ndp.Stale {
				f.clk.Advance(ndp.DefaultReachableTime)
			}
			f.checkState(peerIP, tt.from)
			f.na(peerIP, tt.mac, tt.solicited, tt.override, tt.router)
			e, _ := f.entry(peerIP)
			if e.State != tt.want || e.MAC != tt.wantMAC || e.Router != tt.router {
				t.Fatalf("entry %+v, want %v %v router=%v", e, tt.want, tt.wantMAC, tt.router)
			}
			f.link.Take()
		})
	}
}

// TestNAWithoutEntryIgnored_RFC4861_7_2_5: an unsolicited NA creates no
// entry.
func TestNAWithoutEntryIgnored_RFC4861_7_2_5(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.na(peerIP, peerMAC, false, true, false)
	if _, ok := f.entry(peerIP); ok || f.counter("ndp.rx.unsolicited_na") != 1 {
		t.Fatal("unsolicited NA created an entry or was not counted")
	}
}

// TestDelayProbe_RFC4861_7_3_3: a send through STALE goes DELAY, then PROBE
// with unicast NS to the cached MAC, then FAILED.
func TestDelayProbe_RFC4861_7_3_3(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.send(peerIP, "x")
	f.na(peerIP, peerMAC, true, true, false)
	f.clk.Advance(ndp.DefaultReachableTime)
	f.checkState(peerIP, ndp.Stale)
	f.link.Take()
	f.send(peerIP, "y")
	f.checkState(peerIP, ndp.Delay)
	f.clk.Advance(ndp.DefaultDelayFirstProbeTime)
	f.checkState(peerIP, ndp.Probe)
	for i := 0; i < ndp.DefaultMaxUnicastSolicit; i++ {
		if i > 0 {
			f.clk.Advance(ndp.DefaultRetransTimer)
		}
		var probes []sent
		for _, m := range f.takeMsgs() {
			if m.msg.Type() == ndp.TypeNeighborSolicitation {
				probes = append(probes, m)
			}
		}
		if len(probes) != 1 || probes[0].dst != peerIP || probes[0].linkDst != peerMAC {
			t.Fatalf("probe %d: %+v", i, probes)
		}
	}
	f.clk.Advance(ndp.DefaultRetransTimer)
	f.checkState(peerIP, ndp.Failed)
}

// TestConfirm_RFC4861_7_3_1: an upper-layer hint makes a STALE entry
// REACHABLE without a probe.
func TestConfirm_RFC4861_7_3_1(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.send(peerIP, "x")
	f.na(peerIP, peerMAC, true, true, false)
	f.clk.Advance(ndp.DefaultReachableTime)
	f.ndp.Confirm(f.nic, peerIP)
	f.checkState(peerIP, ndp.Reachable)
	f.link.Take()
}

// TestCacheBounded: an NS flood from random sources never grows the cache
// past CacheSize; the oldest STALE entries are evicted and counted.
func TestCacheBounded(t *testing.T) {
	f := newFixture(t, ndp.Options{CacheSize: 16})
	f.link.SetDiscard(true)
	for i := range 1000 {
		src := netip.AddrFrom16([16]byte{0xfd, 15: byte(i), 14: byte(i >> 8), 13: 1})
		f.ns(src, stack.MAC{0x02, 1, 0, 0, byte(i >> 8), byte(i)}, ourIP)
		if n := len(f.ndp.Entries()); n > 16 {
			t.Fatalf("%d entries after %d solicitations", n, i+1)
		}
	}
	// Still answering: every solicitation got its NA.
	if n := f.counter("ndp.tx.na"); n != 2+1000 {
		t.Fatalf("ndp.tx.na = %d, want 1002", n)
	}
	if f.counter("ndp.cache.evicted") != 1000-16 {
		t.Fatalf("ndp.cache.evicted = %d", f.counter("ndp.cache.evicted"))
	}
}

// TestQueueBounded: at most QueueLen packets wait per neighbour.
func TestQueueBounded(t *testing.T) {
	f := newFixture(t, ndp.Options{QueueLen: 3})
	for range 10 {
		f.send(peerIP, "x")
	}
	if e, _ := f.entry(peerIP); e.Queued != 3 || f.counter("ndp.tx.queue_overflow") != 7 {
		t.Fatalf("queued %d, overflow %d", e.Queued, f.counter("ndp.tx.queue_overflow"))
	}
	f.link.Take()
}

// TestAddressAddedJoinsSolicitedNode: adding an address joins its
// solicited-node group, announces it, and removing it leaves.
func TestAddressAddedJoinsSolicitedNode(t *testing.T) {
	f := newBareFixture(t, ndp.Options{})
	f.nic.AddAddress(netip.MustParsePrefix("fd00::2/64"))
	g := stack.SolicitedNodeAddress(ourIP)
	if !f.nic.IsMember(g) {
		t.Fatal("solicited-node group not joined")
	}
	msgs := f.takeMsgs()
	if len(msgs) != 1 || msgs[0].dst != allNodes || msgs[0].msg.Solicited() || !msgs[0].msg.Override() {
		t.Fatalf("announcement %+v", msgs)
	}
	f.nic.RemoveAddress(ourIP)
	if f.nic.IsMember(g) {
		t.Fatal("solicited-node group not left")
	}
}

// TestBadMessagesCounted: messages breaking RFC 4861 7.1 are dropped with
// their named counter and change nothing.
func TestBadMessagesCounted(t *testing.T) {
	ns := ndp.NeighborSolicitation{Target: ourIP, SourceLinkAddr: peerMAC}
	tests := []struct {
		name    string
		msg     []byte
		src     netip.Addr
		hl      uint8
		counter string
	}{
		{"hop limit 64", encode(&ns), peerIP, 64, "ndp.rx.bad_hop_limit"},
		{"code 1", func() []byte { b := encode(&ns); b[1] = 1; return b }(), peerIP, 255, "ndp.rx.bad_code"},
		{"option length 0", func() []byte { b := encode(&ns); b[25] = 0; return b }(), peerIP, 255, "ndp.rx.bad_option_length"},
		{"truncated", encode(&ns)[:20], peerIP, 255, "ndp.rx.too_short"},
		{"unspecified with SLLAO", encode(&ns), netip.IPv6Unspecified(), 255, "ndp.rx.unspecified_with_llao"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ndp.Options{})
			f.deliverMsg(tt.msg, tt.src, stack.SolicitedNodeAddress(ourIP), tt.hl, peerMAC)
			if f.counter(tt.counter) != 1 {
				t.Fatalf("%s = %d", tt.counter, f.counter(tt.counter))
			}
			if msgs := f.takeMsgs(); len(msgs) != 0 || len(f.ndp.Entries()) != 0 {
				t.Fatalf("acted on a bad message: %+v", msgs)
			}
		})
	}
}

// TestFormatTable checks the `ip -6 neigh` layout.
func TestFormatTable(t *testing.T) {
	var b bytes.Buffer
	ndp.FormatTable(&b, []ndp.Entry{
		{Addr: peerLL, NIC: "eth0", MAC: peerMAC, State: ndp.Reachable, Router: true},
		{Addr: otherIP, NIC: "eth0", State: ndp.Incomplete},
		{Addr: peerIP, NIC: "eth0", MAC: peerMAC, State: ndp.Stale},
	})
	want := strings.Join([]string{
		"fe80::1 dev eth0 lladdr 02:00:00:00:00:01 router REACHABLE",
		"fd00::3 dev eth0 INCOMPLETE",
		"fd00::1 dev eth0 lladdr 02:00:00:00:00:01 STALE",
	}, "\n") + "\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestStatic: a PERMANENT entry is used at once and not changed by an NA.
func TestStatic(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	if err := f.ndp.AddStatic(f.nic, peerIP, peerMAC); err != nil {
		t.Fatal(err)
	}
	f.send(peerIP, "x")
	if fr := f.link.Take(); len(fr) != 1 || fr[0].Dst != peerMAC {
		t.Fatalf("static send %+v", fr)
	}
	f.na(peerIP, otherMAC, true, true, false)
	if e, _ := f.entry(peerIP); e.State != ndp.Permanent || e.MAC != peerMAC {
		t.Fatalf("static entry changed: %+v", e)
	}
	f.clk.Advance(time.Hour)
	f.checkState(peerIP, ndp.Permanent)
	if err := f.ndp.Delete(f.nic, peerIP); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.entry(peerIP); ok {
		t.Fatal("not deleted")
	}
}
