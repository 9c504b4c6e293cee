package dns

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestBuildParseRoundTrip(t *testing.T) {
	b := NewBuilder(HeaderFields{ID: 0xbeef, Response: true, Authoritative: true, RecursionDesired: true, RecursionAvailable: true, Rcode: RcodeSuccess})
	b.Question(Question{"www.example.test.", TypeA, ClassINET})
	b.Answer(Resource{Name: "www.example.test.", Type: TypeCNAME, Class: ClassINET, TTL: 30, Target: "web.example.test."})
	b.Answer(Resource{Name: "web.example.test.", Type: TypeA, Class: ClassINET, TTL: 60, A: netip.MustParseAddr("10.0.0.1")})
	b.Authority(Resource{Name: "example.test.", Type: TypeNS, Class: ClassINET, TTL: 60, Target: "ns.example.test."})
	raw := b.Bytes()
	// Compression: the repeated suffix "example.test." is written once.
	if n := bytes.Count(raw, []byte("\x07example\x04test")); n != 1 {
		t.Errorf("suffix written %d times, want once (compressed)", n)
	}
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	if h.ID != 0xbeef || !h.Response || !h.Authoritative || !h.RecursionDesired || !h.RecursionAvailable || h.Truncated || h.QDCount != 1 || h.ANCount != 2 || h.NSCount != 1 {
		t.Errorf("header %+v", h)
	}
	if len(m.Questions) != 1 || m.Questions[0] != (Question{"www.example.test.", TypeA, ClassINET}) {
		t.Errorf("questions %+v", m.Questions)
	}
	if len(m.Answers) != 2 || m.Answers[0].Target != "web.example.test." || m.Answers[1].A != netip.MustParseAddr("10.0.0.1") || m.Answers[1].TTL != 60 {
		t.Errorf("answers %+v", m.Answers)
	}
	if len(m.Authority) != 1 || m.Authority[0].Target != "ns.example.test." {
		t.Errorf("authority %+v", m.Authority)
	}
	// gopacket, an independent decoder, agrees.
	var d layers.DNS
	if err := d.DecodeFromBytes(raw, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.ID != 0xbeef || len(d.Answers) != 2 || string(d.Answers[0].CNAME) != "web.example.test" || !d.Answers[1].IP.Equal(net.IPv4(10, 0, 0, 1)) || string(d.Authorities[0].NS) != "ns.example.test" {
		t.Errorf("gopacket reads %+v", d)
	}
}

func TestQueryGopacket(t *testing.T) {
	q, err := NewQuery(7, "web.test", TypeA)
	if err != nil {
		t.Fatal(err)
	}
	var d layers.DNS
	if err := d.DecodeFromBytes(q, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.ID != 7 || d.QR || !d.RD || len(d.Questions) != 1 || string(d.Questions[0].Name) != "web.test" || d.Questions[0].Type != layers.DNSTypeA {
		t.Errorf("gopacket reads %+v", d)
	}
	for _, bad := range []string{"a..b", strings.Repeat("x", 64) + ".test", strings.Repeat("abcdefg.", 40)} {
		if _, err := NewQuery(1, bad, TypeA); err == nil {
			t.Errorf("NewQuery(%q) accepted", bad)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	hdr := func(qd, an uint16) []byte {
		b := make([]byte, HeaderLen)
		HeaderFields{ID: 1, Response: true, QDCount: qd, ANCount: an}.Encode(b)
		return b
	}
	q := func(name ...byte) []byte { return append(append(hdr(1, 0), name...), 0, 1, 0, 1) }
	long := hdr(1, 0)
	for range 5 {
		long = append(long, 63)
		long = append(long, bytes.Repeat([]byte{'a'}, 63)...)
	}
	long = append(long, 0, 0, 1, 0, 1)
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"short header", []byte{1, 2, 3}, ErrShort},
		{"missing question", hdr(1, 0), ErrShort},
		{"pointer to itself", q(0xc0, 12), ErrBadPointer},
		{"pointer forward", q(0xc0, 20, 0), ErrBadPointer},
		{"pointer loop via label", q(1, 'a', 0xc0, 12), ErrBadPointer},
		{"pointer cut", q(0xc0), ErrShort},
		{"reserved label type", q(0x40, 0), ErrBadLabel},
		{"label past end", q(5, 'a'), ErrShort},
		{"name too long", long, ErrNameTooLong},
		{"too many records", hdr(600, 0), ErrTooMany},
		{"answer cut", append(hdr(1, 1), 0, 0, 1, 0, 1, 0, 0, 1), ErrShort},
		{"A with 3 bytes", append(append(hdr(0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 3), 1, 2, 3), ErrBadRData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.b); err != tt.want {
				t.Errorf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
	// A chain of backward pointers is fine and bounded.
	b := q(0) // root question at 12
	if m, err := Parse(b); err != nil || m.Questions[0].Name != "." {
		t.Errorf("root name: %v %v", m, err)
	}
}
