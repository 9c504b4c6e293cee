package ipv6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

var (
	lan2Host = netip.MustParseAddr("2001:db8:1::5")
	lan2Us   = netip.MustParsePrefix("2001:db8:1::1/64")
)

// routerEnv is an env with Forwarding and a second NIC (eth1,
// 2001:db8:1::1/64) on a link of the given MTU.
func routerEnv(t *testing.T, mtu int, offload bool) (*env, *stacktest.Link) {
	t.Helper()
	e := newEnv(t, Options{Forwarding: true})
	l2 := newLink(mtu)
	if offload {
		// Its device segments and checksums.
		l2.SetOffloads(65535, true)
	}
	nic2, err := e.s.AddNIC("eth1", l2)
	if err != nil {
		t.Fatal(err)
	}
	if err := nic2.AddAddress(lan2Us); err != nil {
		t.Fatal(err)
	}
	return e, l2
}

func TestForwarding(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.Addr
		hop      uint8
		size     int
		out      int // 0: nothing, 1: eth1, 2: eth0
		icmpType layers.ICMPv6TypeCode
		mtu      uint32
		counter  string
	}{
		{"forwarded, hop limit decremented", peerAddr, lan2Host, 64, 100, 1, 0, 0, "ipv6.fwd.forwarded"},
		{"back out of the interface it came in on", peerAddr, otherAddr, 64, 100, 2, 0, 0, "ipv6.fwd.forwarded"},
		{"RFC 4443 3.3 hop limit 1: time exceeded", peerAddr, lan2Host, 1, 100, 2, layers.CreateICMPv6TypeCode(3, 0), 0, "ipv6.fwd.hop_limit_exceeded"},
		{"hop limit 0: time exceeded", peerAddr, lan2Host, 0, 100, 2, layers.CreateICMPv6TypeCode(3, 0), 0, "ipv6.fwd.hop_limit_exceeded"},
		{"RFC 4443 3.2 larger than the out MTU: packet too big", peerAddr, lan2Host, 64, 1401, 2, layers.CreateICMPv6TypeCode(2, 0), 1400, "ipv6.fwd.too_big"},
		{"exactly the out MTU", peerAddr, lan2Host, 64, 1400, 1, 0, 0, "ipv6.fwd.forwarded"},
		{"RFC 4443 3.1 no route", peerAddr, netip.MustParseAddr("2001:db9::1"), 64, 100, 2, layers.CreateICMPv6TypeCode(1, 0), 0, "ipv6.fwd.no_route"},
		{"RFC 4443 3.1 link-local source: beyond scope", peerLL, lan2Host, 64, 100, 2, layers.CreateICMPv6TypeCode(1, 2), 0, "ipv6.fwd.link_local"},
		{"RFC 4291 2.5.6 link-local destination not forwarded", peerAddr, netip.MustParseAddr("fe80::99"), 64, 100, 0, 0, 0, "ipv6.fwd.link_local"},
		{"multicast not forwarded", peerAddr, netip.MustParseAddr("ff0e::1234"), 64, 100, 0, 0, 0, "ipv6.fwd.multicast"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, l2 := routerEnv(t, 1400, false)
			b := ipPacket(Fields{NextHeader: 17, HopLimit: tc.hop, Src: tc.src, Dst: tc.dst}, cat(udpish(""), pattern(tc.size-48)))
			if tc.hop == 0 {
				b[7] = 0
			}
			e.inject(b, ourMAC)
			f0, f1 := e.link.Take(), l2.Take()
			if e.count(tc.counter) != 1 {
				t.Errorf("%s = %d", tc.counter, e.count(tc.counter))
			}
			switch tc.out {
			case 0:
				if len(f0)+len(f1) != 0 {
					t.Errorf("sent %d+%d frames", len(f0), len(f1))
				}
			case 1:
				if len(f0) != 0 || len(f1) != 1 {
					t.Fatalf("frames eth0 %d eth1 %d", len(f0), len(f1))
				}
				if f1[0].Data[7] != tc.hop-1 || string(f1[0].Data[8:]) != string(b[8:]) {
					t.Errorf("forwarded packet changed beyond the hop limit")
				}
			case 2:
				if len(f0) != 1 || len(f1) != 0 {
					t.Fatalf("frames eth0 %d eth1 %d", len(f0), len(f1))
				}
				if tc.icmpType == 0 {
					if f0[0].Data[7] != tc.hop-1 {
						t.Errorf("hop limit %d", f0[0].Data[7])
					}
					return
				}
				ip, ic := decode(t, f0[0].Data)
				if ic == nil || ic.TypeCode != tc.icmpType {
					t.Fatalf("got %v, want %v", ic, tc.icmpType)
				}
				if ip.DstIP.String() != tc.src.String() {
					t.Errorf("error to %v", ip.DstIP)
				}
				if tc.mtu != 0 {
					if got := uint32(ic.Payload[0])<<24 | uint32(ic.Payload[1])<<16 | uint32(ic.Payload[2])<<8 | uint32(ic.Payload[3]); got != tc.mtu {
						t.Errorf("packet too big mtu %d, want %d", got, tc.mtu)
					}
				}
			}
		})
	}
}

