package web

import (
	"net/netip"
	"sync"
	"time"

	"github.com/tapstack/tapstack/tcp"
)

// The sampler keeps, for the time-sequence graphs, a short history of
// every TCP connection's sequence space. It runs only while someone polls
// the page (Poke): a goroutine reads tcp.Protocol.ConnDetails every
// interval, and ends, dropping the histories, idle after the last poll.
// Nothing is added to the packet path. Memory is bounded: at most
// maxConns connections with at most maxSamples samples each, recorded only
// when something changed.

// Sample flags.
const (
	flagRetrans  = 1 << iota // SND.NXT behind SND.MAX: go-back-N after a timeout
	flagRecovery             // fast recovery
	flagBackoff              // a timeout backed the RTO off
)

// sample is one point of a connection's history; sequence numbers are
// relative to ISS+1 (ours) and IRS+1 (the peer's), unwrapped to 64 bits.
type sample struct {
	at                     time.Time
	una, nxt, max, wndEdge int64
	rcvNxt, rcvAdv         int64
	cwnd                   int32
	flags                  uint8
	nsack                  uint8
	// sack are the SACK blocks as offsets from una.
	sack [4][2]int32
}

// unwrap extends 32-bit relative sequence numbers to 64 bits.
type unwrap struct {
	prev uint32
	v    int64
	ok   bool
}

func (u *unwrap) at(x uint32) int64 {
	if !u.ok {
		u.prev, u.v, u.ok = x, int64(int32(x)), true
		return u.v
	}
	u.v += int64(int32(x - u.prev))
	u.prev = x
	return u.v
}

// connKey identifies a connection in the sampler.
type connKey struct{ local, remote netip.AddrPort }

// history is one connection's ring of samples.
type history struct {
	ring                               []sample
	head, n                            int
	una, nxt, max, wnd, rcvNxt, rcvAdv unwrap
	retrans                            int  // retransmission episodes seen (flags turning on)
	seen                               bool // present in the last round
}

func (hs *history) last() *sample {
	if hs.n == 0 {
		return nil
	}
	return &hs.ring[(hs.head+hs.n-1)%len(hs.ring)]
}

func (hs *history) push(s sample) {
	if hs.n < len(hs.ring) {
		hs.ring[(hs.head+hs.n)%len(hs.ring)] = s
		hs.n++
		return
	}
	hs.ring[hs.head] = s
	hs.head = (hs.head + 1) % len(hs.ring)
}

// same reports whether s shows what the last sample showed.
func same(a *sample, b *sample) bool {
	return a.una == b.una && a.nxt == b.nxt && a.max == b.max && a.wndEdge == b.wndEdge &&
		a.rcvNxt == b.rcvNxt && a.rcvAdv == b.rcvAdv && a.flags == b.flags && a.nsack == b.nsack && a.sack == b.sack
}

// sampler collects histories while the page is polled.
type sampler struct {
	// details reads the connections (tcp.Protocol.ConnDetails).
	details    func([]tcp.ConnDetail) []tcp.ConnDetail
	now        func() time.Time
	interval   time.Duration
	idle       time.Duration
	maxConns   int
	maxSamples int

	mu       sync.Mutex
	conns    map[connKey]*history
	untaken  int // connections not sampled in the last round (over maxConns)
	lastPoll time.Time
	running  bool
	closed   bool
	done     chan struct{} // closed when the running goroutine ends
	buf      []tcp.ConnDetail
}

func newSampler(details func([]tcp.ConnDetail) []tcp.ConnDetail, o Options) *sampler {
	return &sampler{details: details, now: time.Now, interval: o.SampleInterval, idle: o.SampleIdle,
		maxConns: o.MaxGraphConns, maxSamples: o.MaxGraphSamples, conns: map[connKey]*history{}}
}

// poke notes a poll and starts the goroutine when it is not running.
func (s *sampler) poke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.lastPoll = s.now()
	if s.running {
		return
	}
	s.running = true
	s.done = make(chan struct{})
	s.sampleLocked(s.now()) // the first answer has a point already
	go s.loop(s.done)
}

func (s *sampler) loop(done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for range t.C {
		s.mu.Lock()
		now := s.now()
		if s.closed || now.Sub(s.lastPoll) > s.idle {
			s.running = false
			clear(s.conns) // nobody looks: keep nothing
			s.mu.Unlock()
			return
		}
		s.sampleLocked(now)
		s.mu.Unlock()
	}
}

