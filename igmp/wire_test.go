package igmp_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/igmp"
)

// TestMaxRespCodeRFC3376_4_1_1 checks the floating-point max resp code:
// values below 128 tenths are exact; larger ones are (mant|0x10) <<
// (exp+3), rounded down when encoded.
func TestMaxRespCodeRFC3376_4_1_1(t *testing.T) {
	tests := []struct {
		resp time.Duration
		code uint8
		back time.Duration
	}{
		{0, 0, 0},
		{100 * time.Millisecond, 1, 100 * time.Millisecond},
		{12700 * time.Millisecond, 127, 12700 * time.Millisecond},
		{12800 * time.Millisecond, 0x80, 12800 * time.Millisecond},
		{13600 * time.Millisecond, 0x81, 13600 * time.Millisecond},
		{13700 * time.Millisecond, 0x81, 13600 * time.Millisecond},
		{3174400 * time.Millisecond, 0xff, 3174400 * time.Millisecond},
	}
	for _, tc := range tests {
		b := make([]byte, 12)
		igmp.QueryFields{Version: 3, MaxResp: tc.resp}.Encode(b)
		if b[1] != tc.code || igmp.Query(b).MaxRespTime() != tc.back {
			t.Errorf("%v: code %#x (want %#x), decodes to %v (want %v)", tc.resp, b[1], tc.code, igmp.Query(b).MaxRespTime(), tc.back)
		}
	}
}

// TestQueryEncodeGopacket cross-checks encoded queries with gopacket's
// decoder, and our views with what gopacket reads. (gopacket reads QQIC
// in tenths of a second like the max resp code; RFC 3376 4.1.7 says
// seconds, so its IntervalTime is a tenth of ours.)
func TestQueryEncodeGopacket(t *testing.T) {
	f := igmp.QueryFields{Version: 3, MaxResp: 10 * time.Second, Group: netip.MustParseAddr("239.1.2.3"), S: true, QRV: 3, QQI: 60 * time.Second,
		Sources: []netip.Addr{netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("10.0.0.8")}}
	b := make([]byte, f.Len())
	f.Encode(b)
	q := igmp.Query(b)
	if igmp.Message(b).Validate() != nil || q.ValidateQuery() != nil {
		t.Fatal("our own query does not validate")
	}
	p := gopacket.NewPacket(b, layers.LayerTypeIGMP, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	g, ok := p.Layer(layers.LayerTypeIGMP).(*layers.IGMP)
	if !ok {
		t.Fatalf("gopacket decoded %v", p.Layers())
	}
	// github.com/gopacket/gopacket v1.7 leaves Version 0 for v3 queries
	// (it decodes them, but sets Version only for reports).
	if (g.Version != 3 && g.Version != 0) || g.MaxResponseTime != 10*time.Second || !g.GroupAddress.Equal(net.IPv4(239, 1, 2, 3)) || !g.SupressRouterProcessing ||
		g.RobustnessValue != 3 || g.IntervalTime != 6*time.Second || len(g.SourceAddresses) != 2 || !g.SourceAddresses[1].Equal(net.IPv4(10, 0, 0, 8)) {
		t.Errorf("gopacket read %+v", g)
	}
	if q.Version() != 3 || q.QRV() != 3 || q.QueryInterval() != 60*time.Second || !q.SuppressRouterSide() || q.NumSources() != 2 || q.Source(0) != f.Sources[0] {
		t.Errorf("views read version %d qrv %d qqi %v s %v sources %d", q.Version(), q.QRV(), q.QueryInterval(), q.SuppressRouterSide(), q.NumSources())
	}
	for _, v := range []int{1, 2} {
		b := make([]byte, 8)
		igmp.QueryFields{Version: v, MaxResp: 5 * time.Second}.Encode(b)
		g, ok := gopacket.NewPacket(b, layers.LayerTypeIGMP, gopacket.Default).Layer(layers.LayerTypeIGMP).(*layers.IGMPv1or2)
		if !ok || int(g.Version) != v || igmp.Query(b).Version() != v {
			t.Errorf("v%d query: gopacket %+v, ours %d", v, g, igmp.Query(b).Version())
		}
	}
}

// TestReportsGopacket decodes what the stack sends, from the IPv4 header
// on, with gopacket: the Router Alert option, TTL 1, and IGMP v3 reports,
// v2 reports and v2 leaves, with nothing left undecoded.
func TestReportsGopacket(t *testing.T) {
	e := newEnv(t, latest)
	g := mustJoin(t, e.nic, "239.1.2.3")
	mustJoin(t, e.nic, "224.0.0.251")
	e.inject(netip.MustParseAddr("224.0.0.1"), query(igmp.QueryFields{Version: 3, MaxResp: time.Second}))
	e.clock.Advance(time.Minute)
	e.inject(netip.MustParseAddr("224.0.0.1"), query(igmp.QueryFields{Version: 2, MaxResp: time.Second}))
	e.clock.Advance(time.Second)
	if err := e.nic.LeaveGroup(g); err != nil {
		t.Fatal(err)
	}
	types := map[layers.IGMPType]int{}
	for _, f := range e.link.Take() {
		p := gopacket.NewPacket(f.Data, layers.LayerTypeIPv4, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("gopacket: %v in %x", el.Error(), f.Data)
		}
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip.TTL != 1 || len(ip.Options) == 0 || ip.Options[0].OptionType != 148 || ip.Options[0].OptionLength != 4 {
			t.Errorf("IPv4 header: ttl %d options %+v", ip.TTL, ip.Options)
		}
		switch l := p.Layer(layers.LayerTypeIGMP).(type) {
		case *layers.IGMP:
			types[l.Type]++
			for _, r := range l.GroupRecords {
				if !r.MulticastAddress.IsMulticast() || r.NumberOfSources != 0 {
					t.Errorf("record %+v", r)
				}
			}
		case *layers.IGMPv1or2:
			types[l.Type]++
			if !l.GroupAddress.IsMulticast() {
				t.Errorf("v2 message for %v", l.GroupAddress)
			}
		default:
			t.Fatalf("no IGMP layer in %v", p.Layers())
		}
	}
	// Two joins, then at 1 s one report carrying both retransmissions and
	// the general answer; then v2: 2 answers, 1 leave.
	want := map[layers.IGMPType]int{layers.IGMPMembershipReportV3: 3, layers.IGMPMembershipReportV2: 2, layers.IGMPLeaveGroup: 1}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("%v: %d, want %d (all: %v)", k, types[k], v, types)
		}
	}
}
