package tcp

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// tB is when the rate-limit tests start sending, well after the
// handshakes of establishedCore and tsCore at t0.
var tB = t0.Add(time.Second)

// establishedOn is establishedCore for a connection of a stack whose
// connections share cfg (and so its global challenge-ACK cap) and ctr.
func establishedOn(t *testing.T, cfg *config, ctr *counters, iss seqnum.Value) *core {
	t.Helper()
	c := new(core)
	c.init(cfg, ctr, iss, testMSS, 0)
	c.connect(t0)
	takeOut(c)
	c.handleSegment(t0.Add(10*time.Millisecond), &segment{seq: peerISS, ack: iss + 1, flags: FlagSYN | FlagACK, wnd: 65535,
		opts: SegmentOptions{HasMSS: true, MSS: testMSS}})
	if c.state != StateEstablished {
		t.Fatalf("state %v after SYN-ACK", c.state)
	}
	takeOut(c)
	return c
}

// TestRFC5961ChallengeAckPerConnectionLimit is RFC 5961 section 7 done as
// Linux does it (tcp_send_challenge_ack, tcp_invalid_ratelimit): a burst
// of challenge-eliciting segments on one connection gets one challenge
// ACK per InvalidAckInterval (500ms), whatever kind they are, and none of
// them changes the connection.
func TestRFC5961ChallengeAckPerConnectionLimit(t *testing.T) {
	far := peerISS + 1 + 300000 // beyond the 64 KiB window
	tests := []struct {
		name string
		seg  func(i int) *segment
	}{
		{"in-window RST (section 3)", func(i int) *segment { return &segment{seq: peerISS + 2 + seqnum.Value(i), flags: FlagRST} }},
		{"in-window SYN (section 4)", func(i int) *segment { return &segment{seq: peerISS + 2 + seqnum.Value(i), flags: FlagSYN} }},
		{"SYN beyond the window", func(i int) *segment { return &segment{seq: far + seqnum.Value(i), flags: FlagSYN} }},
		{"ACK older than the peer's largest window (section 5)", func(i int) *segment { return data(peerISS+1, (testISS + 1).Sub(70000), "x") }},
		{"ACK of what was never sent (section 5.2)", func(i int) *segment { return ack(peerISS+1, testISS+9999+seqnum.Value(i)) }},
		{"a mix of all of them", func(i int) *segment {
			switch i % 4 {
			case 0:
				return &segment{seq: peerISS + 2 + seqnum.Value(i), flags: FlagRST}
			case 1:
				return &segment{seq: peerISS + 2 + seqnum.Value(i), flags: FlagSYN}
			case 2:
				return data(peerISS+1, (testISS + 1).Sub(70000), "x")
			}
			return ack(peerISS+1, testISS+9999)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := establishedCore(t)
			const burst = 50
			var out []outSeg
			for i := range burst { // 50 segments within 50ms
				c.handleSegment(tB.Add(time.Duration(i)*time.Millisecond), tt.seg(i))
				out = append(out, takeOut(c)...)
			}
			if len(out) != 1 || c.ctr.challengeAcks.Load() != 1 || c.ctr.challengeLimited.Load() != burst-1 {
				t.Fatalf("a burst of %d got %d ACKs (challenge ACKs %d, limited %d), want 1 (1, %d)",
					burst, len(out), c.ctr.challengeAcks.Load(), c.ctr.challengeLimited.Load(), burst-1)
			}
			wantSeg(t, out, 0, testISS+1, peerISS+1, FlagACK, 0)
			if c.state != StateEstablished || c.rcv.n != 0 || c.rcvNxt != peerISS+1 {
				t.Fatalf("the burst changed the connection: state %v, %d bytes received, rcvNxt %d", c.state, c.rcv.n, c.rcvNxt)
			}
			// Just inside the interval: still limited; at its end: one more.
			c.handleSegment(tB.Add(499*time.Millisecond), tt.seg(burst))
			if out := takeOut(c); len(out) != 0 {
				t.Fatalf("499ms after the challenge ACK: %+v", out)
			}
			c.handleSegment(tB.Add(500*time.Millisecond), tt.seg(burst+1))
			if out := takeOut(c); len(out) != 1 {
				t.Fatalf("500ms after the challenge ACK: %d segments, want 1", len(out))
			}
		})
	}
}

