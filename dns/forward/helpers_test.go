package forward

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/tapstack/tapstack/dns"
)

// fakeResolver answers from tables and records the names asked.
type fakeResolver struct {
	mu      sync.Mutex
	addrs   map[string][]netip.Addr // by name with trailing dot
	names   map[string][]string     // by address string
	err     error                   // returned for every lookup when set
	block   chan struct{}           // when set, lookups wait on it or ctx
	entered chan struct{}           // when set, signalled as a lookup starts
	asked   []string
}

func (r *fakeResolver) wait(ctx context.Context) error {
	if r.entered != nil {
		r.entered <- struct{}{}
	}
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.asked = append(r.asked, network+" "+host)
	r.mu.Unlock()
	if err := r.wait(ctx); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	// Like Go's resolver, a family with no address is "no such host".
	var out []netip.Addr
	for _, a := range r.addrs[strings.ToLower(host)] {
		if network == "ip" || (network == "ip4") == a.Is4() {
			out = append(out, a)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	r.mu.Lock()
	r.asked = append(r.asked, "ptr "+addr)
	r.mu.Unlock()
	if err := r.wait(ctx); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	if n, ok := r.names[addr]; ok {
		return n, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

var (
	gwAddr  = netip.MustParseAddr("10.0.2.2")
	webAddr = netip.MustParseAddr("10.9.9.9")
	web6    = netip.MustParseAddr("fd00::9")
)

func newFake() *fakeResolver {
	return &fakeResolver{
		addrs: map[string][]netip.Addr{
			"web.test.":   {webAddr, web6},
			"only6.test.": {web6},
			"many.test.":  manyAddrs(40),
		},
		names: map[string][]string{"10.9.9.9": {"web.test."}},
	}
}

func manyAddrs(n int) []netip.Addr {
	var out []netip.Addr
	for i := range n {
		out = append(out, netip.AddrFrom4([4]byte{10, 8, 0, byte(i + 1)}))
	}
	return out
}

func newAnswererFor(t *testing.T, r Resolver) *answerer {
	t.Helper()
	cfg, err := Config{Addr: netip.MustParseAddrPort("10.0.2.3:53"), Resolver: r,
		Hosts: map[string][]netip.Addr{"gateway.": {gwAddr}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return newAnswerer(cfg)
}

// query builds a query with recursion desired.
func query(t *testing.T, name string, qtype uint16) []byte {
	t.Helper()
	q, err := dns.NewQuery(0xbeef, name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// withEDNS appends an OPT record announcing size.
func withEDNS(q []byte, size uint16) []byte {
	q = append(q, 0, 0, typeOPT, byte(size>>8), byte(size), 0, 0, 0, 0, 0, 0)
	q[11]++ // ARCOUNT
	return q
}

func parse(t *testing.T, b []byte) *dns.Msg {
	t.Helper()
	if b == nil {
		t.Fatal("no reply")
	}
	m, err := dns.Parse(b)
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return m
}
