package ipv6

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/mld"
	"github.com/tapstack/tapstack/stack"
)

var _ mld.HopByHopWriter = (*Protocol)(nil)

// mldHBH is the hop-by-hop header of MLD (RFC 3810 5, RFC 2711): Router
// Alert value 0 and a PadN of two bytes.
var mldHBH = []byte{stack.ProtocolICMPv6, 0, OptionRouterAlert, 2, 0, 0, OptionPadN, 0}

// TestRFC8200_4_3WriteWithHopByHop checks the packets WriteWithHopByHop
// builds: the hop-by-hop header right after the fixed header (Next Header
// 0), its own Next Header the upper-layer protocol, the payload length
// counting it, the data after it; and that a malformed header, an
// offloaded packet or a packet over the MTU is refused, counted and
// released, with nothing sent.
func TestRFC8200_4_3WriteWithHopByHop(t *testing.T) {
	mc := netip.MustParseAddr("ff02::16")
	long16 := []byte{17, 1, OptionRouterAlert, 2, 0, 1, OptionPadN, 8, 0, 0, 0, 0, 0, 0, 0, 0}
	tests := []struct {
		name     string
		hbh      []byte
		proto    uint8
		data     int
		headroom int
		gso      bool
		err      error
		counter  string
	}{
		{"MLD router alert", mldHBH, stack.ProtocolICMPv6, 28, stack.Headroom, false, nil, "ipv6.tx.hop_by_hop"},
		{"next header filled in from params", []byte{0xff, 0, 5, 2, 0, 0, 1, 0}, 17, 8, stack.Headroom, false, nil, "ipv6.tx.hop_by_hop"},
		{"16-byte header", long16, 17, 8, stack.Headroom, false, nil, "ipv6.tx.hop_by_hop"},
		{"Pad1 only", []byte{58, 0, 0, 0, 0, 0, 0, 0}, 58, 8, stack.Headroom, false, nil, "ipv6.tx.hop_by_hop"},
		{"unknown option type allowed", []byte{58, 0, 0x3e, 4, 1, 2, 3, 4}, 58, 8, stack.Headroom, false, nil, "ipv6.tx.hop_by_hop"},
		{"no headroom: copied", mldHBH, 58, 28, 0, false, nil, "ipv6.tx.hop_by_hop"},
		{"nil header", nil, 58, 8, stack.Headroom, false, ErrBadHopByHop, "ipv6.tx.bad_hop_by_hop"},
		{"7 bytes", mldHBH[:7], 58, 8, stack.Headroom, false, ErrBadHopByHop, "ipv6.tx.bad_hop_by_hop"},
		{"not a multiple of 8", append(append([]byte(nil), mldHBH...), 0), 58, 8, stack.Headroom, false, ErrBadHopByHop, "ipv6.tx.bad_hop_by_hop"},
		{"length field says 16, 8 given", []byte{58, 1, 5, 2, 0, 0, 1, 0}, 58, 8, stack.Headroom, false, ErrBadHopByHop, "ipv6.tx.bad_hop_by_hop"},
		{"length field says 8, 16 given", append([]byte{58, 0}, long16[2:]...), 58, 8, stack.Headroom, false, ErrBadHopByHop, "ipv6.tx.bad_hop_by_hop"},
		{"option runs past the header", []byte{58, 0, 5, 2, 0, 0, 1, 1}, 58, 8, stack.Headroom, false, ErrBadHopByHop, "ipv6.tx.bad_hop_by_hop"},
		{"RFC 2711 router alert of 3 bytes", []byte{58, 0, 5, 3, 0, 0, 0, 0}, 58, 8, stack.Headroom, false, ErrBadHopByHop, "ipv6.tx.bad_hop_by_hop"},
		{"GSO super-segment", mldHBH, 58, 8, stack.Headroom, true, stack.ErrInvalid, "ipv6.tx.bad_hop_by_hop"},
		{"over the MTU: never fragmented", mldHBH, 58, 1500 - HeaderLen - 8 + 1, stack.Headroom, false, stack.ErrMessageTooLong, "ipv6.tx.too_long"},
		{"exactly the MTU", mldHBH, 58, 1500 - HeaderLen - 8, stack.Headroom, false, nil, "ipv6.tx.hop_by_hop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			orig := append([]byte(nil), tc.hbh...)
			p := stack.NewPacket(tc.headroom, tc.data)
			for i := range p.Bytes() {
				p.Bytes()[i] = byte(i)
			}
			data := append([]byte(nil), p.Bytes()...)
			if tc.gso {
				p.GSOSize = 1000
			}
			r := e.nic.LinkRoute(ourLL, mc)
			err := e.pr.WriteWithHopByHop(&r, stack.NetworkParams{Protocol: tc.proto, TTL: 1}, tc.hbh, p)
			if !errors.Is(err, tc.err) {
				t.Fatalf("WriteWithHopByHop = %v, want %v", err, tc.err)
			}
			if got := e.count(tc.counter); got != 1 {
				t.Errorf("%s = %d, want 1", tc.counter, got)
			}
			if !bytes.Equal(tc.hbh, orig) {
				t.Errorf("caller's header changed to %x", tc.hbh)
			}
			if tc.err != nil {
				if f := e.link.Take(); len(f) != 0 {
					t.Errorf("sent %d frames", len(f))
				}
				return
			}
			f := oneFrame(t, e.link)
			if f.Dst != (stack.MAC{0x33, 0x33, 0, 0, 0, 0x16}) {
				t.Errorf("link destination %v", f.Dst)
			}
			h := Header(f.Data)
			if h.NextHeader() != ProtoHopByHop || h.HopLimit() != 1 || h.Src() != ourLL || h.Dst() != mc || int(h.PayloadLength()) != len(tc.hbh)+tc.data || len(f.Data) != HeaderLen+len(tc.hbh)+tc.data {
				t.Fatalf("header: next %d hop limit %d %v > %v payload %d, %d bytes", h.NextHeader(), h.HopLimit(), h.Src(), h.Dst(), h.PayloadLength(), len(f.Data))
			}
			wantHBH := append([]byte{tc.proto}, tc.hbh[1:]...)
			if got := f.Data[HeaderLen : HeaderLen+len(tc.hbh)]; !bytes.Equal(got, wantHBH) {
				t.Errorf("hop-by-hop %x, want %x", got, wantHBH)
			}
			if got := f.Data[HeaderLen+len(tc.hbh):]; !bytes.Equal(got, data) {
				t.Errorf("data after the header differs")
			}
			// Our own inbound chain walk accepts what we send.
			if res := WalkChain(f.Data, Start(h), true); res.Err != nil || res.Pos.Next != tc.proto || res.Pos.Off != HeaderLen+len(tc.hbh) {
				t.Errorf("WalkChain: %+v", res)
			}
		})
	}
}

