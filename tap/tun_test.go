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

var (
	srcIP6 = netip.MustParseAddr("fd00::2")
	dstIP6 = netip.MustParseAddr("fd00::1")
)

// ipv6Packet builds a bare IPv6 packet (next header nh) around l4, whose
// checksum field at csumOff holds the pseudo-header sum.
func ipv6Packet(nh uint8, l4 []byte, csumOff int) []byte {
	b := make([]byte, 40+len(l4))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(l4)))
	b[6], b[7] = nh, 64
	s, d := srcIP6.As16(), dstIP6.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], l4)
	if csumOff >= 0 {
		binary.BigEndian.PutUint16(b[40+csumOff:], checksum.PseudoHeader(srcIP6, dstIP6, nh, uint16(len(l4))))
	}
	return b
}

// ethernet puts an Ethernet header of etherType in front of pkt.
func ethernet(etherType uint16, pkt []byte) []byte {
	f := make([]byte, 14+len(pkt))
	link.EthernetFields{Dst: stack.MAC{2, 0, 0, 0, 0, 0x99}, Src: ourMAC, EtherType: etherType}.Encode(f)
	copy(f[14:], pkt)
	return f
}

// virtio-net offsets (csum_start, hdr_len) count from the start of what
// the device carries: behind the Ethernet header on a TAP, from the IP
// header on a TUN. IPv6 TCP super-segments are GSO type TCPv6 (TSO6).
func TestTxHeaderTUNAndIPv6(t *testing.T) {
	tcp := tcpSegment(8, 1, make([]byte, 3000))
	v4 := ipv4Frame(0, stack.ProtocolTCP, tcp)[14:] // bare IPv4
	v6 := ipv6Packet(stack.ProtocolTCP, tcp, 16)
	udp6 := ipv6Packet(stack.ProtocolUDP, udpDatagram([]byte("hi")), 6)
	ext6 := ipv6Packet(0, tcp, -1) // a hop-by-hop header first
	tests := []struct {
		name    string
		frame   []byte
		l3      bool
		gso     uint16
		partial bool
		want    VirtioNetFields
		err     error
	}{
		{"TUN IPv4 TCP GSO", v4, true, 1448, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv4, GSOSize: 1448, HdrLen: 20 + 32, CsumStart: 20, CsumOffset: 16}, nil},
		{"TUN IPv6 TCP GSO", v6, true, 1428, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv6, GSOSize: 1428, HdrLen: 40 + 32, CsumStart: 40, CsumOffset: 16}, nil},
		{"TUN IPv6 UDP partial", udp6, true, 0, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, CsumStart: 40, CsumOffset: 6}, nil},
		{"TAP IPv6 TCP GSO", ethernet(stack.EtherTypeIPv6, v6), false, 1428, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv6, GSOSize: 1428, HdrLen: 54 + 32, CsumStart: 54, CsumOffset: 16}, nil},
		{"TUN IPv6 extension header refused", ext6, true, 1428, true, VirtioNetFields{}, ErrOffloadNotIP},
		{"TUN Ethernet frame refused", ethernet(stack.EtherTypeIPv6, v6), true, 0, true, VirtioNetFields{}, ErrOffloadNotIP},
		{"TUN truncated IPv6 refused", v6[:39], true, 0, true, VirtioNetFields{}, ErrOffloadNotIP},
		{"TAP frame with a bare packet refused", v6, false, 0, true, VirtioNetFields{}, ErrOffloadNotIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := txHeaderAt(tt.frame, tt.l3, tt.gso, tt.partial)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("header %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The software NEEDS_CSUM fallback on a TUN: bare IPv4 and IPv6 packets.
func TestCompleteChecksumTUN(t *testing.T) {
	for _, tt := range []struct {
		name     string
		pkt      []byte
		src, dst netip.Addr
		proto    uint8
		start    int
	}{
		{"IPv4 TCP", ipv4Frame(0, stack.ProtocolTCP, tcpSegment(5, 7, []byte("hello")))[14:], srcIP, dstIP, stack.ProtocolTCP, 20},
		{"IPv6 TCP", ipv6Packet(stack.ProtocolTCP, tcpSegment(5, 7, []byte("hello, v6")), 16), srcIP6, dstIP6, stack.ProtocolTCP, 40},
		{"IPv6 UDP", ipv6Packet(stack.ProtocolUDP, udpDatagram(bytes.Repeat([]byte{0xab}, 99)), 6), srcIP6, dstIP6, stack.ProtocolUDP, 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := completeChecksumAt(tt.pkt, true); err != nil {
				t.Fatal(err)
			}
			seg := tt.pkt[tt.start:]
			if s := checksum.Sum(seg, checksum.PseudoHeader(tt.src, tt.dst, tt.proto, uint16(len(seg)))); s != 0xffff {
				t.Fatalf("completed segment sums to %#04x, want 0xffff", s)
			}
		})
	}
}

// A TUN reads IPv6 super-segments (TSO6 offered) as a TAP reads IPv4 ones.
func TestDeliverVnetTCPv6(t *testing.T) {
	d := &Device{mtu: 1500, maxFrame: 1500, vnet: true, l3: true, bufLen: VirtioNetHeaderLen + gsoFrameMax + 1}
	large := ipv6Packet(stack.ProtocolTCP, tcpSegment(5, 1, make([]byte, 8000)), 16)
	live := stack.LivePackets()
	p := stack.NewPacket(stack.MaxPacketSize-d.bufLen, d.bufLen)
	VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv6, GSOSize: 1428, HdrLen: 60, CsumStart: 40, CsumOffset: 16}.Encode(p.Bytes())
	n := copy(p.Bytes()[VirtioNetHeaderLen:], large) + VirtioNetHeaderLen
	var got []byte
	var gso uint16
	p = d.deliverVnet(p, n, link.FrameDispatcherFunc(func(q *stack.Packet) {
		got, gso = append([]byte(nil), q.Bytes()...), q.GSOSize
		q.Release()
	}), false)
	if p != nil {
		p.Release()
	}
	if !bytes.Equal(got, large) || gso != 1428 {
		t.Errorf("delivered %d bytes with GSOSize %d, want the %d-byte packet with 1428", len(got), gso, len(large))
	}
	if n := stack.LivePackets(); n != live {
		t.Errorf("%d packets leaked", n-live)
	}
}

func TestModeAndBadConfig(t *testing.T) {
	if TAP.String() != "tap" || TUN.String() != "tun" {
		t.Errorf("Mode strings %q %q", TAP, TUN)
	}
	if _, err := Open(Config{Name: "tun9", Mode: TUN, Bridge: "br0"}); !errors.Is(err, ErrBadMode) {
		t.Errorf("TUN with a bridge: %v, want ErrBadMode", err)
	}
	if _, err := Open(Config{Name: "tun9", Mode: 7}); !errors.Is(err, ErrBadMode) {
		t.Errorf("mode 7: %v, want ErrBadMode", err)
	}
}
