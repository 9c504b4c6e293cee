package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tapstack/tapstack/dns"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// Forwarder is a DNS server on a stack address that answers from a
// Resolver (see the package documentation).
type Forwarder struct {
	s   *stack.Stack
	cfg Config
	a   *answerer
	sem chan struct{} // lookups in flight

	mu      sync.Mutex
	limit   sources
	udp     *udp.Conn
	tcp     *tcp.Listener
	conns   map[net.Conn]struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool

	queries *stack.Counter
}

// New returns a forwarder for cfg on s; it serves nothing until Start.
// The error says which Config setting is wrong.
func New(s *stack.Stack, cfg Config) (*Forwarder, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Forwarder{
		s: s, cfg: cfg, a: newAnswerer(cfg),
		sem:     make(chan struct{}, cfg.MaxInFlight),
		limit:   sources{rate: cfg.Rate, burst: cfg.Burst, max: cfg.MaxSources, m: map[netip.Addr]bucket{}},
		conns:   map[net.Conn]struct{}{},
		queries: s.Counters().Get("dnsfwd.rx.queries"),
	}, nil
}

// Config returns the configuration in effect, defaults filled in.
func (f *Forwarder) Config() Config { return f.cfg }

// Start binds UDP (and, unless MaxTCPConns is negative, TCP) on
// Config.Addr and serves until Close.
func (f *Forwarder) Start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return errors.New("dnsfwd: Start called twice")
	}
	uc, err := udp.Listen(f.s, f.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dnsfwd: listening on udp %v (does the stack own %v? add it to the NIC): %w", f.cfg.Addr, f.cfg.Addr.Addr(), err)
	}
	var tl *tcp.Listener
	if f.cfg.MaxTCPConns > 0 {
		tl, err = tcp.Listen(f.s, f.cfg.Addr)
		if err != nil {
			uc.Close()
			return fmt.Errorf("dnsfwd: listening on tcp %v: %w", f.cfg.Addr, err)
		}
	}
	f.started, f.udp, f.tcp = true, uc, tl
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.wg.Add(1)
	go f.serveUDP(uc)
	if tl != nil {
		f.wg.Add(1)
		go f.serveTCP(tl)
	}
	return nil
}

// Close stops serving, cancels the lookups in flight and waits for every
// goroutine of the forwarder.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	if !f.started || f.cancel == nil {
		f.mu.Unlock()
		return nil
	}
	f.cancel()
	f.udp.Close()
	if f.tcp != nil {
		f.tcp.Close()
	}
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return nil
}

func (f *Forwarder) count(r Reason) {
	if r != "" {
		f.s.Counters().Get("dnsfwd.rx." + string(r)).Inc()
	}
}

// admit applies the per-source rate limit.
func (f *Forwarder) admit(src netip.Addr) bool {
	now := f.s.Clock().Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limit.allow(src.Unmap(), now) {
		return true
	}
	f.count(DropRate)
	return false
}

// Answer answers one query (a DNS message without TCP framing) as the
// forwarder would, bounded by MaxInFlight and Timeout; tcp lifts the UDP
// size limit. It returns nil when the query gets no reply, and the reason
// when the answer is not a normal one (also counted).
func (f *Forwarder) Answer(ctx context.Context, query []byte, tcp bool) ([]byte, Reason) {
	if !f.acquire() {
		return f.busy(query, tcp)
	}
	return f.answerHeld(ctx, query, tcp)
}

// acquire takes a lookup slot if one is free.
func (f *Forwarder) acquire() bool {
	f.queries.Inc()
	select {
	case f.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

// busy answers SERVFAIL at once: MaxInFlight lookups are running.
func (f *Forwarder) busy(query []byte, tcp bool) ([]byte, Reason) {
	f.count(Busy)
	return f.a.fail(query, tcp), Busy
}

// answerHeld answers with a slot taken by acquire, and gives it back.
func (f *Forwarder) answerHeld(ctx context.Context, query []byte, tcp bool) ([]byte, Reason) {
	defer func() { <-f.sem }()
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	resp, why := f.a.answer(ctx, query, tcp)
	f.count(why)
	return resp, why
}

func (f *Forwarder) serveUDP(c *udp.Conn) {
	defer f.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if !f.admit(from.Addr()) {
			continue
		}
		if !f.acquire() {
			// No goroutine for a query we cannot look up now.
			if resp, _ := f.busy(buf[:n], false); resp != nil {
				c.WriteToUDPAddrPort(resp, from)
			}
			continue
		}
		q := append([]byte(nil), buf[:n]...)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if resp, _ := f.answerHeld(f.ctx, q, false); resp != nil {
				c.WriteToUDPAddrPort(resp, from)
			}
		}()
	}
}

func (f *Forwarder) serveTCP(l *tcp.Listener) {
	defer f.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if len(f.conns) >= f.cfg.MaxTCPConns || f.ctx.Err() != nil {
			f.mu.Unlock()
			f.count(TCPBusy)
			c.Close()
			continue
		}
		f.conns[c] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serveConn(c)
	}
}

// serveConn answers the queries of one TCP connection in turn (RFC 7766
// framing: a 2-byte length before each message).
func (f *Forwarder) serveConn(c net.Conn) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		c.Close()
	}()
	src := netip.Addr{}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		src = ap.Addr()
	}
	var hdr [2]byte
	buf := make([]byte, 0, 512)
	for {
		c.SetReadDeadline(time.Now().Add(f.cfg.IdleTimeout))
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if !f.admit(src) {
			return
		}
		resp, _ := f.Answer(f.ctx, buf, true)
		if resp == nil {
			continue
		}
		out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(resp)), uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// fail builds a SERVFAIL reply to query, or nil when it gets none.
func (a *answerer) fail(b []byte, tcp bool) []byte {
	h := dns.Header(b)
	if h.Validate() != nil || h.Response() {
		return nil
	}
	hf := h.Fields()
	rep := dns.HeaderFields{ID: hf.ID, Response: true, Opcode: hf.Opcode, RecursionDesired: hf.RecursionDesired, RecursionAvailable: true, Rcode: dns.RcodeServerFailure}
	var q *dns.Question
	if m, err := dns.Parse(b); err == nil && len(m.Questions) == 1 {
		q = &m.Questions[0]
	}
	return a.build(rep, q, nil, tcp, 512)
}
