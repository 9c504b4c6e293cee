package ipv6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

func TestInboundDrops(t *testing.T) {
	good := ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: ourAddr}, udpish("hello"))
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	mc := netip.MustParseAddr("ff02::1")
	tests := []struct {
		name    string
		b       []byte
		counter string
	}{
		{"too short", good[:39], "ipv6.rx.too_short"},
		{"bad version", mod(func(b []byte) []byte { b[0] = 0x45; return b }), "ipv6.rx.bad_version"},
		{"payload length past the frame", mod(func(b []byte) []byte { b[5] += 1; return b }), "ipv6.rx.bad_payload_length"},
		{"jumbogram", ipPacket(Fields{NextHeader: 0, PayloadLength: 0, Src: peerAddr, Dst: ourAddr}, nil), "ipv6.rx.bad_payload_length"},
		{"RFC 4291 source multicast", ipPacket(Fields{NextHeader: 17, Src: mc, Dst: ourAddr}, udpish("x")), "ipv6.rx.martian_source"},
		{"RFC 4291 source ::1 from the wire", ipPacket(Fields{NextHeader: 17, Src: netip.IPv6Loopback(), Dst: ourAddr}, udpish("x")), "ipv6.rx.martian_source"},
		{"RFC 4291 2.5.5.2 IPv4-mapped source", ipPacket(Fields{NextHeader: 17, Src: netip.MustParseAddr("::ffff:10.0.0.1"), Dst: ourAddr}, udpish("x")), "ipv6.rx.martian_source"},
		{"RFC 4291 destination ::1 from the wire", ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: netip.IPv6Loopback()}, udpish("x")), "ipv6.rx.martian_destination"},
		{"RFC 4291 destination unspecified", ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: netip.IPv6Unspecified()}, udpish("x")), "ipv6.rx.martian_destination"},
		{"RFC 4291 2.7 interface-local multicast from the wire", ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: netip.MustParseAddr("ff01::1")}, udpish("x")), "ipv6.rx.martian_destination"},
		{"RFC 4291 2.7 multicast scope 0", ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: netip.MustParseAddr("ff00::1")}, udpish("x")), "ipv6.rx.martian_destination"},
		{"not for us", ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: otherAddr}, udpish("x")), "ipv6.rx.not_for_us"},
		{"group not joined", ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: netip.MustParseAddr("ff02::fb")}, udpish("x")), "ipv6.rx.not_for_us"},
		{"no next header", ipPacket(Fields{NextHeader: ProtoNoNextHeader, Src: peerAddr, Dst: ourAddr}, make([]byte, 8)), "ipv6.rx.no_next_header"},
		{"truncated extension header", ipPacket(Fields{NextHeader: ProtoDestOptions, Src: peerAddr, Dst: ourAddr}, []byte{17, 1, 1, 4, 0, 0, 0, 0}), "ipv6.rx.bad_ext_header"},
		{"icmpv6 too short", ipPacket(Fields{NextHeader: 58, Src: peerAddr, Dst: ourAddr}, []byte{128, 0, 0, 0}), "icmpv6.rx.too_short"},
		{"icmpv6 bad checksum", ipPacket(Fields{NextHeader: 58, Src: peerAddr, Dst: ourAddr}, []byte{128, 0, 0, 0, 0, 1, 0, 1}), "icmpv6.rx.bad_checksum"},
		{"icmpv6 unregistered type", icmpPacket(peerAddr, ourAddr, 200, 0, 0, nil), "icmpv6.rx.unhandled_type"},
		{"echo request from ::", icmpPacket(netip.IPv6Unspecified(), ourAddr, ICMPEchoRequest, 0, 0, nil), "icmpv6.rx.bad_echo_source"},
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
			if f := e.link.Take(); len(f) != 0 {
				t.Errorf("sent %d frames", len(f))
			}
		})
	}
}

func TestLinkMTUBelow1280RefusesIPv6(t *testing.T) {
	e := newEnvMTU(t, Options{}, 1279)
	e.inject(ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: ourAddr}, udpish("x")), ourMAC)
	if e.count("ipv6.rx.link_mtu_too_small") != 1 || len(e.udp.TakePackets()) != 0 {
		t.Errorf("inbound on a 1279-byte link not refused")
	}
	r, err := e.s.FindRoute(peerAddr, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.pr.WritePacket(&r, stack.NetworkParams{Protocol: 17}, stack.NewPacketFrom(udpish("x"))); err != ErrLinkMTUTooSmall {
		t.Errorf("WritePacket = %v, want ErrLinkMTUTooSmall", err)
	}
	if e.count("ipv6.tx.link_mtu_too_small") != 1 || len(e.link.Take()) != 0 {
		t.Errorf("outbound on a 1279-byte link not refused")
	}
}

