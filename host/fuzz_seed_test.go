package host

import (
	"bytes"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// Seed frames, built with gopacket.

func fzHW(m stack.MAC) net.HardwareAddr { return net.HardwareAddr(m[:]) }

func fzIP(s string) net.IP { return net.ParseIP(s).To4() }

func fzSerialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func fzEth(dst, src stack.MAC, t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{DstMAC: fzHW(dst), SrcMAC: fzHW(src), EthernetType: t}
}

func fzIPv4(src, dst string, proto layers.IPProtocol, ttl uint8) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Id: 0x4242, Protocol: proto, SrcIP: fzIP(src), DstIP: fzIP(dst)}
}

func fzARP(op uint16, srcMAC stack.MAC, srcIP string, dstMAC stack.MAC, dstIP string) *layers.ARP {
	return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: fzHW(srcMAC), SourceProtAddress: fzIP(srcIP), DstHwAddress: fzHW(dstMAC), DstProtAddress: fzIP(dstIP)}
}

// fzARPFrame is an ARP request (broadcast) or reply (to our eth0 or eth1).
func fzARPFrame(op uint16, srcMAC stack.MAC, srcIP string, dstMAC stack.MAC, dstIP string) []byte {
	ethDst := fzBcast
	if op == layers.ARPReply {
		ethDst = dstMAC
	}
	return fzSerialize(fzEth(ethDst, srcMAC, layers.EthernetTypeARP), fzARP(op, srcMAC, srcIP, stack.MAC{}, dstIP))
}

func fzEcho(dst, src stack.MAC, srcIP, dstIP string, ttl uint8, data []byte) []byte {
	return fzSerialize(fzEth(dst, src, layers.EthernetTypeIPv4), fzIPv4(srcIP, dstIP, layers.IPProtocolICMPv4, ttl),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}, gopacket.Payload(data))
}

func fzUDP(dst, src stack.MAC, srcIP, dstIP string, ttl uint8, dport uint16, data []byte) []byte {
	ip := fzIPv4(srcIP, dstIP, layers.IPProtocolUDP, ttl)
	u := &layers.UDP{SrcPort: 5353, DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return fzSerialize(fzEth(dst, src, layers.EthernetTypeIPv4), ip, u, gopacket.Payload(data))
}

func fzTCP(dst, src stack.MAC, srcIP, dstIP string, seg *layers.TCP, data []byte) []byte {
	ip := fzIPv4(srcIP, dstIP, layers.IPProtocolTCP, 64)
	seg.SetNetworkLayerForChecksum(ip)
	return fzSerialize(fzEth(dst, src, layers.EthernetTypeIPv4), ip, seg, gopacket.Payload(data))
}

// fzFragments serializes the transport layers ls of a packet from srcIP
// to dstIP and cuts its payload into IPv4 fragments of at most size bytes
// (a multiple of 8).
func fzFragments(srcIP, dstIP string, proto layers.IPProtocol, size int, ls ...gopacket.SerializableLayer) [][]byte {
	payload := fzSerialize(ls...)
	var frames [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		ip := fzIPv4(srcIP, dstIP, proto, 64)
		ip.FragOffset = uint16(off / 8)
		if end < len(payload) {
			ip.Flags = layers.IPv4MoreFragments
		}
		frames = append(frames, fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeIPv4), ip, gopacket.Payload(payload[off:end])))
	}
	return frames
}

