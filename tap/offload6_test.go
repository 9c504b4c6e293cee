package tap

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

var (
	src6 = netip.MustParseAddr("fd00::2")
	dst6 = netip.MustParseAddr("fd00::1")
)

// ipv6Frame returns an Ethernet frame with an IPv6 packet of next header
// proto carrying l4, its checksum field holding the pseudo-header sum
// (what a transport marking ChecksumPartial writes).
func ipv6Frame(proto uint8, l4 []byte) []byte {
	f := make([]byte, 14+40+len(l4))
	link.EthernetFields{Dst: stack.MAC{2, 0, 0, 0, 0, 0x99}, Src: ourMAC, EtherType: stack.EtherTypeIPv6}.Encode(f)
	ip := f[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
	ip[6], ip[7] = proto, 64
	s, d := src6.As16(), dst6.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	copy(ip[40:], l4)
	off := 16
	if proto == stack.ProtocolUDP {
		off = 6
	}
	if proto == stack.ProtocolTCP || proto == stack.ProtocolUDP {
		binary.BigEndian.PutUint16(ip[40+off:], checksum.PseudoHeader(src6, dst6, proto, uint16(len(l4))))
	}
	return f
}

// TestTxHeaderIPv6 (virtio 1.1 5.1.6.2): an IPv6 TCP or UDP frame with a
// partial checksum starts checksumming behind the 40-byte header, and a
// TCP super-segment is GSO type TCPv6; what the kernel cannot be told
// (extension headers, ICMPv6) is refused.
func TestTxHeaderIPv6(t *testing.T) {
	tcp := tcpSegment(8, 1, make([]byte, 3000))
	for _, tt := range []struct {
		name    string
		frame   []byte
		gso     uint16
		partial bool
		want    VirtioNetFields
		err     error
	}{
		{"TCP partial", ipv6Frame(stack.ProtocolTCP, tcp), 0, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, CsumStart: 54, CsumOffset: 16}, nil},
		{"TCP GSO", ipv6Frame(stack.ProtocolTCP, tcp), 1428, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv6, GSOSize: 1428, HdrLen: 54 + 32, CsumStart: 54, CsumOffset: 16}, nil},
		{"UDP partial", ipv6Frame(stack.ProtocolUDP, udpDatagram([]byte("hi"))), 0, true,
			VirtioNetFields{Flags: VirtioNetNeedsCsum, CsumStart: 54, CsumOffset: 6}, nil},
		{"ICMPv6 partial refused", ipv6Frame(stack.ProtocolICMPv6, make([]byte, 8)), 0, true, VirtioNetFields{}, ErrOffloadNotIPv4},
		{"extension header refused", ipv6Frame(0, make([]byte, 8)), 0, true, VirtioNetFields{}, ErrOffloadNotIPv4},
		{"truncated refused", ipv6Frame(stack.ProtocolTCP, tcp)[:50], 0, true, VirtioNetFields{}, ErrOffloadNotIPv4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := txHeader(tt.frame, tt.gso, tt.partial)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("txHeader = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// TestCompleteChecksumIPv6: the software fallback of NEEDS_CSUM gives an
// IPv6 TCP segment a checksum that verifies against its pseudo-header.
func TestCompleteChecksumIPv6(t *testing.T) {
	tcp := tcpSegment(5, 1, []byte("dual-stack"))
	f := ipv6Frame(stack.ProtocolTCP, tcp)
	if err := completeChecksum(f); err != nil {
		t.Fatal(err)
	}
	l4 := f[54:]
	if c := checksum.Checksum(l4, checksum.PseudoHeader(src6, dst6, stack.ProtocolTCP, uint16(len(l4)))); c != 0 {
		t.Fatalf("completed checksum does not verify: residue %#04x", c)
	}
}
