package arp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

// validARP is a request from 10.0.0.1 (02:..:01) for 10.0.0.2, padded to
// the Ethernet minimum.
func validARP() []byte {
	b := make([]byte, 46)
	f := arp.Fields{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: ourIP}
	f.Encode(b)
	return b
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"valid padded", func(b []byte) []byte { return b }, nil},
		{"valid exact", func(b []byte) []byte { return b[:arp.Len] }, nil},
		{"empty", func(b []byte) []byte { return nil }, arp.ErrTooShort},
		{"27 bytes", func(b []byte) []byte { return b[:27] }, arp.ErrTooShort},
		{"hardware IEEE 802", func(b []byte) []byte { b[1] = 6; return b }, arp.ErrHardwareType},
		{"protocol IPv6", func(b []byte) []byte { b[2], b[3] = 0x86, 0xdd; return b }, arp.ErrProtocolType},
		{"hlen 8", func(b []byte) []byte { b[4] = 8; return b }, arp.ErrHardwareLength},
		{"plen 16", func(b []byte) []byte { b[5] = 16; return b }, arp.ErrProtocolLength},
		{"unknown op is valid wire", func(b []byte) []byte { b[7] = 9; return b }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := arp.Header(tc.mutate(validARP())).Validate()
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFieldsRoundTripAndOracle(t *testing.T) {
	tests := []arp.Fields{
		{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: ourIP},
		{Op: arp.OpReply, SenderMAC: ourMAC, SenderIP: ourIP, TargetMAC: peerMAC, TargetIP: peerIP},
		{Op: arp.OpRequest, SenderMAC: peerMAC, SenderIP: netip.IPv4Unspecified(), TargetIP: ourIP}, // RFC 5227 probe
		{Op: 0xffff, SenderMAC: stack.MAC{0xff, 1, 2, 3, 4, 5}, SenderIP: netip.MustParseAddr("255.1.2.3"),
			TargetMAC: stack.BroadcastMAC, TargetIP: netip.MustParseAddr("1.2.3.255")},
	}
	for _, want := range tests {
		t.Run(want.SenderIP.String()+"-"+want.TargetIP.String(), func(t *testing.T) {
			b := make([]byte, arp.Len)
			want.Encode(b)
			h := arp.Header(b)
			if err := h.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := h.Fields(); got != want {
				t.Fatalf("round trip: got %+v, want %+v", got, want)
			}

			// Independent decoder.
			pkt := gopacket.NewPacket(b, layers.LayerTypeARP, gopacket.Default)
			l, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
			if !ok {
				t.Fatalf("gopacket could not decode: %v", pkt.ErrorLayer())
			}
			if l.AddrType != layers.LinkTypeEthernet || l.Protocol != layers.EthernetTypeIPv4 ||
				l.HwAddressSize != 6 || l.ProtAddressSize != 4 || l.Operation != want.Op ||
				!bytes.Equal(l.SourceHwAddress, want.SenderMAC[:]) ||
				!bytes.Equal(l.SourceProtAddress, want.SenderIP.AsSlice()) ||
				!bytes.Equal(l.DstHwAddress, want.TargetMAC[:]) ||
				!bytes.Equal(l.DstProtAddress, want.TargetIP.AsSlice()) {
				t.Fatalf("gopacket decodes %+v, want %+v", l, want)
			}

			// Independent encoder.
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, &layers.ARP{
				AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
				HwAddressSize: 6, ProtAddressSize: 4, Operation: want.Op,
				SourceHwAddress: want.SenderMAC[:], SourceProtAddress: want.SenderIP.AsSlice(),
				DstHwAddress: want.TargetMAC[:], DstProtAddress: want.TargetIP.AsSlice(),
			}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), b) {
				t.Fatalf("gopacket encodes\n%x\nwe encode\n%x", buf.Bytes(), b)
			}
		})
	}
}

func TestEncodeNonIPv4AddressWritesZeros(t *testing.T) {
	b := bytes.Repeat([]byte{0xaa}, arp.Len)
	f := arp.Fields{Op: arp.OpRequest, SenderIP: netip.MustParseAddr("::1")}
	f.Encode(b)
	h := arp.Header(b)
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.SenderIP() != netip.IPv4Unspecified() || h.TargetIP() != netip.IPv4Unspecified() {
		t.Fatalf("got sender %v target %v, want 0.0.0.0", h.SenderIP(), h.TargetIP())
	}
	// An IPv4-mapped IPv6 address is written as its IPv4 address.
	f.SenderIP = netip.MustParseAddr("::ffff:10.0.0.9")
	f.Encode(b)
	if got := h.SenderIP(); got != netip.MustParseAddr("10.0.0.9") {
		t.Fatalf("mapped sender encoded as %v", got)
	}
}

func FuzzHeader(f *testing.F) {
	f.Add(validARP())
	f.Add(validARP()[:arp.Len])
	f.Add([]byte{})
	f.Add([]byte{0, 1, 8, 0, 6, 4, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := arp.Header(b)
		if err := h.Validate(); err != nil {
			return
		}
		got := h.Fields()
		_ = got.SenderMAC.String()
		out := make([]byte, arp.Len)
		got.Encode(out)
		if !bytes.Equal(out, b[:arp.Len]) {
			t.Fatalf("re-encoding changed the packet:\n in %x\nout %x", b[:arp.Len], out)
		}
		if again := arp.Header(out).Fields(); again != got {
			t.Fatalf("decode(encode(f)) = %+v, want %+v", again, got)
		}
	})
}