func TestForwardingProcessesHopByHop(t *testing.T) {
	e, l2 := routerEnv(t, 1500, false)
	b := ipPacket(Fields{NextHeader: ProtoHopByHop, Src: peerAddr, Dst: lan2Host}, cat(ext(17, 0x9e, 4, 0, 0, 0, 0), udpish("x")))
	e.inject(b, ourMAC)
	if len(l2.Take()) != 0 {
		t.Errorf("forwarded a packet with an unknown type-10 hop-by-hop option")
	}
	_, ic := decode(t, oneFrame(t, e.link).Data)
	if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(4, 2) {
		t.Errorf("got %v", ic)
	}
	// A destination options header is not looked at on the way.
	b = ipPacket(Fields{NextHeader: ProtoDestOptions, Src: peerAddr, Dst: lan2Host}, cat(ext(17, 0x9e, 4, 0, 0, 0, 0), udpish("x")))
	e.inject(b, ourMAC)
	if len(l2.Take()) != 1 {
		t.Errorf("destination options stopped forwarding")
	}
}

func TestForwardingGSO(t *testing.T) {
	tcp := make([]byte, 20+4000)
	binary.BigEndian.PutUint32(tcp[4:], 1000) // sequence number
	tcp[12] = 5 << 4
	tcp[13] = tcpFlagPSH | tcpFlagFIN | tcpFlagCWR | 0x10
	copy(tcp[20:], pattern(4000))
	for _, offload := range []bool{true, false} {
		e, l2 := routerEnv(t, 1500, offload)
		b := ipPacket(Fields{NextHeader: stack.ProtocolTCP, Src: peerAddr, Dst: lan2Host}, tcp)
		p := stack.NewPacketFrom(b)
		p.EtherType, p.LinkSrc, p.LinkDst = stack.EtherTypeIPv6, peerMAC, ourMAC
		p.GSOSize, p.ChecksumPartial = 1440, true
		e.nic.DeliverNetworkPacket(p)
		fs := l2.Take()
		if offload {
			if len(fs) != 1 || len(fs[0].Data) != len(b) || e.count("ipv6.fwd.gso_passed") != 1 {
				t.Errorf("offloading device: %d frames", len(fs))
			}
			continue
		}
		// A plain device: segments of 1440 bytes, each checksummed, as
		// gopacket verifies.
		if len(fs) != 3 || e.count("ipv6.fwd.gso_segments") != 3 {
			t.Fatalf("plain device: %d frames", len(fs))
		}
		var data []byte
		for i, f := range fs {
			if len(f.Data) > 1500 || f.Data[7] != 63 {
				t.Errorf("segment %d: %d bytes, hop limit %d", i, len(f.Data), f.Data[7])
			}
			pkt := gopacket.NewPacket(f.Data, layers.LayerTypeIPv6, gopacket.Default)
			ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			tl, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tl == nil {
				t.Fatalf("segment %d: no TCP: %v", i, pkt.ErrorLayer())
			}
			if tl.Seq != uint32(1000+len(data)) || tl.FIN != (i == 2) || tl.PSH != (i == 2) || tl.CWR != (i == 0) || !tl.ACK {
				t.Errorf("segment %d: seq %d FIN %v PSH %v CWR %v", i, tl.Seq, tl.FIN, tl.PSH, tl.CWR)
			}
			want := tl.Checksum
			_ = tl.SetNetworkLayerForChecksum(ip)
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, tl, gopacket.Payload(tl.Payload)); err != nil {
				t.Fatal(err)
			}
			if tl.Checksum != want {
				t.Errorf("segment %d: TCP checksum %#04x, gopacket computes %#04x", i, want, tl.Checksum)
			}
			data = append(data, tl.Payload...)
		}
		if !bytes.Equal(data, pattern(4000)) {
			t.Errorf("segments do not carry the super-segment's data")
		}
	}
}

func TestResolutionFailure(t *testing.T) {
	// Ours: the transport hears host unreachable, nothing on the wire.
	e, _ := routerEnv(t, 1500, false)
	mine := sentUDP(lan2Host, 4)
	e.pr.HandleResolutionFailure(e.nic, lan2Host, stack.NewPacketFrom(mine))
	errs := e.udp.TakeErrors()
	if len(errs) != 1 || errs[0].Kind != stack.ErrorHostUnreachable || errs[0].Dst != lan2Host || !bytes.Equal(errs[0].Transport, mine[HeaderLen:]) {
		t.Errorf("errors %+v", errs)
	}
	if f := e.link.Take(); len(f) != 0 {
		t.Errorf("sent %d frames", len(f))
	}
	// Forwarded: its source hears address unreachable (RFC 4443 3.1
	// code 3).
	fwd := ipPacket(Fields{NextHeader: 17, Src: peerAddr, Dst: lan2Host}, udpish("x"))
	p := stack.NewPacketFrom(fwd)
	p.NIC, p.LinkDst = e.nic, ourMAC
	e.pr.HandleResolutionFailure(e.s.NIC("eth1"), lan2Host, p)
	_, ic := decode(t, oneFrame(t, e.link).Data)
	if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(1, 3) {
		t.Errorf("got %v", ic)
	}
}
