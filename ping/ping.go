// Package ping is an ICMP echo client (RFC 792, RFC 4443 4.1) over a
// tapstack stack, for IPv4 and IPv6: Go programs ping through the stack
// as wireguard-go's netstack lets them.
//
//	p, err := ping.Of(s)
//	rtt, err := p.Ping(ctx, netip.MustParseAddr("10.0.0.1"))
//
// A Pinger has one random identifier; each request gets the next sequence
// number and carries a random cookie, and a reply counts only when its
// identifier, sequence number, source (the pinged address) and cookie all
// match a request still waiting. The round-trip time is measured with the
// stack's clock. Requests waiting at once are bounded (Options.MaxOutstanding).
// ICMP errors about echo requests (host unreachable) are not reported:
// such a ping ends when ctx does.
package ping

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
)

// Defaults of Options.
const (
	// DefaultMaxOutstanding bounds the requests waiting for a reply.
	DefaultMaxOutstanding = 64
	// DefaultSize is the echo data length, as ping(8) sends (56 bytes,
	// 64 with the ICMP header).
	DefaultSize = 56
)

// cookieLen is the random cookie at the start of the echo data.
const cookieLen = 8

// Options configure a Pinger; the zero value gives the defaults.
type Options struct {
	// MaxOutstanding bounds the requests waiting for a reply at once;
	// 0 means DefaultMaxOutstanding. Beyond it Ping fails with
	// ErrTooManyOutstanding.
	MaxOutstanding int
	// Size is the echo data length in bytes, at least 8 (the cookie);
	// 0 means DefaultSize.
	Size int
}

// Errors of Ping.
var (
	// ErrTooManyOutstanding: MaxOutstanding requests already wait.
	ErrTooManyOutstanding = errors.New("ping: too many requests waiting for a reply (raise Options.MaxOutstanding)")
	// ErrNoIP: the stack has no IP layer of the address's family.
	ErrNoIP = errors.New("ping: the stack has no IP layer for this address family (register ipv4 or ipv6)")
	// ErrClosed: the Pinger was closed.
	ErrClosed = errors.New("ping: closed")
)

// key identifies a waiting request.
type key struct {
	dst netip.Addr
	seq uint16
}

// waiter is one request waiting for its reply.
type waiter struct {
	sent  time.Time
	reply chan time.Time // capacity 1: when the reply arrived
}

// Pinger sends echo requests and matches replies. Its methods are safe
// for concurrent use.
type Pinger struct {
	s      *stack.Stack
	opts   Options
	id     uint16
	cookie [cookieLen]byte
	seq    atomic.Uint32

	mu      sync.Mutex
	waiting map[key]*waiter
	closed  bool

	ctrSent, ctrReplies, ctrUnmatched *stack.Counter
}

var (
	_ ipv4.EchoReplyHandler = (*Pinger)(nil)
	_ stack.ICMPv6Handler   = (*Pinger)(nil)
)

// installMu serialises Of.
var installMu sync.Mutex

// Of returns the Pinger installed on s, installing one with the default
// options if there is none.
func Of(s *stack.Stack) (*Pinger, error) {
	installMu.Lock()
	defer installMu.Unlock()
	if p, ok := installed(s); ok {
		return p, nil
	}
	return New(s, Options{})
}

// installed returns the Pinger that receives s's echo replies, if any.
func installed(s *stack.Stack) (*Pinger, bool) {
	if pr, ok := s.NetworkProtocol(stack.EtherTypeIPv4).(*ipv4.Protocol); ok {
		p, ok := pr.EchoReplyHandler().(*Pinger)
		return p, ok
	}
	p, ok := s.ICMPv6Handler(ipv6.ICMPEchoReply).(*Pinger)
	return p, ok
}

// New makes a Pinger and makes it the receiver of s's echo replies (IPv4
// through ipv4.Protocol.SetEchoReplyHandler, IPv6 through
// Stack.SetICMPv6Handler for type 129), replacing any earlier one.
// Register ipv4 and ipv6 first.
func New(s *stack.Stack, opts Options) (*Pinger, error) {
	if opts.MaxOutstanding <= 0 {
		opts.MaxOutstanding = DefaultMaxOutstanding
	}
	if opts.Size == 0 {
		opts.Size = DefaultSize
	}
	if opts.Size < cookieLen || opts.Size > 1400 {
		return nil, fmt.Errorf("ping: Size %d out of range (8 to 1400 bytes)", opts.Size)
	}
	c := s.Counters()
	p := &Pinger{
		s:            s,
		opts:         opts,
		waiting:      make(map[key]*waiter),
		ctrSent:      c.Get("ping.tx.requests"),
		ctrReplies:   c.Get("ping.rx.replies"),
		ctrUnmatched: c.Get("ping.rx.unmatched"),
	}
	var b [2 + cookieLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	p.id = binary.BigEndian.Uint16(b[:])
	copy(p.cookie[:], b[2:])
	pr4, ok4 := s.NetworkProtocol(stack.EtherTypeIPv4).(*ipv4.Protocol)
	_, ok6 := s.NetworkProtocol(stack.EtherTypeIPv6).(*ipv6.Protocol)
	if !ok4 && !ok6 {
		return nil, ErrNoIP
	}
	if ok4 {
		pr4.SetEchoReplyHandler(p)
	}
	if ok6 {
		s.SetICMPv6Handler(ipv6.ICMPEchoReply, p)
	}
	return p, nil
}

// Close makes waiting and later Pings fail with ErrClosed. Replies are
// then counted as unmatched.
func (p *Pinger) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for k, w := range p.waiting {
		close(w.reply)
		delete(p.waiting, k)
	}
	return nil
}

