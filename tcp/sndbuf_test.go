package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// establishedScaled is establishedWith with a peer that offers window
// scale 7, so its window (65535<<7, 8 MiB) is never the limit.
func establishedScaled(t testing.TB, cfg *config) *core {
	t.Helper()
	var cs stack.Counters
	c := new(core)
	c.init(cfg, newCounters(&cs), testISS, testMSS, 0)
	c.connect(t0)
	takeOut(c)
	c.handleSegment(t0.Add(10*time.Millisecond), &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 65535,
		opts: SegmentOptions{HasMSS: true, MSS: testMSS, HasWindowScale: true, WindowScale: 7}})
	if c.state != StateEstablished || c.sndShift != 7 {
		t.Fatalf("state %v, send shift %d after SYN-ACK", c.state, c.sndShift)
	}
	takeOut(c)
	return c
}

// bulkRound fills the send buffer from a writer with unlimited data,
// sends what the windows allow and has the peer acknowledge all of it at
// once; it returns the bytes that were in flight.
func bulkRound(c *core, now time.Time, chunk []byte) int {
	for c.write(now, chunk) > 0 {
	}
	flight := int(c.sndUna.Size(c.sndMax))
	c.out = c.out[:0]
	c.handleSegment(now, &segment{seq: c.rcvNxt, ack: c.sndMax, flags: FlagACK, wnd: 65535})
	c.out = c.out[:0]
	return flight
}

// TestSendBufferAutoTuning checks the rules of send-buffer auto-tuning
// (Linux tcp_sndbuf_expand, tcp_should_expand_sndbuf and
// sk_stream_moderate_sndbuf; see sndbuf.go) on a bulk sender whose peer
// acknowledges each flight at once.
func TestSendBufferAutoTuning(t *testing.T) {
	const initial, maxBuf = 16 << 10, 64 << 10
	tests := []struct {
		name     string
		opts     Options
		lock     bool // SetWriteBuffer
		pressure bool // the budget is under pressure throughout
		want     int  // snd.max at the end
	}{
		{name: "grows to twice the window, up to MaxSendBuffer", opts: Options{SendBufferSize: initial, MaxSendBuffer: maxBuf}, want: maxBuf},
		{name: "set by the application (SO_SNDBUF) stays", opts: Options{SendBufferSize: initial, MaxSendBuffer: maxBuf}, lock: true, want: initial},
		{name: "no growth under memory pressure", opts: Options{SendBufferSize: initial, MaxSendBuffer: maxBuf, MemoryLimit: 64 << 20, MemoryPressure: 1 << 20}, pressure: true, want: initial},
		{name: "MaxSendBuffer at the initial size turns it off", opts: Options{SendBufferSize: initial, MaxSendBuffer: initial}, want: initial},
		{name: "default maximum is 4 MiB", opts: Options{SendBufferSize: initial}, want: 4 << 20},
	}
	chunk := make([]byte, 64<<10)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.TimeWait, tt.opts.CongestionControl = time.Minute, "reno"
			cfg := tt.opts.config()
			if tt.pressure {
				cfg.mem.add(2 << 20)
				defer cfg.mem.add(-2 << 20)
				if !cfg.mem.underPressure() {
					t.Fatal("budget not under pressure")
				}
			}
			c := establishedScaled(t, &cfg)
			c.sndLocked = tt.lock
			now := t0.Add(20 * time.Millisecond)
			for round := range 20 {
				before := c.snd.max
				flight := bulkRound(c, now, chunk)
				if c.snd.max > before {
					// It grew: it was the limit (the flight filled it,
					// not the window), and to two windows at most.
					if flight > before || c.snd.max > max(2*c.cwnd, 20*c.mss) {
						t.Fatalf("round %d: buffer %d -> %d with %d in flight, cwnd %d", round, before, c.snd.max, flight, c.cwnd)
					}
				}
				now = now.Add(20 * time.Millisecond)
			}
			if c.snd.max != tt.want {
				t.Errorf("send buffer %d after 20 rounds (cwnd %d), want %d", c.snd.max, c.cwnd, tt.want)
			}
			if got := c.ctr.sndBufGrown.Load() > 0; got != (tt.want > initial) {
				t.Errorf("tcp.sndbuf.autotuned = %d", c.ctr.sndBufGrown.Load())
			}
		})
	}
}