// sampleLocked takes one round of samples. s.mu is held.
func (s *sampler) sampleLocked(now time.Time) {
	s.buf = s.details(s.buf[:0])
	for _, hs := range s.conns {
		hs.seen = false
	}
	s.untaken = 0
	for i := range s.buf {
		d := &s.buf[i]
		id := connKey{d.Local, d.Remote}
		hs := s.conns[id]
		if hs == nil {
			if len(s.conns) >= s.maxConns {
				s.untaken++
				continue
			}
			hs = &history{ring: make([]sample, s.maxSamples)}
			s.conns[id] = hs
		}
		hs.seen = true
		hs.record(now, d)
	}
	for id, hs := range s.conns {
		if !hs.seen {
			delete(s.conns, id)
		}
	}
}

// record adds a sample of d when anything changed.
func (hs *history) record(now time.Time, d *tcp.ConnDetail) {
	base := d.ISS + 1
	sm := sample{
		at:      now,
		una:     hs.una.at(d.SndUna - base),
		nxt:     hs.nxt.at(d.SndNxt - base),
		max:     hs.max.at(d.SndMax - base),
		wndEdge: hs.wnd.at(d.SndUna + d.SndWnd - base),
		rcvNxt:  hs.rcvNxt.at(d.RcvNxt - d.IRS - 1),
		rcvAdv:  hs.rcvAdv.at(d.RcvAdvRight - d.IRS - 1),
		cwnd:    int32(min(d.Cwnd, 1<<30)),
	}
	if sm.nxt < sm.max {
		sm.flags |= flagRetrans
	}
	if d.InRecovery {
		sm.flags |= flagRecovery
	}
	if d.Retries > 0 {
		sm.flags |= flagBackoff
	}
	for _, b := range d.SACK[:d.NumSACK] {
		sm.sack[sm.nsack] = [2]int32{int32(b.Left - d.SndUna), int32(b.Right - d.SndUna)}
		sm.nsack++
	}
	l := hs.last()
	if l != nil && same(l, &sm) {
		return
	}
	if sm.flags != 0 && (l == nil || l.flags == 0) {
		hs.retrans++ // a new episode
	}
	hs.push(sm)
}

// Graph is a connection's time-sequence history for the page: Samples
// are [t_ms, snd_una, snd_nxt, snd_max, window_edge, rcv_nxt, rcv_adv,
// cwnd, flags, sack_left, sack_right...] with t in milliseconds since
// Start and sequence numbers relative to ISS+1 / IRS+1. Flags: 1
// retransmitting (SND.NXT < SND.MAX), 2 fast recovery, 4 RTO backoff.
type Graph struct {
	Start   time.Time `json:"start"`
	Samples [][]int64 `json:"samples"`
	// Retrans counts the retransmission episodes seen while sampled.
	Retrans int `json:"retrans"`
}

// graphs returns the histories, each thinned to at most maxPoints points
// (the last always kept), and how many connections went unsampled.
func (s *sampler) graphs(maxPoints int) (map[string]*Graph, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*Graph, len(s.conns))
	for k, hs := range s.conns {
		if hs.n == 0 {
			continue
		}
		first := hs.ring[hs.head]
		g := &Graph{Start: first.at, Retrans: hs.retrans}
		step := max(1, (hs.n+maxPoints-1)/maxPoints)
		g.Samples = make([][]int64, 0, hs.n/step+2)
		backing := make([]int64, 0, (hs.n/step+2)*9) // grows when SACK blocks add columns
		add := func(sm *sample) {
			start := len(backing)
			backing = row(backing, sm, first.at)
			g.Samples = append(g.Samples, backing[start:len(backing):len(backing)])
		}
		for i := 0; i < hs.n; i += step {
			add(&hs.ring[(hs.head+i)%len(hs.ring)])
		}
		if (hs.n-1)%step != 0 {
			add(hs.last())
		}
		out[connID(k.local, k.remote)] = g
	}
	return out, s.untaken
}

// row appends the columns of sm to r.
func row(r []int64, sm *sample, start time.Time) []int64 {
	r = append(r, sm.at.Sub(start).Milliseconds(), sm.una, sm.nxt, sm.max, sm.wndEdge, sm.rcvNxt, sm.rcvAdv, int64(sm.cwnd), int64(sm.flags))
	for _, b := range sm.sack[:sm.nsack] {
		r = append(r, sm.una+int64(b[0]), sm.una+int64(b[1]))
	}
	return r
}

// retransSeen is the retransmission count of connection id (0 when not
// sampled).
func (s *sampler) retransSeen(local, remote netip.AddrPort) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hs := s.conns[connKey{local, remote}]; hs != nil {
		return hs.retrans
	}
	return 0
}

// isRunning reports whether the goroutine runs.
func (s *sampler) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// close stops the goroutine and waits for it.
func (s *sampler) close() {
	s.mu.Lock()
	s.closed = true
	done := s.done
	running := s.running
	s.mu.Unlock()
	if running {
		<-done
	}
}
