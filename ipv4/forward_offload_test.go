package ipv4

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

// offloadLink is a recording link of the given MTU that reports the given
// offloads (like link.Ethernet over an offloading TAP); its frames carry
// the offload metadata of what was written.
func offloadLink(mtu, gsoMax int, csum bool) *stacktest.Link {
	l := newLink(mtu)
	l.SetOffloads(gsoMax, csum)
	return l
}

// newOffloadRouter is a forwarding env whose eth1 (10.1.0.2/24) is l.
func newOffloadRouter(t *testing.T, l *stacktest.Link) *env {
	t.Helper()
	e := newEnv(t, Options{Forwarding: true})
	nic, err := e.s.AddNIC("eth1", l)
	if err != nil {
		t.Fatal(err)
	}
	if err := nic.AddAddress(netip.MustParsePrefix("10.1.0.2/24")); err != nil {
		t.Fatal(err)
	}
	return e
}

// partialTCP builds a TCP segment from peerAddr:40000 to farAddr:80 with
// payload, whose checksum field holds only the pseudo-header sum, as a
// kernel leaves it with NEEDS_CSUM.
func partialTCP(seq uint32, flags uint8, payload []byte) []byte {
	t := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(t[0:], 40000)
	binary.BigEndian.PutUint16(t[2:], 80)
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], 777)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:], 65535)
	copy(t[20:], payload)
	binary.BigEndian.PutUint16(t[16:], checksum.PseudoHeader(peerAddr, farAddr, stack.ProtocolTCP, uint16(len(t))))
	return t
}

// partialUDP is the same for a UDP datagram.
func partialUDP(payload []byte) []byte {
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], 5353)
	binary.BigEndian.PutUint16(u[2:], 53)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	binary.BigEndian.PutUint16(u[6:], checksum.PseudoHeader(peerAddr, farAddr, stack.ProtocolUDP, uint16(len(u))))
	return u
}

// injectOffload delivers b on eth0 with the receive metadata of an
// offloading TAP.
func (e *env) injectOffload(b []byte, partial bool, gso uint16) {
	p := stack.NewPacketFrom(b)
	p.EtherType = stack.EtherTypeIPv4
	p.LinkSrc, p.LinkDst = peerMAC, ourMAC
	p.ChecksumOK, p.ChecksumPartial, p.GSOSize = true, partial, gso
	e.nic.DeliverNetworkPacket(p)
}

// l4ChecksumValid checks an IPv4 TCP or UDP packet's transport checksum
// with gopacket: it recomputes the checksum of the decoded layer
// (SerializeTo with ComputeChecksums) and compares it with the field.
func l4ChecksumValid(t *testing.T, b []byte) {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		t.Fatalf("gopacket: not IPv4: %v", pkt.ErrorLayer())
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{ComputeChecksums: true}
	var got, want uint16
	switch l := pkt.TransportLayer().(type) {
	case *layers.TCP:
		got = l.Checksum
		l.SetNetworkLayerForChecksum(ip)
		if err := gopacket.SerializeLayers(buf, opts, l, gopacket.Payload(l.Payload)); err != nil {
			t.Fatal(err)
		}
		want = binary.BigEndian.Uint16(buf.Bytes()[16:])
	case *layers.UDP:
		got = l.Checksum
		l.SetNetworkLayerForChecksum(ip)
		if err := gopacket.SerializeLayers(buf, opts, l, gopacket.Payload(l.Payload)); err != nil {
			t.Fatal(err)
		}
		want = binary.BigEndian.Uint16(buf.Bytes()[6:])
	default:
		t.Fatalf("gopacket: no TCP/UDP layer in % x", b[:min(len(b), 40)])
	}
	if got != want {
		t.Errorf("transport checksum %#04x, gopacket computes %#04x", got, want)
	}
}

