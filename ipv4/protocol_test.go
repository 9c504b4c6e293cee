package ipv4

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

// decodeICMP decodes an IPv4 packet carrying ICMP with gopacket and checks
// both checksums by re-serialising with gopacket.
func decodeICMP(t *testing.T, b []byte) (*layers.IPv4, *layers.ICMPv4) {
	t.Helper()
	checkIPChecksum(t, b)
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || !ok {
		t.Fatalf("gopacket: no IPv4/ICMPv4 in % x: %v", b, pkt.ErrorLayer())
	}
	want := ic.Checksum
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ic, gopacket.Payload(ic.Payload)); err != nil {
		t.Fatal(err)
	}
	if ic.Checksum != want {
		t.Errorf("ICMP checksum %#04x, gopacket computes %#04x", want, ic.Checksum)
	}
	return ip, ic
}

// oneFrame returns the single frame the link sent, an IPv4 packet.
func oneFrame(t testing.TB, l *stacktest.Link) frame {
	t.Helper()
	return l.TakeOne(t, stack.EtherTypeIPv4)
}

func TestInboundDrops(t *testing.T) {
	good := ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: ourAddr}, udpish("hello"))
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name    string
		b       []byte
		counter string
	}{
		{"too short", good[:12], "ipv4.rx.too_short"},
		{"bad version", mod(func(b []byte) []byte { b[0] = 0x65; fixChecksum(b); return b }), "ipv4.rx.bad_version"},
		{"bad ihl", mod(func(b []byte) []byte { b[0] = 0x43; return b }), "ipv4.rx.bad_ihl"},
		{"bad total length", mod(func(b []byte) []byte { b[3] += 4; fixChecksum(b); return b }), "ipv4.rx.bad_total_length"},
		{"bad checksum", mod(func(b []byte) []byte { b[11] ^= 0x40; return b }), "ipv4.rx.bad_checksum"},
		{"not for us", ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: otherAddr}, udpish("x")), "ipv4.rx.not_for_us"},
		{"multicast dst, not a member", ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: netip.MustParseAddr("224.0.0.251")}, udpish("x")), "ipv4.rx.not_member"},
		{"first fragment, odd length", ipPacket(Fields{Protocol: 17, MF: true, Src: peerAddr, Dst: ourAddr}, udpish("x")), "ipv4.reasm.malformed"},
		{"multicast source", ipPacket(Fields{Protocol: 17, Src: netip.MustParseAddr("224.0.0.1"), Dst: ourAddr}, udpish("x")), "ipv4.rx.martian_source"},
		{"our own source", ipPacket(Fields{Protocol: 17, Src: ourAddr, Dst: ourAddr}, udpish("x")), "ipv4.rx.martian_source"},
		{"unknown protocol", ipPacket(Fields{Protocol: 99, Src: peerAddr, Dst: ourAddr}, udpish("x")), "ipv4.rx.unknown_protocol"},
		{"icmp too short", ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, []byte{8, 0, 0xf7, 0xff}), "icmp.rx.too_short"},
		{"icmp bad checksum", ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, []byte{8, 0, 0, 0, 0, 0, 0, 0}), "icmp.rx.bad_checksum"},
		{"icmp unknown type", ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(42, 0, 0, nil)), "icmp.rx.unhandled_type"},
		{"source quench", ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(ICMPSourceQuench, 0, 0, make([]byte, 28))), "icmp.rx.source_quench"},
		{"redirect", ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(ICMPRedirect, 1, 0, make([]byte, 28))), "icmp.rx.redirect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.inject(tc.b, ourMAC)
			if got := e.count(tc.counter); got != 1 {
				t.Errorf("%s = %d, want 1", tc.counter, got)
			}
			if p := e.udp.TakePackets(); len(p) != 0 {
				t.Errorf("transport got %d packets", len(p))
			}
			if tc.counter != "ipv4.rx.unknown_protocol" {
				if f := e.link.Take(); len(f) != 0 {
					t.Errorf("sent %d frames", len(f))
				}
			}
		})
	}
}

