package mld_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/mld"
)

// ipv6Packet is what an IPv6 writer implementing HopByHopWriter puts on
// the wire for s: the IPv6 header (next header 0, hop limit), the
// hop-by-hop header, the message.
func ipv6Packet(s sent) []byte {
	b := make([]byte, 40+len(s.hbh)+len(s.msg))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(s.hbh)+len(s.msg)))
	b[6] = 0
	if s.hbh == nil {
		b[6] = 58
	}
	b[7] = s.params.TTL
	src, dst := s.src.As16(), s.dst.As16()
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	copy(b[40:], s.hbh)
	copy(b[40+len(s.hbh):], s.msg)
	return b
}

// TestReportsGopacket decodes what MLD sends, framed as the IPv6 writer
// will, with gopacket: the hop-by-hop Router Alert (type 5, value 0), an
// ICMPv6 MLDv2 report with the right records, an MLDv1 report and done;
// nothing left undecoded.
func TestReportsGopacket(t *testing.T) {
	e := newEnv(t, latest, false, "fe80::2/64")
	mustJoin(t, e.nic, "ff02::1:ff00:2")
	mustJoin(t, e.nic, "ff05::1:3")
	e.inject(peerLL, allNodes, 1, query(mld.QueryFields{Version: 1, MaxResp: time.Second}))
	e.clock.Advance(time.Second)
	if err := e.nic.LeaveGroup(netip.MustParseAddr("ff05::1:3")); err != nil {
		t.Fatal(err)
	}
	kinds := map[gopacket.LayerType]int{}
	for _, s := range e.take(t) {
		p := gopacket.NewPacket(ipv6Packet(s), layers.LayerTypeIPv6, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("gopacket: %v", el.Error())
		}
		h, ok := p.Layer(layers.LayerTypeIPv6HopByHop).(*layers.IPv6HopByHop)
		if !ok || len(h.Options) == 0 || h.Options[0].OptionType != 5 || len(h.Options[0].OptionData) != 2 || h.Options[0].OptionData[0] != 0 || h.Options[0].OptionData[1] != 0 {
			t.Fatalf("no Router Alert hop-by-hop option: %v", p.Layers())
		}
		if ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ip.HopLimit != 1 || !ip.SrcIP.Equal(net.ParseIP("fe80::2")) {
			t.Errorf("IPv6 header: hop limit %d src %v", ip.HopLimit, ip.SrcIP)
		}
		switch {
		case p.Layer(layers.LayerTypeMLDv2MulticastListenerReport) != nil:
			r := p.Layer(layers.LayerTypeMLDv2MulticastListenerReport).(*layers.MLDv2MulticastListenerReportMessage)
			for _, a := range r.MulticastAddressRecords {
				if !a.MulticastAddress.IsMulticast() || a.N != 0 || (a.RecordType != layers.MLDv2MulticastAddressRecordTypeChangeToExcludeMode && a.RecordType != layers.MLDv2MulticastAddressRecordTypeChangeToIncludeMode) {
					t.Errorf("record %+v", a)
				}
			}
			kinds[layers.LayerTypeMLDv2MulticastListenerReport]++
		case p.Layer(layers.LayerTypeMLDv1MulticastListenerReport) != nil:
			kinds[layers.LayerTypeMLDv1MulticastListenerReport]++
		case p.Layer(layers.LayerTypeMLDv1MulticastListenerDone) != nil:
			kinds[layers.LayerTypeMLDv1MulticastListenerDone]++
		default:
			t.Fatalf("no MLD layer: %v", p.Layers())
		}
	}
	// Two joins at once, their merged retransmission replaced by the v1
	// answers (RFC 3810 8.2.1 cancels v2 retransmissions), then a done.
	if kinds[layers.LayerTypeMLDv2MulticastListenerReport] != 2 || kinds[layers.LayerTypeMLDv1MulticastListenerReport] != 2 || kinds[layers.LayerTypeMLDv1MulticastListenerDone] != 1 {
		t.Errorf("decoded %v", kinds)
	}
}

// TestQueryEncodeGopacket cross-checks an encoded MLDv2 query with
// gopacket, and our views.
func TestQueryEncodeGopacket(t *testing.T) {
	f := mld.QueryFields{Version: 2, MaxResp: 10 * time.Second, Address: netip.MustParseAddr("ff05::1:3"), QRV: 3, QQI: 60 * time.Second,
		Sources: []netip.Addr{netip.MustParseAddr("fd00::7")}}
	b := query(f)
	mld.SetChecksum(b, peerLL, f.Address)
	p := gopacket.NewPacket(b, layers.LayerTypeICMPv6, gopacket.Default)
	g, ok := p.Layer(layers.LayerTypeMLDv2MulticastListenerQuery).(*layers.MLDv2MulticastListenerQueryMessage)
	if !ok {
		t.Fatalf("gopacket decoded %v", p.Layers())
	}
	if g.MaximumResponseCode != 10000 || // ms (gopacket's MaximumResponseDelay forgets the unit)
		!g.MulticastAddress.Equal(net.ParseIP("ff05::1:3")) || g.QueriersRobustnessVariable != 3 || len(g.SourceAddresses) != 1 {
		t.Errorf("gopacket read %+v", g)
	}
	q := mld.Query(b)
	if q.ValidateQuery() != nil || q.Version() != 2 || q.MaxRespTime() != 10*time.Second || q.QRV() != 3 || q.QueryInterval() != 60*time.Second || q.NumSources() != 1 || q.Source(0) != f.Sources[0] {
		t.Errorf("views: version %d resp %v qrv %d qqi %v", q.Version(), q.MaxRespTime(), q.QRV(), q.QueryInterval())
	}
	// RFC 3810 5.1.3: codes from 32768 are floating point.
	b[4], b[5] = 0x80, 0x00
	if got := mld.Query(b).MaxRespTime(); got != 32768*time.Millisecond {
		t.Errorf("code 0x8000 = %v, want 32.768s", got)
	}
}