// TestForwardChecksumPartial: a packet received with a partial checksum
// (NEEDS_CSUM) goes out of a device without checksum offload with the
// checksum completed (gopacket agrees), and out of one with checksum
// offload still partial (the device completes it).
func TestForwardChecksumPartial(t *testing.T) {
	tests := []struct {
		name        string
		proto       uint8
		l4          []byte
		offload     bool
		wantPartial bool
		counter     string
	}{
		{"tcp to a plain device", stack.ProtocolTCP, partialTCP(1000, 0x18, pattern(1000)), false, false, "ipv4.fwd.csum_completed"},
		{"udp to a plain device", stack.ProtocolUDP, partialUDP(pattern(333)), false, false, "ipv4.fwd.csum_completed"},
		{"tcp to an offloading device", stack.ProtocolTCP, partialTCP(1000, 0x18, pattern(1000)), true, true, "ipv4.fwd.csum_offloaded"},
		{"udp to an offloading device", stack.ProtocolUDP, partialUDP(pattern(333)), true, true, "ipv4.fwd.csum_offloaded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gsoMax := 0
			if tc.offload {
				gsoMax = 65535
			}
			l := offloadLink(1500, gsoMax, tc.offload)
			e := newOffloadRouter(t, l)
			in := ipPacket(Fields{Protocol: tc.proto, TTL: 64, DF: true, Src: peerAddr, Dst: farAddr}, tc.l4)
			e.injectOffload(in, true, 0)
			fr := oneFrame(t, l)
			checkIPChecksum(t, fr.Data)
			if fr.ChecksumPartial != tc.wantPartial {
				t.Errorf("ChecksumPartial %v on output, want %v", fr.ChecksumPartial, tc.wantPartial)
			}
			if tc.wantPartial {
				// Untouched but for TTL and header checksum: the device
				// completes it.
				if !bytes.Equal(fr.Data[20:], in[20:]) {
					t.Errorf("transport bytes changed")
				}
			} else {
				l4ChecksumValid(t, fr.Data)
			}
			if e.count(tc.counter) != 1 {
				t.Errorf("%s = %d", tc.counter, e.count(tc.counter))
			}
		})
	}
}

// TestForwardChecksumPartialBeforeFragmenting: a partial checksum is
// completed before the packet is fragmented (no device can finish the
// checksum of fragments), even towards an offloading device.
func TestForwardChecksumPartialBeforeFragmenting(t *testing.T) {
	l := offloadLink(576, 65535, true)
	e := newOffloadRouter(t, l)
	in := ipPacket(Fields{Protocol: stack.ProtocolUDP, TTL: 64, ID: 42, Src: peerAddr, Dst: farAddr}, partialUDP(pattern(1400)))
	e.injectOffload(in, true, 0)
	frames := l.Take()
	if len(frames) < 3 {
		t.Fatalf("%d fragments", len(frames))
	}
	dq := ip4defrag.NewIPv4Defragmenter()
	var whole *layers.IPv4
	for i, fr := range frames {
		if fr.ChecksumPartial {
			t.Errorf("fragment %d marked ChecksumPartial", i)
		}
		ip := decodeIP(t, fr.Data)
		out, err := dq.DefragIPv4(ip)
		if err != nil {
			t.Fatal(err)
		}
		if out != nil {
			whole = out
		}
	}
	if whole == nil {
		t.Fatal("gopacket did not reassemble the fragments")
	}
	buf := gopacket.NewSerializeBuffer()
	whole.Flags, whole.FragOffset = 0, 0
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, whole, gopacket.Payload(whole.Payload)); err != nil {
		t.Fatal(err)
	}
	l4ChecksumValid(t, buf.Bytes())
}

