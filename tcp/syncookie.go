package tcp

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// SYN cookies (RFC 4987 section 3.6): when a listener's SYN queue is full
// it answers a SYN without keeping state. Our ISN encodes everything
// needed to build the connection when the ACK comes back:
//
//	bits 31-27  a 64-second counter (5 low bits), which bounds the age
//	bits 26-24  index of the peer's MSS in cookieMSS
//	bits 23-0   keyed hash of the 4-tuple, the peer's ISN, counter, index
//
// Window scale and SACK-permitted do not fit; as on Linux they travel in
// the low 6 bits of our TSval, which the peer echoes, so a peer without
// timestamps gets a connection without them.

// cookieMSS are the MSS values a cookie can encode (Linux's table plus
// jumbo sizes).
var cookieMSS = [8]uint16{536, 1220, 1300, 1440, 1452, 1460, 4312, 8960}

// cookiePeriod is the tick of the cookie counter; cookies from the
// current and the previous tick are accepted (64 to 128 seconds).
const cookiePeriod = 64

// cookieTSBits are the low TSval bits carrying the options.
const (
	cookieTSMask  = 0x3f
	cookieNoWS    = 0xf
	cookieSACKBit = 0x10
)

func (p *Protocol) cookieHash(t tuple, peerISN seqnum.Value, count uint32, idx int) uint32 {
	var b [16 + 36 + 4 + 4 + 1]byte
	copy(b[:16], p.cookieSecret[:])
	n := 16 + putTuple(b[16:], t)
	binary.BigEndian.PutUint32(b[n:], uint32(peerISN))
	binary.BigEndian.PutUint32(b[n+4:], count)
	b[n+8] = byte(idx)
	h := sha256.Sum256(b[:n+9])
	return binary.BigEndian.Uint32(h[:]) & 0xffffff
}

// makeCookie returns the ISN for a SYN-ACK to a SYN with sequence number
// peerISN and MSS mss, and the MSS it encodes (rounded down to the table).
func (p *Protocol) makeCookie(t tuple, peerISN seqnum.Value, now time.Time, mss int) (seqnum.Value, int) {
	idx := 0
	for i, m := range cookieMSS {
		if int(m) <= mss {
			idx = i
		}
	}
	count := p.cfg.cookieCount(now)
	v := (count&0x1f)<<27 | uint32(idx)<<24 | p.cookieHash(t, peerISN, count, idx)
	return seqnum.Value(v), int(cookieMSS[idx])
}

// checkCookie verifies that cookie (the ACK's acknowledgment number minus
// one) was made by makeCookie for this tuple and peer ISN within the last
// two counter ticks, and returns the MSS it encodes.
func (p *Protocol) checkCookie(t tuple, cookie, peerISN seqnum.Value, now time.Time) (int, bool) {
	v := uint32(cookie)
	idx := int(v>>24) & 7
	now32 := p.cfg.cookieCount(now)
	for age := range uint32(2) {
		count := now32 - age
		if count&0x1f != v>>27 {
			continue
		}
		if p.cookieHash(t, peerISN, count, idx) == v&0xffffff {
			return int(cookieMSS[idx]), true
		}
	}
	return 0, false
}

// sendCookie answers seg, a SYN to listener l whose SYN queue is full,
// with a SYN-ACK carrying a cookie.
func (l *Listener) sendCookie(t tuple, seg *segment) {
	p := l.p
	r, err := p.s.FindRoute(t.remote.Addr(), t.local.Addr())
	if err != nil || r.Broadcast {
		return
	}
	now := p.clock.Now()
	ourMSS := routeMSS(r)
	peerMSS := defaultMSS4
	if t.remote.Addr().Is6() {
		peerMSS = defaultMSS6
	}
	if seg.opts.HasMSS && seg.opts.MSS > 0 {
		peerMSS = int(seg.opts.MSS)
	}
	iss, _ := p.makeCookie(t, seg.seq, now, min(peerMSS, ourMSS))
	var opts SegmentOptions
	opts.HasMSS, opts.MSS = true, uint16(min(ourMSS, 0xffff))
	if seg.opts.HasTimestamps && p.cfg.timestamps {
		_, tsOff := p.isn(t, now)
		enc := uint32(cookieNoWS)
		if seg.opts.HasWindowScale && p.cfg.windowScale {
			opts.HasWindowScale, opts.WindowScale = true, windowShiftFor(p.cfg.maxRcvBuf)
			enc = uint32(seg.opts.WindowScale)
		}
		if seg.opts.SACKPermitted && p.cfg.sack {
			opts.SACKPermitted = true
			enc |= cookieSACKBit
		}
		opts.HasTimestamps = true
		opts.TSVal = (p.cfg.tsClock(now)+tsOff)&^cookieTSMask | enc
		opts.TSEcr = seg.opts.TSVal
	}
	l.lastCookie.Store(p.cfg.nanos(now))
	p.ctr.synCookiesSent.Inc()
	f := Fields{SrcPort: t.local.Port(), DstPort: t.remote.Port(), Seq: uint32(iss), Ack: uint32(seg.seq.Add(1)),
		Flags: FlagSYN | FlagACK, Window: uint16(min(p.cfg.rcvBuf, 0xffff))}
	p.sendControl(r, f, &opts)
}

