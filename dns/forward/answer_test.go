package forward

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/dns"
)

// RFC 1035 4.1.1 / RFC 2308: rcodes and answers for each kind of query.
func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		q       []byte
		err     error // resolver error
		rcode   int
		answers []netip.Addr
		ptr     string
		why     Reason
	}{
		{"A of a known name", nil, nil, dns.RcodeSuccess, []netip.Addr{webAddr}, "", ""},
		{"AAAA of a known name", query(t, "web.test.", dns.TypeAAAA), nil, dns.RcodeSuccess, []netip.Addr{web6}, "", ""},
		{"A of an IPv6-only name is NODATA, not NXDOMAIN (RFC 2308 2.2)", query(t, "only6.test.", dns.TypeA), nil, dns.RcodeSuccess, nil, "", ""},
		{"unknown name: NXDOMAIN", query(t, "nope.test.", dns.TypeA), nil, dns.RcodeNameError, nil, "", ""},
		{"resolver timeout: SERVFAIL", nil, &net.DNSError{Err: "i/o timeout", IsTimeout: true}, dns.RcodeServerFailure, nil, "", Timeout},
		{"resolver failure: SERVFAIL", nil, errors.New("server misbehaving"), dns.RcodeServerFailure, nil, "", ServFail},
		{"Go's no suitable address: NODATA", nil, &net.AddrError{Err: "no suitable address found"}, dns.RcodeSuccess, nil, "", ""},
		{"Hosts answer A without the resolver", query(t, "GATEWAY.", dns.TypeA), errors.New("must not be asked"), dns.RcodeSuccess, []netip.Addr{gwAddr}, "", ""},
		{"PTR of a Hosts address", query(t, "2.2.0.10.in-addr.arpa.", typePTR), errors.New("must not be asked"), dns.RcodeSuccess, nil, "gateway.", ""},
		{"PTR through the resolver", query(t, "9.9.9.10.in-addr.arpa.", typePTR), nil, dns.RcodeSuccess, nil, "web.test.", ""},
		{"PTR of an unknown address: NXDOMAIN", query(t, "1.1.1.10.in-addr.arpa.", typePTR), nil, dns.RcodeNameError, nil, "", ""},
		{"PTR of a malformed reverse name: NXDOMAIN", query(t, "x.in-addr.arpa.", typePTR), nil, dns.RcodeNameError, nil, "", ""},
		{"MX: NOTIMP", query(t, "web.test.", 15), nil, dns.RcodeNotImplemented, nil, "", NotImp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFake()
			r.err = tc.err
			q := tc.q
			if q == nil {
				q = query(t, "web.test.", dns.TypeA)
			}
			resp, why := newAnswererFor(t, r).answer(context.Background(), q, false)
			m := parse(t, resp)
			h := m.Header
			if h.ID != 0xbeef || !h.Response || !h.RecursionDesired || !h.RecursionAvailable || h.Rcode != tc.rcode || why != tc.why {
				t.Fatalf("header %+v reason %q, want rcode %d reason %q", h, why, tc.rcode, tc.why)
			}
			if len(m.Questions) != 1 {
				t.Fatalf("question not echoed: %+v", m.Questions)
			}
			var got []netip.Addr
			var ptr string
			for _, rr := range m.Answers {
				if rr.TTL != DefaultTTL || rr.Name != m.Questions[0].Name {
					t.Fatalf("record %+v", rr)
				}
				if rr.Type == typePTR {
					ptr = decodeName(rr.Data)
				} else {
					got = append(got, rr.A)
				}
			}
			if len(got) != len(tc.answers) || ptr != tc.ptr {
				t.Fatalf("answers %v ptr %q, want %v %q", got, ptr, tc.answers, tc.ptr)
			}
			for i := range got {
				if got[i] != tc.answers[i] {
					t.Fatalf("answers %v, want %v", got, tc.answers)
				}
			}
		})
	}
}

// decodeName reads uncompressed labels (the PTR data we write).
func decodeName(b []byte) string {
	s := ""
	for len(b) > 0 && b[0] != 0 && int(b[0]) < len(b) {
		s += string(b[1:1+b[0]]) + "."
		b = b[1+b[0]:]
	}
	return s
}

