package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// peerTS is the peer's TSval in the SYN-ACK of tsCore.
const peerTS = 7000

// tsCore is an established core (active open) that negotiated timestamps
// and SACK with a peer whose SYN-ACK carried TSval peerTS.
func tsCore(t testing.TB) *core {
	t.Helper()
	c := newTestCore(t)
	c.connect(t0)
	syn := takeOut(c)
	if !syn[0].ts || syn[0].tsVal != c.tsNow(t0) || syn[0].tsEcr != 0 || !c.sackOffer {
		t.Fatalf("SYN does not offer timestamps and SACK: %+v", syn[0])
	}
	c.handleSegment(t0.Add(10*time.Millisecond), &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 65535,
		opts: SegmentOptions{HasMSS: true, MSS: testMSS, HasTimestamps: true, TSVal: peerTS, TSEcr: syn[0].tsVal, SACKPermitted: true}})
	if c.state != StateEstablished || !c.tsOn || !c.sackOn {
		t.Fatalf("state %v ts %v sack %v", c.state, c.tsOn, c.sackOn)
	}
	takeOut(c)
	return c
}

func tsData(seq seqnum.Value, tsVal uint32, p string) *segment {
	s := data(seq, testISS+1, p)
	s.opts = SegmentOptions{HasTimestamps: true, TSVal: tsVal}
	return s
}

func TestTimestampNegotiation(t *testing.T) {
	tests := []struct {
		name      string
		peer      SegmentOptions
		wantTS    bool
		wantSACK  bool
		wantMSS   int
		wantShift uint8
	}{
		{"none", SegmentOptions{HasMSS: true, MSS: 1460}, false, false, testMSS, 0},
		{"timestamps", SegmentOptions{HasMSS: true, MSS: 1460, HasTimestamps: true, TSVal: 1}, true, false, testMSS - 12, 0},
		{"sack", SegmentOptions{HasMSS: true, MSS: 1460, SACKPermitted: true}, false, true, testMSS, 0},
		{"all", SegmentOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 1, HasWindowScale: true, WindowScale: 7}, true, true, testMSS - 12, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Active open.
			c := newTestCore(t)
			c.connect(t0)
			takeOut(c)
			syn := tt.peer
			c.handleSegment(t0, &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 1000, opts: syn})
			if c.tsOn != tt.wantTS || c.sackOn != tt.wantSACK || c.mss != tt.wantMSS || c.sndShift != tt.wantShift {
				t.Errorf("active: ts %v sack %v mss %d shift %d", c.tsOn, c.sackOn, c.mss, c.sndShift)
			}
			out := takeOut(c)
			if out[0].ts != tt.wantTS || (tt.wantTS && out[0].tsEcr != syn.TSVal) {
				t.Errorf("active: ACK of SYN-ACK carries ts %v ecr %d", out[0].ts, out[0].tsEcr)
			}
			// Passive open: the SYN-ACK answers exactly what was offered.
			p := newTestCore(t)
			p.acceptSyn(t0, &segment{seq: peerISS, flags: FlagSYN, wnd: 1000, opts: syn})
			sa := takeOut(p)[0]
			if sa.ts != tt.wantTS || p.sackOffer != tt.wantSACK || (tt.wantTS && sa.tsEcr != syn.TSVal) {
				t.Errorf("passive: SYN-ACK ts %v ecr %d sack %v", sa.ts, sa.tsEcr, p.sackOffer)
			}
		})
	}
}

func TestTimestampsDisabled(t *testing.T) {
	cfg := testConfig()
	cfg.timestamps, cfg.sack = false, false
	c := new(core)
	c.init(cfg, newTestCore(t).ctr, testISS, testMSS, 0)
	c.connect(t0)
	if o := takeOut(c)[0]; o.ts || c.sackOffer {
		t.Fatalf("SYN offers timestamps or SACK although disabled: %+v", o)
	}
}