func TestDeliverToTransport(t *testing.T) {
	tests := []struct {
		name string
		dst  netip.Addr
		join bool
		pad  int
	}{
		{"unicast, padded frame", ourAddr, false, 10},
		{"link-local", ourLL, false, 0},
		{"all-nodes multicast", netip.MustParseAddr("ff02::1"), false, 0},
		{"joined group", netip.MustParseAddr("ff02::fb"), true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			if tc.join {
				if err := e.nic.JoinGroup(tc.dst); err != nil {
					t.Fatal(err)
				}
			}
			payload := udpish("hi")
			b := append(ipPacket(Fields{TrafficClass: 0xb8 | 3, NextHeader: 17, HopLimit: 17, Src: peerAddr, Dst: tc.dst}, payload), make([]byte, tc.pad)...)
			e.inject(b, ourMAC)
			got := e.udp.TakePackets()
			if len(got) != 1 {
				t.Fatalf("transport got %d packets", len(got))
			}
			d := got[0]
			if !bytes.Equal(d.Data, payload) || d.Src != peerAddr || d.Dst != tc.dst || d.TTL != 17 || d.TOS != 0xb8|3 || d.Protocol != 17 {
				t.Errorf("delivered %+v, want data % x", d, payload)
			}
		})
	}
}

func TestEchoReply(t *testing.T) {
	tests := []struct {
		name      string
		src, dst  netip.Addr
		wantSrc   netip.Addr
		data      []byte
		tc        uint8
		headroom0 bool
	}{
		{"RFC 4443 4.2 unicast", peerAddr, ourAddr, ourAddr, bytes.Repeat([]byte{0xa5}, 56), 0, false},
		{"odd length, traffic class reflected", peerAddr, ourAddr, ourAddr, []byte("abcdefghijk"), 0x28, false},
		{"RFC 4443 4.2 multicast request answered from a unicast address", peerAddr, netip.MustParseAddr("ff02::1"), ourAddr, []byte("x"), 0, false},
		{"link-local", peerLL, ourLL, ourLL, []byte("ll"), 0, false},
		{"multicast from link-local: link-local source", peerLL, netip.MustParseAddr("ff02::1"), ourLL, nil, 0, false},
		{"no headroom: copied", peerAddr, ourAddr, ourAddr, []byte("copy me"), 0, true},
		{"1232 bytes", peerAddr, ourAddr, ourAddr, bytes.Repeat([]byte{1, 2, 3, 4}, 1232/4), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			req := ipPacket(Fields{TrafficClass: tc.tc, NextHeader: 58, Src: tc.src, Dst: tc.dst}, icmpMsg(tc.src, tc.dst, ICMPEchoRequest, 0, EchoRest(0x1234, 7), tc.data))
			p := stack.NewPacketFrom(req)
			if tc.headroom0 {
				p.Release()
				p = stack.NewPacket(0, len(req))
				copy(p.Bytes(), req)
			}
			p.EtherType, p.LinkSrc, p.LinkDst = stack.EtherTypeIPv6, peerMAC, ourMAC
			e.nic.DeliverNetworkPacket(p)
			f := oneFrame(t, e.link)
			if f.Dst != peerMAC {
				t.Errorf("reply to %v, want %v", f.Dst, peerMAC)
			}
			ip, ic := decode(t, f.Data)
			if ic == nil {
				t.Fatal("no ICMPv6")
			}
			if ip.SrcIP.String() != tc.wantSrc.String() || ip.DstIP.String() != tc.src.String() || ip.HopLimit != 64 || ip.TrafficClass != tc.tc {
				t.Errorf("reply %v -> %v hop limit %d tc %#x", ip.SrcIP, ip.DstIP, ip.HopLimit, ip.TrafficClass)
			}
			if ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0) {
				t.Errorf("type %v", ic.TypeCode)
			}
			if !bytes.Equal(ic.Payload, append([]byte{0x12, 0x34, 0, 7}, tc.data...)) {
				t.Errorf("reply body % x", ic.Payload)
			}
			if e.count("icmpv6.rx.echo_request") != 1 || e.count("icmpv6.tx.echo_reply") != 1 {
				t.Errorf("counters %d %d", e.count("icmpv6.rx.echo_request"), e.count("icmpv6.tx.echo_reply"))
			}
		})
	}
}

