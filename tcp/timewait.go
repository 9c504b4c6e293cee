package tcp

import (
	"math"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// TIME_WAIT as a compact record. A connection the application has closed
// has nothing left to do in TIME_WAIT but acknowledge a retransmitted FIN,
// answer stray segments and keep its tuple from a new connection for 2*MSL
// (RFC 9293 section 3.6.1); as Linux's tcp_timewait_sock it gives back its
// endpoint (some 1.5 KiB with its buffers' headers, timer and conditions)
// and lives on as a twConn of a few dozen bytes in the protocol's table.
// A server closing first (HTTP with Connection: close) otherwise held
// tens of thousands of endpoints for a minute: most of its resident set
// after bench.sh's new-connection rows. One timer serves all records: it
// sweeps the table when the next record is due (twExpire).

// maxTimeWait bounds the records (Linux's tcp_max_tw_buckets, whose
// default is 262,144 on a machine with a few GiB; some 36 MiB of records
// here, at BenchmarkTimeWaitHeap's 145 bytes or so each): a connection
// that ends with the table full closes at once, as
// on Linux, counted in tcp.timewait.overflow.
const maxTimeWait = 1 << 18

// twConn is a connection in TIME_WAIT that its application closed. The
// table holds it by value, 32 bytes beside its 38-byte key, and no queue
// besides: a server closing first holds its last minute's connections
// (55,000 after bench.sh's new-connection row), and a record with its
// own allocation and an entry in an expiry queue took 239 bytes of heap
// where this one takes about 145 (BenchmarkTimeWaitHeap).
type twConn struct {
	sndNxt, rcvNxt seqnum.Value
	at             int64  // when TIME_WAIT ends, in nanoseconds of config.nanos
	tsOffset       uint32 // our TSval clock's offset (timestamps.go)
	tsRecent       uint32
	lastOOWAck     uint32 // ms clock of the last invalid-segment ACK (ratelimit.go)
	wnd            uint16 // the window field we advertised last
	tsOn           bool
}

// twSlack is the part of TIME_WAIT by which a record may outlive it: the
// table's timer ends the records that are due and then waits for the
// next one's end, but at least this part of TIME_WAIT, so that a busy
// table is swept a bounded number of times per record (16) instead of
// once per record. A longer TIME_WAIT only protects the tuple longer.
const twSlack = 16

// twSweepChunk is how many records the sweep looks at between letting go
// of the protocol's lock (some 100 us of work).
const twSweepChunk = 4096

// timeWaitTable is the protocol's TIME_WAIT records, guarded by
// Protocol.mu.
type timeWaitTable struct {
	max   int // maxTimeWait; tests lower it
	m     map[connKey]twConn
	peak  int   // the most records m held since it was made
	next  int64 // when the timer fires (config.nanos), if armed
	timer stack.Timer
	armed bool
}

// timeWaitAdd moves e, in TIME_WAIT and closed by its application, into
// the table, or ends its TIME_WAIT at once when the table is full
// (overflow): it reports whether the endpoint is to be let go (false when
// the protocol is closing, which aborts it). e.mu is held.
func (p *Protocol) timeWaitAdd(e *endpoint, now time.Time) (letGo, overflow bool) {
	c := &e.c
	left := c.cfg.timeWait
	if c.twAt != 0 {
		left = c.time(c.twAt).Sub(now)
	}
	end := now.Add(left) // kept as config.nanos: the time left from now
	rec := twConn{
		sndNxt: c.sndNxt, rcvNxt: c.rcvNxt, at: p.cfg.nanos(end),
		tsOffset: c.tsOffset, tsRecent: c.tsRecent, lastOOWAck: c.lastOOWAck,
		wnd: c.advertise(false), tsOn: c.tsOn,
	}
	k := e.id().key()
	p.mu.Lock()
	defer p.mu.Unlock()
	tw := &p.tw
	if p.closed || p.conns.get(k) != e {
		return false, false
	}
	if len(tw.m) >= tw.max {
		p.ctr.twOverflow.Inc()
		return true, true
	}
	if tw.m == nil {
		tw.m = make(map[connKey]twConn)
	}
	p.conns.remove(k, e)
	tw.m[k] = rec
	tw.peak = max(tw.peak, len(tw.m))
	p.ctr.twCompact.Inc()
	p.twArmLocked(now, rec.at)
	return true, false
}

// twArmLocked makes the table's timer fire at at (config.nanos), or
// earlier if it is armed for earlier. p.mu is held.
func (p *Protocol) twArmLocked(now time.Time, at int64) {
	tw := &p.tw
	if tw.armed && tw.next <= at {
		return
	}
	d := max(time.Duration(at-p.cfg.nanos(now)), 0)
	if tw.timer == nil {
		tw.timer = p.clock.AfterFunc(d, p.twExpire)
	} else {
		tw.timer.Reset(d)
	}
	tw.armed, tw.next = true, at
}

// twExpire ends the records whose TIME_WAIT is over and arms the timer
// for the next end, at least a twSlack-th of TIME_WAIT away.
func (p *Protocol) twExpire() {
	if !p.enterCB() {
		return
	}
	defer p.cbs.Done()
	now := p.clock.Now()
	var ended []connKey
	trace := p.s.Tracer() != nil
	p.mu.Lock()
	tw := &p.tw
	tw.armed = false
	next := int64(math.MaxInt64)
	n := 0
	for k, rec := range tw.m {
		if n++; n%twSweepChunk == 0 {
			// Let the demultiplexer in: a full table takes
			// milliseconds to sweep. A map may change while it is
			// ranged over; the records added meanwhile end later.
			p.mu.Unlock()
			p.mu.Lock()
			if p.closed {
				break
			}
		}
		if p.cfg.nanos(now) < rec.at {
			next = min(next, rec.at)
			continue
		}
		delete(tw.m, k)
		if trace {
			ended = append(ended, k)
		}
	}
	if p.closed {
		p.mu.Unlock()
		return
	}
	tw.shrinkLocked()
	if len(tw.m) > 0 {
		p.twArmLocked(now, max(next, p.cfg.nanos(now.Add(p.cfg.timeWait/twSlack))))
	}
	p.mu.Unlock()
	for _, k := range ended {
		t := k.tuple()
		p.s.TraceState("tcp", "connection", StateTimeWait.String(), StateClosed.String(), t.local, t.remote)
	}
}

// shrinkLocked gives back the memory of a map that held four times as
// many records as it has: a Go map keeps the room of its largest size.
func (tw *timeWaitTable) shrinkLocked() {
	if len(tw.m) > tw.peak/4 {
		return
	}
	if len(tw.m) == 0 {
		tw.m, tw.peak = nil, 0
		return
	}
	m := make(map[connKey]twConn, len(tw.m))
	for k, rec := range tw.m {
		m[k] = rec
	}
	tw.m, tw.peak = m, len(m)
}

// tuple returns the connection tuple k keys (without zones).
func (k connKey) tuple() tuple {
	l, r := netip.AddrFrom16(k.local), netip.AddrFrom16(k.remote)
	if k.v4 {
		l, r = l.Unmap(), r.Unmap()
	}
	return tuple{netip.AddrPortFrom(l, k.lport), netip.AddrPortFrom(r, k.rport)}
}

// timeWaitSegment handles seg for the TIME_WAIT record of t, if there is
// one, as RFC 9293 section 3.10.7.4 and Linux's tcp_timewait_state_process
// do; it reports false when there is none or when seg, a new SYN, ends it
// (RFC 6191): the listener then takes seg.
func (p *Protocol) timeWaitSegment(t tuple, k connKey, seg *segment) bool {
	now := p.clock.Now()
	p.mu.Lock()
	rec, ok := p.tw.m[k]
	if !ok {
		p.mu.Unlock()
		return false
	}
	ack, end := p.twHandle(&rec, now, seg)
	if end {
		delete(p.tw.m, k)
	} else {
		p.tw.m[k] = rec // its end or timestamps may have moved
	}
	var f Fields
	var opts SegmentOptions
	if ack {
		f = Fields{SrcPort: t.local.Port(), DstPort: t.remote.Port(), Seq: uint32(rec.sndNxt), Ack: uint32(rec.rcvNxt),
			Flags: FlagACK, Window: rec.wnd}
		if rec.tsOn {
			opts.HasTimestamps, opts.TSVal, opts.TSEcr = true, p.cfg.tsClock(now)+rec.tsOffset, rec.tsRecent
		}
	}
	p.mu.Unlock()
	if end {
		p.ctr.twEnded.Inc()
		if p.s.Tracer() != nil {
			p.s.TraceState("tcp", "connection", StateTimeWait.String(), StateClosed.String(), t.local, t.remote)
		}
		return !(seg.flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN)
	}
	if ack {
		p.sendBare(t, f, opts)
	}
	return true
}

// twHandle decides what a segment does to rec: ack says answer it with an
// ACK, end that the record ends. p.mu is held.
func (p *Protocol) twHandle(rec *twConn, now time.Time, seg *segment) (ack, end bool) {
	rst, syn := seg.has(FlagRST), seg.flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN
	hasTS := rec.tsOn && seg.opts.HasTimestamps
	// A SYN with a higher sequence number, or a newer timestamp, may
	// start a new connection on the tuple (RFC 6191).
	if syn && (seg.seq.GreaterThan(rec.rcvNxt) || hasTS && tsBefore(rec.tsRecent, seg.opts.TSVal)) {
		return false, true
	}
	// PAWS (RFC 7323 section 5.3).
	if !rst && hasTS && tsBefore(seg.opts.TSVal, rec.tsRecent) {
		p.ctr.pawsRejected.Inc()
		return p.twAckAllowed(rec, now, seg), false
	}
	if rst {
		// RFC 5961 section 3: an exact RST ends TIME_WAIT (as Linux,
		// without RFC 1337's protection); anything else is ignored, the
		// window being closed.
		return false, seg.seq == rec.rcvNxt
	}
	if seg.has(FlagFIN) && seg.seq.Add(seqnum.Size(len(seg.payload))).Add(1) == rec.rcvNxt {
		// The peer lost our last ACK: acknowledge again, TIME_WAIT
		// starts over.
		rec.at = p.cfg.nanos(now.Add(p.cfg.timeWait))
		if hasTS {
			rec.tsRecent = seg.opts.TSVal
		}
		return true, false
	}
	if seg.seqLen() == 0 && seg.seq == rec.rcvNxt {
		return false, false // a duplicate ACK: nothing to answer
	}
	p.ctr.outOfWindow.Inc()
	return p.twAckAllowed(rec, now, seg), false
}

// twAckAllowed is oowAckAllowed for a record.
func (p *Protocol) twAckAllowed(rec *twConn, now time.Time, seg *segment) bool {
	if seg.seqLen() > 0 && !seg.has(FlagSYN) {
		return true
	}
	if oowLimitedAt(&rec.lastOOWAck, p.cfg.invalidAckMs, p.cfg.oowClock(now)) {
		p.ctr.invalidAckLimited.Inc()
		return false
	}
	return true
}

// timeWaitSockets returns the records as Sockets rows. p.mu is held for
// reading.
func (p *Protocol) timeWaitSocketsLocked(now time.Time) []Socket {
	out := make([]Socket, 0, len(p.tw.m))
	for k, rec := range p.tw.m {
		t := k.tuple()
		out = append(out, Socket{
			ConnDetail: ConnDetail{ConnInfo: ConnInfo{Local: t.local, Remote: t.remote, State: StateTimeWait.String()}},
			Timer:      "timewait", TimerLeft: max(time.Duration(rec.at-p.cfg.nanos(now)), 0),
		})
	}
	return out
}

// twInUseLocked reports whether a TIME_WAIT record holds tuple k. p.mu is
// held.
func (p *Protocol) twInUseLocked(k connKey) bool {
	_, ok := p.tw.m[k]
	return ok
}

// twCloseLocked drops every record and stops the timer (Protocol.Close).
func (p *Protocol) twCloseLocked() {
	if p.tw.timer != nil {
		p.tw.timer.Stop()
	}
	p.tw = timeWaitTable{max: p.tw.max}
}