// TestPAWS is RFC 7323 section 5.3: R1 rejects an older TSval (with an
// ACK), RST is exempt, a stale TS.Recent is not trusted, R3 updates
// TS.Recent only from segments at Last.ACK.sent.
func TestPAWS(t *testing.T) {
	base := peerISS + 1
	tests := []struct {
		name       string
		seg        *segment
		later      time.Duration
		wantRecent uint32
		wantData   int
		wantAck    bool
		wantPAWS   uint64
		wantState  State
	}{
		{"older TSval rejected", tsData(base, peerTS-1, "old"), 0, peerTS, 0, true, 1, StateEstablished},
		{"equal TSval accepted", tsData(base, peerTS, "abc"), 0, peerTS, 3, true, 0, StateEstablished},
		{"newer TSval accepted and recorded", tsData(base, peerTS+5, "abc"), 0, peerTS + 5, 3, true, 0, StateEstablished},
		{"wrapped newer TSval", tsData(base, peerTS+1<<31-1, "abc"), 0, peerTS + 1<<31 - 1, 3, true, 0, StateEstablished},
		{"no timestamp accepted (as Linux)", data(base, testISS+1, "abc"), 0, peerTS, 3, true, 0, StateEstablished},
		{"RST with old TSval still resets", &segment{seq: base, flags: FlagRST, opts: SegmentOptions{HasTimestamps: true, TSVal: 1}}, 0, peerTS, 0, false, 0, StateClosed},
		{"stale TS.Recent (25 days idle)", tsData(base, peerTS-1, "abc"), 25 * 24 * time.Hour, peerTS - 1, 3, true, 0, StateEstablished},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tsCore(t)
			c.handleSegment(t0.Add(tt.later), tt.seg)
			out := takeOut(c)
			if c.tsRecent != tt.wantRecent || c.rcv.n != tt.wantData || c.ctr.pawsRejected.Load() != tt.wantPAWS || c.state != tt.wantState {
				t.Fatalf("recent %d data %d paws %d state %v", c.tsRecent, c.rcv.n, c.ctr.pawsRejected.Load(), c.state)
			}
			if (len(out) > 0) != tt.wantAck {
				t.Fatalf("out %+v", out)
			}
			if tt.wantAck && (!out[0].ts || out[0].tsEcr != c.tsRecent) {
				t.Errorf("ACK echoes %d (ts %v), want TS.Recent %d", out[0].tsEcr, out[0].ts, c.tsRecent)
			}
		})
	}
}

// TestTSRecentOnlyAtLastAckSent: with ACKs delayed, a later segment's
// TSval must not replace the echo of the earliest unacknowledged one
// (RFC 7323 section 4.3 (2)).
func TestTSRecentOnlyAtLastAckSent(t *testing.T) {
	c := tsCore(t)
	c.quickAcks = 0
	base := peerISS + 1
	full := string(make([]byte, testMSS))
	c.rcvMSS = testMSS
	c.handleSegment(t0, tsData(base, peerTS+1, full)) // delayed: no ACK yet
	if out := takeOut(c); len(out) != 0 {
		t.Fatalf("first full segment ACKed at once: %+v", out)
	}
	if c.tsRecent != peerTS+1 {
		t.Fatalf("TS.Recent %d after in-sequence segment", c.tsRecent)
	}
	c.handleSegment(t0, tsData(base+testMSS, peerTS+2, full)) // seq > Last.ACK.sent
	out := takeOut(c)
	if len(out) != 1 || out[0].tsEcr != peerTS+1 {
		t.Fatalf("second segment: %+v, want one ACK echoing %d", out, peerTS+1)
	}
}

func TestTimestampRTT(t *testing.T) {
	c := tsCore(t)
	c.cfg.noTLP = true // the timeout, not a probe first
	c.rtt.init(time.Second)
	c.write(t0, []byte("abc"))
	sent := takeOut(c)[0]
	// Time out and retransmit: Karn forbids a timed sample, but the
	// echoed TSval identifies the transmission (RFC 7323 section 4).
	c.handleTimer(c.due(c.rtxAt))
	rtx := takeOut(c)[0]
	if rtx.tsVal == sent.tsVal {
		t.Fatal("retransmission reuses the TSval")
	}
	now := c.due(c.rtxAt).Add(-2 * time.Second).Add(300 * time.Millisecond) // 300ms after the retransmission
	c.handleSegment(now, &segment{seq: peerISS + 1, ack: testISS + 4, flags: FlagACK, wnd: 65535,
		opts: SegmentOptions{HasTimestamps: true, TSVal: peerTS + 1, TSEcr: rtx.tsVal}})
	if !c.rtt.hasSample() || c.rtt.srtt != 300*time.Millisecond {
		t.Fatalf("srtt %v (sample %v), want 300ms from the echo", c.rtt.srtt, c.rtt.hasSample())
	}
}
