package tcp

import (
	"crypto/sha256"
	"encoding/binary"
	"sync/atomic"
	"time"
)

// Rate limits on the ACKs a connection sends in answer to segments it
// rejects: RFC 5961 challenge ACKs and the duplicate ACKs of RFC 9293 for
// unacceptable segments, as Linux does them (tcp_invalid_ratelimit,
// tcp_challenge_ack_limit).
//
// CVE-2016-5696 is why they are per connection. With one stack-wide
// budget of challenge ACKs per second, an off-path attacker keeps its own
// connection to the host asking for challenge ACKs while it sends spoofed
// RSTs or data for a victim's connection: each spoofed segment that falls
// in the victim's window spends one unit of the shared budget, so the
// attacker's own connection gets one challenge ACK fewer that second. The
// count it receives tells it whether its guess hit, and it narrows the
// sequence (and then acknowledgment) numbers down in seconds.
//
// So the limit that applies to every such ACK is the connection's own:
// at most one per InvalidAckInterval, remembered in one 32-bit field of
// the connection. What an attacker can observe on its connection then
// depends only on what it sent on that connection. The optional global
// cap (ChallengeAckLimit) is drawn anew each second at random, as Linux
// 4.7 to 5.19 did, so that one second's count says nothing about another
// connection; it is off by default, as on Linux since 6.0.

// oowClock is the clock of the per-connection limit: the TSval clock's
// milliseconds (config.tsClock: monotonic, from the protocol's base),
// modulo 2^32 as Linux's jiffies, never 0. (It was the wall clock, where
// a step only let the next ACK through early; now the limit runs on the
// protocol's one clock like the rest.)
func (cfg *config) oowClock(now time.Time) uint32 {
	if t := cfg.tsClock(now); t != 0 {
		return t
	}
	return 1 // 0 means "none sent yet"
}

// oowLimited is Linux's __tcp_oow_rate_limited: it reports whether the
// connection sent an invalid-segment ACK less than InvalidAckInterval ago;
// if not, it records now as the time of the one about to be sent.
func (c *core) oowLimited(now time.Time) bool {
	return oowLimitedAt(&c.lastOOWAck, c.cfg.invalidAckMs, c.cfg.oowClock(now))
}

// oowLimitedAt is oowLimited with the time of the last such ACK in *last
// (a connection's, or a TIME_WAIT record's), the interval iv in ms and
// the time t on config.oowClock.
func oowLimitedAt(last *uint32, iv uint32, t uint32) bool {
	if iv == 0 {
		return false
	}
	if l := *last; l != 0 {
		if d := int32(t - l); d >= 0 && uint32(d) < iv {
			return true
		}
	}
	*last = t
	return false
}

// oowAckAllowed is Linux's tcp_oow_rate_limited, negated: may the
// connection answer rejected segment seg with an ACK now? Segments that
// carry data or a FIN (and no SYN) are always answered: they are not part
// of an ACK loop, and their sender needs the (D-SACK) ACK to stop
// retransmitting (a zero-window probe with data is one of them). Pure
// ACKs and SYNs are limited.
func (c *core) oowAckAllowed(now time.Time, seg *segment) bool {
	if seg.seqLen() > 0 && !seg.has(FlagSYN) {
		return true
	}
	if c.oowLimited(now) {
		c.ctr.invalidAckLimited.Inc()
		return false
	}
	return true
}

// ackInvalid answers a segment that failed the PAWS or the sequence
// number test (and has no RST): a SYN gets a challenge ACK (RFC 5961
// section 4, as Linux), anything else a duplicate ACK within the
// per-connection limit.
func (c *core) ackInvalid(now time.Time, seg *segment) {
	if seg.has(FlagSYN) {
		c.challengeAck(now)
		return
	}
	if c.oowAckAllowed(now, seg) {
		c.ackNow = true
		c.output(now)
	}
}

// challengeAck answers a suspicious segment with an ACK (RFC 5961):
// first within the connection's own limit, then within the global cap
// if one is configured (Linux tcp_send_challenge_ack).
func (c *core) challengeAck(now time.Time) {
	if c.oowLimited(now) {
		c.ctr.challengeLimited.Inc()
		return
	}
	if !c.cfg.challenge.allow(c.cfg.seconds(now)) {
		c.ctr.challengeCapped.Inc()
		return
	}
	c.ctr.challengeAcks.Inc()
	c.ackNow = true
	c.output(now)
}

// maxChallengeAckLimit bounds ChallengeAckLimit so that a second's budget
// (up to 3/2 of it) fits the limiter's 32 bits.
const maxChallengeAckLimit = 1 << 30

// challengeCap is the optional stack-wide cap on challenge ACKs per
// second. Each second's budget is drawn from [ceil(limit/2),
// ceil(limit/2)+limit) by a keyed hash of the second, so it is
// unpredictable without the key, the same for every caller in that
// second, and reproducible in a simulation that seeds Options.Rand. It
// is lock-free and allocation-free; a nil *challengeCap allows everything.
type challengeCap struct {
	limit uint32
	key   [16]byte
	// state is the current second (high 32 bits) and one more than the
	// challenge ACKs left in it (low 32 bits); 0 before the first one.
	state atomic.Uint64
}

// newChallengeCap returns the cap for limit challenge ACKs per second on
// average, or nil if limit is not positive.
func newChallengeCap(limit int, key [16]byte) *challengeCap {
	if limit <= 0 {
		return nil
	}
	return &challengeCap{limit: uint32(min(limit, maxChallengeAckLimit)), key: key}
}

// budget is the number of challenge ACKs second sec allows.
func (g *challengeCap) budget(sec uint32) uint32 {
	var b [16 + 4 + 9]byte
	copy(b[:16], g.key[:])
	binary.BigEndian.PutUint32(b[16:], sec)
	copy(b[20:], "challenge") // apart from the ISN hash, which is 28 bytes
	h := sha256.Sum256(b[:])
	half := (g.limit + 1) / 2
	return half + uint32(binary.BigEndian.Uint64(h[:])%uint64(g.limit))
}

// allow takes one challenge ACK from the budget of second sec (on
// config.seconds: a wall clock step neither replays a second's budget
// nor skips ahead).
func (g *challengeCap) allow(sec uint32) bool {
	if g == nil {
		return true
	}
	var fresh uint32 // the budget of sec plus one, computed at most once
	for {
		s := g.state.Load()
		left := uint32(s) // one more than what is left
		if s == 0 || uint32(s>>32) != sec {
			if fresh == 0 {
				fresh = g.budget(sec) + 1
			}
			left = fresh
		}
		if left <= 1 {
			return false
		}
		if g.state.CompareAndSwap(s, uint64(sec)<<32|uint64(left-1)) {
			return true
		}
	}
}

// invalidAckMs converts Options.InvalidAckInterval: 0 gives the default
// (500ms, Linux's), negative no limit (0), anything else whole
// milliseconds, rounded up.
func invalidAckMs(d time.Duration) uint32 {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return 500
	}
	return uint32(min((d+time.Millisecond-1)/time.Millisecond, 1<<31-1))
}