func TestDeliverTrimsPaddingAndSkipsOptions(t *testing.T) {
	tests := []struct {
		name    string
		f       Fields
		dst     netip.Addr
		linkDst stack.MAC
		pad     int
	}{
		{"unicast padded to 60-byte frame", Fields{}, ourAddr, ourMAC, 46 - 20 - 10},
		{"options", Fields{Options: []byte{0x94, 4, 0, 0, 1, 0, 0, 0}}, ourAddr, ourMAC, 0},
		{"limited broadcast", Fields{}, netip.MustParseAddr("255.255.255.255"), stack.BroadcastMAC, 7},
		{"directed broadcast", Fields{}, dirBcast, stack.BroadcastMAC, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			f := tc.f
			f.Protocol, f.Src, f.Dst, f.TTL, f.TOS = 17, peerAddr, tc.dst, 17, 0xb8|3 // EF, CE
			payload := udpish("hi")
			b := append(ipPacket(f, payload), make([]byte, tc.pad)...)
			e.inject(b, tc.linkDst)
			got := e.udp.TakePackets()
			if len(got) != 1 {
				t.Fatalf("transport got %d packets", len(got))
			}
			d := got[0]
			if !bytes.Equal(d.Data, payload) || d.Src != peerAddr || d.Dst != tc.dst || d.TTL != 17 || d.TOS != 0xb8|3 {
				t.Errorf("delivered %+v, want data % x", d, payload)
			}
			if e.count("ipv4.rx.delivered") != 1 {
				t.Errorf("ipv4.rx.delivered = %d", e.count("ipv4.rx.delivered"))
			}
		})
	}
}

func TestEchoReply(t *testing.T) {
	tests := []struct {
		name     string
		payload  []byte
		options  []byte
		tos      uint8
		headroom int // -1: the usual NewPacketFrom headroom
	}{
		{"56 bytes", bytes.Repeat([]byte{0xa5}, 56), nil, 0, -1},
		{"odd length", []byte("abcdefghijk"), nil, 0x10, -1},
		{"empty, id and seq zero", nil, nil, 0, -1},
		{"request with options", []byte("xyz"), []byte{1, 1, 1, 0}, 0, -1},
		{"no headroom: copied", []byte("copy me"), nil, 0, 0},
		{"1472 bytes", bytes.Repeat([]byte{1, 2, 3}, 1472/3), nil, 0, -1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			id, seq := uint16(0x4242+i), uint16(i*7)
			if tc.payload == nil {
				id = 0
			}
			req := ipPacket(Fields{TOS: tc.tos, Protocol: 1, Src: peerAddr, Dst: ourAddr, Options: tc.options},
				icmpMsg(ICMPEcho, 0, EchoRest(id, seq), tc.payload))
			if tc.headroom >= 0 {
				p := stack.NewPacket(tc.headroom, len(req))
				copy(p.Bytes(), req)
				p.EtherType = stack.EtherTypeIPv4
				e.nic.DeliverNetworkPacket(p)
			} else {
				e.inject(req, ourMAC)
			}
			fr := oneFrame(t, e.link)
			if fr.Dst != peerMAC {
				t.Errorf("sent to %v", fr.Dst)
			}
			ip, ic := decodeICMP(t, fr.Data)
			if ip.SrcIP.String() != ourAddr.String() || ip.DstIP.String() != peerAddr.String() || ip.TTL != 64 ||
				ip.Protocol != layers.IPProtocolICMPv4 || ip.IHL != 5 || ip.TOS != tc.tos {
				t.Errorf("IP header %+v", ip)
			}
			if ic.TypeCode.Type() != layers.ICMPv4TypeEchoReply || ic.TypeCode.Code() != 0 || ic.Id != id || ic.Seq != seq {
				t.Errorf("ICMP %v id %d seq %d", ic.TypeCode, ic.Id, ic.Seq)
			}
			if !bytes.Equal(ic.Payload, tc.payload) {
				t.Errorf("payload %d bytes, want %d exactly", len(ic.Payload), len(tc.payload))
			}
			if e.count("icmp.rx.echo_request") != 1 || e.count("icmp.tx.echo_reply") != 1 {
				t.Errorf("counters %d %d", e.count("icmp.rx.echo_request"), e.count("icmp.tx.echo_reply"))
			}
		})
	}
}

