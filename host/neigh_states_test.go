package host

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/link"
)

// WriteNeigh shows learnt entries with their NUD state as ip neigh does
// (RFC 4861 7.3.2's states, shared by ARP): a neighbour that answered is
// REACHABLE with its lladdr, one being resolved is INCOMPLETE without
// one, for IPv4 and IPv6 alike.
func TestWriteNeighStates(t *testing.T) {
	a, b := link.Pipe(1500)
	var hs [2]*Host
	for i, d := range []link.Device{a, b} {
		h, err := New(Config{NoSLAAC: true, Interfaces: []Interface{{Name: "vb", Device: d,
			Addr:  netip.MustParsePrefix([]string{"10.9.0.2/24", "10.9.0.1/24"}[i]),
			Addrs: []netip.Prefix{netip.MustParsePrefix([]string{"fd00:9::2/64", "fd00:9::1/64"}[i])}}}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		hs[i] = h
	}
	h := hs[0]
	for _, addr := range []string{"10.9.0.1:7", "[fd00:9::1]:7"} {
		// Nobody listens: the RST still needs the neighbour resolved.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h.DialContext(ctx, "tcp", addr)
		cancel()
	}
	for _, addr := range []string{"10.9.0.99:7", "[fd00:9::99]:7"} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		go func() { h.DialContext(ctx, "tcp", addr); cancel() }()
		defer cancel()
	}
	mac := regexp.QuoteMeta(hs[1].Stack().NIC("vb").LinkAddress().String())
	want := regexp.MustCompile(`^10\.9\.0\.1 dev vb lladdr ` + mac + ` (REACHABLE|STALE|DELAY)
10\.9\.0\.99 dev vb (INCOMPLETE|FAILED)
fd00:9::1 dev vb lladdr ` + mac + ` (REACHABLE|STALE|DELAY)
fd00:9::99 dev vb (INCOMPLETE|FAILED)
$`)
	var sb strings.Builder
	for deadline := time.Now().Add(10 * time.Second); ; {
		sb.Reset()
		h.WriteNeigh(&sb, true, true)
		if want.MatchString(sb.String()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WriteNeigh:\n%s\nwant to match\n%s", sb.String(), want)
		}
		time.Sleep(time.Millisecond) // polling with a deadline, not synchronisation
	}
	if !strings.Contains(sb.String(), "REACHABLE") {
		t.Errorf("no REACHABLE entry right after the exchange:\n%s", sb.String())
	}
}
