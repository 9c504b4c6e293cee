package ipv4

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

var (
	farAddr    = netip.MustParseAddr("10.1.0.5") // a host behind eth1
	routerAddr = netip.MustParseAddr("10.1.0.2") // our address on eth1
)

// router is an env with a second NIC, eth1 (10.1.0.2/24 on link1).
type router struct {
	*env
	nic1  *stack.NIC
	link1 *stacktest.Link
}

func newRouter(tb testing.TB, opts Options, mtu1 int) *router {
	tb.Helper()
	opts.Forwarding = true
	r := &router{env: newEnv(tb, opts), link1: newLink(mtu1)}
	var err error
	if r.nic1, err = r.s.AddNIC("eth1", r.link1); err != nil {
		tb.Fatal(err)
	}
	if err := r.nic1.AddAddress(netip.MustParsePrefix("10.1.0.2/24")); err != nil {
		tb.Fatal(err)
	}
	return r
}

// failingResolver hands packets for one next hop straight to
// ResolutionFailed (as arp does after its retries); others resolve.
type failingResolver struct{ fail netip.Addr }

func (f failingResolver) WriteTo(nic *stack.NIC, nextHop netip.Addr, et uint16, p *stack.Packet) error {
	if nextHop == f.fail {
		nic.Stack().ResolutionFailed(nic, nextHop, et, p)
		return nil
	}
	return nic.WriteLinkPacket(peerMAC, et, p)
}

func TestForward(t *testing.T) {
	rr := []byte{OptionRecordRoute, 7, 4, 0, 0, 0, 0, 0} // record route, passed through untouched
	tests := []struct {
		name    string
		f       Fields
		payload []byte
	}{
		{"udp", Fields{Protocol: 17, TTL: 64, TOS: 0x2e, ID: 9}, udpish("through")},
		{"ttl 2", Fields{Protocol: 6, TTL: 2, DF: true}, udpish("x")},
		{"record route option", Fields{Protocol: 17, TTL: 255, Options: rr}, udpish("rr")},
		{"a fragment", Fields{Protocol: 17, TTL: 9, MF: true, FragOffset: 1480}, pattern(1480)},
		{"1500 bytes", Fields{Protocol: 17, TTL: 64, DF: true}, pattern(1480)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newRouter(t, Options{}, 1500)
			f := tc.f
			f.Src, f.Dst = peerAddr, farAddr
			in := ipPacket(f, tc.payload)
			e.inject(in, ourMAC)
			fr := oneFrame(t, e.link1)
			if fr.Dst != peerMAC {
				t.Errorf("link dst %v", fr.Dst)
			}
			checkIPChecksum(t, fr.Data)
			ip := decodeIP(t, fr.Data)
			if ip.TTL != f.TTL-1 {
				t.Errorf("TTL %d, want %d", ip.TTL, f.TTL-1)
			}
			// Everything but TTL and checksum is unchanged.
			want := append([]byte(nil), in...)
			want[8]--
			copy(want[10:12], fr.Data[10:12])
			if !bytes.Equal(fr.Data, want) {
				t.Errorf("forwarded\n% x\nwant\n% x", fr.Data, want)
			}
			if len(e.link.Take()) != 0 {
				t.Errorf("something went back to the source")
			}
			if e.count("ipv4.fwd.forwarded") != 1 {
				t.Errorf("ipv4.fwd.forwarded = %d", e.count("ipv4.fwd.forwarded"))
			}
			if got := e.udp.TakePackets(); len(got) != 0 {
				t.Errorf("delivered locally")
			}
		})
	}
}