func TestEchoToBroadcast(t *testing.T) {
	for _, dst := range []netip.Addr{dirBcast, netip.MustParseAddr("255.255.255.255")} {
		t.Run(dst.String(), func(t *testing.T) {
			req := ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: dst}, icmpMsg(ICMPEcho, 0, EchoRest(1, 1), []byte("b")))
			e := newEnv(t, Options{})
			e.inject(req, stack.BroadcastMAC)
			if f := e.link.Take(); len(f) != 0 {
				t.Errorf("replied to a broadcast echo by default")
			}
			if e.count("icmp.rx.echo_broadcast_ignored") != 1 {
				t.Errorf("not counted")
			}
			// With EchoBroadcast the reply comes from our unicast address.
			e2 := newEnv(t, Options{EchoBroadcast: true})
			e2.inject(req, stack.BroadcastMAC)
			ip, ic := decodeICMP(t, oneFrame(t, e2.link).Data)
			if ip.SrcIP.String() != ourAddr.String() || ip.DstIP.String() != peerAddr.String() || ic.TypeCode.Type() != 0 {
				t.Errorf("reply %v -> %v type %v", ip.SrcIP, ip.DstIP, ic.TypeCode)
			}
		})
	}
}

func TestEchoFromUnusableSource(t *testing.T) {
	e := newEnv(t, Options{})
	req := ipPacket(Fields{Protocol: 1, Src: netip.IPv4Unspecified(), Dst: ourAddr}, icmpMsg(ICMPEcho, 0, 0, nil))
	e.inject(req, ourMAC)
	// 0.0.0.0 may only speak to the limited broadcast address: to us it
	// is a martian, dropped before ICMP sees it.
	if f := e.link.Take(); len(f) != 0 || e.count("ipv4.rx.martian_source") != 1 {
		t.Errorf("answered an echo from 0.0.0.0 (%d frames)", len(f))
	}
}

// checkUnreachable checks that b is a destination unreachable with code
// quoting orig's header and 8 bytes of its payload.
func checkUnreachable(t *testing.T, b []byte, code uint8, orig []byte) {
	t.Helper()
	ip, ic := decodeICMP(t, b)
	if ip.SrcIP.String() != ourAddr.String() || ip.DstIP.String() != peerAddr.String() {
		t.Errorf("error %v -> %v", ip.SrcIP, ip.DstIP)
	}
	if ic.TypeCode.Type() != ICMPDestUnreach || ic.TypeCode.Code() != code {
		t.Errorf("type/code %v, want 3/%d", ic.TypeCode, code)
	}
	ihl := int(orig[0]&0xf) * 4
	want := orig[:min(len(orig), ihl+8)]
	if !bytes.Equal(ic.Payload, want) {
		t.Errorf("quote\n% x\nwant\n% x", ic.Payload, want)
	}
}

func TestProtocolAndPortUnreachable(t *testing.T) {
	long := udpish("a payload longer than eight bytes")
	tests := []struct {
		name    string
		proto   uint8
		payload []byte
		options []byte
		code    uint8
		counter string
	}{
		{"protocol", 99, long, nil, CodeProtocolUnreachable, "ipv4.rx.unknown_protocol"},
		{"protocol, 3-byte payload", 99, []byte{1, 2, 3}, nil, CodeProtocolUnreachable, "ipv4.rx.unknown_protocol"},
		{"port", 17, long, nil, CodePortUnreachable, "ipv4.rx.no_port"},
		{"port, with options", 17, long, []byte{1, 1, 1, 0}, CodePortUnreachable, "ipv4.rx.no_port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.udp.SetRefuse(true)
			orig := ipPacket(Fields{Protocol: tc.proto, Src: peerAddr, Dst: ourAddr, Options: tc.options}, tc.payload)
			e.inject(append(append([]byte(nil), orig...), 0, 0, 0, 0), ourMAC) // padded
			checkUnreachable(t, oneFrame(t, e.link).Data, tc.code, orig)
			if e.count(tc.counter) != 1 || e.count("icmp.tx.dest_unreachable") != 1 {
				t.Errorf("counters: %s %d, icmp.tx.dest_unreachable %d", tc.counter, e.count(tc.counter), e.count("icmp.tx.dest_unreachable"))
			}
		})
	}
}