// TestWriteWithHopByHopBadRoute checks that a route that cannot carry IPv6
// is refused as by WritePacket, and the packet released.
func TestWriteWithHopByHopBadRoute(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.nic.LinkRoute(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("224.0.0.22"))
	if err := e.pr.WriteWithHopByHop(&r, stack.NetworkParams{Protocol: 58}, mldHBH, stack.NewPacket(stack.Headroom, 8)); err != stack.ErrNoRoute {
		t.Errorf("IPv4 route: %v, want ErrNoRoute", err)
	}
	if err := e.pr.WriteWithHopByHop(nil, stack.NetworkParams{Protocol: 58}, mldHBH, stack.NewPacket(stack.Headroom, 8)); err != stack.ErrNoRoute {
		t.Errorf("nil route: %v, want ErrNoRoute", err)
	}
	if e.count("ipv6.tx.invalid_route") != 2 || len(e.link.Take()) != 0 {
		t.Errorf("invalid routes not refused")
	}
}

// TestMLDv2ReportDecodesWithRouterAlert registers MLD on top of this
// package and checks with gopacket that the report a join sends is IPv6,
// a hop-by-hop header holding Router Alert 0 (RFC 2711, RFC 3810 5) and
// an ICMPv6 MLDv2 report TO_EX{} for the group, with nothing left
// undecoded; and that MLD no longer counts reports without Router Alert.
func TestMLDv2ReportDecodesWithRouterAlert(t *testing.T) {
	e := newEnv(t, Options{})
	m, err := mld.Register(e.s, mld.Options{Jitter: func(time.Duration) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	group := netip.MustParseAddr("ff05::1:3")
	if err := e.nic.JoinGroup(group); err != nil {
		t.Fatal(err)
	}
	f := oneFrame(t, e.link)
	if f.Dst != (stack.MAC{0x33, 0x33, 0, 0, 0, 0x16}) {
		t.Errorf("link destination %v", f.Dst)
	}
	pkt := gopacket.NewPacket(f.Data, layers.LayerTypeIPv6, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v in % x", el.Error(), f.Data)
	}
	var types []gopacket.LayerType
	for _, l := range pkt.Layers() {
		types = append(types, l.LayerType())
	}
	want := []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeIPv6HopByHop, layers.LayerTypeICMPv6, layers.LayerTypeMLDv2MulticastListenerReport}
	if len(types) != len(want) {
		t.Fatalf("layers %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("layers %v, want %v", types, want)
		}
	}
	ip, ic := decode(t, f.Data)
	if ip.HopLimit != 1 || !ip.SrcIP.Equal(net.ParseIP("fe80::2")) || !ip.DstIP.Equal(net.ParseIP("ff02::16")) {
		t.Errorf("IPv6 %v > %v hop limit %d", ip.SrcIP, ip.DstIP, ip.HopLimit)
	}
	hbh := pkt.Layer(layers.LayerTypeIPv6HopByHop).(*layers.IPv6HopByHop)
	ra := false
	for _, o := range hbh.Options {
		if o.OptionType == OptionRouterAlert && bytes.Equal(o.OptionData, []byte{0, 0}) {
			ra = true
		}
	}
	if !ra || hbh.NextHeader != layers.IPProtocolICMPv6 {
		t.Errorf("hop-by-hop next %v options %+v: no Router Alert 0", hbh.NextHeader, hbh.Options)
	}
	if ic == nil || ic.TypeCode.Type() != layers.ICMPv6TypeMLDv2MulticastListenerReportMessageV2 {
		t.Fatalf("ICMPv6 %v", ic)
	}
	rep := pkt.Layer(layers.LayerTypeMLDv2MulticastListenerReport).(*layers.MLDv2MulticastListenerReportMessage)
	if len(rep.MulticastAddressRecords) != 1 || rep.MulticastAddressRecords[0].RecordType != layers.MLDv2MulticastAddressRecordTypeChangeToExcludeMode || !rep.MulticastAddressRecords[0].MulticastAddress.Equal(net.IP(group.AsSlice())) {
		t.Errorf("records %+v", rep.MulticastAddressRecords)
	}
	if e.count("mld.tx.no_router_alert") != 0 || e.count("mld.tx.reports") != 1 || e.count("ipv6.tx.hop_by_hop") != 1 {
		t.Errorf("mld.tx.no_router_alert=%d mld.tx.reports=%d ipv6.tx.hop_by_hop=%d", e.count("mld.tx.no_router_alert"), e.count("mld.tx.reports"), e.count("ipv6.tx.hop_by_hop"))
	}
}

// FuzzWriteWithHopByHop feeds arbitrary hop-by-hop headers: never a panic
// or leak, and whatever is accepted walks as a valid chain on input.
func FuzzWriteWithHopByHop(f *testing.F) {
	f.Add(mldHBH, 8)
	f.Add([]byte{58, 1, 5, 2, 0, 0, 1, 0}, 0)
	f.Add([]byte{58, 0, 5, 2, 0, 0, 1, 1}, 100)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, hbh []byte, n int) {
		e := newEnv(t, Options{})
		n = max(0, min(n, 2000))
		r := e.nic.LinkRoute(ourLL, netip.MustParseAddr("ff02::16"))
		err := e.pr.WriteWithHopByHop(&r, stack.NetworkParams{Protocol: 17, TTL: 1}, hbh, stack.NewPacket(stack.Headroom, n))
		fs := e.link.Take()
		if err != nil {
			if len(fs) != 0 {
				t.Fatalf("error %v but %d frames sent", err, len(fs))
			}
			return
		}
		if len(fs) != 1 {
			t.Fatalf("%d frames", len(fs))
		}
		if res := WalkChain(fs[0].Data, Start(Header(fs[0].Data)), true); res.Err == ErrExtTruncated || res.Err == ErrExtBadOption {
			t.Fatalf("sent a malformed chain: %v", res.Err)
		}
	})
}

// BenchmarkWriteWithHopByHop sends an MLD-size report with the Router
// Alert header: 0 allocs/op like WritePacket.
func BenchmarkWriteWithHopByHop(b *testing.B) {
	e := newEnv(b, Options{})
	e.link.SetDiscard(true)
	r := e.nic.LinkRoute(ourLL, netip.MustParseAddr("ff02::16"))
	params := stack.NetworkParams{Protocol: stack.ProtocolICMPv6, TTL: 1}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.pr.WriteWithHopByHop(&r, params, mldHBH, stack.NewPacket(stack.Headroom, 28)); err != nil {
			b.Fatal(err)
		}
	}
}