// TestForwardViaGateway: a route through a gateway on eth1, and a packet
// going back out of the NIC it came in on.
func TestForwardViaGateway(t *testing.T) {
	e := newRouter(t, Options{}, 1500)
	if err := e.s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix("192.168.0.0/16"), Gateway: netip.MustParseAddr("10.1.0.1")}); err != nil {
		t.Fatal(err)
	}
	e.inject(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: netip.MustParseAddr("192.168.3.4")}, udpish("gw")), ourMAC)
	oneFrame(t, e.link1)
	e.inject(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: otherAddr}, udpish("hairpin")), ourMAC)
	if ip := decodeIP(t, oneFrame(t, e.link).Data); ip.DstIP.String() != otherAddr.String() || ip.TTL != 63 {
		t.Errorf("hairpin %v ttl %d", ip.DstIP, ip.TTL)
	}
	if e.count("ipv4.fwd.forwarded") != 2 {
		t.Errorf("ipv4.fwd.forwarded = %d", e.count("ipv4.fwd.forwarded"))
	}
}

// checkICMPError checks that b is an ICMP error from from to peerAddr with
// type, code and rest, quoting orig's header and 8 bytes.
func checkICMPError(t *testing.T, b []byte, from netip.Addr, typ, code uint8, rest uint32, orig []byte) {
	t.Helper()
	ip, ic := decodeICMP(t, b)
	if ip.SrcIP.String() != from.String() || ip.DstIP.String() != peerAddr.String() {
		t.Errorf("error %v -> %v, want %v -> %v", ip.SrcIP, ip.DstIP, from, peerAddr)
	}
	if ic.TypeCode.Type() != typ || ic.TypeCode.Code() != code {
		t.Errorf("type/code %v, want %d/%d", ic.TypeCode, typ, code)
	}
	m := ICMP(ip.Payload)
	if m.Rest() != rest {
		t.Errorf("rest of header %#08x, want %#08x", m.Rest(), rest)
	}
	ihl := int(orig[0]&0xf) * 4
	if want := orig[:min(len(orig), ihl+8)]; !bytes.Equal(ic.Payload, want) {
		t.Errorf("quote\n% x\nwant\n% x", ic.Payload, want)
	}
}

func TestForwardErrors(t *testing.T) {
	tests := []struct {
		name      string
		f         Fields
		n         int
		typ, code uint8
		rest      uint32
		counter   string
	}{
		{"ttl 1", Fields{TTL: 1, Dst: farAddr}, 100, ICMPTimeExceeded, CodeTTLExceeded, 0, "ipv4.fwd.ttl_exceeded"},
		{"ttl 0", Fields{TTL: 0, Dst: farAddr}, 10, ICMPTimeExceeded, CodeTTLExceeded, 0, "ipv4.fwd.ttl_exceeded"},
		{"no route", Fields{TTL: 64, Dst: netip.MustParseAddr("192.0.2.1")}, 100, ICMPDestUnreach, CodeNetUnreachable, 0, "ipv4.fwd.no_route"},
		{"DF over the MTU", Fields{TTL: 64, DF: true, Dst: farAddr}, 1000, ICMPDestUnreach, CodeFragmentationNeeded, MTURest(576), "ipv4.fwd.frag_needed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newRouter(t, Options{}, 576)
			f := tc.f
			f.Protocol, f.Src = 17, peerAddr
			in := ipPacket(f, pattern(tc.n))
			if tc.f.TTL == 0 {
				in[8] = 0
				fixChecksum(in)
			}
			e.inject(in, ourMAC)
			checkICMPError(t, oneFrame(t, e.link).Data, ourAddr, tc.typ, tc.code, tc.rest, in)
			if len(e.link1.Take()) != 0 {
				t.Errorf("forwarded anyway")
			}
			if e.count(tc.counter) != 1 {
				t.Errorf("%s = %d", tc.counter, e.count(tc.counter))
			}
		})
	}
}