func TestEchoToOurselvesLoopsBack(t *testing.T) {
	e := newEnv(t, Options{})
	r, err := e.s.FindRoute(ourAddr, netip.Addr{})
	if err != nil || !r.Local {
		t.Fatalf("route %+v %v", r, err)
	}
	msg := icmpMsg(ourAddr, ourAddr, ICMPEchoRequest, 0, EchoRest(1, 1), []byte("me"))
	if err := e.pr.WritePacket(&r, stack.NetworkParams{Protocol: 58}, stack.NewPacketFrom(msg)); err != nil {
		t.Fatal(err)
	}
	e.pr.flushLoopback()
	if e.count("icmpv6.rx.echo_request") != 1 || e.count("icmpv6.rx.echo_reply") != 1 {
		t.Errorf("request %d reply %d", e.count("icmpv6.rx.echo_request"), e.count("icmpv6.rx.echo_reply"))
	}
	if f := e.link.Take(); len(f) != 0 {
		t.Errorf("loopback sent %d frames on the link", len(f))
	}
}

func TestICMPv6HandlerDispatch(t *testing.T) {
	e := newEnv(t, Options{})
	h := &fakeICMPHandler{}
	e.s.SetICMPv6Handler(135, h)
	ns := icmpPacket(peerLL, stack.SolicitedNodeAddress(ourAddr), 135, 0, 0, make([]byte, 16))
	ns[7] = 255
	// The solicited-node group is joined by NDP; here by hand.
	if err := e.nic.JoinGroup(stack.SolicitedNodeAddress(ourAddr)); err != nil {
		t.Fatal(err)
	}
	e.inject(ns, stack.MulticastMAC(stack.SolicitedNodeAddress(ourAddr)))
	bad := append([]byte(nil), ns...)
	bad[len(bad)-1] ^= 1
	e.inject(bad, stack.MulticastMAC(stack.SolicitedNodeAddress(ourAddr)))
	if len(h.msgs) != 1 {
		t.Fatalf("handler got %d messages, want 1 (the bad checksum one dropped)", len(h.msgs))
	}
	m := h.msgs[0]
	if m.Src != peerLL || m.Dst != stack.SolicitedNodeAddress(ourAddr) || m.TTL != 255 || m.Data[0] != 135 {
		t.Errorf("handed %+v", m)
	}
	if e.count("icmpv6.rx.bad_checksum") != 1 {
		t.Errorf("bad checksum not counted")
	}
	// Echo replies go to a handler registered for them (a ping client);
	// echo requests never do.
	e.s.SetICMPv6Handler(ICMPEchoReply, h)
	e.s.SetICMPv6Handler(ICMPEchoRequest, h)
	e.inject(icmpPacket(peerAddr, ourAddr, ICMPEchoReply, 0, EchoRest(1, 2), []byte("pong")), ourMAC)
	e.inject(icmpPacket(peerAddr, ourAddr, ICMPEchoRequest, 0, EchoRest(1, 2), []byte("ping")), ourMAC)
	if len(h.msgs) != 2 || h.msgs[1].Data[0] != ICMPEchoReply {
		t.Errorf("handler got %d messages", len(h.msgs))
	}
	if len(e.link.Take()) != 1 {
		t.Errorf("echo request not answered by ipv6 itself")
	}
}

func TestPortUnreachable(t *testing.T) {
	e := newEnv(t, Options{})
	e.udp.SetRefuse(true)
	req := ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: ourAddr}, udpish("nobody"))
	e.inject(req, ourMAC)
	ip, ic := decode(t, oneFrame(t, e.link).Data)
	if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeDestinationUnreachable, layers.ICMPv6CodePortUnreachable) {
		t.Fatalf("got %v", ic)
	}
	if ip.SrcIP.String() != ourAddr.String() || ip.DstIP.String() != peerAddr.String() {
		t.Errorf("error %v -> %v", ip.SrcIP, ip.DstIP)
	}
	if !bytes.Equal(ic.Payload[4:], req) {
		t.Errorf("quote % x", ic.Payload)
	}
	// RFC 4443 2.4 e.3: not for a multicast destination.
	e.inject(ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: netip.MustParseAddr("ff02::1")}, udpish("x")), stack.MulticastMAC(netip.MustParseAddr("ff02::1")))
	if f := e.link.Take(); len(f) != 0 {
		t.Errorf("port unreachable sent for a multicast destination")
	}
}