func fzSeeds(tb testing.TB) [][]byte {
	arpReq := fzFrame{b: fzARPFrame(layers.ARPRequest, fzPeer01, "10.0.0.1", stack.MAC{}, "10.0.0.2")}
	arpReq1 := fzFrame{eth1: true, b: fzARPFrame(layers.ARPRequest, fzPeer19, "10.0.1.9", stack.MAC{}, "10.0.1.2")}
	arpReply19 := fzFrame{eth1: true, step: 2, b: fzARPFrame(layers.ARPReply, fzPeer19, "10.0.1.9", fzMAC1, "10.0.1.2")}
	echo := fzFrame{b: fzEcho(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", 64, []byte("ping"))}
	syn := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, SYN: true, Window: 65535,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}}
	synFrame := fzFrame{b: fzTCP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", syn, nil)}

	udpFrags := fzFragments("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP, 56, func() []gopacket.SerializableLayer {
		u := &layers.UDP{SrcPort: 5353, DstPort: 7}
		u.SetNetworkLayerForChecksum(fzIPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP, 64))
		return []gopacket.SerializableLayer{u, gopacket.Payload(bytes.Repeat([]byte("fragmented "), 9))}
	}()...)
	bigEcho := fzFragments("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4, 1480,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 8, Seq: 2},
		gopacket.Payload(bytes.Repeat([]byte{0xa5}, 2000)))
	if len(udpFrags) != 2 || len(bigEcho) != 2 {
		panic("seed datagrams are not cut in two fragments")
	}

	rr := fzIPv4("10.0.0.1", "10.0.1.9", layers.IPProtocolUDP, 64)
	rr.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}}}
	rrUDP := &layers.UDP{SrcPort: 5353, DstPort: 9}
	rrUDP.SetNetworkLayerForChecksum(rr)
	recordRoute := fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeIPv4), rr, rrUDP, gopacket.Payload("route"))

	dot1q := fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4},
		fzIPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4, 64),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: 3}, gopacket.Payload("tagged"))

	// Issue 13: a priority-tagged echo (answered untagged), a ping -R
	// (answered with the route recorded) and a martian echo (dropped).
	prio := fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeDot1Q), &layers.Dot1Q{Priority: 6, VLANIdentifier: 0, Type: layers.EthernetTypeIPv4},
		fzIPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4, 64),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: 4}, gopacket.Payload("priority"))
	pingR := fzIPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4, 64)
	pingR.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 7, OptionLength: 39, OptionData: append([]byte{4}, make([]byte, 36)...)}}
	pingRFrame := fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeIPv4), pingR,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: 5}, gopacket.Payload("ping -R"))

	seeds := [][]fzFrame{
		{arpReq, {b: prio}},
		{arpReq, {b: pingRFrame}},
		{arpReq, {b: fzEcho(fzMAC0, fzPeer01, "127.0.0.1", "10.0.0.2", 64, []byte("martian"))}},
		{arpReq},
		{echo},
		{arpReq, echo},
		{arpReq, synFrame},
		{arpReq, {b: fzTCP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", &layers.TCP{SrcPort: 40001, DstPort: 81, Seq: 5, SYN: true, Window: 1024}, nil)}},
		{arpReq, {b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", 64, 7, []byte("echo me"))}},
		{arpReq, {b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", 64, 9, []byte("closed port"))}},
		{arpReq, {b: udpFrags[0]}, {b: udpFrags[1]}},
		{arpReq, {b: udpFrags[1]}, {b: udpFrags[0]}},
		{arpReq, {b: udpFrags[0]}, {step: 6, b: udpFrags[1]}},
		{arpReq, {b: bigEcho[0]}, {b: bigEcho[1]}},
		{{b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.1.9", 64, 9, []byte("forward me"))}, arpReply19},
		{arpReq1, {b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.1.9", 64, 9, []byte("forward me"))}},
		{arpReq, {b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.1.9", 1, 9, []byte("ttl 1"))}},
		{arpReq, {b: fzUDP(fzMAC0, fzPeer05, "10.0.0.5", "192.0.2.1", 64, 9, []byte("redirect me"))}},
		{arpReq1, {eth1: true, b: fzUDP(fzMAC1, fzPeer19, "10.0.1.9", "192.0.2.1", 64, 9, []byte("to the gateway"))}, {step: 1, b: arpReq.b}},
		{{b: recordRoute}, arpReply19},
		{arpReq1, {eth1: true, b: fzEcho(fzMAC1, fzPeer19, "10.0.1.9", "10.0.1.2", 64, []byte("ping eth1"))}},
		{arpReq, {b: dot1q}},
		{arpReq, {b: fzUDP(fzBcast, fzPeer01, "10.0.0.1", "10.0.0.255", 64, 7, []byte("broadcast"))}},
		{arpReq, {b: fzEcho(fzBcast, fzPeer01, "10.0.0.1", "10.0.0.255", 64, []byte("ping all"))}},
		{arpReq, {b: fzUDP(fzBcast, fzPeer01, "10.0.0.1", "255.255.255.255", 64, 9, []byte("limited broadcast"))}},
		{arpReq, {raw: true, b: fzCorrupt(echo.b, link.EthernetHeaderLen+10)}},        // bad IPv4 header checksum
		{arpReq, {raw: true, b: fzCorrupt(synFrame.b, link.EthernetHeaderLen+20+16)}}, // bad TCP checksum
	}
	var out [][]byte
	for _, s := range seeds {
		out = append(out, fzEncode(s...))
	}
	out = append(out, fzEncode(fzHandshake(tb, arpReq, synFrame)...))
	return append(out, fzSeeds6(tb)...)
}

// fzCorrupt returns a copy of b with the byte at i flipped.
func fzCorrupt(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0xff
	return c
}

// fzHandshake completes the handshake that arpReq and synFrame start:
// it runs them on a host, reads the SYN-ACK (the host is deterministic, so
// a fuzz run sees the same one) and answers with an ACK carrying a
// request, then a FIN.
func fzHandshake(tb testing.TB, arpReq, synFrame fzFrame) []fzFrame {
	fh := newFzHost(tb)
	defer fh.h.Close()
	fh.deliver(arpReq)
	fh.deliver(synFrame)
	fh.w.mu.Lock()
	out := append([]fzOut(nil), fh.w.out...)
	fh.w.mu.Unlock()
	for _, o := range out {
		pkt := gopacket.NewPacket(o.b, layers.LayerTypeEthernet, gopacket.Default)
		seg, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || !seg.SYN || !seg.ACK {
			continue
		}
		req := []byte("GET / HTTP/1.0\r\n\r\n")
		ack := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: seg.Seq + 1, ACK: true, PSH: true, Window: 65535}
		fin := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1001 + uint32(len(req)), Ack: seg.Seq + 1, ACK: true, FIN: true, Window: 65535}
		return []fzFrame{arpReq, synFrame,
			{step: 1, b: fzTCP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", ack, req)},
			{step: 2, b: fzTCP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", fin, nil)}}
	}
	tb.Fatalf("no SYN-ACK among %d frames the host wrote", len(out))
	return nil
}
