package ipv4

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestHeaderEncodeDecode(t *testing.T) {
	tests := []struct {
		name string
		f    Fields
	}{
		{"plain", Fields{TOS: 0x10, TotalLength: 28, ID: 0xbeef, TTL: 64, Protocol: 17, Src: ourAddr, Dst: peerAddr}},
		{"df", Fields{TotalLength: 40, ID: 1, DF: true, TTL: 1, Protocol: 6, Src: peerAddr, Dst: ourAddr}},
		{"fragment", Fields{TotalLength: 1500, ID: 7, MF: true, FragOffset: 1480 * 3, TTL: 255, Protocol: 1, Src: ourAddr, Dst: peerAddr}},
		{"options", Fields{TotalLength: 32, TTL: 9, Protocol: 17, Src: ourAddr, Dst: peerAddr, Options: []byte{0x94, 0x04, 0, 0, 1, 1, 1, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			b := make([]byte, f.TotalLength)
			f.Encode(b)
			h := Header(b)
			if err := h.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := Fields{TOS: h.TOS(), TotalLength: h.TotalLength(), ID: h.ID(), DF: h.DF(), MF: h.MF(),
				FragOffset: h.FragmentOffset(), TTL: h.TTL(), Protocol: h.Protocol(), Src: h.Src(), Dst: h.Dst()}
			if len(h.Options()) > 0 {
				got.Options = h.Options()
			}
			if got.TOS != f.TOS || got.TotalLength != f.TotalLength || got.ID != f.ID || got.DF != f.DF || got.MF != f.MF ||
				got.FragOffset != f.FragOffset || got.TTL != f.TTL || got.Protocol != f.Protocol || got.Src != f.Src ||
				got.Dst != f.Dst || !bytes.Equal(got.Options, f.Options) {
				t.Errorf("decoded %+v, want %+v", got, f)
			}
			if len(h.Payload()) != int(f.TotalLength)-f.HeaderLength() {
				t.Errorf("payload %d bytes", len(h.Payload()))
			}
			// Independent oracle: gopacket decodes the same fields and,
			// re-serialising with checksums computed, gives our bytes.
			ip := decodeIP(t, b)
			if ip.Id != f.ID || ip.TTL != f.TTL || uint8(ip.Protocol) != f.Protocol || ip.FragOffset != f.FragOffset/8 ||
				(ip.Flags&layers.IPv4DontFragment != 0) != f.DF || (ip.Flags&layers.IPv4MoreFragments != 0) != f.MF ||
				ip.SrcIP.String() != f.Src.String() || ip.DstIP.String() != f.Dst.String() || ip.TOS != f.TOS {
				t.Errorf("gopacket decoded %+v", ip)
			}
			checkIPChecksum(t, b)
		})
	}
}

// decodeIP decodes b with gopacket.
func decodeIP(t *testing.T, b []byte) *layers.IPv4 {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !ok {
		t.Fatalf("gopacket found no IPv4 layer in % x: %v", b, pkt.ErrorLayer())
	}
	return ip
}

// checkIPChecksum re-serialises the header with gopacket computing the
// checksum and compares it with ours.
func checkIPChecksum(t *testing.T, b []byte) {
	t.Helper()
	ip := decodeIP(t, b)
	want := ip.Checksum
	buf := gopacket.NewSerializeBuffer()
	if err := ip.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
		t.Fatal(err)
	}
	if ip.Checksum != want {
		t.Errorf("IP checksum %#04x, gopacket computes %#04x", want, ip.Checksum)
	}
}