func TestForwardFragments(t *testing.T) {
	rr := []byte{OptionRecordRoute, 3, 4, OptionNOP} // not copied
	sec := []byte{0x82, 4, 0xab, 0xcd}               // copied (security)
	tests := []struct {
		name    string
		f       Fields
		n, mtu  int
		frags   int
		restOpt []byte // options of the second and later fragments
	}{
		{"1480 over 576", Fields{}, 1480, 576, 3, nil},
		{"60000 over 1500", Fields{}, 60000, 1500, 41, nil},
		{"over 68", Fields{}, 200, 68, 5, nil},
		{"options", Fields{Options: append(append([]byte(nil), rr...), sec...)}, 1000, 576, 2, []byte{1, 1, 1, 1, 0x82, 4, 0xab, 0xcd}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newRouter(t, Options{}, tc.mtu)
			f := tc.f
			f.Protocol, f.Src, f.Dst, f.TTL, f.ID = 17, peerAddr, farAddr, 30, 0x4321
			payload := pattern(tc.n)
			in := ipPacket(f, payload)
			e.inject(in, ourMAC)
			fs := e.link1.Take()
			if len(fs) != tc.frags {
				t.Fatalf("%d fragments, want %d", len(fs), tc.frags)
			}
			d := ip4defrag.NewIPv4Defragmenter()
			var whole *layers.IPv4
			next := 0
			for i, fr := range fs {
				if len(fr.Data) > tc.mtu {
					t.Fatalf("fragment %d is %d bytes", i, len(fr.Data))
				}
				checkIPChecksum(t, fr.Data)
				ip := decodeIP(t, fr.Data)
				if ip.TTL != 29 || ip.Id != 0x4321 {
					t.Errorf("fragment %d: ttl %d id %#x", i, ip.TTL, ip.Id)
				}
				h := Header(fr.Data)
				if i > 0 && tc.restOpt != nil && !bytes.Equal(h.Options(), tc.restOpt) {
					t.Errorf("fragment %d options % x, want % x", i, h.Options(), tc.restOpt)
				}
				if i == 0 && !bytes.Equal(h.Options(), f.Options) {
					t.Errorf("first fragment options % x", h.Options())
				}
				// Our own check: the pieces tile the payload.
				if int(h.FragmentOffset()) != next || !bytes.Equal(h.Payload(), payload[next:next+len(h.Payload())]) ||
					h.MF() != (i < len(fs)-1) {
					t.Errorf("fragment %d: offset %d MF %v", i, h.FragmentOffset(), h.MF())
				}
				next += len(h.Payload())
				if f.Options != nil {
					continue // gopacket's ip4defrag assumes 20-byte headers
				}
				out, err := d.DefragIPv4(ip)
				if err != nil {
					t.Fatal(err)
				}
				if out != nil {
					whole = out
				}
			}
			if next != len(payload) {
				t.Errorf("fragments end at %d", next)
			}
			if f.Options == nil && (whole == nil || !bytes.Equal(whole.Payload, payload)) {
				t.Fatalf("gopacket did not reassemble the payload")
			}
			if e.count("ipv4.fwd.fragmented") != 1 {
				t.Errorf("ipv4.fwd.fragmented = %d", e.count("ipv4.fwd.fragmented"))
			}
		})
	}
}

// TestForwardFragmentOfFragment: a fragment (MF, offset 1480) split again
// keeps its offsets relative to the original datagram and MF on all.
func TestForwardFragmentOfFragment(t *testing.T) {
	for _, lastMF := range []bool{true, false} {
		e := newRouter(t, Options{}, 576)
		in := ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: farAddr, ID: 3, MF: lastMF, FragOffset: 1480}, pattern(1480))
		e.inject(in, ourMAC)
		fs := e.link1.Take()
		if len(fs) != 3 {
			t.Fatalf("%d fragments", len(fs))
		}
		off := 1480
		for i, fr := range fs {
			h := Header(fr.Data)
			if h.Validate() != nil || int(h.FragmentOffset()) != off || h.MF() != (lastMF || i < 2) {
				t.Errorf("fragment %d: offset %d MF %v", i, h.FragmentOffset(), h.MF())
			}
			if !bytes.Equal(h.Payload(), in[20+off-1480:20+off-1480+len(h.Payload())]) {
				t.Errorf("fragment %d payload differs", i)
			}
			off += len(h.Payload())
		}
		if off != 2960 {
			t.Errorf("fragments end at %d", off)
		}
	}
}

