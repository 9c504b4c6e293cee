package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/internal/vclock"
)

// TestRFC3596AAAARecords: AAAA records carry a 16-byte IPv6 address; they
// round-trip through Builder and Parse, gopacket decodes them, and an
// AAAA record of another length, or an A record with an IPv6 address, is
// refused.
func TestRFC3596AAAARecords(t *testing.T) {
	b := NewBuilder(HeaderFields{ID: 9, Response: true})
	b.Question(Question{"web.test.", TypeAAAA, ClassINET})
	if err := b.Answer(Resource{Name: "web.test.", Type: TypeAAAA, Class: ClassINET, TTL: 60, A: netip.MustParseAddr("fd00::7")}); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answers) != 1 || m.Answers[0].A != netip.MustParseAddr("fd00::7") || len(m.Answers[0].Data) != 16 {
		t.Errorf("answers %+v", m.Answers)
	}
	var d layers.DNS
	if err := d.DecodeFromBytes(raw, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if len(d.Answers) != 1 || d.Answers[0].Type != layers.DNSTypeAAAA || !d.Answers[0].IP.Equal(net.ParseIP("fd00::7")) {
		t.Errorf("gopacket reads %+v", d.Answers)
	}
	// A 4-byte AAAA record is malformed.
	bad := append([]byte(nil), raw...)
	bad[len(bad)-17] = 4 // RDLENGTH low byte
	if _, err := Parse(bad[:len(bad)-12]); !errors.Is(err, ErrBadRData) {
		t.Errorf("4-byte AAAA: %v", err)
	}
	for _, r := range []Resource{
		{Name: "x.test.", Type: TypeA, Class: ClassINET, A: netip.MustParseAddr("fd00::1")},
		{Name: "x.test.", Type: TypeAAAA, Class: ClassINET, A: netip.MustParseAddr("10.0.0.1")},
		{Name: "x.test.", Type: TypeA, Class: ClassINET},
	} {
		if err := NewBuilder(HeaderFields{}).Answer(r); !errors.Is(err, ErrBadRData) {
			t.Errorf("Answer(%v %v): %v, want ErrBadRData", r.Type, r.A, err)
		}
	}
}

