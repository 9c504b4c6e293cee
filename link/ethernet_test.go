package link

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

var (
	macA = stack.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB = stack.MAC{0x02, 0, 0, 0, 0, 0x0b}
)

func TestEthernetHeader(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		wantErr error
		dst     stack.MAC
		src     stack.MAC
		et      uint16
	}{
		{"empty", nil, ErrTooShort, stack.MAC{}, stack.MAC{}, 0},
		{"13 bytes", make([]byte, 13), ErrTooShort, stack.MAC{}, stack.MAC{}, 0},
		{"header only", []byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x00}, nil, macB, macA, 0x0800},
		{"arp with payload", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0xa, 0x08, 0x06}, make([]byte, 28)...), nil, stack.BroadcastMAC, macA, 0x0806},
		{"vlan tpid", []byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x81, 0x00, 0, 5}, nil, macB, macA, 0x8100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := EthernetHeader(tt.b)
			err := h.Validate()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Validate() = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if h.Dst() != tt.dst || h.Src() != tt.src || h.EtherType() != tt.et {
				t.Errorf("got dst %v src %v type %#04x, want %v %v %#04x", h.Dst(), h.Src(), h.EtherType(), tt.dst, tt.src, tt.et)
			}
		})
	}
}

func TestEthernetFieldsRoundTrip(t *testing.T) {
	f := EthernetFields{Dst: macB, Src: macA, EtherType: stack.EtherTypeARP}
	b := make([]byte, EthernetHeaderLen)
	f.Encode(b)
	want := []byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x06}
	if !bytes.Equal(b, want) {
		t.Fatalf("Encode = % x, want % x", b, want)
	}
	h := EthernetHeader(b)
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := (EthernetFields{h.Dst(), h.Src(), h.EtherType()}); got != f {
		t.Errorf("decoded %+v, want %+v", got, f)
	}
}

// TestGopacketDecodesOurFrames uses gopacket as an independent decoder of
// frames we encode, untagged and QinQ-tagged.
func TestGopacketDecodesOurFrames(t *testing.T) {
	payload := []byte("0123456789abcdefghijklmnopqrstuvwxyz!!!!!!!!!!")
	// Untagged.
	b := make([]byte, EthernetHeaderLen+len(payload))
	EthernetFields{Dst: macB, Src: macA, EtherType: 0x88b5}.Encode(b)
	copy(b[EthernetHeaderLen:], payload)
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth == nil {
		t.Fatalf("gopacket found no Ethernet layer: %v", pkt.ErrorLayer())
	}
	if !bytes.Equal(eth.DstMAC, macB[:]) || !bytes.Equal(eth.SrcMAC, macA[:]) || eth.EthernetType != 0x88b5 {
		t.Errorf("gopacket decoded %v > %v type %v", eth.SrcMAC, eth.DstMAC, eth.EthernetType)
	}
	if !bytes.Equal(eth.Payload, payload) {
		t.Errorf("payload mismatch")
	}

	// S-tag 100 (PCP 5), C-tag 200 (DEI), then IPv4 EtherType.
	b = make([]byte, EthernetHeaderLen+2*VLANTagLen+len(payload))
	EthernetFields{Dst: macB, Src: macA}.Encode(b)
	VLANFields{TPID: stack.EtherTypeQinQ, PCP: 5, VID: 100}.Encode(b[12:])
	VLANFields{PCP: 0, DEI: true, VID: 200}.Encode(b[16:])
	b[20], b[21] = 0x88, 0xb5
	copy(b[22:], payload)
	pkt = gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	var tags []*layers.Dot1Q
	for _, l := range pkt.Layers() {
		if q, ok := l.(*layers.Dot1Q); ok {
			tags = append(tags, q)
		}
	}
	if len(tags) != 2 {
		t.Fatalf("gopacket found %d Dot1Q layers, want 2: %v", len(tags), pkt)
	}
	if tags[0].VLANIdentifier != 100 || tags[0].Priority != 5 || tags[0].DropEligible {
		t.Errorf("outer tag %+v", tags[0])
	}
	if tags[1].VLANIdentifier != 200 || tags[1].Priority != 0 || !tags[1].DropEligible || tags[1].Type != 0x88b5 {
		t.Errorf("inner tag %+v", tags[1])
	}
}

// TestWeDecodeGopacketFrames parses frames gopacket serialises.
func TestWeDecodeGopacketFrames(t *testing.T) {
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{},
		&layers.Ethernet{SrcMAC: macA[:], DstMAC: stack.BroadcastMAC[:], EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{Priority: 3, DropEligible: true, VLANIdentifier: 4000, Type: layers.EthernetTypeARP},
		gopacket.Payload(make([]byte, 28)),
	)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFrame(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := Frame{Dst: stack.BroadcastMAC, Src: macA, NumTags: 1, EtherType: stack.EtherTypeARP, HeaderLen: 18}
	want.Tags[0] = VLANFields{TPID: 0x8100, PCP: 3, DEI: true, VID: 4000}
	if f != want {
		t.Errorf("ParseFrame = %+v, want %+v", f, want)
	}
}

func FuzzEthernetHeader(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := EthernetHeader(b)
		if h.Validate() != nil {
			return
		}
		var out [EthernetHeaderLen]byte
		EthernetFields{h.Dst(), h.Src(), h.EtherType()}.Encode(out[:])
		if !bytes.Equal(out[:], b[:EthernetHeaderLen]) {
			t.Fatalf("re-encoding % x gave % x", b[:EthernetHeaderLen], out)
		}
	})
}
