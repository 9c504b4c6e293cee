package forward

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dns"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

func newForwarder(t *testing.T, r Resolver, mod func(*Config)) (*Forwarder, *stack.Stack, *vclock.Clock) {
	t.Helper()
	clk := vclock.New(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	s := stack.New(stack.Options{Clock: clk})
	t.Cleanup(func() { s.Close() })
	cfg := Config{Addr: netip.MustParseAddrPort("10.0.2.3:53"), Resolver: r}
	if mod != nil {
		mod(&cfg)
	}
	f, err := New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f, s, clk
}

// With MaxInFlight lookups running, a further query is answered SERVFAIL
// at once and counted, without reaching the resolver.
func TestBusyAnswersServfail(t *testing.T) {
	r := newFake()
	r.block, r.entered = make(chan struct{}), make(chan struct{}, 1)
	f, s, _ := newForwarder(t, r, func(c *Config) { c.MaxInFlight = 1 })
	done := make(chan []byte)
	go func() { b, _ := f.Answer(context.Background(), query(t, "web.test.", dns.TypeA), false); done <- b }()
	<-r.entered
	resp, why := f.Answer(context.Background(), query(t, "web.test.", dns.TypeA), false)
	if m := parse(t, resp); why != Busy || m.Header.Rcode != dns.RcodeServerFailure {
		t.Fatalf("second query: rcode %d reason %q, want SERVFAIL busy", m.Header.Rcode, why)
	}
	if n := s.Counters().Value("dnsfwd.rx.busy"); n != 1 {
		t.Fatalf("dnsfwd.rx.busy = %d", n)
	}
	close(r.block)
	if m := parse(t, <-done); m.Header.Rcode != dns.RcodeSuccess || len(m.Answers) != 1 {
		t.Fatalf("first query: %+v", m)
	}
	if len(r.asked) != 1 {
		t.Fatalf("resolver asked %v", r.asked)
	}
}

// A lookup that outlives Timeout is answered SERVFAIL.
func TestLookupTimeoutServfail(t *testing.T) {
	r := newFake()
	r.block = make(chan struct{}) // never released
	f, s, _ := newForwarder(t, r, func(c *Config) { c.Timeout = time.Millisecond })
	resp, why := f.Answer(context.Background(), query(t, "web.test.", dns.TypeA), false)
	if m := parse(t, resp); why != Timeout || m.Header.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %d reason %q, want SERVFAIL timeout", m.Header.Rcode, why)
	}
	if s.Counters().Value("dnsfwd.rx.timeout") != 1 {
		t.Fatal("timeout not counted")
	}
}

// Each source gets Burst queries, then Rate per second; the table of
// sources stays within MaxSources.
func TestPerSourceRateLimit(t *testing.T) {
	f, s, clk := newForwarder(t, newFake(), func(c *Config) { c.Rate, c.Burst, c.MaxSources = 1, 3, 8 })
	a, b := netip.MustParseAddr("10.0.2.15"), netip.MustParseAddr("10.0.2.16")
	for i := range 3 {
		if !f.admit(a) {
			t.Fatalf("query %d of the burst refused", i)
		}
	}
	if f.admit(a) {
		t.Fatal("query past the burst admitted")
	}
	if !f.admit(b) {
		t.Fatal("another source limited")
	}
	clk.Advance(time.Second)
	if !f.admit(a) {
		t.Fatal("no refill after a second")
	}
	if n := s.Counters().Value("dnsfwd.rx.rate"); n != 1 {
		t.Fatalf("dnsfwd.rx.rate = %d", n)
	}
	for i := range 1000 {
		f.admit(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
		if n := len(f.limit.m); n > 8 {
			t.Fatalf("source table %d entries, max 8", n)
		}
	}
}

// Operator mistakes get one line that says what to set.
func TestConfigErrors(t *testing.T) {
	s := stack.New(stack.Options{})
	defer s.Close()
	if _, err := New(s, Config{Addr: netip.MustParseAddrPort("10.0.2.3:53")}); err == nil {
		t.Fatal("no resolver accepted")
	}
	if _, err := New(s, Config{Resolver: newFake()}); err == nil {
		t.Fatal("no address accepted")
	}
}
