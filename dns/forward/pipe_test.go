package forward_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dns"
	"github.com/tapstack/tapstack/dns/forward"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
)

// table is a Resolver with fixed answers.
type table map[string][]netip.Addr

func (t table) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := t[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (t table) LookupAddr(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

// A guest host resolves through the forwarder at 10.0.2.3 over UDP (our
// stub resolver) and over TCP (RFC 7766 framing), across a pipe.
func TestGuestResolvesOverPipe(t *testing.T) {
	a, b := link.Pipe(1500)
	gw, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{Device: a,
		Addr: netip.MustParsePrefix("10.0.2.2/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.3/24")}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	f, err := forward.New(gw.Stack(), forward.Config{Addr: netip.MustParseAddrPort("10.0.2.3:53"),
		Resolver: table{"web.test.": {netip.MustParseAddr("10.9.9.9")}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	guest, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{Device: b, Addr: netip.MustParsePrefix("10.0.2.15/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer guest.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	r := &dns.Resolver{Servers: []netip.AddrPort{netip.MustParseAddrPort("10.0.2.3:53")}, Dial: guest.DialContext}
	addrs, err := r.LookupA(ctx, "web.test")
	if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("10.9.9.9") {
		t.Fatalf("UDP lookup: %v %v", addrs, err)
	}
	if _, err := r.LookupA(ctx, "nope.test"); err == nil {
		t.Fatal("NXDOMAIN name resolved")
	}

	c, err := guest.DialContext(ctx, "tcp", "10.0.2.3:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, _ := dns.NewQuery(7, "web.test.", dns.TypeA)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
		t.Fatal(err)
	}
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(c, resp); err != nil {
		t.Fatal(err)
	}
	m, err := dns.Parse(resp)
	if err != nil || m.Header.ID != 7 || len(m.Answers) != 1 || m.Answers[0].A != netip.MustParseAddr("10.9.9.9") {
		t.Fatalf("TCP answer %+v %v", m, err)
	}
	if n := gw.Stack().Counters().Value("dnsfwd.rx.queries"); n < 3 {
		t.Fatalf("dnsfwd.rx.queries = %d, want at least 3", n)
	}
}