func TestUnknownNextHeaderParamProblem(t *testing.T) {
	// RFC 8200 4: code 1 pointing at the next-header field naming the
	// protocol: the fixed header's (6), or the last extension header's.
	tests := []struct {
		name    string
		payload []byte
		first   uint8
		pointer uint32
	}{
		{"in the fixed header", udpish("x"), 99, 6},
		{"after destination options", cat(ext(99, 1, 4, 0, 0, 0, 0), udpish("x")), ProtoDestOptions, 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.inject(ipPacket(Fields{NextHeader: tc.first, Src: peerAddr, Dst: ourAddr}, tc.payload), ourMAC)
			_, ic := decode(t, oneFrame(t, e.link).Data)
			if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeParameterProblem, 1) {
				t.Fatalf("got %v", ic)
			}
			if p := binary.BigEndian.Uint32(ic.Payload); p != tc.pointer {
				t.Errorf("pointer %d, want %d", p, tc.pointer)
			}
			if e.count("ipv6.rx.unknown_protocol") != 1 {
				t.Errorf("not counted")
			}
		})
	}
}

func TestWritePacketHeader(t *testing.T) {
	tests := []struct {
		name   string
		params stack.NetworkParams
		hl     uint8
	}{
		{"default hop limit 64, 1 to multicast", stack.NetworkParams{Protocol: 17}, 64},
		{"255 as given, TOS is the traffic class", stack.NetworkParams{Protocol: 17, TTL: 255, TOS: 0xb8}, 255},
	}
	mc := netip.MustParseAddr("ff02::fb")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			r, err := e.s.FindRoute(peerAddr, netip.Addr{})
			if err != nil {
				t.Fatal(err)
			}
			data := udpish("payload")
			rm := e.nic.LinkRoute(ourLL, mc)
			if err := e.pr.WritePacket(&rm, tc.params, stack.NewPacketFrom(data)); err != nil {
				t.Fatal(err)
			}
			fm := oneFrame(t, e.link)
			if want := map[bool]uint8{true: 1, false: tc.hl}[tc.params.TTL == 0]; fm.Data[7] != want || fm.Dst != stack.MulticastMAC(mc) {
				t.Errorf("to %v: hop limit %d (want %d), MAC %v", mc, fm.Data[7], want, fm.Dst)
			}
			if err := e.pr.WritePacket(&r, tc.params, stack.NewPacketFrom(data)); err != nil {
				t.Fatal(err)
			}
			f := oneFrame(t, e.link)
			ip, _ := decode(t, f.Data)
			if ip.Version != 6 || ip.HopLimit != tc.hl || ip.TrafficClass != tc.params.TOS || ip.Length != uint16(len(data)) ||
				ip.NextHeader != layers.IPProtocolUDP || ip.SrcIP.String() != ourAddr.String() || ip.DstIP.String() != peerAddr.String() {
				t.Errorf("header %+v", ip)
			}
			if !bytes.Equal(f.Data[HeaderLen:], data) {
				t.Errorf("payload % x", f.Data[HeaderLen:])
			}
		})
	}
}

func TestRFC4443EchoToMulticastFromTheInboundInterface(t *testing.T) {
	// RFC 4443 4.2: the reply's source is a unicast address of the
	// interface the request arrived on, even when the route back leaves
	// by another one.
	e, l2 := routerEnv(t, 1500, false)
	mc := netip.MustParseAddr("ff02::1")
	p := stack.NewPacketFrom(icmpPacket(peerAddr, mc, ICMPEchoRequest, 0, EchoRest(1, 1), []byte("x")))
	p.EtherType, p.LinkSrc, p.LinkDst = stack.EtherTypeIPv6, peerMAC, stack.MulticastMAC(mc)
	e.s.NIC("eth1").DeliverNetworkPacket(p)
	fs := append(e.link.Take(), l2.Take()...)
	if len(fs) != 1 {
		t.Fatalf("%d replies", len(fs))
	}
	ip, _ := decode(t, fs[0].Data)
	if ip.SrcIP.String() != lan2Us.Addr().String() {
		t.Errorf("reply from %v, want eth1's %v", ip.SrcIP, lan2Us.Addr())
	}
}
