package tap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

func TestVirtioNetFieldsRoundTrip(t *testing.T) {
	f := VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	b := bytes.Repeat([]byte{0xee}, VirtioNetHeaderLen)
	f.Encode(b)
	want := []byte{1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0} // little-endian
	if !bytes.Equal(b, want) {
		t.Fatalf("Encode = % x, want % x", b, want)
	}
	h := VirtioNetHeader(b)
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	got := VirtioNetFields{h.Flags(), h.GSOType(), h.HdrLen(), h.GSOSize(), h.CsumStart(), h.CsumOffset()}
	if got != f {
		t.Fatalf("decoded %+v, want %+v", got, f)
	}
	if VirtioNetHeader(b[:11]).Validate() == nil {
		t.Fatal("Validate accepted 11 bytes")
	}
}

var (
	srcIP = netip.MustParseAddr("10.0.0.2")
	dstIP = netip.MustParseAddr("10.0.0.1")
)

// ipv4Frame builds an Ethernet frame (with the given VLAN tags) carrying
// an IPv4 packet of proto whose transport segment is l4; the transport
// checksum field holds the pseudo-header sum (ChecksumPartial style).
func ipv4Frame(tags int, proto uint8, l4 []byte) []byte {
	f := make([]byte, 14+4*tags+20+len(l4))
	link.EthernetFields{Dst: stack.MAC{2, 0, 0, 0, 0, 0x99}, Src: ourMAC, EtherType: stack.EtherTypeIPv4}.Encode(f)
	off := 12
	for i := 0; i < tags; i++ {
		binary.BigEndian.PutUint16(f[off:], stack.EtherTypeVLAN)
		binary.BigEndian.PutUint16(f[off+2:], uint16(10+i))
		off += 4
	}
	binary.BigEndian.PutUint16(f[off:], stack.EtherTypeIPv4)
	ip := f[off+2:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	ip[8], ip[9] = 64, proto
	s, d := srcIP.As4(), dstIP.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], checksum.Checksum(ip[:20], 0))
	copy(ip[20:], l4)
	csumOff := 16
	switch proto {
	case stack.ProtocolUDP:
		csumOff = 6
	case stack.ProtocolICMP:
		csumOff = 2
	}
	binary.BigEndian.PutUint16(ip[20+csumOff:], checksum.PseudoHeader(srcIP, dstIP, proto, uint16(len(l4))))
	return f
}

// tcpSegment returns a TCP header (data offset doff words) and payload.
func tcpSegment(doff int, seq uint32, payload []byte) []byte {
	b := make([]byte, doff*4+len(payload))
	binary.BigEndian.PutUint16(b[0:], 5001)
	binary.BigEndian.PutUint16(b[2:], 6001)
	binary.BigEndian.PutUint32(b[4:], seq)
	b[12] = byte(doff << 4)
	b[13] = 0x18 // PSH|ACK
	binary.BigEndian.PutUint16(b[14:], 65535)
	for i := 20; i < doff*4; i++ {
		b[i] = 1 // NOP options
	}
	copy(b[doff*4:], payload)
	return b
}

func udpDatagram(payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], 5001)
	binary.BigEndian.PutUint16(b[2:], 6001)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], payload)
	return b
}

func TestTxHeader(t *testing.T) {
	tcp := tcpSegment(8, 1, make([]byte, 3000))
	tests := []struct {
		name    string
		frame   []byte
		gso     uint16
		partial bool
		want    VirtioNetFields
		err     error
	}{
		{"no offload", ipv4Frame(0, stack.ProtocolTCP, tcp), 0, false, VirtioNetFields{}, nil},
		{"TCP partial", ipv4Frame(0, stack.ProtocolTCP, tcp), 0, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, CsumStart: 34, CsumOffset: 16}, nil},
		{"TCP GSO", ipv4Frame(0, stack.ProtocolTCP, tcp), 1448, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv4, GSOSize: 1448, HdrLen: 34 + 32, CsumStart: 34, CsumOffset: 16}, nil},
		{"TCP GSO without partial flag", ipv4Frame(0, stack.ProtocolTCP, tcp), 1000, false,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv4, GSOSize: 1000, HdrLen: 34 + 32, CsumStart: 34, CsumOffset: 16}, nil},
		{"tagged TCP GSO", ipv4Frame(2, stack.ProtocolTCP, tcp), 1448, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv4, GSOSize: 1448, HdrLen: 42 + 32, CsumStart: 42, CsumOffset: 16}, nil},
		{"UDP partial", ipv4Frame(0, stack.ProtocolUDP, udpDatagram([]byte("hi"))), 0, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, CsumStart: 34, CsumOffset: 6}, nil},
		{"UDP GSO refused", ipv4Frame(0, stack.ProtocolUDP, udpDatagram([]byte("hi"))), 1000, true, VirtioNetFields{}, ErrOffloadNotIP},
		{"ICMP partial refused", ipv4Frame(0, stack.ProtocolICMP, make([]byte, 8)), 0, true, VirtioNetFields{}, ErrOffloadNotIP},
		{"ARP refused", arpFrame(), 0, true, VirtioNetFields{}, ErrOffloadNotIP},
		{"truncated TCP refused", ipv4Frame(0, stack.ProtocolTCP, tcp)[:40], 0, true, VirtioNetFields{}, ErrOffloadNotIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := txHeader(tt.frame, tt.gso, tt.partial)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("header %+v, want %+v", got, tt.want)
			}
		})
	}
}

