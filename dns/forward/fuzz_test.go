package forward

import (
	"context"
	"testing"

	"github.com/tapstack/tapstack/dns"
)

// FuzzAnswer: no query makes the answerer panic, and every reply parses,
// is a response with the query's ID, and fits 512 bytes over UDP.
func FuzzAnswer(f *testing.F) {
	for _, q := range [][]byte{
		mustQuery("web.test.", dns.TypeA), mustQuery("web.test.", dns.TypeAAAA), mustQuery("many.test.", dns.TypeA),
		mustQuery("2.2.0.10.in-addr.arpa.", typePTR), mustQuery("x.", 15), withEDNS(mustQuery("many.test.", dns.TypeA), 1232), {},
	} {
		f.Add(q, false)
	}
	a := newAnswerer(Config{Resolver: newFake(), TTL: 1, Hosts: nil})
	f.Fuzz(func(t *testing.T, q []byte, tcp bool) {
		resp, _ := a.answer(context.Background(), q, tcp)
		if resp == nil {
			return
		}
		m, err := dns.Parse(resp)
		if err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if !m.Header.Response || m.Header.ID != dns.Header(q).ID() {
			t.Fatalf("reply header %+v", m.Header)
		}
		if !tcp && len(resp) > 4096 || !tcp && len(resp) > 512 && udpSize(mustParse(q)) == 512 {
			t.Fatalf("UDP reply of %d bytes", len(resp))
		}
	})
}

func mustQuery(name string, qtype uint16) []byte {
	q, err := dns.NewQuery(0xbeef, name, qtype)
	if err != nil {
		panic(err)
	}
	return q
}

func mustParse(q []byte) *dns.Msg {
	m, err := dns.Parse(q)
	if err != nil {
		return &dns.Msg{}
	}
	return m
}
