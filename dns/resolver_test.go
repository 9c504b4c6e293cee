package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestLookup(t *testing.T) {
	z := zone(map[string][]string{
		"web.test.":   {"10.0.0.1"},
		"multi.test.": {"10.0.0.2", "10.0.0.3"},
		"end.test.":   {"10.0.0.9"},
		"empty.test.": nil,
	}, map[string]string{
		"www.test.":    "web.test.", // chain inside one answer
		"alias.test.":  "middle.test.",
		"middle.test.": "web.test.",
	})
	// outside answers with a CNAME only; the resolver must ask for its end.
	outside := func(q *Msg, tcp bool) [][]byte {
		if strings.EqualFold(q.Questions[0].Name, "outside.test.") {
			b := reply(q, RcodeSuccess)
			b.Answer(Resource{Name: "outside.test.", Type: TypeCNAME, Class: ClassINET, Target: "end.test."})
			return [][]byte{b.Bytes()}
		}
		return z(q, tcp)
	}
	srv := newFakeServer(t, outside)
	r := &Resolver{Servers: []netip.AddrPort{srv.addr()}, Dial: dialer(srv), Timeout: 10 * time.Second}
	tests := []struct {
		name     string
		want     []netip.Addr
		notFound bool
	}{
		{"web.test", addrs("10.0.0.1"), false},
		{"WEB.Test.", addrs("10.0.0.1"), false},
		{"multi.test", addrs("10.0.0.2", "10.0.0.3"), false},
		{"www.test", addrs("10.0.0.1"), false},
		{"alias.test", addrs("10.0.0.1"), false},
		{"outside.test", addrs("10.0.0.9"), false},
		{"nope.test", nil, true},
		{"empty.test", nil, true},
		{"bad..name", nil, true},
		{strings.Repeat("a", 64) + ".test", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.LookupA(context.Background(), tt.name)
			if tt.notFound {
				var de *net.DNSError
				if !errors.As(err, &de) || !de.IsNotFound || de.Name != tt.name {
					t.Fatalf("err %#v, want a not-found *net.DNSError for %q", err, tt.name)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestLookupHostLiterals(t *testing.T) {
	r := &Resolver{} // no servers: literals need none
	for in, want := range map[string]string{"10.1.2.3": "10.1.2.3", "::ffff:10.1.2.3": "10.1.2.3", "localhost": "127.0.0.1"} {
		got, err := r.LookupHost(context.Background(), in)
		if err != nil || len(got) != 1 || got[0].String() != want {
			t.Errorf("LookupHost(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := r.LookupHost(context.Background(), "web.test"); err == nil || !strings.Contains(err.Error(), "no DNS servers") {
		t.Errorf("no servers: %v", err)
	}
}

// Answers with another ID, a wrong question or garbage are ignored; the
// real answer after them is taken.
func TestIgnoresMismatchedAnswers(t *testing.T) {
	srv := newFakeServer(t, func(q *Msg, tcp bool) [][]byte {
		good := zone(map[string][]string{"web.test.": {"10.0.0.1"}}, nil)(q, tcp)[0]
		wrongID := append([]byte(nil), good...)
		wrongID[0]++
		other := reply(&Msg{Header: q.Header, Questions: []Question{{"evil.test.", TypeA, ClassINET}}}, RcodeSuccess)
		other.Answer(Resource{Name: "evil.test.", Type: TypeA, Class: ClassINET, A: netip.MustParseAddr("6.6.6.6")})
		query := append([]byte(nil), good...)
		query[2] &^= 0x80 // QR clear
		return [][]byte{wrongID, other.Bytes(), {1, 2, 3}, query, good}
	})
	r := &Resolver{Servers: []netip.AddrPort{srv.addr()}, Dial: dialer(srv), Timeout: 10 * time.Second}
	got, err := r.LookupA(context.Background(), "web.test")
	if err != nil || !slices.Equal(got, addrs("10.0.0.1")) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestFailoverAndTimeouts(t *testing.T) {
	good := newFakeServer(t, zone(map[string][]string{"web.test.": {"10.0.0.1"}}, nil))
	silent := newFakeServer(t, func(*Msg, bool) [][]byte { return nil })
	servfail := newFakeServer(t, func(q *Msg, _ bool) [][]byte { return [][]byte{reply(q, RcodeServerFailure).Bytes()} })
	refused := newFakeServer(t, func(q *Msg, _ bool) [][]byte { return [][]byte{reply(q, RcodeRefused).Bytes()} })
	all := dialer(good, silent, servfail, refused)

	t.Run("servfail then good", func(t *testing.T) {
		r := &Resolver{Servers: []netip.AddrPort{servfail.addr(), refused.addr(), good.addr()}, Dial: all}
		if got, err := r.LookupA(context.Background(), "web.test"); err != nil || len(got) != 1 {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("silent then good", func(t *testing.T) {
		r := &Resolver{Servers: []netip.AddrPort{silent.addr(), good.addr()}, Dial: all, Timeout: 100 * time.Millisecond}
		if got, err := r.LookupA(context.Background(), "web.test"); err != nil || len(got) != 1 {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("all silent", func(t *testing.T) {
		before := silent.queries()
		r := &Resolver{Servers: []netip.AddrPort{silent.addr()}, Dial: all, Timeout: 50 * time.Millisecond, Attempts: 3}
		_, err := r.LookupA(context.Background(), "web.test")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsTimeout || de.Server != silent.addr().String() || de.Name != "web.test" {
			t.Fatalf("err %#v, want a timeout *net.DNSError", err)
		}
		if n := silent.queries() - before; n != 3 {
			t.Errorf("%d queries sent, want 3 attempts", n)
		}
	})
	t.Run("all servfail", func(t *testing.T) {
		r := &Resolver{Servers: []netip.AddrPort{servfail.addr()}, Dial: all}
		_, err := r.LookupA(context.Background(), "web.test")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsTemporary || de.IsNotFound {
			t.Fatalf("err %#v, want a temporary *net.DNSError", err)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r := &Resolver{Servers: []netip.AddrPort{silent.addr()}, Dial: all}
		_, err := r.LookupA(ctx, "web.test")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
}

// A truncated UDP answer makes the resolver ask again over TCP.
func TestTruncatedRetriesOverTCP(t *testing.T) {
	var srv *fakeServer
	srv = newFakeServer(t, func(q *Msg, tcp bool) [][]byte {
		if !tcp {
			b := reply(q, RcodeSuccess)
			out := b.Bytes()
			out[2] |= 0x02 // TC
			return [][]byte{out}
		}
		b := reply(q, RcodeSuccess)
		for i := range 100 { // bigger than 512 bytes
			b.Answer(Resource{Name: q.Questions[0].Name, Type: TypeA, Class: ClassINET, A: netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})})
		}
		return [][]byte{b.Bytes()}
	})
	r := &Resolver{Servers: []netip.AddrPort{srv.addr()}, Dial: dialer(srv)}
	got, err := r.LookupA(context.Background(), "big.test")
	if err != nil || len(got) != 100 || got[99] != netip.MustParseAddr("10.1.0.99") {
		t.Fatalf("got %d addresses, %v", len(got), err)
	}
}

func TestRandomIDs(t *testing.T) {
	srv := newFakeServer(t, zone(map[string][]string{"web.test.": {"10.0.0.1"}}, nil))
	r := &Resolver{Servers: []netip.AddrPort{srv.addr()}, Dial: dialer(srv)}
	for range 8 {
		if _, err := r.LookupA(context.Background(), "web.test"); err != nil {
			t.Fatal(err)
		}
	}
	srv.mu.Lock()
	ids := slices.Clone(srv.ids)
	srv.mu.Unlock()
	slices.Sort(ids)
	if len(slices.Compact(ids)) < 2 {
		t.Errorf("query IDs not random: %v", ids)
	}
}

// The Go resolver from NetResolver sends its queries through Dial to our
// server, whatever /etc/resolv.conf names.
func TestNetResolver(t *testing.T) {
	srv := newFakeServer(t, zone(map[string][]string{"web.test.": {"10.0.0.1"}}, nil))
	dialed := make(chan string, 16)
	d := dialer(srv)
	r := &Resolver{Servers: []netip.AddrPort{srv.addr()}, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case dialed <- network + " " + addr:
		default:
		}
		return d(ctx, network, addr)
	}}
	got, err := r.NetResolver().LookupNetIP(context.Background(), "ip4", "web.test")
	if err != nil || len(got) != 1 || got[0] != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("LookupNetIP = %v, %v", got, err)
	}
	if s := <-dialed; s != "udp "+srv.addr().String() {
		t.Errorf("dialed %q", s)
	}
	_, err = r.NetResolver().LookupNetIP(context.Background(), "ip4", "nope.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("NXDOMAIN through net.Resolver: %v", err)
	}
}

// DialContext resolves names and dials the addresses in turn.
func TestDialContext(t *testing.T) {
	srv := newFakeServer(t, zone(map[string][]string{"web.test.": {"10.0.0.7", "10.0.0.8"}}, nil))
	r := &Resolver{Servers: []netip.AddrPort{srv.addr()}, Dial: dialer(srv)}
	var tried []string
	var mu sync.Mutex // Happy Eyeballs dials on its own goroutines
	fake := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		tried = append(tried, network+" "+addr)
		if addr == "10.0.0.8:80" {
			c, _ := net.Pipe()
			return c, nil
		}
		return nil, errors.New("refused")
	}
	c, err := r.DialContext(fake)(context.Background(), "tcp", "web.test:80")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !slices.Equal(tried, []string{"tcp 10.0.0.7:80", "tcp 10.0.0.8:80"}) {
		t.Errorf("dialled %v", tried)
	}
	tried = nil
	if c, err := r.DialContext(fake)(context.Background(), "tcp", "10.0.0.8:80"); err != nil || len(tried) != 1 {
		t.Errorf("literal: %v, dialled %v", err, tried)
	} else {
		c.Close()
	}
	if _, err := r.DialContext(fake)(context.Background(), "tcp", "nope.test:80"); err == nil || !strings.Contains(err.Error(), "no such host") {
		t.Errorf("unknown name: %v", err)
	}
}