// TestChallengeAckNoCrossConnectionSideChannel is the property that
// defeats CVE-2016-5696: the challenge ACKs an attacker's own connection
// gets do not depend on how many challenge-eliciting segments other
// connections of the stack received in the same seconds (the attacker's
// spoofed guesses at a victim's window). With one stack-wide budget
// (1000/s) they did: the victim's challenge ACKs spent the attacker's.
func TestChallengeAckNoCrossConnectionSideChannel(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		victims    int // connections that receive spoofed in-window RSTs
		perTick    int // spoofed RSTs each victim receives per 10ms
		wantOwnAck int // challenge ACKs the attacker's connection gets in 3s
	}{
		{"default, one victim, 2000 guesses/s", Options{}, 1, 20, 6},
		{"default, 100 victims, 10000 guesses/s", Options{}, 100, 1, 6},
		{"global cap 1000, one victim, 2000 guesses/s", Options{ChallengeAckLimit: 1000}, 1, 20, 6},
		{"global cap 100, 20 victims, 2000 guesses/s", Options{ChallengeAckLimit: 100}, 20, 1, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// run plays 3 seconds: every 10ms the attacker asks its own
			// connection for a challenge ACK after spoofing guesses at
			// victims; it returns what the attacker's connection sent.
			run := func(victims int) int {
				var cs stack.Counters
				cfg := tt.opts.config()
				cfg.challenge = newChallengeCap(cfg.challengeMax, [16]byte{1, 2, 3})
				ctr := newCounters(&cs)
				own := establishedOn(t, &cfg, ctr, testISS)
				vs := make([]*core, victims)
				for i := range vs {
					vs[i] = establishedOn(t, &cfg, ctr, testISS+seqnum.Value(i+1)*100000)
				}
				got := 0
				for tick := range 300 {
					now := tB.Add(time.Duration(tick) * 10 * time.Millisecond)
					for _, v := range vs {
						for k := range tt.perTick {
							v.handleSegment(now, &segment{seq: peerISS + 2 + seqnum.Value(k), flags: FlagRST})
							takeOut(v)
						}
					}
					own.handleSegment(now, &segment{seq: peerISS + 2, flags: FlagRST})
					got += len(takeOut(own))
				}
				return got
			}
			alone, attacked := run(0), run(tt.victims)
			if alone != tt.wantOwnAck || attacked != alone {
				t.Fatalf("the attacker's connection got %d challenge ACKs alone and %d while %d victims received %d spoofed RSTs/s; want %d both times",
					alone, attacked, tt.victims, tt.victims*tt.perTick*100, tt.wantOwnAck)
			}
		})
	}
}