func arpFrame() []byte {
	p := arpRequest(ourMAC, srcIP, dstIP)
	defer p.Release()
	return append([]byte(nil), p.Bytes()...)
}

// TestCompleteChecksum checks the software fallback of NEEDS_CSUM: the
// completed segment verifies against the pseudo-header.
func TestCompleteChecksum(t *testing.T) {
	for _, tt := range []struct {
		name  string
		proto uint8
		l4    []byte
		off   int
	}{
		{"TCP", stack.ProtocolTCP, tcpSegment(5, 7, []byte("hello, world!")), 16},
		{"TCP odd", stack.ProtocolTCP, tcpSegment(6, 7, []byte("abc")), 16},
		{"UDP", stack.ProtocolUDP, udpDatagram(bytes.Repeat([]byte{0xab}, 999)), 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := ipv4Frame(0, tt.proto, tt.l4)
			if err := completeChecksum(f); err != nil {
				t.Fatal(err)
			}
			seg := f[34:]
			ph := checksum.PseudoHeader(srcIP, dstIP, tt.proto, uint16(len(seg)))
			if s := checksum.Sum(seg, ph); s != 0xffff {
				t.Fatalf("completed segment sums to %#04x, want 0xffff", s)
			}
		})
	}
}

// FuzzDeliverVnet feeds arbitrary reads (virtio-net header + frame) to the
// vnet receive path: no panic, no leak, and what is delivered is the frame.
func FuzzDeliverVnet(f *testing.F) {
	f.Add(append(make([]byte, VirtioNetHeaderLen), ipv4Frame(0, stack.ProtocolTCP, tcpSegment(5, 1, []byte("x")))...))
	big := make([]byte, VirtioNetHeaderLen)
	VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv4, GSOSize: 1448}.Encode(big)
	f.Add(append(big, ipv4Frame(0, stack.ProtocolTCP, tcpSegment(5, 1, make([]byte, 4000)))...))
	f.Add([]byte{1, 3, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := &Device{mtu: 1500, maxFrame: 1500 + 14 + 8, vnet: true, bufLen: VirtioNetHeaderLen + gsoFrameMax + 1}
		if len(data) > d.bufLen {
			data = data[:d.bufLen]
		}
		live := stack.LivePackets()
		p := stack.NewPacket(stack.MaxPacketSize-d.bufLen, d.bufLen)
		copy(p.Bytes(), data)
		var got []byte
		p = d.deliverVnet(p, len(data), link.FrameDispatcherFunc(func(q *stack.Packet) {
			got = append([]byte(nil), q.Bytes()...)
			q.Release()
		}), false)
		if p != nil {
			p.Release()
		}
		if got != nil && !bytes.Equal(got, data[VirtioNetHeaderLen:]) {
			t.Fatalf("delivered % x, want the frame % x", got, data[VirtioNetHeaderLen:])
		}
		if n := stack.LivePackets(); n != live {
			t.Fatalf("%d packets leaked", n-live)
		}
	})
}

// FuzzTxHeader: arbitrary frames, Ethernet or bare IP (TUN), never panic
// the header builder, the software checksum or the queue hash.
func FuzzTxHeader(f *testing.F) {
	f.Add(ipv4Frame(1, stack.ProtocolTCP, tcpSegment(5, 1, []byte("x"))), uint16(1448))
	f.Add(ipv4Frame(0, stack.ProtocolUDP, udpDatagram([]byte("x"))), uint16(0))
	f.Add(ipv6Packet(stack.ProtocolTCP, tcpSegment(5, 1, []byte("x")), 16), uint16(1428)) // a bare packet (TUN)
	f.Add(ethernet(stack.EtherTypeIPv6, ipv6Packet(stack.ProtocolUDP, udpDatagram([]byte("x")), 6)), uint16(0))
	f.Fuzz(func(t *testing.T, frame []byte, gso uint16) {
		for _, l3 := range []bool{false, true} {
			h, err := txHeaderAt(frame, l3, gso, true)
			if err == nil && (int(h.CsumStart)+int(h.CsumOffset)+2 > len(frame) || int(h.HdrLen) > len(frame)) {
				t.Fatalf("header %+v (l3 %v) points outside a %d-byte frame", h, l3, len(frame))
			}
			completeChecksumAt(frame, l3)
			flowHashAt(frame, l3)
		}
	})
}