// TestLookupNetIP: "ip" returns the AAAA addresses first, then the A ones;
// "ip4" and "ip6" one family; a name with addresses of one family only is
// found under "ip"; literals and localhost need no server; the server is
// reached over IPv6 (::1).
func TestLookupNetIP(t *testing.T) {
	srv := newFakeServerAt(t, "::1", zone(map[string][]string{
		"dual.test.": {"10.0.0.1", "fd00::1", "fd00::2"},
		"v4.test.":   {"10.0.0.4"},
		"v6.test.":   {"fd00::6"},
	}, map[string]string{"alias.test.": "dual.test."}))
	r := &Resolver{Servers: []netip.AddrPort{srv.addr()}, Dial: dialer(srv), Timeout: 10 * time.Second}
	if !srv.addr().Addr().Is6() {
		t.Fatalf("server on %v", srv.addr())
	}
	tests := []struct {
		network, host string
		want          []netip.Addr
		notFound      bool
	}{
		{"ip", "dual.test", addrs("fd00::1", "fd00::2", "10.0.0.1"), false},
		{"ip", "alias.test", addrs("fd00::1", "fd00::2", "10.0.0.1"), false},
		{"ip4", "dual.test", addrs("10.0.0.1"), false},
		{"ip6", "dual.test", addrs("fd00::1", "fd00::2"), false},
		{"ip", "v4.test", addrs("10.0.0.4"), false},
		{"ip", "v6.test", addrs("fd00::6"), false},
		{"ip4", "v6.test", nil, true},
		{"ip", "nope.test", nil, true},
		{"ip", "fd00::9", addrs("fd00::9"), false},
		{"ip", "::ffff:10.0.0.9", addrs("10.0.0.9"), false},
		{"ip4", "fd00::9", nil, true},
		{"ip", "localhost", addrs("::1", "127.0.0.1"), false},
		{"ip6", "localhost", addrs("::1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.network+" "+tt.host, func(t *testing.T) {
			got, err := r.LookupNetIP(context.Background(), tt.network, tt.host)
			if tt.notFound {
				var de *net.DNSError
				if !errors.As(err, &de) || !de.IsNotFound {
					t.Fatalf("got %v, %v; want not found", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := r.LookupNetIP(context.Background(), "tcp", "dual.test"); err == nil {
		t.Error("network tcp accepted")
	}
}

// heDialer is a fake dial function for Happy Eyeballs: each attempt
// announces itself on started and then waits for its outcome on its own
// channel (or for its context to end).
type heDialer struct {
	started  chan netip.AddrPort
	mu       sync.Mutex
	outcome  map[netip.AddrPort]chan error
	canceled chan netip.AddrPort
	closed   chan netip.AddrPort
	// stubborn is an attempt that ignores its context, as a dial that
	// was about to connect when it lost.
	stubborn netip.AddrPort
}

func newHEDialer() *heDialer {
	return &heDialer{started: make(chan netip.AddrPort, 16), outcome: map[netip.AddrPort]chan error{},
		canceled: make(chan netip.AddrPort, 16), closed: make(chan netip.AddrPort, 16)}
}

func (d *heDialer) ch(ap netip.AddrPort) chan error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.outcome[ap]
	if !ok {
		c = make(chan error, 1)
		d.outcome[ap] = c
	}
	return c
}

func (d *heDialer) dial(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
	d.started <- ap
	if ap == d.stubborn {
		ctx = context.Background()
	}
	select {
	case err := <-d.ch(ap):
		if err != nil {
			return nil, err
		}
		c, peer := net.Pipe()
		go func() { peer.Read(make([]byte, 1)); d.closed <- ap }() // returns when c is closed
		return c, nil
	case <-ctx.Done():
		d.canceled <- ap
		return nil, ctx.Err()
	}
}

// next waits for the next attempt to start.
func (d *heDialer) next(t *testing.T) netip.AddrPort {
	t.Helper()
	select {
	case ap := <-d.started:
		return ap
	case <-time.After(10 * time.Second): // failure guard only
		t.Fatal("no attempt started")
		return netip.AddrPort{}
	}
}

func recvAP(t *testing.T, ch chan netip.AddrPort, what string) netip.AddrPort {
	t.Helper()
	select {
	case ap := <-ch:
		return ap
	case <-time.After(10 * time.Second): // failure guard only
		t.Fatalf("nothing %s", what)
		return netip.AddrPort{}
	}
}

// TestRFC8305HappyEyeballs drives DialHappyEyeballs with a virtual clock
// and fake attempts: IPv6 first, families interleaved (section 4), the
// next attempt 250 ms after the previous one started (section 5, the
// Connection Attempt Delay) or at once when it fails, the first
// connection wins and the others are cancelled or, connected later,
// closed.
func TestRFC8305HappyEyeballs(t *testing.T) {
	v6a, v6b := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	v4a, v4b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	ap := func(a netip.Addr) netip.AddrPort { return netip.AddrPortFrom(a, 80) }
	start := time.Unix(1_700_000_000, 0)

	type run struct {
		clk  *vclock.Clock
		d    *heDialer
		done chan struct{}
		c    net.Conn
		err  error
	}
	dialAll := func(addrs ...netip.Addr) *run {
		r := &run{clk: vclock.New(start), d: newHEDialer(), done: make(chan struct{})}
		go func() {
			r.c, r.err = DialHappyEyeballs(context.Background(), r.clk, addrs, 80, r.d.dial)
			close(r.done)
		}()
		return r
	}
	wait := func(t *testing.T, r *run) {
		t.Helper()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second): // failure guard only
			t.Fatal("DialHappyEyeballs did not return")
		}
	}

	t.Run("interleaving", func(t *testing.T) {
		got := InterleaveFamilies([]netip.Addr{v4a, v4b, v6a, v6b})
		if want := []netip.Addr{v6a, v4a, v6b, v4b}; !slices.Equal(got, want) {
			t.Errorf("order %v, want %v", got, want)
		}
	})

	t.Run("IPv6 connects at once", func(t *testing.T) {
		r := dialAll(v4a, v6a)
		if got := r.d.next(t); got != ap(v6a) {
			t.Fatalf("first attempt %v, want IPv6", got)
		}
		r.d.ch(ap(v6a)) <- nil
		wait(t, r)
		if r.err != nil || r.c == nil {
			t.Fatal(r.err)
		}
		r.c.Close()
		if n := len(r.d.started); n != 0 {
			t.Errorf("%d more attempts", n)
		}
		if r.clk.Pending() != 0 {
			t.Errorf("%d timers left armed", r.clk.Pending())
		}
	})

	t.Run("IPv6 silent: IPv4 after 250 ms wins", func(t *testing.T) {
		r := dialAll(v6a, v4a)
		r.d.next(t)
		when, ok := r.clk.Next()
		if !ok || when.Sub(start) != ConnectionAttemptDelay {
			t.Fatalf("attempt delay armed for %v (%v), want 250ms", when.Sub(start), ok)
		}
		r.clk.Advance(ConnectionAttemptDelay - time.Millisecond)
		if n := len(r.d.started); n != 0 {
			t.Fatal("second attempt before 250 ms")
		}
		r.clk.Advance(time.Millisecond)
		if got := r.d.next(t); got != ap(v4a) {
			t.Fatalf("second attempt %v", got)
		}
		r.d.ch(ap(v4a)) <- nil
		wait(t, r)
		if r.err != nil || r.c.RemoteAddr() == nil {
			t.Fatal(r.err)
		}
		r.c.Close()
		if got := recvAP(t, r.d.canceled, "cancelled"); got != ap(v6a) {
			t.Errorf("cancelled %v, want the IPv6 attempt", got)
		}
	})

	t.Run("IPv6 fails: IPv4 at once", func(t *testing.T) {
		r := dialAll(v6a, v4a)
		r.d.next(t)
		r.d.ch(ap(v6a)) <- errors.New("unreachable")
		if got := r.d.next(t); got != ap(v4a) {
			t.Fatalf("second attempt %v", got)
		}
		if !r.clk.Now().Equal(start) {
			t.Error("the clock moved")
		}
		r.d.ch(ap(v4a)) <- nil
		wait(t, r)
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.c.Close()
	})

	t.Run("first connection wins, a later one is closed", func(t *testing.T) {
		r := &run{clk: vclock.New(start), d: newHEDialer(), done: make(chan struct{})}
		r.d.stubborn = ap(v6a)
		go func() {
			r.c, r.err = DialHappyEyeballs(context.Background(), r.clk, []netip.Addr{v6a, v4a, v6b}, 80, r.d.dial)
			close(r.done)
		}()
		r.d.next(t)
		r.clk.Advance(ConnectionAttemptDelay)
		r.d.next(t) // v4a
		r.clk.Advance(ConnectionAttemptDelay)
		if got := r.d.next(t); got != ap(v6b) {
			t.Fatalf("third attempt %v", got)
		}
		r.d.ch(ap(v6b)) <- nil
		wait(t, r)
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.c.Close()
		// v4a is cancelled; v6a connects after losing (its dial did
		// not heed the cancellation): it is closed.
		if got := recvAP(t, r.d.canceled, "cancelled"); got != ap(v4a) {
			t.Errorf("cancelled %v", got)
		}
		r.d.ch(ap(v6a)) <- nil
		if got := recvAP(t, r.d.closed, "closed"); got != ap(v6a) {
			t.Errorf("closed %v, want the late IPv6 connection", got)
		}
	})

	t.Run("all fail: the first error", func(t *testing.T) {
		r := dialAll(v6a, v4a)
		r.d.next(t)
		first := errors.New("first")
		r.d.ch(ap(v6a)) <- first
		r.d.next(t)
		r.d.ch(ap(v4a)) <- errors.New("second")
		wait(t, r)
		if r.err != first || r.c != nil {
			t.Errorf("got %v, %v; want the first error", r.c, r.err)
		}
	})

	t.Run("no addresses", func(t *testing.T) {
		if _, err := DialHappyEyeballs(context.Background(), vclock.New(start), nil, 80, newHEDialer().dial); err == nil {
			t.Error("no error")
		}
	})

	t.Run("context ends", func(t *testing.T) {
		d := newHEDialer()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := DialHappyEyeballs(ctx, vclock.New(start), []netip.Addr{v6a}, 80, d.dial)
			done <- err
		}()
		d.next(t)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err %v", err)
			}
		case <-time.After(10 * time.Second): // failure guard only
			t.Fatal("did not return")
		}
		recvAP(t, d.canceled, "cancelled")
	})
}