// TestLinuxInvalidAckRateLimit is Linux's tcp_oow_rate_limited
// (tcp_invalid_ratelimit): the ACKs a connection sends for pure ACKs and
// SYNs that fail the sequence number or PAWS test are limited to one per
// InvalidAckInterval; rejected segments with data or a FIN are always
// acknowledged.
func TestLinuxInvalidAckRateLimit(t *testing.T) {
	far := peerISS + 1 + 300000 // beyond the 64 KiB window
	pawsAck := &segment{seq: peerISS + 1, ack: testISS + 1, flags: FlagACK, wnd: 65535,
		opts: SegmentOptions{HasTimestamps: true, TSVal: peerTS - 1}}
	tests := []struct {
		name     string
		interval time.Duration // Options.InvalidAckInterval
		ts       bool          // on a connection with timestamps (PAWS)
		seg      *segment
		wantAcks int           // ACKs for a burst of 20 segments in 20ms
		after    time.Duration // when the next one is answered again (0: every one is)
	}{
		{"pure ACK beyond the window", 0, false, ack(far, testISS+1), 1, 500 * time.Millisecond},
		{"keepalive probe (a pure ACK before the window)", 0, false, ack(peerISS, testISS+1), 1, 500 * time.Millisecond},
		{"PAWS-rejected pure ACK", 0, true, pawsAck, 1, 500 * time.Millisecond},
		{"SYN beyond the window (a challenge ACK)", 0, false, &segment{seq: far, flags: FlagSYN}, 1, 500 * time.Millisecond},
		{"InvalidAckInterval 100ms", 100 * time.Millisecond, false, ack(far, testISS+1), 1, 100 * time.Millisecond},
		{"InvalidAckInterval 1.5ms rounds up to 2ms", 1500 * time.Microsecond, false, ack(far, testISS+1), 10, 2 * time.Millisecond},
		{"negative InvalidAckInterval: no limit", -1, false, ack(far, testISS+1), 20, 0},
		{"data beyond the window is always answered", 0, false, data(far, testISS+1, "x"), 20, 0},
		{"retransmitted old data is always answered (D-SACK)", 0, false, data(peerISS-2, testISS+1, "abc"), 20, 0},
		{"FIN beyond the window is always answered", 0, false, &segment{seq: far, ack: testISS + 1, flags: FlagACK | FlagFIN, wnd: 65535}, 20, 0},
		{"PAWS-rejected data is always answered", 0, true, tsData(peerISS+1, peerTS-1, "abc"), 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *core
			if tt.ts {
				c = tsCore(t)
			} else {
				c = establishedCore(t)
			}
			c.cfg.invalidAckMs = invalidAckMs(tt.interval)
			const burst = 20
			acks := 0
			for i := range burst {
				c.handleSegment(tB.Add(time.Duration(i)*time.Millisecond), tt.seg)
				out := takeOut(c)
				for _, o := range out {
					if o.flags != FlagACK || o.dataLen != 0 || o.ack != peerISS+1 {
						t.Fatalf("sent %+v, want a pure ACK of %d", o, peerISS+1)
					}
				}
				acks += len(out)
			}
			limited := c.ctr.invalidAckLimited.Load() + c.ctr.challengeLimited.Load()
			if acks != tt.wantAcks || limited != uint64(burst-acks) {
				t.Fatalf("a burst of %d got %d ACKs, %d counted as limited; want %d ACKs", burst, acks, limited, tt.wantAcks)
			}
			if c.state != StateEstablished || c.rcv.n != 0 || c.rcvNxt != peerISS+1 {
				t.Fatalf("state %v, %d bytes received, rcvNxt %d", c.state, c.rcv.n, c.rcvNxt)
			}
			if tt.after == 0 {
				return
			}
			// The last ACK went out at tB + k*after for the largest k that
			// fits in the burst; one more is due exactly after later.
			every := int(tt.after / time.Millisecond)
			last := tB.Add(time.Duration((burst-1)/every*every) * time.Millisecond)
			c.handleSegment(last.Add(tt.after-time.Millisecond), tt.seg)
			if out := takeOut(c); len(out) != 0 {
				t.Fatalf("%v after the last ACK: %+v", tt.after-time.Millisecond, out)
			}
			c.handleSegment(last.Add(tt.after), tt.seg)
			if out := takeOut(c); len(out) != 1 {
				t.Fatalf("%v after the last ACK: %d segments, want 1", tt.after, len(out))
			}
		})
	}
}

// TestLinuxSynRecvDuplicateSynRateLimit is Linux's tcp_check_req: in
// SYN_RECEIVED, a retransmitted SYN gets the SYN-ACK again, but a flood
// of copies gets one per InvalidAckInterval.
func TestLinuxSynRecvDuplicateSynRateLimit(t *testing.T) {
	c := newTestCore(t)
	syn := &segment{seq: peerISS, flags: FlagSYN, wnd: 29200, opts: SegmentOptions{HasMSS: true, MSS: 1460}}
	c.acceptSyn(t0, syn)
	takeOut(c)
	synAcks := 0
	for i := range 100 {
		c.handleSegment(tB.Add(time.Duration(i)*time.Millisecond), syn)
		synAcks += len(takeOut(c))
	}
	if synAcks != 1 || c.ctr.invalidAckLimited.Load() != 99 {
		t.Fatalf("100 copies of the SYN in 100ms got %d SYN-ACKs (%d limited), want 1", synAcks, c.ctr.invalidAckLimited.Load())
	}
	c.handleSegment(tB.Add(500*time.Millisecond), syn)
	wantSeg(t, takeOut(c), 0, testISS, peerISS+1, FlagSYN|FlagACK, 0)
	c.handleSegment(tB.Add(501*time.Millisecond), ack(peerISS+1, testISS+1))
	if c.state != StateEstablished {
		t.Fatalf("state %v after the handshake's ACK", c.state)
	}
}