// Malformed and unsupported queries.
func TestAnswerBadQueries(t *testing.T) {
	good := query(t, "web.test.", dns.TypeA)
	mut := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name  string
		q     []byte
		reply bool
		rcode int
		why   Reason
	}{
		{"shorter than a header: no reply", good[:11], false, 0, DropMalformed},
		{"a response (QR set): never answered", mut(func(b []byte) []byte { b[2] |= 0x80; return b }), false, 0, DropResponse},
		{"no question: FORMERR", good[:12], true, dns.RcodeFormatError, FormErr},
		{"two questions: FORMERR", mut(func(b []byte) []byte { b[5] = 2; return append(b, b[12:]...) }), true, dns.RcodeFormatError, FormErr},
		{"truncated question: FORMERR", good[:len(good)-3], true, dns.RcodeFormatError, FormErr},
		{"opcode STATUS: NOTIMP", mut(func(b []byte) []byte { b[2] |= 2 << 3; return b }), true, dns.RcodeNotImplemented, NotImp},
		{"class CHAOS: NOTIMP", mut(func(b []byte) []byte { b[len(b)-1] = 3; return b }), true, dns.RcodeNotImplemented, NotImp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFake()
			resp, why := newAnswererFor(t, r).answer(context.Background(), tc.q, false)
			if why != tc.why || (resp != nil) != tc.reply {
				t.Fatalf("reply %v reason %q, want reply %v reason %q", resp != nil, why, tc.reply, tc.why)
			}
			if tc.reply {
				if h := parse(t, resp).Header; h.Rcode != tc.rcode || h.ID != 0xbeef || !h.Response {
					t.Fatalf("header %+v, want rcode %d", h, tc.rcode)
				}
			}
			if len(r.asked) != 0 {
				t.Fatalf("resolver asked %v for a bad query", r.asked)
			}
		})
	}
}

// RFC 1035 4.2.1 / RFC 6891 / RFC 7766: over UDP an answer is limited to
// 512 bytes or the EDNS(0) size; a larger one is sent truncated (TC, no
// records); over TCP it is sent whole.
func TestAnswerTruncation(t *testing.T) {
	a := newAnswererFor(t, newFake())
	for _, tc := range []struct {
		name    string
		q       []byte
		tcp     bool
		tc      bool
		answers int
	}{
		{"UDP, 512 bytes: truncated", query(t, "many.test.", dns.TypeA), false, true, 0},
		{"UDP, EDNS 4096: whole", withEDNS(query(t, "many.test.", dns.TypeA), 4096), false, false, 40},
		{"UDP, EDNS 100 counts as 512: truncated", withEDNS(query(t, "many.test.", dns.TypeA), 100), false, true, 0},
		{"TCP: whole", query(t, "many.test.", dns.TypeA), true, false, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := a.answer(context.Background(), tc.q, tc.tcp)
			m := parse(t, resp)
			if m.Header.Truncated != tc.tc || len(m.Answers) != tc.answers {
				t.Fatalf("TC %v answers %d (%d bytes), want %v %d", m.Header.Truncated, len(m.Answers), len(resp), tc.tc, tc.answers)
			}
			if !tc.tcp && len(resp) > 512 && tc.tc {
				t.Fatalf("truncated reply is %d bytes", len(resp))
			}
		})
	}
}

// An independent decoder (gopacket) reads our answers the same way.
func TestAnswerDecodesWithGopacket(t *testing.T) {
	a := newAnswererFor(t, newFake())
	for _, q := range [][]byte{query(t, "web.test.", dns.TypeA), query(t, "web.test.", dns.TypeAAAA), query(t, "9.9.9.10.in-addr.arpa.", typePTR)} {
		resp, _ := a.answer(context.Background(), q, false)
		var d layers.DNS
		if err := d.DecodeFromBytes(resp, gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		if len(d.Answers) != 1 || d.ResponseCode != layers.DNSResponseCodeNoErr || !d.QR || d.ID != 0xbeef {
			t.Fatalf("gopacket: %+v", d)
		}
		switch rr := d.Answers[0]; rr.Type {
		case layers.DNSTypeA:
			if !rr.IP.Equal(net.IP(webAddr.AsSlice())) {
				t.Fatalf("A %v", rr.IP)
			}
		case layers.DNSTypeAAAA:
			if !rr.IP.Equal(net.IP(web6.AsSlice())) {
				t.Fatalf("AAAA %v", rr.IP)
			}
		case layers.DNSTypePTR:
			if string(rr.PTR) != "web.test" {
				t.Fatalf("PTR %q", rr.PTR)
			}
		default:
			t.Fatalf("type %v", rr.Type)
		}
	}
}

// RFC 3596 2.5: ip6.arpa names are the 32 nibbles reversed.
func TestReverseAddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
	}{
		{"4.3.2.10.in-addr.arpa.", "10.2.3.4"},
		{"9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "fd00::9"},
		{"3.2.10.in-addr.arpa.", ""},
		{"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", ""},
		{"example.com.", ""},
	} {
		a, ok := reverseAddr(tc.name)
		if got := ""; ok {
			got = a.String()
			if got != tc.want {
				t.Fatalf("%s: %v, want %q", tc.name, a, tc.want)
			}
		} else if tc.want != "" {
			t.Fatalf("%s: not parsed, want %s", tc.name, tc.want)
		}
	}
}
