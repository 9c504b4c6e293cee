package tcp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestHeaderRoundTrip(t *testing.T) {
	opts := SegmentOptions{HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: 7, SACKPermitted: true,
		HasTimestamps: true, TSVal: 0x01020304, TSEcr: 0x05060708}
	ol := opts.EncodedLen()
	payload := []byte("hello, tcp")
	b := make([]byte, HeaderLen+ol+len(payload))
	f := Fields{SrcPort: 40000, DstPort: 80, Seq: 0xfffffff0, Ack: 7, DataOffset: HeaderLen + ol,
		Flags: FlagSYN | FlagACK, Window: 65535, Urgent: 0}
	f.Encode(b)
	if n := opts.Encode(b[HeaderLen:]); n != ol {
		t.Fatalf("Encode wrote %d option bytes, EncodedLen said %d", n, ol)
	}
	copy(b[HeaderLen+ol:], payload)
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	h := Header(b)
	h.SetChecksum(src, dst)
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if !h.ChecksumValid(src, dst) {
		t.Error("checksum does not verify")
	}
	if h.SrcPort() != 40000 || h.DstPort() != 80 || h.Seq() != 0xfffffff0 || h.Ack() != 7 ||
		h.Flags() != FlagSYN|FlagACK || h.Window() != 65535 || h.DataOffset() != HeaderLen+ol {
		t.Errorf("fields do not round-trip: %+v", h[:HeaderLen])
	}
	if !bytes.Equal(h.Payload(), payload) {
		t.Errorf("payload %q", h.Payload())
	}
	got, err := ParseOptions(h.Options())
	if err != nil || got != opts {
		t.Errorf("options: got %+v, %v; want %+v", got, err, opts)
	}

	// gopacket as an independent decoder of what we emit.
	pkt := gopacket.NewPacket(b, layers.LayerTypeTCP, gopacket.Default)
	tl, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		t.Fatalf("gopacket could not decode: %v", pkt.ErrorLayer())
	}
	if tl.SrcPort != 40000 || tl.DstPort != 80 || tl.Seq != 0xfffffff0 || !tl.SYN || !tl.ACK || tl.FIN || tl.Window != 65535 {
		t.Errorf("gopacket sees %+v", tl)
	}
	var sawMSS, sawWS, sawTS bool
	for _, o := range tl.Options {
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			sawMSS = len(o.OptionData) == 2 && o.OptionData[0] == 0x05 && o.OptionData[1] == 0xb4
		case layers.TCPOptionKindWindowScale:
			sawWS = len(o.OptionData) == 1 && o.OptionData[0] == 7
		case layers.TCPOptionKindTimestamps:
			sawTS = len(o.OptionData) == 8
		}
	}
	if !sawMSS || !sawWS || !sawTS {
		t.Errorf("gopacket options %+v", tl.Options)
	}
}

func TestHeaderValidate(t *testing.T) {
	base := func(off byte, n int) []byte {
		b := make([]byte, n)
		b[12] = off << 4
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"short", make([]byte, 19), ErrHeaderTooShort},
		{"offset below 5", base(4, 20), ErrBadDataOffset},
		{"offset beyond", base(6, 20), ErrBadDataOffset},
		{"ok", base(5, 20), nil},
		{"ok with nops", append(base(6, 20), 1, 1, 1, 0), nil},
		{"option runs off", append(base(6, 20), 2, 4, 5, 0xb4)[:23], ErrBadDataOffset},
		{"option length past end", append(base(6, 20), 1, 1, 2, 4), ErrBadOptions},
		{"option length 1", append(base(6, 20), 8, 1, 0, 0), ErrBadOptions},
	}
	for _, tt := range tests {
		if err := Header(tt.b).Validate(); !errors.Is(err, tt.want) {
			t.Errorf("%s: Validate = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want SegmentOptions
		err  bool
	}{
		{"empty", nil, SegmentOptions{}, false},
		{"mss", []byte{2, 4, 0x05, 0xb4}, SegmentOptions{HasMSS: true, MSS: 1460}, false},
		{"mss wrong length ignored", []byte{2, 3, 5, 1}, SegmentOptions{}, false},
		{"ws clamped", []byte{1, 3, 3, 20}, SegmentOptions{HasWindowScale: true, WindowScale: 14}, false},
		{"sack permitted", []byte{4, 2, 1, 1}, SegmentOptions{SACKPermitted: true}, false},
		{"sack 2 blocks", []byte{5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4},
			SegmentOptions{NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}, false},
		{"sack bad length ignored", []byte{5, 6, 0, 0, 0, 1}, SegmentOptions{}, false},
		{"end stops parsing", []byte{0, 2, 4, 5}, SegmentOptions{}, false},
		{"unknown skipped", []byte{30, 4, 9, 9, 2, 4, 1, 0}, SegmentOptions{HasMSS: true, MSS: 256}, false},
		{"kind without length", []byte{2}, SegmentOptions{}, true},
		{"zero length", []byte{30, 0}, SegmentOptions{}, true},
		{"length past end", []byte{8, 10, 0, 0}, SegmentOptions{}, true},
	}
	for _, tt := range tests {
		got, err := ParseOptions(tt.b)
		if (err != nil) != tt.err {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("%s: got %+v want %+v", tt.name, got, tt.want)
		}
	}
}

func TestOptionsEncodeSACKFits(t *testing.T) {
	o := SegmentOptions{HasTimestamps: true, NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}
	n := o.EncodedLen()
	if n > 40 || n%4 != 0 {
		t.Fatalf("EncodedLen %d", n)
	}
	b := make([]byte, n)
	if o.Encode(b) != n {
		t.Fatal("Encode length mismatch")
	}
	got, err := ParseOptions(b)
	if err != nil || got.NumSACK != 3 || !got.HasTimestamps || got.SACK[2] != (SACKBlock{5, 6}) {
		t.Errorf("got %+v %v", got, err)
	}
}

func FuzzHeader(f *testing.F) {
	f.Add([]byte{0, 80, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5, 0xb4})
	f.Add([]byte{0, 80, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0xf0, 0x12, 0xff, 0xff, 0, 0, 0, 0})
	f.Add(make([]byte, 60))
	f.Fuzz(func(t *testing.T, b []byte) {
		h := Header(b)
		if err := h.Validate(); err != nil {
			return
		}
		_ = h.SrcPort() + h.DstPort() + h.Window() + h.Checksum() + h.Urgent()
		_, _ = h.Seq(), h.Ack()
		_ = h.Flags()
		o, err := ParseOptions(h.Options())
		if err != nil {
			t.Fatalf("Validate accepted options ParseOptions rejects: %v", err)
		}
		if len(h.Payload())+h.DataOffset() != len(b) {
			t.Fatal("payload length mismatch")
		}
		// Re-encoding what we parsed must parse back to the same thing.
		buf := make([]byte, 40)
		n := o.Encode(buf[:o.EncodedLen()])
		o2, err := ParseOptions(buf[:n])
		if err != nil {
			t.Fatalf("re-encoded options do not parse: %v", err)
		}
		want := o
		want.NumSACK = o.sackBlocksThatFit(n - 4 - 8*o2.NumSACK*boolInt(o2.NumSACK > 0))
		for i := want.NumSACK; i < len(want.SACK); i++ {
			want.SACK[i] = SACKBlock{}
		}
		if o2 != want {
			t.Fatalf("options round trip: %+v != %+v", o2, want)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