func TestNoErrorAbout(t *testing.T) {
	bcast := netip.MustParseAddr("255.255.255.255")
	icmpErr := ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(ICMPDestUnreach, 3, 0, make([]byte, 28)))
	echo := ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(ICMPEcho, 0, 0, nil))
	udp := func(src, dst netip.Addr, off uint16) []byte {
		return ipPacket(Fields{Protocol: 17, Src: src, Dst: dst, FragOffset: off}, udpish("data"))
	}
	tests := []struct {
		name    string
		b       []byte
		linkDst stack.MAC
		want    bool // an error is sent
	}{
		{"unicast udp (control)", udp(peerAddr, ourAddr, 0), ourMAC, true},
		{"echo request (control)", echo, ourMAC, true},
		{"icmp error", icmpErr, ourMAC, false},
		{"icmp unknown type 200", ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(200, 0, 0, nil)), ourMAC, false},
		{"truncated icmp", ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, nil), ourMAC, false},
		{"directed broadcast dst", udp(peerAddr, dirBcast, 0), stack.BroadcastMAC, false},
		{"limited broadcast dst", udp(peerAddr, bcast, 0), stack.BroadcastMAC, false},
		{"multicast dst", udp(peerAddr, netip.MustParseAddr("224.0.0.1"), 0), ourMAC, false},
		{"link broadcast", udp(peerAddr, ourAddr, 0), stack.BroadcastMAC, false},
		{"link multicast", udp(peerAddr, ourAddr, 0), stack.MAC{0x01, 0, 0x5e, 0, 0, 1}, false},
		{"non-initial fragment", udp(peerAddr, ourAddr, 64), ourMAC, false},
		{"unspecified source", udp(netip.IPv4Unspecified(), ourAddr, 0), ourMAC, false},
		{"broadcast source", udp(bcast, ourAddr, 0), ourMAC, false},
		{"directed broadcast source", udp(dirBcast, ourAddr, 0), ourMAC, false},
		{"multicast source", udp(netip.MustParseAddr("239.1.1.1"), ourAddr, 0), ourMAC, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			p := stack.NewPacketFrom(tc.b)
			p.NIC, p.LinkDst = e.nic, tc.linkDst
			p.MarkNetworkHeader()
			e.pr.sendError(p, ICMPDestUnreach, CodePortUnreachable, 0)
			p.Release()
			fs := e.link.Take()
			if sent := len(fs) == 1; sent != tc.want {
				t.Fatalf("sent %d errors, want %v", len(fs), tc.want)
			}
			if !tc.want && e.count("icmp.tx.suppressed") != 1 {
				t.Errorf("icmp.tx.suppressed = %d", e.count("icmp.tx.suppressed"))
			}
		})
	}
	// And through the inbound path: UDP to a broadcast with no listener.
	e := newEnv(t, Options{})
	e.udp.SetRefuse(true)
	e.inject(udp(peerAddr, dirBcast, 0), stack.BroadcastMAC)
	e.inject(ipPacket(Fields{Protocol: 99, Src: peerAddr, Dst: bcast}, nil), stack.BroadcastMAC)
	if f := e.link.Take(); len(f) != 0 {
		t.Errorf("sent %d errors about broadcasts", len(f))
	}
}

func TestErrorRateLimit(t *testing.T) {
	e := newEnv(t, Options{ICMPErrorRate: 10, ICMPErrorBurst: 3}) // one per 100ms
	b := ipPacket(Fields{Protocol: 99, Src: peerAddr, Dst: ourAddr}, udpish("x"))
	steps := []struct {
		advance time.Duration
		send    int
		want    int
	}{
		{0, 5, 3},                      // the burst
		{50 * time.Millisecond, 1, 0},  // half a token
		{50 * time.Millisecond, 2, 1},  // one token
		{time.Second, 10, 3},           // refilled to the burst, not beyond
		{100 * time.Millisecond, 1, 1}, // steady rate
	}
	limited := 0
	for i, st := range steps {
		e.clock.Advance(st.advance)
		for range st.send {
			e.inject(b, ourMAC)
		}
		if got := len(e.link.Take()); got != st.want {
			t.Errorf("step %d: %d errors sent, want %d", i, got, st.want)
		}
		limited += st.send - st.want
	}
	if got := e.count("icmp.tx.rate_limited"); got != uint64(limited) {
		t.Errorf("icmp.tx.rate_limited = %d, want %d", got, limited)
	}
	// Echo replies are not rate limited.
	for range 10 {
		e.inject(ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(ICMPEcho, 0, 1, nil)), ourMAC)
	}
	if got := len(e.link.Take()); got != 10 {
		t.Errorf("%d echo replies, want 10", got)
	}
}