// cookieValid reports whether seg, an ACK to t, carries a cookie l sent
// (within the cookie's lifetime), without counting or accepting it.
func (l *Listener) cookieValid(t tuple, seg *segment, now time.Time) bool {
	p := l.p
	if !p.cfg.synCookies || l.isClosed() || p.cfg.nanos(now)-l.lastCookie.Load() > int64(2*cookiePeriod*time.Second) {
		return false
	}
	_, ok := p.checkCookie(t, seg.ack.Sub(1), seg.seq.Sub(1), now)
	return ok
}

// acceptCookie turns an ACK that carries a valid cookie into an
// established connection on l. It reports false when the cookie is not
// valid (the caller answers with RST).
func (l *Listener) acceptCookie(t tuple, seg *segment) bool {
	p := l.p
	now := p.clock.Now()
	if p.cfg.nanos(now)-l.lastCookie.Load() > int64(2*cookiePeriod*time.Second) {
		return false // no cookie sent recently: not worth hashing
	}
	peerMSS, ok := p.checkCookie(t, seg.ack.Sub(1), seg.seq.Sub(1), now)
	if !ok {
		p.ctr.synCookiesBad.Inc()
		return false
	}
	if len(l.acceptq) >= cap(l.acceptq) {
		p.ctr.listenOverflow.Inc()
		return true // drop; the peer retransmits
	}
	r, err := p.s.FindRoute(t.remote.Addr(), t.local.Addr())
	if err != nil || r.Broadcast {
		return true
	}
	p.ctr.synCookiesOK.Inc()
	_, tsOff := p.isn(t, now)
	e := newEndpointISS(p, t, r, seg.ack.Sub(1), tsOff)
	e.listener = l
	e.mu.Lock()
	defer e.mu.Unlock()
	syn := SegmentOptions{HasMSS: true, MSS: uint16(peerMSS)}
	if seg.opts.HasTimestamps && p.cfg.timestamps && seg.opts.TSEcr != 0 {
		enc := seg.opts.TSEcr & cookieTSMask
		syn.HasTimestamps, syn.TSVal = true, seg.opts.TSVal
		if ws := enc & 0xf; ws != cookieNoWS && p.cfg.windowScale {
			syn.HasWindowScale, syn.WindowScale = true, uint8(min(ws, MaxWindowScale))
		}
		syn.SACKPermitted = enc&cookieSACKBit != 0 && p.cfg.sack
	}
	e.c.acceptCookie(now, seg, &syn)
	e.c.takeEvents() // the handshake ends from SYN_RECEIVED
	if err := p.addConn(e); err != nil {
		e.dropQueued()
		return true
	}
	l.pending.Add(1)
	e.c.handleSegment(now, seg)
	e.afterCore(now)
	return true
}

// acceptCookie sets up the core as if it had sent a SYN-ACK (at iss) for
// a SYN with the options syn, which the cookie remembered; the caller
// then hands it the ACK.
func (c *core) acceptCookie(now time.Time, seg *segment, syn *SegmentOptions) {
	c.busyOn()
	c.passive = true
	c.setState(StateSynReceived)
	c.irs = seg.seq.Sub(1)
	c.rcvNxt = seg.seq
	c.peerSynOptions(now, &segment{opts: *syn})
	c.sndNxt, c.sndMax = c.iss.Add(1), c.iss.Add(1)
	c.sndWL1, c.sndWL2 = c.irs, c.iss
	c.lastAckSent = c.rcvNxt
	c.lastRcv = c.at(now)
}

// windowShiftFor is the window scale that lets a buffer of size bytes be
// advertised.
func windowShiftFor(size int) uint8 {
	s := uint8(0)
	for size>>s > 0xffff && s < MaxWindowScale {
		s++
	}
	return s
}

// sendControl sends on r a segment without payload that no connection
// owns (a cookie SYN-ACK, a RST, a TIME_WAIT record's ACK: sendBare), its
// checksum left to the device where the route offloads it. It counts the
// segment before writing it: a peer on a synchronous wire sees it (and a
// caller may read the counter) before WritePacket returns.
func (p *Protocol) sendControl(r stack.Route, f Fields, opts *SegmentOptions) {
	ol := opts.EncodedLen()
	pkt := stack.NewPacket(stack.Headroom, HeaderLen+ol)
	b := pkt.Bytes()
	f.DataOffset = HeaderLen + ol
	f.Encode(b)
	opts.Encode(b[HeaderLen:])
	csum, _ := routeOffloads(r)
	setChecksum(pkt, r.LocalAddr, r.RemoteAddr, csum)
	p.ctr.txSegments.Inc()
	if f.Flags&FlagRST != 0 {
		p.ctr.txRst.Inc()
	}
	_ = r.WritePacket(tcpParams, pkt)
}
