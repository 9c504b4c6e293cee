package ipv6

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

// addFarRoute routes 2001:db8::/32 via peerAddr.
func addFarRoute(t *testing.T, e *env) {
	t.Helper()
	if err := e.s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix("2001:db8::/32"), Gateway: peerAddr}); err != nil {
		t.Fatal(err)
	}
}

// sentUDP is a UDP-ish packet we sent to dst, as an error quotes it.
func sentUDP(dst netip.Addr, n int) []byte {
	return ipPacket(Fields{NextHeader: 17, Src: ourAddr, Dst: dst}, cat(udpish(""), pattern(n)))
}

func TestRFC8201PacketTooBigLowersPathMTU(t *testing.T) {
	e := newEnv(t, Options{PathMTUTimeout: 10 * time.Minute})
	addFarRoute(t, e)
	quote := sentUDP(farAddr, 1400)
	e.inject(icmpPacket(peerAddr, ourAddr, ICMPPacketTooBig, 0, 1400, quote), ourMAC)
	errs := e.udp.TakeErrors()
	if len(errs) != 1 {
		t.Fatalf("transport got %d errors", len(errs))
	}
	if e0 := errs[0]; e0.Kind != stack.ErrorFragmentationNeeded || e0.MTU != 1400 || e0.Src != ourAddr || e0.Dst != farAddr || !bytes.Equal(e0.Transport, quote[HeaderLen:]) {
		t.Errorf("error %+v", e0)
	}
	if got := e.pr.PathMTU(farAddr); got != 1400 {
		t.Errorf("PathMTU = %d, want 1400", got)
	}
	r, _ := e.s.FindRoute(farAddr, netip.Addr{})
	if got := e.pr.RouteMTU(&r); got != 1400 {
		t.Errorf("RouteMTU = %d", got)
	}
	// Our next datagram of 1452 bytes is fragmented to fit 1400.
	if err := e.pr.WritePacket(&r, stack.NetworkParams{Protocol: 17}, stack.NewPacketFrom(pattern(1412))); err != nil {
		t.Fatal(err)
	}
	for _, f := range e.link.Take() {
		if len(f.Data) > 1400 {
			t.Errorf("%d-byte packet after learning 1400", len(f.Data))
		}
	}
	// A larger value does not raise it; one below 1280 is floored
	// (RFC 8201 4).
	e.inject(icmpPacket(peerAddr, ourAddr, ICMPPacketTooBig, 0, 1500, quote), ourMAC)
	if got := e.pr.PathMTU(farAddr); got != 1400 {
		t.Errorf("PathMTU raised to %d", got)
	}
	e.inject(icmpPacket(peerAddr, ourAddr, ICMPPacketTooBig, 0, 600, quote), ourMAC)
	if got := e.pr.PathMTU(farAddr); got != MinMTU {
		t.Errorf("PathMTU = %d, want the 1280 floor", got)
	}
	if errs := e.udp.TakeErrors(); len(errs) != 2 || errs[1].MTU != MinMTU {
		t.Errorf("errors %+v", errs)
	}
	// Entries expire (RFC 8201 4: try the link MTU again).
	e.clock.Advance(10 * time.Minute)
	if got := e.pr.PathMTU(farAddr); got != 0 {
		t.Errorf("PathMTU = %d after expiry", got)
	}
}

func TestPathMTUCacheBounded(t *testing.T) {
	e := newEnv(t, Options{PathMTUEntries: 4})
	for i := range 20 {
		dst := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
		e.inject(icmpPacket(peerAddr, ourAddr, ICMPPacketTooBig, 0, 1400, sentUDP(dst, 1400)), ourMAC)
		if n := e.pr.PathMTUEntries(); n > 4 {
			t.Fatalf("%d entries", n)
		}
	}
	if e.count("ipv6.pmtu.evicted") != 16 {
		t.Errorf("evicted %d", e.count("ipv6.pmtu.evicted"))
	}
}