func TestInboundICMPError(t *testing.T) {
	// The quoted datagram: one we sent to 10.0.0.1 port 53.
	quotedTransport := udpish("")
	quoted := ipPacket(Fields{Protocol: 17, Src: ourAddr, Dst: peerAddr, TotalLength: 1500}, quotedTransport)
	withOpts := ipPacket(Fields{Protocol: 17, Src: ourAddr, Dst: peerAddr, Options: []byte{1, 1, 1, 0}}, quotedTransport)
	notOurs := ipPacket(Fields{Protocol: 17, Src: otherAddr, Dst: peerAddr}, quotedTransport)
	tcpQuote := ipPacket(Fields{Protocol: 6, Src: ourAddr, Dst: peerAddr}, quotedTransport)
	tests := []struct {
		name    string
		typ     uint8
		code    uint8
		rest    uint32
		quote   []byte
		want    *stack.TransportError
		counter string
	}{
		{"port unreachable", 3, 3, 0, quoted, &stack.TransportError{Kind: stack.ErrorPortUnreachable, Type: 3, Code: 3}, "icmp.rx.dest_unreachable"},
		{"host unreachable", 3, 1, 0, quoted, &stack.TransportError{Kind: stack.ErrorHostUnreachable, Type: 3, Code: 1}, "icmp.rx.dest_unreachable"},
		{"net unreachable", 3, 0, 0, quoted, &stack.TransportError{Kind: stack.ErrorNetUnreachable, Type: 3, Code: 0}, "icmp.rx.dest_unreachable"},
		{"protocol unreachable", 3, 2, 0, quoted, &stack.TransportError{Kind: stack.ErrorProtocolUnreachable, Type: 3, Code: 2}, "icmp.rx.dest_unreachable"},
		{"admin prohibited", 3, 13, 0, quoted, &stack.TransportError{Kind: stack.ErrorAdministrativelyProhibited, Type: 3, Code: 13}, "icmp.rx.dest_unreachable"},
		{"frag needed", 3, 4, MTURest(1400), quoted, &stack.TransportError{Kind: stack.ErrorFragmentationNeeded, Type: 3, Code: 4, MTU: 1400}, "icmp.rx.dest_unreachable"},
		{"frag needed, old router", 3, 4, 0, quoted, &stack.TransportError{Kind: stack.ErrorFragmentationNeeded, Type: 3, Code: 4, MTU: 1492}, "icmp.rx.dest_unreachable"},
		{"time exceeded", 11, 0, 0, quoted, &stack.TransportError{Kind: stack.ErrorTimeExceeded, Type: 11}, "icmp.rx.time_exceeded"},
		{"param problem, quote with options", 12, 0, PointerRest(20), withOpts, &stack.TransportError{Kind: stack.ErrorParameterProblem, Type: 12}, "icmp.rx.param_problem"},
		{"quote too short", 3, 3, 0, quoted[:27], nil, "icmp.rx.bad_quote"},
		{"quote not IPv4", 3, 3, 0, append([]byte{0x65}, quoted[1:]...), nil, "icmp.rx.bad_quote"},
		{"not sent by us", 3, 3, 0, notOurs, nil, "icmp.rx.error_not_ours"},
		{"no such transport", 3, 3, 0, tcpQuote, nil, "icmp.rx.error_no_transport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.inject(ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(tc.typ, tc.code, tc.rest, tc.quote)), ourMAC)
			errs := e.udp.TakeErrors()
			if e.count(tc.counter) != 1 {
				t.Errorf("%s = %d", tc.counter, e.count(tc.counter))
			}
			if tc.want == nil {
				if len(errs) != 0 {
					t.Errorf("delivered %+v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("%d errors delivered", len(errs))
			}
			got, want := errs[0], *tc.want
			want.Src, want.Dst = ourAddr, peerAddr
			if !bytes.Equal(got.Transport, quotedTransport) {
				t.Errorf("Transport % x, want % x", got.Transport, quotedTransport)
			}
			got.Transport = nil
			if !sameError(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
			if f := e.link.Take(); len(f) != 0 {
				t.Errorf("answered an ICMP error with %d packets", len(f))
			}
		})
	}
}

// FuzzHandlePacket feeds inputs to the inbound path of a host and of a
// router (Forwarding on), whole and, when they look like an IP packet,
// cut into fragments (mode: bit 0 router, bit 1 reverse order, bits 2-4
// the number of pieces minus one), and checks that nothing leaks, nothing
// panics and the reassembly memory stays under its cap.
func FuzzHandlePacket(f *testing.F) {
	f.Add(ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(ICMPEcho, 0, 1, []byte("x"))), false, uint8(0))
	f.Add(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: ourAddr}, udpish("hi")), false, uint8(0))
	f.Add(ipPacket(Fields{Protocol: 99, Src: peerAddr, Dst: ourAddr}, udpish("hi")), false, uint8(1))
	f.Add(ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr},
		icmpMsg(ICMPDestUnreach, 4, 0, ipPacket(Fields{Protocol: 17, Src: ourAddr, Dst: peerAddr}, udpish("")))), true, uint8(0))
	f.Add(ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr}, icmpMsg(ICMPEcho, 0, 1, pattern(700))), false, uint8(3<<2|2))
	f.Add(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: farAddr, TTL: 5}, pattern(600)), false, uint8(1))
	f.Add(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: farAddr, DF: true, Options: []byte{7, 3, 4, 0}}, pattern(600)), false, uint8(1|2<<2))
	f.Add(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: ourAddr, Options: []byte{68, 4, 4, 0}}, pattern(100)), false, uint8(7<<2))
	// Echo requests whose record route and timestamp options are
	// reflected and updated, and martians.
	f.Add(ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr, Options: append([]byte{1, 7, 39, 4}, make([]byte, 36)...)},
		icmpMsg(ICMPEcho, 0, 1, []byte("rr"))), false, uint8(0))
	f.Add(ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr, Options: []byte{68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0}},
		icmpMsg(ICMPEcho, 0, 1, []byte("ts"))), false, uint8(0))
	f.Add(ipPacket(Fields{Protocol: 1, Src: netip.MustParseAddr("127.0.0.1"), Dst: ourAddr}, icmpMsg(ICMPEcho, 0, 1, nil)), false, uint8(0))
	f.Add(ipPacket(Fields{Protocol: 17, Src: netip.IPv4Unspecified(), Dst: netip.MustParseAddr("255.255.255.255")}, udpish("dhcp")), false, uint8(0))
	host := newEnv(f, Options{ICMPErrorRate: -1, ReassemblyMemory: 64 << 10})
	rt := newRouter(f, Options{ICMPErrorRate: -1, ReassemblyMemory: 64 << 10}, 576)
	f.Fuzz(func(t *testing.T, b []byte, refuse bool, mode uint8) {
		e := host
		if mode&1 != 0 {
			e = rt.env
		}
		e.udp.SetRefuse(refuse)
		for _, fixed := range []bool{false, true} {
			in := b
			if fixed && len(b) >= HeaderLen {
				// Also try with a valid checksum so the fuzzer gets past it.
				in = append([]byte(nil), b...)
				if hl := int(in[0]&0xf) * 4; hl >= HeaderLen && hl <= len(in) {
					fixChecksum(in)
				}
			}
			pkts := [][]byte{in}
			if fixed {
				pkts = fuzzFragments(in, 1+int(mode>>2&7), mode&2 != 0)
			}
			before := stack.LivePackets()
			for _, pk := range pkts {
				e.inject(pk, ourMAC)
			}
			e.pr.flushLoopback()
			e.link.Take()
			rt.link1.Take()
			e.udp.TakePackets()
			e.udp.TakeErrors()
			if n := stack.LivePackets(); n != before {
				t.Fatalf("leak: %d live packets, want %d", n, before)
			}
			if _, mem := e.pr.ReassemblyPending(); mem > 64<<10 {
				t.Fatalf("reassembly holds %d bytes", mem)
			}
		}
	})
}

