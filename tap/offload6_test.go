package tap

import (
	"encoding/binary"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// ipv6Frame is an Ethernet frame with an IPv6 header (next header nh) and
// a transport header of l4 bytes.
func ipv6Frame(nh uint8, l4 int) []byte {
	f := make([]byte, 14+40+l4)
	binary.BigEndian.PutUint16(f[12:], stack.EtherTypeIPv6)
	f[14] = 6 << 4
	binary.BigEndian.PutUint16(f[14+4:], uint16(l4))
	f[14+6] = nh
	f[14+7] = 64
	if nh == stack.ProtocolTCP {
		f[14+40+12] = 5 << 4 // data offset 20
	}
	return f
}

// TestTxHeaderIPv6 (virtio 1.1 5.1.6.2): an IPv6 TCP or UDP frame with a
// partial checksum gets NEEDS_CSUM with csum_start behind the 40-byte
// header; a TSO super-segment gets GSO type TCPV6 and hdr_len through the
// TCP header; an IPv6 frame with an extension header first, or ICMPv6,
// cannot be described.
func TestTxHeaderIPv6(t *testing.T) {
	tests := []struct {
		name      string
		frame     []byte
		gso       uint16
		wantErr   bool
		start     uint16
		offset    uint16
		gsoType   uint8
		hdrLength uint16
	}{
		{"TCP checksum", ipv6Frame(stack.ProtocolTCP, 20), 0, false, 54, 16, VirtioNetGSONone, 0},
		{"UDP checksum", ipv6Frame(stack.ProtocolUDP, 8), 0, false, 54, 6, VirtioNetGSONone, 0},
		{"TCP TSO6", ipv6Frame(stack.ProtocolTCP, 20+3000), 1440, false, 54, 16, VirtioNetGSOTCPv6, 74},
		{"UDP GSO refused", ipv6Frame(stack.ProtocolUDP, 3000), 1440, true, 0, 0, 0, 0},
		{"hop-by-hop first", ipv6Frame(0, 28), 0, true, 0, 0, 0, 0},
		{"ICMPv6", ipv6Frame(stack.ProtocolICMPv6, 8), 0, true, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := txHeader(tt.frame, tt.gso, true)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("txHeader = %+v, want an error", f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Flags != VirtioNetNeedsCsum || f.CsumStart != tt.start || f.CsumOffset != tt.offset || f.GSOType != tt.gsoType || f.HdrLen != tt.hdrLength {
				t.Errorf("txHeader = %+v, want start %d offset %d gso type %d hdr_len %d", f, tt.start, tt.offset, tt.gsoType, tt.hdrLength)
			}
		})
	}
}

// TestFlowHashIPv6: both directions' packets of different IPv6 flows
// spread, and one flow always hashes alike.
func TestFlowHashIPv6(t *testing.T) {
	a := ipv6Frame(stack.ProtocolTCP, 20)
	b := ipv6Frame(stack.ProtocolTCP, 20)
	binary.BigEndian.PutUint16(b[14+40:], 4242) // another source port
	if flowHash(a) == 0 || flowHash(a) != flowHash(append([]byte(nil), a...)) {
		t.Errorf("flowHash of an IPv6 TCP frame: %d", flowHash(a))
	}
	if flowHash(a) == flowHash(b) {
		t.Errorf("two IPv6 flows hash alike: %d", flowHash(a))
	}
}
