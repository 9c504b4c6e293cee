package ndp_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

// TestCheck_RFC4861_Validation: one case per validity rule of 6.1.1,
// 6.1.2, 7.1.1 and 7.1.2, each with its named error.
func TestCheck_RFC4861_Validation(t *testing.T) {
	ns := ndp.NeighborSolicitation{Target: ourIP, SourceLinkAddr: peerMAC}
	na := ndp.NeighborAdvertisement{Solicited: true, Target: peerIP, TargetLinkAddr: peerMAC}
	rs := ndp.RouterSolicitation{SourceLinkAddr: peerMAC}
	ra := ndp.RouterAdvertisement{RouterLifetime: 1800}
	mod := func(b []byte, f func([]byte)) []byte { b = append([]byte(nil), b...); f(b); return b }
	sn := stack.SolicitedNodeAddress(ourIP)
	u := netip.IPv6Unspecified()
	tests := []struct {
		name     string
		msg      []byte
		src, dst netip.Addr
		hl       uint8
		want     error
	}{
		{"valid NS", encode(&ns), peerIP, sn, 255, nil},
		{"valid NA", encode(&na), peerIP, ourIP, 255, nil},
		{"valid RS from ::", encode(&ndp.RouterSolicitation{}), u, allRouters, 255, nil},
		{"valid RA", encode(&ra), peerLL, allNodes, 255, nil},
		{"hop limit 254", encode(&ns), peerIP, sn, 254, ndp.ErrBadHopLimit},
		{"code 1", mod(encode(&ns), func(b []byte) { b[1] = 1 }), peerIP, sn, 255, ndp.ErrBadCode},
		{"NS shorter than 24", encode(&ns)[:23], peerIP, sn, 255, ndp.ErrTooShort},
		{"RA shorter than 16", encode(&ra)[:15], peerLL, allNodes, 255, ndp.ErrTooShort},
		{"option length 0", mod(encode(&ns), func(b []byte) { b[25] = 0 }), peerIP, sn, 255, ndp.ErrBadOptionLength},
		{"option past the end", mod(encode(&ns), func(b []byte) { b[25] = 2 }), peerIP, sn, 255, ndp.ErrBadOptionLength},
		{"multicast target", mod(encode(&ns), func(b []byte) { b[8] = 0xff }), peerIP, sn, 255, ndp.ErrMulticastTarget},
		{"DAD NS not to solicited-node", encode(&ndp.NeighborSolicitation{Target: ourIP}), u, allNodes, 255, ndp.ErrBadDestination},
		{"DAD NS with SLLAO", encode(&ns), u, sn, 255, ndp.ErrUnspecifiedLLAO},
		{"RS from :: with SLLAO", encode(&rs), u, allRouters, 255, ndp.ErrUnspecifiedLLAO},
		{"solicited NA to multicast", encode(&na), peerIP, allNodes, 255, ndp.ErrSolicitedToMcast},
		{"NA from ::", encode(&na), u, ourIP, 255, ndp.ErrBadSource},
		{"RA from a global address", encode(&ra), peerIP, allNodes, 255, ndp.ErrBadSource},
		{"unknown type", mod(encode(&ns), func(b []byte) { b[0] = 128 }), peerIP, sn, 255, ndp.ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ndp.Check(ndp.Message(tt.msg), tt.src, tt.dst, tt.hl); !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRoundTrip: every fields struct decodes to itself.
func TestRoundTrip(t *testing.T) {
	ns := ndp.NeighborSolicitation{Target: ourIP, SourceLinkAddr: peerMAC, Nonce: [6]byte{1, 2, 3, 4, 5, 6}}
	na := ndp.NeighborAdvertisement{Router: true, Override: true, Target: ourIP, TargetLinkAddr: ourMAC}
	rs := ndp.RouterSolicitation{SourceLinkAddr: peerMAC}
	rd := ndp.Redirect{Target: peerLL, Destination: otherIP, TargetLinkAddr: peerMAC}
	ra := ndp.RouterAdvertisement{
		CurHopLimit: 64, Managed: true, RouterLifetime: 1800, ReachableTime: 30000, RetransTimer: 1000,
		SourceLinkAddr: peerMAC, MTU: 1400,
		Prefixes: []ndp.PrefixInfo{{Prefix: slaacPfx, OnLink: true, Autonomous: true, ValidLifetime: ndp.Infinite, PreferredLifetime: 7}},
		DNS:      []ndp.RDNSS{{Lifetime: 600, Servers: []netip.Addr{dnsServer, peerIP}}},
	}
	check := func(name string, b []byte, got, want any) {
		if err := ndp.Message(b).Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", name, got, want)
		}
	}
	b := encode(&ns)
	check("NS", b, ndp.Message(b).NeighborSolicitation(), ns)
	b = encode(&na)
	check("NA", b, ndp.Message(b).NeighborAdvertisement(), na)
	b = encode(&rs)
	check("RS", b, ndp.Message(b).RouterSolicitation(), rs)
	b = encode(&rd)
	check("Redirect", b, ndp.Message(b).Redirect(), rd)
	b = encode(&ra)
	check("RA", b, ndp.Message(b).RouterAdvertisement(), ra)
}

// gopacketDecode decodes an ICMPv6 message with gopacket.
func gopacketDecode(t *testing.T, b []byte, lt gopacket.LayerType) gopacket.Layer {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeICMPv6, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	l := pkt.Layer(lt)
	if l == nil {
		t.Fatalf("gopacket found no %v in %x", lt, b)
	}
	return l
}

func optionData(opts layers.ICMPv6Options, typ layers.ICMPv6Opt) []byte {
	for _, o := range opts {
		if o.Type == typ {
			return o.Data
		}
	}
	return nil
}

// TestGopacketCrossCheck decodes what we encode with an independent
// decoder (gopacket/layers).
func TestGopacketCrossCheck(t *testing.T) {
	ns := ndp.NeighborSolicitation{Target: ourIP, SourceLinkAddr: peerMAC}
	b := encode(&ns)
	ndp.SetChecksum(b, peerIP, stack.SolicitedNodeAddress(ourIP))
	gns := gopacketDecode(t, b, layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
	if !gns.TargetAddress.Equal(net.IP(ourIP.AsSlice())) || !bytes.Equal(optionData(gns.Options, layers.ICMPv6OptSourceAddress), peerMAC[:]) {
		t.Fatalf("gopacket NS %+v", gns)
	}

	na := ndp.NeighborAdvertisement{Router: true, Solicited: true, Override: true, Target: ourIP, TargetLinkAddr: ourMAC}
	gna := gopacketDecode(t, encode(&na), layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if !gna.Router() || !gna.Solicited() || !gna.Override() || !gna.TargetAddress.Equal(net.IP(ourIP.AsSlice())) ||
		!bytes.Equal(optionData(gna.Options, layers.ICMPv6OptTargetAddress), ourMAC[:]) {
		t.Fatalf("gopacket NA %+v", gna)
	}

	rs := ndp.RouterSolicitation{SourceLinkAddr: peerMAC}
	grs := gopacketDecode(t, encode(&rs), layers.LayerTypeICMPv6RouterSolicitation).(*layers.ICMPv6RouterSolicitation)
	if !bytes.Equal(optionData(grs.Options, layers.ICMPv6OptSourceAddress), peerMAC[:]) {
		t.Fatalf("gopacket RS %+v", grs)
	}

	ra := ndp.RouterAdvertisement{
		CurHopLimit: 64, Managed: true, Other: true, RouterLifetime: 1800, ReachableTime: 30000, RetransTimer: 1000,
		SourceLinkAddr: peerMAC, MTU: 1400,
		Prefixes: []ndp.PrefixInfo{{Prefix: slaacPfx, OnLink: true, Autonomous: true, ValidLifetime: 86400, PreferredLifetime: 14400}},
	}
	gra := gopacketDecode(t, encode(&ra), layers.LayerTypeICMPv6RouterAdvertisement).(*layers.ICMPv6RouterAdvertisement)
	if gra.HopLimit != 64 || !gra.ManagedAddressConfig() || !gra.OtherConfig() || gra.RouterLifetime != 1800 ||
		gra.ReachableTime != 30000 || gra.RetransTimer != 1000 {
		t.Fatalf("gopacket RA %+v", gra)
	}
	pi := optionData(gra.Options, layers.ICMPv6OptPrefixInfo)
	if len(pi) != 30 || pi[0] != 64 || pi[1] != 0xc0 || binary.BigEndian.Uint32(pi[2:]) != 86400 ||
		!bytes.Equal(pi[14:30], slaacPfx.Addr().AsSlice()) {
		t.Fatalf("gopacket prefix option %x", pi)
	}
	if mtu := optionData(gra.Options, layers.ICMPv6OptMTU); len(mtu) != 6 || binary.BigEndian.Uint32(mtu[2:]) != 1400 {
		t.Fatalf("gopacket MTU option %x", mtu)
	}
}

// TestChecksum: SetChecksum makes VerifyChecksum true and any change false.
func TestChecksum(t *testing.T) {
	ns := ndp.NeighborSolicitation{Target: ourIP, SourceLinkAddr: peerMAC}
	b := encode(&ns)
	ndp.SetChecksum(b, peerIP, ourIP)
	if !ndp.Message(b).VerifyChecksum(peerIP, ourIP) {
		t.Fatal("checksum does not verify")
	}
	if ndp.Message(b).VerifyChecksum(peerIP, otherIP) {
		t.Fatal("checksum verifies for another destination")
	}
}