// fuzzFragments cuts b, if it starts with a plausible IPv4 header, into n
// fragments (pieces a multiple of 8 bytes, checksums fixed), in order or
// reversed; otherwise it returns b alone.
func fuzzFragments(b []byte, n int, reverse bool) [][]byte {
	if len(b) < HeaderLen || n < 2 {
		return [][]byte{b}
	}
	hl := int(b[0]&0xf) * 4
	tl := int(binary.BigEndian.Uint16(b[2:]))
	if hl < HeaderLen || tl < hl || tl > len(b) {
		return [][]byte{b}
	}
	payload := b[hl:tl]
	size := max(8, (len(payload)/n+7)&^7)
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		fr := append(append([]byte(nil), b[:hl]...), payload[off:end]...)
		binary.BigEndian.PutUint16(fr[2:], uint16(len(fr)))
		fo := uint16(off/8) | binary.BigEndian.Uint16(b[6:])&0x4000
		if end < len(payload) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(fr[6:], fo)
		fixChecksum(fr)
		out = append(out, fr)
	}
	if reverse {
		slices.Reverse(out)
	}
	if len(out) == 0 {
		return [][]byte{b}
	}
	return out
}

// sameError compares TransportErrors except their Transport bytes.
func sameError(a, b stack.TransportError) bool {
	return a.Kind == b.Kind && a.Type == b.Type && a.Code == b.Code && a.MTU == b.MTU && a.Src == b.Src && a.Dst == b.Dst
}