// TestForwardGSO: a TCP super-segment (GSO from an offloading TAP) is cut
// into MSS-sized segments with valid checksums when the output device does
// not segment, and passed through whole, GSOSize and ChecksumPartial kept,
// when it does.
func TestForwardGSO(t *testing.T) {
	const mss = 1448
	payload := pattern(10*mss + 500) // 11 segments
	const seq = 0xfffff000           // wraps inside the super-segment
	in := ipPacket(Fields{Protocol: stack.ProtocolTCP, TTL: 64, DF: true, ID: 100, Src: peerAddr, Dst: farAddr},
		partialTCP(seq, 0x18|0x80|0x01, payload)) // PSH, CWR, FIN

	t.Run("plain device: segmented in software", func(t *testing.T) {
		l := offloadLink(1500, 0, false)
		e := newOffloadRouter(t, l)
		e.injectOffload(in, true, mss)
		frames := l.Take()
		if len(frames) != 11 {
			t.Fatalf("%d segments, want 11", len(frames))
		}
		var got []byte
		for i, fr := range frames {
			checkIPChecksum(t, fr.Data)
			l4ChecksumValid(t, fr.Data)
			if fr.ChecksumPartial || fr.GSOSize != 0 {
				t.Errorf("segment %d has offload metadata: partial %v, GSOSize %d", i, fr.ChecksumPartial, fr.GSOSize)
			}
			pkt := gopacket.NewPacket(fr.Data, layers.LayerTypeIPv4, gopacket.Default)
			ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if ip.TTL != 63 || ip.Id != uint16(100+i) || int(ip.Length) != len(fr.Data) || len(fr.Data) > 1500 {
				t.Errorf("segment %d: ttl %d id %d length %d (%d bytes)", i, ip.TTL, ip.Id, ip.Length, len(fr.Data))
			}
			if want := uint32(seq + len(got)); tcp.Seq != want {
				t.Errorf("segment %d: seq %d, want %d", i, tcp.Seq, want)
			}
			last := i == len(frames)-1
			if tcp.PSH != last || tcp.FIN != last || tcp.CWR != (i == 0) || !tcp.ACK {
				t.Errorf("segment %d: PSH %v FIN %v CWR %v ACK %v", i, tcp.PSH, tcp.FIN, tcp.CWR, tcp.ACK)
			}
			got = append(got, tcp.Payload...)
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("segments carry %d bytes, not the super-segment's %d", len(got), len(payload))
		}
		if e.count("ipv4.fwd.gso_segmented") != 1 || e.count("ipv4.fwd.gso_segments") != 11 {
			t.Errorf("gso_segmented %d gso_segments %d", e.count("ipv4.fwd.gso_segmented"), e.count("ipv4.fwd.gso_segments"))
		}
	})
	t.Run("offloading device: passed through", func(t *testing.T) {
		l := offloadLink(1500, 65535, true)
		e := newOffloadRouter(t, l)
		e.injectOffload(in, true, mss)
		fr := oneFrame(t, l)
		if !fr.ChecksumPartial || fr.GSOSize != mss {
			t.Errorf("output metadata: partial %v, GSOSize %d, want partial and GSOSize %d", fr.ChecksumPartial, fr.GSOSize, mss)
		}
		if !bytes.Equal(fr.Data[20:], in[20:]) || fr.Data[8] != 63 {
			t.Errorf("super-segment changed beyond TTL")
		}
		if e.count("ipv4.fwd.gso_passed") != 1 {
			t.Errorf("gso_passed %d", e.count("ipv4.fwd.gso_passed"))
		}
	})
	t.Run("segments over the output MTU: frag needed", func(t *testing.T) {
		l := offloadLink(1400, 65535, true)
		e := newOffloadRouter(t, l)
		e.injectOffload(in, true, mss)
		if n := len(l.Take()); n != 0 {
			t.Errorf("%d frames forwarded", n)
		}
		fr := oneFrame(t, e.link)
		ip := decodeIP(t, fr.Data)
		icmp := gopacket.NewPacket(ip.Payload, layers.LayerTypeICMPv4, gopacket.Default).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || icmp.Seq != 1400 {
			t.Errorf("got %v mtu %d, want frag needed mtu 1400", icmp.TypeCode, icmp.Seq)
		}
	})
	t.Run("not TCP: dropped", func(t *testing.T) {
		l := offloadLink(1500, 0, false)
		e := newOffloadRouter(t, l)
		e.injectOffload(ipPacket(Fields{Protocol: stack.ProtocolUDP, TTL: 64, Src: peerAddr, Dst: farAddr}, partialUDP(pattern(3000))), true, mss)
		if n := len(l.Take()); n != 0 || e.count("ipv4.fwd.bad_gso") != 1 {
			t.Errorf("%d frames, bad_gso %d", n, e.count("ipv4.fwd.bad_gso"))
		}
	})
}