func TestNeverForward(t *testing.T) {
	udp := func(src, dst string) []byte {
		return ipPacket(Fields{Protocol: 17, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst)}, udpish("no"))
	}
	lsrr := ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: farAddr, Options: []byte{OptionLSRR, 7, 4, 10, 1, 0, 9, 0}}, udpish("sr"))
	tests := []struct {
		name       string
		b          []byte
		linkDst    stack.MAC
		forwarding bool
		counter    string
	}{
		{"forwarding off", udp("10.0.0.1", "10.1.0.5"), ourMAC, false, "ipv4.rx.not_for_us"},
		{"multicast destination", udp("10.0.0.1", "224.0.0.5"), stack.MAC{1, 0, 0x5e, 0, 0, 5}, true, "ipv4.fwd.multicast"},
		{"multicast destination, unicast frame", udp("10.0.0.1", "239.1.2.3"), ourMAC, true, "ipv4.fwd.multicast"},
		{"link-layer broadcast", udp("10.0.0.1", "10.1.0.5"), stack.BroadcastMAC, true, "ipv4.fwd.link_broadcast"},
		{"directed broadcast of another subnet", udp("10.0.0.1", "10.1.0.255"), ourMAC, true, "ipv4.fwd.broadcast"},
		{"source 0.0.0.0", udp("0.0.0.0", "10.1.0.5"), ourMAC, true, "ipv4.rx.martian_source"},
		{"source in 0/8", udp("0.1.2.3", "10.1.0.5"), ourMAC, true, "ipv4.rx.martian_source"},
		{"loopback source", udp("127.0.0.1", "10.1.0.5"), ourMAC, true, "ipv4.rx.martian_source"},
		{"link-local source", udp("169.254.7.7", "10.1.0.5"), ourMAC, true, "ipv4.fwd.bad_source"},
		{"directed broadcast source", udp("10.1.0.255", "10.1.0.5"), ourMAC, true, "ipv4.rx.martian_source"},
		{"loopback destination", udp("10.0.0.1", "127.0.0.1"), ourMAC, true, "ipv4.rx.martian_destination"},
		{"link-local destination", udp("10.0.0.1", "169.254.1.1"), ourMAC, true, "ipv4.fwd.bad_destination"},
		{"destination in 0/8", udp("10.0.0.1", "0.0.0.7"), ourMAC, true, "ipv4.rx.martian_destination"},
		{"loose source route", lsrr, ourMAC, true, "ipv4.fwd.source_route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newRouter(t, Options{Forwarding: tc.forwarding}, 1500)
			e.pr.opts.Forwarding = tc.forwarding
			e.inject(tc.b, tc.linkDst)
			if n0, n1 := len(e.link.Take()), len(e.link1.Take()); n0+n1 != 0 {
				t.Errorf("sent %d frames on eth0, %d on eth1", n0, n1)
			}
			if e.count(tc.counter) != 1 {
				t.Errorf("%s = %d", tc.counter, e.count(tc.counter))
			}
			if e.count("ipv4.fwd.forwarded") != 0 {
				t.Errorf("forwarded")
			}
		})
	}
}

// TestForwardResolutionFailure: the next hop of a forwarded packet does not
// answer ARP; the source hears host unreachable on the wire.
func TestForwardResolutionFailure(t *testing.T) {
	e := newRouter(t, Options{}, 1500)
	e.s.SetResolver(stack.EtherTypeIPv4, failingResolver{fail: farAddr})
	in := ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: farAddr, TTL: 10}, udpish("anyone?"))
	e.inject(in, ourMAC)
	// The quote is of the packet as forwarded: TTL already decremented.
	fwd := append([]byte(nil), in...)
	Header(fwd).SetTTL(9)
	checkICMPError(t, oneFrame(t, e.link).Data, ourAddr, ICMPDestUnreach, CodeHostUnreachable, 0, fwd)
	if e.count("ipv4.fwd.host_unreachable") != 1 || len(e.link1.Take()) != 0 {
		t.Errorf("ipv4.fwd.host_unreachable = %d", e.count("ipv4.fwd.host_unreachable"))
	}
}

