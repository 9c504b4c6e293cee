package ipv6

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// An echo request to a foreign address goes to the echo relay when it
// takes it (not answered here, counted), to the forwarded-echo filter when
// it does not; SendICMPFrom's reply leaves from the foreign address with
// the relay's identifier, sequence number and data (RFC 4443 4.2),
// checksum checked by gopacket.
func TestEchoRelayRFC4443(t *testing.T) {
	e := newEnv(t, Options{AcceptAnyDestination: true})
	e.pr.SetForwardedEcho(func(_, dst netip.Addr) bool { return true })
	other := netip.MustParseAddr("2001:db8::8")
	var seen []netip.Addr
	e.pr.SetEchoRelay(func(src, dst netip.Addr, m ICMP) bool {
		if src != peerAddr || m.ID() != 7 || m.Seq() != 9 || string(m.Payload()) != "ping" {
			t.Errorf("relay saw %v -> %v id %d seq %d %q", src, dst, m.ID(), m.Seq(), m.Payload())
		}
		seen = append(seen, dst)
		return dst == farAddr
	})
	for _, dst := range []netip.Addr{farAddr, other} {
		e.inject(icmpPacket(peerAddr, dst, ICMPEchoRequest, 0, EchoRest(7, 9), []byte("ping")), ourMAC)
	}
	if len(seen) != 2 || seen[0] != farAddr {
		t.Fatalf("relay saw %v", seen)
	}
	ip, ic := decode(t, oneFrame(t, e.link).Data)
	if !ip.SrcIP.Equal(other.AsSlice()) || ic == nil || ic.TypeCode.Type() != ICMPEchoReply {
		t.Fatalf("the declined echo: reply from %v: %v", ip.SrcIP, ic)
	}
	if n := e.count("icmpv6.rx.echo_relayed"); n != 1 {
		t.Errorf("icmpv6.rx.echo_relayed %d, want 1", n)
	}
	if err := e.pr.SendICMPFrom(farAddr, peerAddr, ICMPFields{Type: ICMPEchoReply, Rest: EchoRest(7, 9), Payload: []byte("pong")}); err != nil {
		t.Fatal(err)
	}
	ip, ic = decode(t, oneFrame(t, e.link).Data)
	if !ip.SrcIP.Equal(farAddr.AsSlice()) || !ip.DstIP.Equal(peerAddr.AsSlice()) || ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(ICMPEchoReply, 0) {
		t.Fatalf("SendICMPFrom: %v -> %v %v", ip.SrcIP, ip.DstIP, ic)
	}
}