func TestInboundErrorsReachTransport(t *testing.T) {
	withDstOpts := ipPacket(Fields{NextHeader: ProtoDestOptions, Src: ourAddr, Dst: peerAddr}, cat(ext(17, 1, 4, 0, 0, 0, 0), udpish("abcd")))
	fh := make([]byte, 8)
	EncodeFragmentHeader(fh, 17, 8, false, 1)
	nonFirst := ipPacket(Fields{NextHeader: ProtoFragment, Src: ourAddr, Dst: peerAddr}, cat(fh, pattern(16)))
	notOurs := ipPacket(Fields{NextHeader: 17, Src: otherAddr, Dst: peerAddr}, udpish("x"))
	tests := []struct {
		name      string
		typ, code uint8
		quote     []byte
		kind      stack.ErrorKind
		transport []byte
		counter   string
	}{
		{"port unreachable", ICMPDestUnreach, CodePortUnreachable, sentUDP(peerAddr, 4), stack.ErrorPortUnreachable, cat(udpish(""), pattern(4)), ""},
		{"no route", ICMPDestUnreach, CodeNoRoute, sentUDP(peerAddr, 4), stack.ErrorNetUnreachable, nil, ""},
		{"admin prohibited", ICMPDestUnreach, CodeAdminProhibited, sentUDP(peerAddr, 4), stack.ErrorAdministrativelyProhibited, nil, ""},
		{"address unreachable", ICMPDestUnreach, CodeAddrUnreachable, sentUDP(peerAddr, 4), stack.ErrorHostUnreachable, nil, ""},
		{"time exceeded", ICMPTimeExceeded, 0, sentUDP(peerAddr, 4), stack.ErrorTimeExceeded, nil, ""},
		{"parameter problem", ICMPParamProblem, 0, sentUDP(peerAddr, 4), stack.ErrorParameterProblem, nil, ""},
		{"unknown next header", ICMPParamProblem, 1, sentUDP(peerAddr, 4), stack.ErrorProtocolUnreachable, nil, ""},
		{"quoted extension chain walked", ICMPDestUnreach, CodePortUnreachable, withDstOpts, stack.ErrorPortUnreachable, udpish("abcd"), ""},
		{"non-first fragment quoted", ICMPDestUnreach, CodePortUnreachable, nonFirst, 0, nil, "icmpv6.rx.bad_quote"},
		{"truncated quote", ICMPDestUnreach, CodePortUnreachable, sentUDP(peerAddr, 4)[:44], 0, nil, "icmpv6.rx.bad_quote"},
		{"not our packet", ICMPDestUnreach, CodePortUnreachable, notOurs, 0, nil, "icmpv6.rx.error_not_ours"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.inject(icmpPacket(peerAddr, ourAddr, tc.typ, tc.code, 0, tc.quote), ourMAC)
			errs := e.udp.TakeErrors()
			if tc.counter != "" {
				if len(errs) != 0 || e.count(tc.counter) != 1 {
					t.Errorf("errors %v, %s = %d", errs, tc.counter, e.count(tc.counter))
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("%d errors", len(errs))
			}
			x := errs[0]
			if x.Kind != tc.kind || x.Type != tc.typ || x.Code != tc.code || x.Src != ourAddr || x.Dst != peerAddr {
				t.Errorf("error %+v", x)
			}
			if tc.transport != nil && !bytes.Equal(x.Transport, tc.transport) {
				t.Errorf("transport % x, want % x", x.Transport, tc.transport)
			}
			if f := e.link.Take(); len(f) != 0 {
				t.Errorf("RFC 4443 2.4 e.1: answered an error with %d frames", len(f))
			}
		})
	}
}

func TestRFC4443ErrorSuppression(t *testing.T) {
	badOpt := ext(stack.ProtocolICMPv6, 0x9e, 4, 0, 0, 0, 0) // type 10: parameter problem wanted
	icmpWithOpt := func(typ uint8) []byte {
		return ipPacket(Fields{NextHeader: ProtoDestOptions, Src: peerAddr, Dst: ourAddr}, cat(badOpt, icmpMsg(peerAddr, ourAddr, typ, 0, 0, make([]byte, 48))))
	}
	tests := []struct {
		name string
		b    []byte
		sent bool
	}{
		{"e.1 not about an ICMPv6 error", icmpWithOpt(ICMPDestUnreach), false},
		{"e.2 not about a redirect", icmpWithOpt(ICMPRedirect), false},
		{"but about an informational message", icmpWithOpt(ICMPEchoRequest), true},
		{"e.6 not to the unspecified address", ipPacket(Fields{NextHeader: 99, Src: netip.IPv6Unspecified(), Dst: ourAddr}, udpish("x")), false},
		{"e.3 not for a multicast destination", ipPacket(Fields{NextHeader: 99, Src: peerAddr, Dst: netip.MustParseAddr("ff02::1")}, udpish("x")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.inject(tc.b, ourMAC)
			if f := e.link.Take(); (len(f) == 1) != tc.sent {
				t.Errorf("sent %d frames", len(f))
			}
			if !tc.sent && e.count("icmpv6.tx.suppressed") != 1 {
				t.Errorf("suppressed = %d", e.count("icmpv6.tx.suppressed"))
			}
		})
	}
	// e.4: a unicast packet sent to a link-layer multicast address.
	e := newEnv(t, Options{})
	e.inject(ipPacket(Fields{NextHeader: 99, Src: peerAddr, Dst: ourAddr}, udpish("x")), stack.MAC{0x33, 0x33, 0, 0, 0, 1})
	if f := e.link.Take(); len(f) != 0 {
		t.Errorf("answered a link-layer multicast")
	}
}

func TestRFC4443ErrorsRateLimited(t *testing.T) {
	e := newEnv(t, Options{ICMPErrorRate: 10, ICMPErrorBurst: 2})
	e.udp.SetRefuse(true)
	req := ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: ourAddr}, udpish("x"))
	for range 5 {
		e.inject(req, ourMAC)
	}
	if n := len(e.link.Take()); n != 2 {
		t.Errorf("sent %d errors in a burst of 5, want 2", n)
	}
	if e.count("icmpv6.tx.rate_limited") != 3 {
		t.Errorf("rate_limited = %d", e.count("icmpv6.tx.rate_limited"))
	}
	e.clock.Advance(100 * time.Millisecond)
	e.inject(req, ourMAC)
	e.inject(req, ourMAC)
	if n := len(e.link.Take()); n != 1 {
		t.Errorf("after 100 ms: %d errors, want 1", n)
	}
}

func TestRFC4443ErrorAtMost1280Bytes(t *testing.T) {
	e := newEnv(t, Options{})
	e.udp.SetRefuse(true)
	req := ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: ourAddr}, cat(udpish(""), pattern(1400)))
	e.inject(req, ourMAC)
	f := oneFrame(t, e.link)
	if len(f.Data) != MaxErrorLen {
		t.Errorf("error is %d bytes, want %d", len(f.Data), MaxErrorLen)
	}
	_, ic := decode(t, f.Data)
	if ic == nil || !bytes.Equal(ic.Payload[4:], req[:MaxErrorLen-48]) {
		t.Errorf("quote is not the start of the packet")
	}
	if ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeDestinationUnreachable, 4) {
		t.Errorf("type %v", ic.TypeCode)
	}
}