// Ping sends one echo request to dst (IPv4 or IPv6) and waits for its
// reply, returning the round-trip time on the stack's clock. ctx bounds
// the wait: without a reply Ping returns ctx's error.
func (p *Pinger) Ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	dst = dst.Unmap()
	if !dst.IsValid() || dst.IsUnspecified() || dst.IsMulticast() {
		return 0, fmt.Errorf("ping %v: not a unicast address", dst)
	}
	r, err := p.s.FindRoute(dst, netip.Addr{})
	if err != nil {
		return 0, fmt.Errorf("ping %v: %w", dst, err)
	}
	if r.Broadcast {
		return 0, fmt.Errorf("ping %v: a broadcast address", dst)
	}
	k := key{dst.WithZone(""), uint16(p.seq.Add(1))}
	w := &waiter{reply: make(chan time.Time, 1)}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return 0, ErrClosed
	case len(p.waiting) >= p.opts.MaxOutstanding:
		p.mu.Unlock()
		return 0, ErrTooManyOutstanding
	}
	p.waiting[k] = w
	w.sent = p.s.Clock().Now()
	p.mu.Unlock()
	defer p.forget(k, w)
	if err := p.send(&r, k.seq); err != nil {
		return 0, fmt.Errorf("ping %v: %w", dst, err)
	}
	select {
	case at, ok := <-w.reply:
		if !ok {
			return 0, ErrClosed
		}
		return at.Sub(w.sent), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("ping %v: no reply: %w", dst, ctx.Err())
	}
}

// forget removes k's waiter if it is still w.
func (p *Pinger) forget(k key, w *waiter) {
	p.mu.Lock()
	if p.waiting[k] == w {
		delete(p.waiting, k)
	}
	p.mu.Unlock()
}

// send builds and sends the echo request with sequence number seq along r.
func (p *Pinger) send(r *stack.Route, seq uint16) error {
	n := 8 + p.opts.Size
	pkt := stack.NewPacket(stack.Headroom, n)
	b := pkt.Bytes()
	copy(b[8:], p.cookie[:])
	for i := 8 + cookieLen; i < n; i++ {
		b[i] = byte(i) // ping(8)'s pattern after its timestamp
	}
	proto := stack.ProtocolICMP
	if r.RemoteAddr.Is4() {
		f := ipv4.ICMPFields{Type: ipv4.ICMPEcho, Rest: ipv4.EchoRest(p.id, seq)}
		f.Encode(b)
	} else {
		proto = stack.ProtocolICMPv6
		f := ipv6.ICMPFields{Type: ipv6.ICMPEchoRequest, Rest: ipv6.EchoRest(p.id, seq)}
		f.Encode(b, r.LocalAddr, r.RemoteAddr)
	}
	// Counted before it leaves: a reply on a synchronous wire comes back
	// (and a caller may read the counter) before WritePacket returns.
	p.ctrSent.Inc()
	return r.WritePacket(stack.NetworkParams{Protocol: proto}, pkt)
}

// HandleEchoReply takes an IPv4 echo reply (data at the ICMP header,
// checksum verified); it implements ipv4.EchoReplyHandler and takes
// ownership of pkt.
func (p *Pinger) HandleEchoReply(pkt *stack.Packet) { p.handle(pkt) }

// HandleICMPv6 takes an ICMPv6 echo reply (data at the ICMPv6 header,
// checksum verified); it implements stack.ICMPv6Handler and takes
// ownership of pkt.
func (p *Pinger) HandleICMPv6(pkt *stack.Packet) { p.handle(pkt) }

// handle matches a reply: identifier, then source and sequence number,
// then the cookie.
func (p *Pinger) handle(pkt *stack.Packet) {
	defer pkt.Release()
	b := pkt.Bytes()
	if len(b) < 8+cookieLen || binary.BigEndian.Uint16(b[4:]) != p.id || string(b[8:8+cookieLen]) != string(p.cookie[:]) {
		p.ctrUnmatched.Inc()
		return
	}
	k := key{pkt.Src.WithZone(""), binary.BigEndian.Uint16(b[6:])}
	now := p.s.Clock().Now()
	p.mu.Lock()
	w := p.waiting[k]
	if w != nil {
		delete(p.waiting, k)
		p.ctrReplies.Inc() // counted before Ping returns with it
		w.reply <- now
	}
	p.mu.Unlock()
	if w == nil {
		p.ctrUnmatched.Inc()
		return
	}
}
