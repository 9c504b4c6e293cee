package ipv4

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// An echo request to a foreign address goes to the echo relay when it
// takes it (not answered here, counted), and to the forwarded-echo filter
// when it does not; SendICMPFrom's reply leaves from the foreign address
// with the relay's id, sequence and data (RFC 792: an echo reply returns
// the request's identifier, sequence number and data).
func TestEchoRelayRFC792(t *testing.T) {
	e := newEnv(t, Options{AcceptAnyDestination: true})
	e.pr.SetForwardedEcho(func(_, dst netip.Addr) bool { return true })
	type req struct {
		src, dst netip.Addr
		id, seq  uint16
		data     string
	}
	var got []req
	e.pr.SetEchoRelay(func(src, dst netip.Addr, m ICMP) bool {
		got = append(got, req{src, dst, m.ID(), m.Seq(), string(m.Payload())})
		return dst == foreign
	})
	other := netip.MustParseAddr("192.0.2.81")
	for _, dst := range []netip.Addr{foreign, other} {
		e.inject(ipPacket(Fields{Protocol: stack.ProtocolICMP, Src: peerAddr, Dst: dst}, icmpMsg(ICMPEcho, 0, EchoRest(7, 9), []byte("ping"))), ourMAC)
	}
	if want := (req{peerAddr, foreign, 7, 9, "ping"}); len(got) != 2 || got[0] != want {
		t.Fatalf("relay saw %+v, want %+v first", got, want)
	}
	frames := e.link.Take()
	if len(frames) != 1 || Header(frames[0].Data).Src() != other {
		t.Fatalf("%d local replies, want 1 from %v (the one the relay declined)", len(frames), other)
	}
	if n := e.s.Counters().Value("icmp.rx.echo_relayed"); n != 1 {
		t.Errorf("icmp.rx.echo_relayed %d, want 1", n)
	}
	if err := e.pr.SendICMPFrom(foreign, peerAddr, ICMPFields{Type: ICMPEchoReply, Rest: EchoRest(7, 9), Payload: []byte("pong")}); err != nil {
		t.Fatal(err)
	}
	frames = e.link.Take()
	if len(frames) != 1 {
		t.Fatalf("%d frames after SendICMPFrom, want 1", len(frames))
	}
	h := Header(frames[0].Data)
	m := ICMP(h.Payload())
	if h.Src() != foreign || h.Dst() != peerAddr || m.Validate() != nil || m.Type() != ICMPEchoReply || m.ID() != 7 || m.Seq() != 9 || string(m.Payload()) != "pong" {
		t.Errorf("sent %v -> %v type %d id %d seq %d %q (valid: %v)", h.Src(), h.Dst(), m.Type(), m.ID(), m.Seq(), m.Payload(), m.Validate())
	}
	e.pr.SetEchoRelay(nil)
	e.inject(ipPacket(Fields{Protocol: stack.ProtocolICMP, Src: peerAddr, Dst: foreign}, icmpMsg(ICMPEcho, 0, EchoRest(7, 10), []byte("ping"))), ourMAC)
	if len(got) != 2 || len(e.link.Take()) != 1 {
		t.Errorf("after SetEchoRelay(nil): relay called %d times, want 2, and the filter answers", len(got))
	}
}