func TestHeaderValidate(t *testing.T) {
	good := ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: ourAddr}, udpish("hi"))
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"good", good, nil},
		{"padded", append(append([]byte(nil), good...), make([]byte, 20)...), nil},
		{"empty", nil, ErrTooShort},
		{"19 bytes", good[:19], ErrTooShort},
		{"version 6", mod(func(b []byte) []byte { b[0] = 0x65; fixChecksum(b); return b }), ErrBadVersion},
		{"ihl 4", mod(func(b []byte) []byte { b[0] = 0x44; return b }), ErrBadIHL},
		{"ihl beyond data", mod(func(b []byte) []byte { b[0] = 0x4f; return b[:24] }), ErrTooShort},
		{"total length beyond data", mod(func(b []byte) []byte { b[3]++; fixChecksum(b); return b }), ErrBadTotalLength},
		{"total length below header", mod(func(b []byte) []byte { b[2], b[3] = 0, 19; fixChecksum(b); return b }), ErrBadTotalLength},
		{"bad checksum", mod(func(b []byte) []byte { b[8]--; return b }), ErrBadChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Header(tc.b).Validate(); err != tc.want {
				t.Errorf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSetTTL(t *testing.T) {
	b := ipPacket(Fields{TTL: 64, Protocol: 6, Src: peerAddr, Dst: ourAddr}, nil)
	Header(b).SetTTL(63)
	if err := Header(b).Validate(); err != nil || Header(b).TTL() != 63 {
		t.Fatalf("after SetTTL: ttl %d, %v", Header(b).TTL(), err)
	}
}

func TestICMPEncodeDecode(t *testing.T) {
	tests := []struct {
		name string
		f    ICMPFields
	}{
		{"echo", ICMPFields{Type: ICMPEcho, Rest: EchoRest(0x1234, 0x5678), Payload: []byte("abcdefg")}},
		{"frag needed", ICMPFields{Type: ICMPDestUnreach, Code: CodeFragmentationNeeded, Rest: MTURest(1400), Payload: make([]byte, 28)}},
		{"param problem", ICMPFields{Type: ICMPParamProblem, Rest: PointerRest(9), Payload: make([]byte, 28)}},
		{"empty", ICMPFields{Type: ICMPEchoReply}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, ICMPHeaderLen+len(tc.f.Payload))
			tc.f.Encode(b)
			m := ICMP(b)
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			if m.Type() != tc.f.Type || m.Code() != tc.f.Code || m.Rest() != tc.f.Rest || !bytes.Equal(m.Payload(), tc.f.Payload) {
				t.Errorf("decoded %d/%d %#x % x", m.Type(), m.Code(), m.Rest(), m.Payload())
			}
			pkt := gopacket.NewPacket(b, layers.LayerTypeICMPv4, gopacket.Default)
			ic, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			if !ok {
				t.Fatalf("gopacket: %v", pkt.ErrorLayer())
			}
			if ic.TypeCode.Type() != tc.f.Type || ic.TypeCode.Code() != tc.f.Code || ic.Checksum != m.Checksum() {
				t.Errorf("gopacket decoded %v csum %#x", ic.TypeCode, ic.Checksum)
			}
			if tc.f.Type == ICMPEcho && (ic.Id != m.ID() || ic.Seq != m.Seq() || m.ID() != 0x1234 || m.Seq() != 0x5678) {
				t.Errorf("id/seq %d/%d vs gopacket %d/%d", m.ID(), m.Seq(), ic.Id, ic.Seq)
			}
			if tc.f.Type == ICMPDestUnreach && m.MTU() != 1400 {
				t.Errorf("MTU %d", m.MTU())
			}
			if tc.f.Type == ICMPParamProblem && m.Pointer() != 9 {
				t.Errorf("Pointer %d", m.Pointer())
			}
			m.SetType(ICMPEchoReply)
			if err := m.Validate(); err != nil {
				t.Errorf("after SetType: %v", err)
			}
		})
	}
	for _, b := range [][]byte{nil, make([]byte, 7)} {
		if err := ICMP(b).Validate(); err != ErrICMPTooShort {
			t.Errorf("Validate(%d bytes) = %v", len(b), err)
		}
	}
	b := icmpMsg(ICMPEcho, 0, 1, []byte("x"))
	b[8] ^= 1
	if err := ICMP(b).Validate(); err != ErrICMPBadChecksum {
		t.Errorf("corrupted: %v", err)
	}
}

func FuzzHeader(f *testing.F) {
	f.Add(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: ourAddr}, udpish("hi")))
	f.Add(ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr, Options: []byte{1, 1, 1, 0}}, nil))
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := Header(b)
		if h.Validate() != nil {
			return
		}
		_ = h.Options()
		_ = h.Payload()
		_, _, _ = h.Flags(), h.FragmentOffset(), h.IsFragment()
		fl := Fields{TOS: h.TOS(), TotalLength: h.TotalLength(), ID: h.ID(), DF: h.DF(), MF: h.MF(), FragOffset: h.FragmentOffset(),
			TTL: h.TTL(), Protocol: h.Protocol(), Src: h.Src(), Dst: h.Dst(), Options: h.Options()}
		out := make([]byte, h.HeaderLength())
		fl.Encode(out)
		if err := Header(append(out, h[h.HeaderLength():h.TotalLength()]...)).Validate(); err != nil {
			t.Fatalf("re-encoded header does not validate: %v", err)
		}
		// Re-encoding reproduces the header except the reserved flag bit
		// and the checksum, whose 0x0000 and 0xffff are both valid.
		in := append([]byte(nil), b[:h.HeaderLength()]...)
		if in[6]&0x80 != 0 {
			return
		}
		in[10], in[11], out[10], out[11] = 0, 0, 0, 0
		if !bytes.Equal(in, out) {
			t.Fatalf("re-encode\n% x\n% x", in, out)
		}
		if !netip.Addr.Is4(h.Src()) {
			t.Fatal("src not IPv4")
		}
	})
}

func FuzzICMP(f *testing.F) {
	f.Add(icmpMsg(ICMPEcho, 0, EchoRest(1, 2), []byte("ping")))
	f.Add(icmpMsg(ICMPDestUnreach, CodeFragmentationNeeded, MTURest(576), make([]byte, 28)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := ICMP(b)
		if m.Validate() != nil {
			return
		}
		_, _, _, _, _, _, _ = m.Type(), m.Code(), m.Rest(), m.ID(), m.Seq(), m.MTU(), m.Pointer()
		fl := ICMPFields{Type: m.Type(), Code: m.Code(), Rest: m.Rest(), Payload: m.Payload()}
		out := make([]byte, len(b))
		fl.Encode(out)
		if ICMP(out).Validate() != nil {
			t.Fatalf("re-encoded message does not validate: % x", out)
		}
		m.SetType(m.Type() ^ 8)
		if m.Validate() != nil {
			t.Fatalf("incremental checksum wrong: % x", b)
		}
	})
}
