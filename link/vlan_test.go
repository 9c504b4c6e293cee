package link

import (
	"bytes"
	"errors"
	"testing"
)

func TestVLANTag(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		wantErr error
		want    VLANFields
	}{
		{"short", []byte{0x81, 0x00, 0x00}, ErrTooShort, VLANFields{}},
		{"not a tpid", []byte{0x08, 0x00, 0x00, 0x01}, ErrNotVLAN, VLANFields{}},
		{"vid 1", []byte{0x81, 0x00, 0x00, 0x01}, nil, VLANFields{TPID: 0x8100, VID: 1}},
		{"pcp 7 dei vid 4095", []byte{0x81, 0x00, 0xff, 0xff}, nil, VLANFields{TPID: 0x8100, PCP: 7, DEI: true, VID: 4095}},
		{"s-tag pcp 2 vid 0x123", []byte{0x88, 0xa8, 0x41, 0x23}, nil, VLANFields{TPID: 0x88a8, PCP: 2, VID: 0x123}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := VLANTag(tt.b)
			err := v.Validate()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Validate() = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := v.Fields(); got != tt.want {
				t.Errorf("Fields() = %+v, want %+v", got, tt.want)
			}
			var b [VLANTagLen]byte
			tt.want.Encode(b[:])
			if !bytes.Equal(b[:], tt.b) {
				t.Errorf("Encode = % x, want % x", b, tt.b)
			}
		})
	}
}

func TestVLANFieldsEncodeDefaultsAndMasks(t *testing.T) {
	var b [VLANTagLen]byte
	VLANFields{PCP: 0xff, VID: 0xffff}.Encode(b[:])
	if want := []byte{0x81, 0x00, 0xef, 0xff}; !bytes.Equal(b[:], want) {
		t.Errorf("Encode = % x, want % x (TPID default 0x8100, PCP/VID masked, DEI clear)", b, want)
	}
}

func TestParseFrame(t *testing.T) {
	hdr := []byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tag := func(tpid uint16, vid uint16) []byte {
		b := make([]byte, 4)
		VLANFields{TPID: tpid, VID: vid}.Encode(b)
		return b
	}
	tests := []struct {
		name     string
		b        []byte
		wantErr  error
		tags     []uint16
		et       uint16
		hdrLen   int
		wantTPID []uint16
	}{
		{"untagged", cat(hdr, []byte{0x08, 0x00}), nil, nil, 0x0800, 14, nil},
		{"llc length", cat(hdr, []byte{0x00, 0x26}), nil, nil, 0x0026, 14, nil},
		{"one tag", cat(hdr, tag(0x8100, 7), []byte{0x08, 0x06}), nil, []uint16{7}, 0x0806, 18, []uint16{0x8100}},
		{"qinq", cat(hdr, tag(0x88a8, 10), tag(0x8100, 20), []byte{0x08, 0x00, 0x45}), nil, []uint16{10, 20}, 0x0800, 22, []uint16{0x88a8, 0x8100}},
		{"three tags", cat(hdr, tag(0x88a8, 1), tag(0x8100, 2), tag(0x8100, 3), []byte{0x08, 0x00}), ErrTooManyTags, nil, 0, 0, nil},
		{"short header", hdr, ErrTooShort, nil, 0, 0, nil},
		{"tag cut", cat(hdr, []byte{0x81, 0x00, 0x00}), ErrTooShort, nil, 0, 0, nil},
		{"no type after tag", cat(hdr, tag(0x8100, 7)), ErrTooShort, nil, 0, 0, nil},
		{"half type after tag", cat(hdr, tag(0x8100, 7), []byte{0x08}), ErrTooShort, nil, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFrame(tt.b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseFrame() = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if f.Dst != macB || f.Src != macA || f.EtherType != tt.et || f.HeaderLen != tt.hdrLen || f.NumTags != len(tt.tags) {
				t.Fatalf("ParseFrame = %+v", f)
			}
			for i, vid := range tt.tags {
				if f.Tags[i].VID != vid || f.Tags[i].TPID != tt.wantTPID[i] {
					t.Errorf("tag %d = %+v, want VID %d TPID %#04x", i, f.Tags[i], vid, tt.wantTPID[i])
				}
			}
		})
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x81, 0x00, 0x20, 0x07, 0x08, 0x00})
	f.Add([]byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x06})
	f.Add([]byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x88})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			return
		}
		if fr.HeaderLen != EthernetHeaderLen+VLANTagLen*fr.NumTags || fr.HeaderLen > len(b) {
			t.Fatalf("HeaderLen %d with %d tags for %d bytes", fr.HeaderLen, fr.NumTags, len(b))
		}
		if IsVLANTPID(fr.EtherType) {
			t.Fatalf("EtherType %#04x is a TPID", fr.EtherType)
		}
		// Re-encoding the parsed header gives the same bytes.
		out := make([]byte, fr.HeaderLen)
		EthernetFields{Dst: fr.Dst, Src: fr.Src}.Encode(out)
		for i := 0; i < fr.NumTags; i++ {
			fr.Tags[i].Encode(out[12+VLANTagLen*i:])
		}
		out[fr.HeaderLen-2], out[fr.HeaderLen-1] = byte(fr.EtherType>>8), byte(fr.EtherType)
		if !bytes.Equal(out, b[:fr.HeaderLen]) {
			t.Fatalf("re-encoded % x, input % x", out, b[:fr.HeaderLen])
		}
	})
}
