package udp_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/udp"
)

func TestHeaderRoundTrip(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.168.7.9")
	tests := []struct {
		name             string
		srcPort, dstPort uint16
		payload          []byte
	}{
		{"empty", 1234, 53, nil},
		{"one byte", 40000, 7, []byte{0xab}},
		{"odd", 68, 67, []byte("hello, world")},
		{"even", 65535, 1, []byte("0123456789abcdef")},
		{"large", 5353, 5353, bytes.Repeat([]byte{0xfe, 0x01, 0x77}, 3000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, udp.HeaderLen+len(tt.payload))
			copy(b[udp.HeaderLen:], tt.payload)
			f := udp.Fields{SrcPort: tt.srcPort, DstPort: tt.dstPort, Length: uint16(len(b))}
			f.Encode(b)
			h := udp.Header(b)
			f.Checksum = h.ComputeChecksum(src, dst)
			h.SetChecksum(f.Checksum)
			if err := h.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := h.Fields(); got != f {
				t.Errorf("Fields() = %+v, want %+v", got, f)
			}
			if !bytes.Equal(h.Payload(), tt.payload) {
				t.Errorf("Payload() differs")
			}
			if !h.VerifyChecksum(src, dst) {
				t.Errorf("VerifyChecksum = false for our own checksum")
			}
			if h.VerifyChecksum(src, netip.MustParseAddr("192.168.7.8")) {
				t.Errorf("VerifyChecksum = true with a different destination")
			}

			// gopacket decodes what we wrote and computes the same checksum.
			var g layers.UDP
			if err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
				t.Fatal(err)
			}
			if uint16(g.SrcPort) != tt.srcPort || uint16(g.DstPort) != tt.dstPort || g.Length != uint16(len(b)) || g.Checksum != f.Checksum {
				t.Errorf("gopacket decoded %+v", g)
			}
			if !bytes.Equal(g.Payload, tt.payload) {
				t.Errorf("gopacket payload differs")
			}
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
			o := &layers.UDP{SrcPort: layers.UDPPort(tt.srcPort), DstPort: layers.UDPPort(tt.dstPort)}
			if err := o.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			sb := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, o, gopacket.Payload(tt.payload)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sb.Bytes(), b) {
				t.Errorf("gopacket serializes\n%x\nwe wrote\n%x", sb.Bytes(), b)
			}
		})
	}
}

func TestHeaderValidate(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		want    error
		payload int
	}{
		{"empty", nil, udp.ErrTooShort, 0},
		{"seven bytes", make([]byte, 7), udp.ErrTooShort, 0},
		{"length 0", []byte{0, 1, 0, 2, 0, 0, 0, 0}, udp.ErrBadLength, 0},
		{"length 7", []byte{0, 1, 0, 2, 0, 7, 0, 0}, udp.ErrBadLength, 0},
		{"length beyond data", []byte{0, 1, 0, 2, 0, 10, 0, 0, 1}, udp.ErrBadLength, 0},
		{"header only", []byte{0, 1, 0, 2, 0, 8, 0, 0}, nil, 0},
		{"padding after length", []byte{0, 1, 0, 2, 0, 9, 0, 0, 'x', 0, 0, 0}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := udp.Header(tt.b)
			err := h.Validate()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if err == nil && len(h.Payload()) != tt.payload {
				t.Errorf("len(Payload()) = %d, want %d", len(h.Payload()), tt.payload)
			}
		})
	}
}

func TestChecksumZeroAndAllOnes(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	b := make([]byte, udp.HeaderLen+2)
	udp.Fields{SrcPort: 1000, DstPort: 2000, Length: 10}.Encode(b)
	// Choose the payload word so that the one's-complement sum is 0xffff
	// and the checksum would be computed as zero.
	s := checksum.Sum(b, checksum.PseudoHeader(src, dst, 17, 10))
	b[8], b[9] = byte(^s>>8), byte(^s)
	h := udp.Header(b)
	if got := h.ComputeChecksum(src, dst); got != 0xffff {
		t.Fatalf("ComputeChecksum = %#04x, want 0xffff for a computed zero", got)
	}
	h.SetChecksum(0xffff)
	if !h.VerifyChecksum(src, dst) {
		t.Errorf("0xffff standing for zero does not verify")
	}
	h.SetChecksum(0)
	b[8] ^= 0x55 // the payload is now wrong, but zero means no checksum
	if !h.VerifyChecksum(src, dst) {
		t.Errorf("a zero checksum field is not accepted")
	}
}

func FuzzHeader(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 8, 0, 0})
	f.Add([]byte{0x13, 0x88, 0, 53, 0, 12, 0xab, 0xcd, 'a', 'b', 'c', 'd', 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := udp.Header(b)
		if h.Validate() != nil {
			return
		}
		fl := h.Fields()
		if len(h.Payload()) != int(fl.Length)-udp.HeaderLen {
			t.Fatalf("payload %d bytes, length field %d", len(h.Payload()), fl.Length)
		}
		src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		h.VerifyChecksum(src, dst)
		c := h.ComputeChecksum(src, dst)
		out := make([]byte, udp.HeaderLen)
		fl.Encode(out)
		if !bytes.Equal(out, b[:udp.HeaderLen]) {
			t.Fatalf("re-encoded %x, want %x", out, b[:udp.HeaderLen])
		}
		h2 := udp.Header(append([]byte(nil), b[:fl.Length]...))
		h2.SetChecksum(c)
		if !h2.VerifyChecksum(src, dst) {
			t.Fatalf("computed checksum %#04x does not verify", c)
		}
	})
}