// TestLinuxChallengeAckGlobalCapRandomised is the global cap of Linux 4.7
// to 5.19 (tcp_challenge_ack_limit after CVE-2016-5696): each second
// allows a budget drawn anew from [limit/2, 3*limit/2), so that counting
// one second's challenge ACKs says nothing about the next.
func TestLinuxChallengeAckGlobalCapRandomised(t *testing.T) {
	key := [16]byte{'k', 'e', 'y'}
	budgets := func(limit int, key [16]byte, seconds int) []int {
		g := newChallengeCap(limit, key)
		var got []int
		for s := range seconds {
			now := time.Unix(1_700_000_000+int64(s), 300_000_000)
			n := 0
			for g.allow(uint32(now.Unix())) {
				n++
				if n > 2*limit {
					t.Fatalf("second %d: over %d challenge ACKs", s, 2*limit)
				}
			}
			got = append(got, n)
		}
		return got
	}
	for _, limit := range []int{1, 2, 100, 1000} {
		got := budgets(limit, key, 50)
		distinct := map[int]bool{}
		for s, n := range got {
			if n < (limit+1)/2 || n >= (limit+1)/2+limit {
				t.Fatalf("limit %d, second %d: budget %d outside [%d, %d)", limit, s, n, (limit+1)/2, (limit+1)/2+limit)
			}
			distinct[n] = true
		}
		if want := min(limit, 30); len(distinct) < want {
			t.Errorf("limit %d: %d distinct budgets in 50 seconds, want at least %d: %v", limit, len(distinct), want, got)
		}
	}
	// The draw is a function of the key: reproducible with the same one
	// (a seeded simulation), different with another.
	a, b, other := budgets(1000, key, 10), budgets(1000, key, 10), budgets(1000, [16]byte{'o'}, 10)
	if !slices.Equal(a, b) || slices.Equal(a, other) {
		t.Errorf("budgets %v, again %v, with another key %v", a, b, other)
	}
	// Off (the default): no cap at all.
	if g := newChallengeCap(0, key); g != nil || !g.allow(uint32(tB.Unix())) {
		t.Errorf("ChallengeAckLimit 0 gives cap %+v", g)
	}
}

// TestChallengeAckGlobalCapConcurrent: the lock-free cap hands out exactly
// one second's budget to callers racing for it (run with -race).
func TestChallengeAckGlobalCapConcurrent(t *testing.T) {
	g := newChallengeCap(100000, [16]byte{9})
	now := time.Unix(1_700_000_000, 0)
	want := int(g.budget(uint32(now.Unix())))
	const callers, calls = 8, 40000 // 320,000 calls for a budget under 150,000
	var wg sync.WaitGroup
	start := make(chan struct{})
	got := make([]int, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range calls {
				if g.allow(uint32(now.Unix())) {
					got[i]++
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	total := 0
	for _, n := range got {
		total += n
	}
	if total != want {
		t.Fatalf("%d racing callers got %d challenge ACKs, the second's budget is %d", callers, total, want)
	}
}

// TestChallengeAckLimitOptions: Register builds the global cap only when
// ChallengeAckLimit asks for one, keyed from Options.Rand.
func TestChallengeAckLimitOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantCap bool
		wantMs  uint32
	}{
		{"default", Options{}, false, 500},
		{"negative limit", Options{ChallengeAckLimit: -1}, false, 500},
		{"limit 1000", Options{ChallengeAckLimit: 1000}, true, 500},
		{"interval 1s", Options{InvalidAckInterval: time.Second}, false, 1000},
		{"interval off", Options{InvalidAckInterval: -1}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Rand = bytes.NewReader(bytes.Repeat([]byte{7}, 256))
			p, err := Register(stack.New(stack.Options{}), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if (p.cfg.challenge != nil) != tt.wantCap || p.cfg.invalidAckMs != tt.wantMs {
				t.Fatalf("cap %v, interval %dms; want cap %v, %dms", p.cfg.challenge != nil, p.cfg.invalidAckMs, tt.wantCap, tt.wantMs)
			}
			if tt.wantCap && p.cfg.challenge.key != p.secret {
				t.Error("the cap is not keyed from the protocol's secret")
			}
		})
	}
}

// TestChallengeAckAllocationFree: answering (or not) a rejected segment
// allocates nothing, with and without the global cap.
func TestChallengeAckAllocationFree(t *testing.T) {
	for _, limit := range []int{0, 1000} {
		c := establishedCore(t)
		c.cfg.challenge = newChallengeCap(limit, [16]byte{})
		rst := &segment{seq: peerISS + 2, flags: FlagRST}
		oow := ack(peerISS+1+300000, testISS+1)
		now := tB
		if n := testing.AllocsPerRun(1000, func() {
			now = now.Add(time.Second) // a new second: the cap draws a budget
			c.handleSegment(now, rst)
			c.handleSegment(now, oow)
			c.out = c.out[:0]
		}); n != 0 {
			t.Errorf("limit %d: %v allocations per rejected segment pair", limit, n)
		}
	}
}