// TestForwardErrorSuppression: the RFC 1812 4.3.2.7 rules and the rate
// limit apply to errors about forwarded packets too.
func TestForwardErrorSuppression(t *testing.T) {
	icmpErr := ipPacket(Fields{Protocol: 1, TTL: 1, Src: peerAddr, Dst: farAddr}, icmpMsg(ICMPDestUnreach, 3, 0, make([]byte, 28)))
	later := ipPacket(Fields{Protocol: 17, TTL: 1, FragOffset: 1480, Src: peerAddr, Dst: farAddr}, udpish("frag"))
	for _, b := range [][]byte{icmpErr, later} {
		e := newRouter(t, Options{}, 1500)
		e.inject(b, ourMAC)
		if n := len(e.link.Take()) + len(e.link1.Take()); n != 0 || e.count("icmp.tx.suppressed") != 1 {
			t.Errorf("sent %d frames, suppressed %d", n, e.count("icmp.tx.suppressed"))
		}
	}
	e := newRouter(t, Options{ICMPErrorRate: 10, ICMPErrorBurst: 2}, 1500)
	for range 5 {
		e.inject(ipPacket(Fields{Protocol: 17, TTL: 1, Src: peerAddr, Dst: farAddr}, udpish("x")), ourMAC)
	}
	if n := len(e.link.Take()); n != 2 || e.count("icmp.tx.rate_limited") != 3 {
		t.Errorf("%d errors sent, %d rate limited; want 2, 3", n, e.count("icmp.tx.rate_limited"))
	}
}

// TestForwardFromOtherSide: errors come from the address facing the source.
func TestForwardFromOtherSide(t *testing.T) {
	e := newRouter(t, Options{}, 1500)
	in := ipPacket(Fields{Protocol: 17, TTL: 1, Src: farAddr, Dst: peerAddr}, udpish("back"))
	p := stack.NewPacketFrom(in)
	p.EtherType, p.LinkSrc, p.LinkDst = stack.EtherTypeIPv4, peerMAC, ourMAC
	e.nic1.DeliverNetworkPacket(p)
	ip, _ := decodeICMP(t, oneFrame(t, e.link1).Data)
	if ip.SrcIP.String() != routerAddr.String() || ip.DstIP.String() != farAddr.String() {
		t.Errorf("time exceeded %v -> %v", ip.SrcIP, ip.DstIP)
	}
}

func BenchmarkForward(b *testing.B) {
	e := newRouter(b, Options{}, 1500)
	e.link1.SetDiscard(true)
	in := ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: farAddr, TTL: 64}, make([]byte, 1000))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, len(in))
		copy(p.Bytes(), in)
		p.EtherType, p.LinkDst = stack.EtherTypeIPv4, ourMAC
		e.nic.DeliverNetworkPacket(p)
	}
	if e.count("ipv4.fwd.forwarded") == 0 {
		b.Fatal("nothing forwarded")
	}
}

// TestForwardAllocs is BenchmarkForward's 0 allocs/op as a test.
func TestForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	e := newRouter(t, Options{}, 1500)
	e.link1.SetDiscard(true)
	in := ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: farAddr, TTL: 64}, make([]byte, 1000))
	send := func() {
		p := stack.NewPacket(stack.Headroom, len(in))
		copy(p.Bytes(), in)
		p.EtherType, p.LinkDst = stack.EtherTypeIPv4, ourMAC
		e.nic.DeliverNetworkPacket(p)
	}
	send()
	if n := testing.AllocsPerRun(1000, send); n != 0 {
		t.Errorf("%v allocations per forwarded packet", n)
	}
	if e.count("ipv4.fwd.forwarded") != 1002 {
		t.Errorf("forwarded %d", e.count("ipv4.fwd.forwarded"))
	}
}