// TestSendBufferModerated is sk_stream_moderate_sndbuf: under memory
// pressure a grown send buffer falls to half what it holds (not below
// the configured size) and the ring moves into a smaller buffer once the
// contents fit, giving the memory back to the budget.
func TestSendBufferModerated(t *testing.T) {
	cfg := Options{TimeWait: time.Minute, CongestionControl: "reno", SendBufferSize: 16 << 10, MaxSendBuffer: 1 << 20,
		MemoryLimit: 64 << 20, MemoryPressure: 8 << 20}.config()
	c := establishedScaled(t, &cfg)
	chunk := make([]byte, 64<<10)
	now := t0.Add(20 * time.Millisecond)
	for range 20 {
		bulkRound(c, now, chunk)
		now = now.Add(20 * time.Millisecond)
	}
	if c.snd.max != 1<<20 {
		t.Fatalf("send buffer %d, want grown to 1 MiB", c.snd.max)
	}
	for c.write(now, chunk) > 0 {
	}
	queued, alloc := c.snd.n, c.snd.alloc()
	cfg.mem.add(8 << 20) // another connection's memory brings pressure
	defer cfg.mem.add(-8 << 20)
	used := cfg.mem.inUse()
	// The peer acknowledges all but the last 10 KB in flight.
	c.out = c.out[:0]
	c.handleSegment(now, &segment{seq: c.rcvNxt, ack: c.sndMax.Sub(10000), flags: FlagACK, wnd: 65535})
	c.out = c.out[:0]
	if want := max(queued/2, 16<<10); c.snd.max > want {
		t.Errorf("send buffer %d under pressure with %d queued, want at most %d", c.snd.max, queued, want)
	}
	if c.ctr.sndBufModerated.Load() == 0 {
		t.Error("tcp.sndbuf.moderated not counted")
	}
	if c.snd.alloc() >= alloc || cfg.mem.inUse() >= used {
		t.Errorf("ring holds %d bytes of buffer (was %d), budget %d (was %d): want memory given back", c.snd.alloc(), alloc, cfg.mem.inUse(), used)
	}
	if c.write(now, chunk) != 0 && c.snd.n > c.snd.max {
		t.Errorf("write beyond the moderated limit: %d queued, limit %d", c.snd.n, c.snd.max)
	}
}

// TestCwndValidation is RFC 7661 as Linux has it (tcp_is_cwnd_limited):
// the congestion window grows only while the sender uses it, so an
// application that writes little does not build a window (and a send
// buffer) it never filled.
func TestCwndValidation(t *testing.T) {
	tests := []struct {
		name      string
		write     int // bytes written per round
		wantGrows bool
	}{
		{name: "application-limited: two segments per round", write: 2 * testMSS, wantGrows: false},
		{name: "half the window in flight still grows in slow start", write: 6 * testMSS, wantGrows: true},
		{name: "window-limited", write: 64 << 10, wantGrows: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := establishedScaled(t, testConfig())
			initial := c.cwnd
			now := t0.Add(20 * time.Millisecond)
			for range 5 {
				c.write(now, make([]byte, tt.write))
				c.out = c.out[:0]
				c.handleSegment(now, &segment{seq: c.rcvNxt, ack: c.sndMax, flags: FlagACK, wnd: 65535})
				c.out = c.out[:0]
				now = now.Add(20 * time.Millisecond)
			}
			if grew := c.cwnd > initial; grew != tt.wantGrows {
				t.Errorf("cwnd %d after 5 rounds from %d; want growth %v", c.cwnd, initial, tt.wantGrows)
			}
		})
	}
}

// TestWriterWokenWhenAThirdIsFree checks Linux's sk_stream_is_writeable
// rule (sk_stream_wspace >= sk_stream_min_wspace): a full send buffer
// raises evWritable only once the room freed is at least half what is
// still queued, not for every ACK that frees a segment's worth; an ACK of
// everything always does.
func TestWriterWokenWhenAThirdIsFree(t *testing.T) {
	cfg := testConfig()
	cfg.sndBuf, cfg.maxSndBuf = 30000, 30000 // no auto-tuning: the buffer stays 30,000
	c := establishedScaled(t, cfg)
	c.cwnd = 1 << 20
	for c.write(t0, make([]byte, 4096)) > 0 {
	}
	c.out = c.out[:0]
	full := c.snd.n
	if full != c.snd.max {
		t.Fatalf("buffer holds %d of %d after filling", full, c.snd.max)
	}
	c.takeEvents()
	una := c.sndUna
	for i, tc := range []struct {
		acked    int // bytes acknowledged by this ACK, cumulatively
		writable bool
	}{
		{1000, false}, // 1,000 free, 29,000 queued
		{5000, false}, // 5,000 free, 25,000 queued
		{9000, false}, // 9,000 free, 21,000 queued
		{10000, true}, // 10,000 free, 20,000 queued: a third
		{11000, true}, // still: a Write that waits is woken by each
		{full, true},  // all of it
	} {
		c.handleSegment(t0, &segment{seq: c.rcvNxt, ack: una.Add(seqnum.Size(tc.acked)), flags: FlagACK, wnd: 65535})
		c.out = c.out[:0]
		ev, _ := c.takeEvents()
		if got := ev&evWritable != 0; got != tc.writable {
			t.Errorf("ACK %d (%d of %d acknowledged): writable %v, want %v", i, tc.acked, full, got, tc.writable)
		}
	}
}
