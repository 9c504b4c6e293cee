package tcp

import (
	"context"
	"errors"
	"io"
	"math"
	"net/netip"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// TestAckAcceptability is RFC 5961 section 5: an ACK below SND.UNA -
// MAX.SND.WND is answered with a challenge ACK and its data dropped.
func TestAckAcceptability(t *testing.T) {
	tests := []struct {
		name      string
		ack       seqnum.Value
		wantData  int
		wantReply bool
	}{
		{"current", testISS + 1, 3, true},
		{"old but within the max window", (testISS + 1).Sub(1000), 3, true},
		{"older than the max window", (testISS + 1).Sub(70000), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := establishedCore(t)
			c.handleSegment(t0, data(peerISS+1, tt.ack, "abc"))
			out := takeOut(c)
			if c.rcv.n != tt.wantData || (len(out) > 0) != tt.wantReply {
				t.Fatalf("data %d out %+v", c.rcv.n, out)
			}
		})
	}
}

func TestSynCookieRoundTrip(t *testing.T) {
	p := &Protocol{}
	p.cfg.base = time.Unix(0, 0) // the counter ticks from the protocol's base time
	copy(p.cookieSecret[:], "0123456789abcdef")
	tup := tuple{netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.1:40000")}
	other := tuple{netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.1:40001")}
	const peer = seqnum.Value(123456)
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		mss     int
		tuple   tuple
		peerISN seqnum.Value
		age     time.Duration
		tamper  uint32
		wantOK  bool
		wantMSS int
	}{
		{"fresh", 1460, tup, peer, 0, 0, true, 1460},
		{"rounded down", 1400, tup, peer, 0, 0, true, 1300},
		{"tiny MSS", 100, tup, peer, 0, 0, true, 536},
		{"one minute old", 1460, tup, peer, 60 * time.Second, 0, true, 1460},
		{"expired", 1460, tup, peer, 200 * time.Second, 0, false, 0},
		{"other tuple", 1460, other, peer, 0, 0, false, 0},
		{"other peer ISN", 1460, tup, peer + 1, 0, 0, false, 0},
		{"MSS index forged", 536, tup, peer, 0, 5 << 24, false, 0},
		{"hash forged", 1460, tup, peer, 0, 1, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := p.makeCookie(tup, peer, now, tt.mss)
			c ^= seqnum.Value(tt.tamper)
			mss, ok := p.checkCookie(tt.tuple, c, tt.peerISN, now.Add(tt.age))
			if ok != tt.wantOK || mss != tt.wantMSS {
				t.Fatalf("check = %d %v", mss, ok)
			}
		})
	}
}

// TestSynCookieConnection: with the SYN queue full, a dial completes
// through a cookie and keeps window scaling, SACK and timestamps.
func TestSynCookieConnection(t *testing.T) {
	tn := newTestNet(t, Options{SynBacklog: 1}, linkFaults{}, linkFaults{})
	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:8080"))
	if err != nil {
		t.Fatal(err)
	}
	// A half-open connection from an address that never answers fills
	// the SYN queue.
	syn := stack.NewPacket(stack.Headroom, HeaderLen)
	f := Fields{SrcPort: 1234, DstPort: 8080, Seq: 77, Flags: FlagSYN, Window: 1000}
	f.Encode(syn.Bytes())
	syn.Src, syn.Dst, syn.ChecksumOK = netip.MustParseAddr("10.0.0.9"), tn.ipB, true
	tn.pb.HandlePacket(syn)
	acc := make(chan *Conn, 1)
	go func() { c, _ := ln.AcceptTCP(); acc <- c }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, tn.a, netip.AddrPortFrom(tn.ipB, 8080))
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if _, err := c.Write([]byte("via cookie")); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "via cookie" {
		t.Fatalf("got %q %v", got, err)
	}
	cs := tn.b.Counters()
	if cs.Value("tcp.syncookies.sent") == 0 || cs.Value("tcp.syncookies.recv") != 1 {
		t.Fatalf("cookies sent %d accepted %d", cs.Value("tcp.syncookies.sent"), cs.Value("tcp.syncookies.recv"))
	}
	if i := s.Info(); !i.Timestamps || !i.SACK || !i.WindowScale || i.SendWindowShift != c.Info().ReceiveWindowShift {
		t.Errorf("cookie connection options: %+v (client %+v)", i, c.Info())
	}
	c.Close()
	s.Close()
}

// TestSynCookieACKMeetsHalfOpen is Linux's tcp_check_req rule: an ACK
// that does not fit a half-open connection goes to the listener, which
// accepts it when it carries a cookie. A SYN flood from the peer's own
// address (hping3 from the client's host) sweeps its source port over
// the client's: a flood SYN that finds the SYN queue no longer full
// makes a half-open connection on the tuple whose cookie the client
// has already answered; the client's ACK and data, outside that
// connection's window, were dropped until the client gave up (as its ACK
// checked first, within it, would have met a RST).
func TestSynCookieACKMeetsHalfOpen(t *testing.T) {
	synctest.Test(t, testSynCookieACKMeetsHalfOpen)
}

func testSynCookieACKMeetsHalfOpen(t *testing.T) {
	// B's answers are lost: the test plays the peer by hand.
	tn := newTestNet(t, Options{SynBacklog: 1}, linkFaults{}, linkFaults{loss: 1})
	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:8080"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := netip.MustParseAddr("10.0.0.5")
	in := func(src netip.Addr, f Fields) {
		pkt := stack.NewPacket(stack.Headroom, HeaderLen)
		f.DstPort, f.Window = 8080, 1000
		f.Encode(pkt.Bytes())
		pkt.Src, pkt.Dst, pkt.ChecksumOK = src, tn.ipB, true
		tn.pb.HandlePacket(pkt)
	}
	cs := tn.b.Counters()
	// A half-open connection fills the SYN queue; the peer's SYN gets a
	// cookie.
	in(netip.MustParseAddr("10.0.0.9"), Fields{SrcPort: 1234, Seq: 77, Flags: FlagSYN})
	in(peer, Fields{SrcPort: 4000, Seq: 100, Flags: FlagSYN})
	if cs.Value("tcp.syncookies.sent") != 1 {
		t.Fatalf("no cookie: tcp.syncookies.sent %d", cs.Value("tcp.syncookies.sent"))
	}
	now := tn.pb.clock.Now()
	tup := tuple{netip.AddrPortFrom(tn.ipB, 8080), netip.AddrPortFrom(peer, 4000)}
	cookie, _ := tn.pb.makeCookie(tup, 100, now, defaultMSS4)
	// The half-open connection goes (its peer resets it), and a flood
	// SYN on the peer's tuple takes the free place.
	in(netip.MustParseAddr("10.0.0.9"), Fields{SrcPort: 1234, Seq: 78, Flags: FlagRST})
	in(peer, Fields{SrcPort: 4000, Seq: 90000, Flags: FlagSYN})
	if cs.Value("tcp.syncookies.sent") != 1 {
		t.Fatal("the flood SYN got a cookie: the SYN queue was still full")
	}
	rstBefore := cs.Value("tcp.tx.rst")
	// The peer answers its cookie.
	in(peer, Fields{SrcPort: 4000, Seq: 101, Ack: uint32(cookie.Add(1)), Flags: FlagACK})
	synctest.Wait() // what B sends is built and counted
	if got := cs.Value("tcp.syncookies.recv"); got != 1 {
		t.Errorf("tcp.syncookies.recv %d, want 1", got)
	}
	if got := cs.Value("tcp.tx.rst") - rstBefore; got != 0 {
		t.Errorf("%d RSTs sent to the ACK of the cookie", got)
	}
	acc := make(chan *Conn, 1)
	go func() { c, _ := ln.AcceptTCP(); acc <- c }()
	select {
	case c := <-acc:
		if c == nil || c.RemoteAddr().String() != "10.0.0.5:4000" {
			t.Fatalf("accepted %v", c)
		}
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the cookie's connection was not accepted")
	}
}

// TestCubic checks RFC 9438's window function: the reduction to β·cwnd,
// fast convergence, the plateau at W_max after K seconds and the
// Reno-friendly region.
func TestCubic(t *testing.T) {
	const mss = 1000
	cc := &cubic{}
	w := ccWindow{cfg: &config{base: t0.Add(-1)}, cwnd: 100 * mss, ssthresh: 1 << 30, mss: mss} // stamps from just before t0
	cc.onLoss(&w, t0, 0)
	if w.ssthresh != 70*mss || cc.wMax != 100 {
		t.Fatalf("after loss: ssthresh %d wMax %v", w.ssthresh, cc.wMax)
	}
	w.cwnd = w.ssthresh
	k := math.Cbrt((100 - 70) / cubicC)
	cc.onAck(&w, t0, mss, 0) // starts the epoch
	if math.Abs(cc.k-k) > 1e-9 {
		t.Fatalf("K = %v, want %v", cc.k, k)
	}
	// Just before K the window is near, but below, W_max; after it grows
	// beyond.
	tests := []struct {
		at       time.Duration
		min, max float64 // segments
	}{
		{time.Duration(k * 0.5 * float64(time.Second)), 70, 100},
		{time.Duration(k * float64(time.Second)), 95, 100.5},
		{time.Duration(k * 1.5 * float64(time.Second)), 100, 130},
	}
	for _, tt := range tests {
		// Drive the window with ACKs until it follows the curve at tt.at.
		for range 2000 {
			cc.onAck(&w, t0.Add(tt.at), mss, 0)
		}
		got := float64(w.cwnd) / mss
		if got < tt.min || got > tt.max {
			t.Errorf("at %v: cwnd %.1f segments, want in [%v, %v]", tt.at, got, tt.min, tt.max)
		}
	}
	// Fast convergence: a loss below the previous W_max remembers less.
	w.cwnd = 90 * mss
	cc.onLoss(&w, t0, 0)
	if want := 90 * (1 + cubicBeta) / 2; math.Abs(cc.wMax-want) > 1e-9 {
		t.Errorf("fast convergence wMax %v, want %v", cc.wMax, want)
	}
	// Slow start below ssthresh.
	w = ccWindow{cfg: w.cfg, cwnd: 10 * mss, ssthresh: 1 << 30, mss: mss}
	cc.onAck(&w, t0, 2*mss, 0)
	if w.cwnd != 12*mss {
		t.Errorf("slow start: cwnd %d", w.cwnd)
	}
}

func TestNewReno(t *testing.T) {
	const mss = 1000
	r := &newReno{}
	w := ccWindow{cwnd: 10 * mss, ssthresh: 10 * mss, mss: mss}
	for range 9 {
		r.onAck(&w, t0, mss, 0)
	}
	if w.cwnd != 10*mss {
		t.Fatalf("grew before a window was acknowledged: %d", w.cwnd)
	}
	r.onAck(&w, t0, mss, 0)
	if w.cwnd != 11*mss {
		t.Fatalf("congestion avoidance: cwnd %d", w.cwnd)
	}
	r.onLoss(&w, t0, 8*mss)
	if w.ssthresh != 4*mss {
		t.Fatalf("ssthresh %d", w.ssthresh)
	}
}

func TestSetCongestionControl(t *testing.T) {
	if _, err := Register(stack.New(stack.Options{}), Options{CongestionControl: "vegas"}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("unknown algorithm: %v", err)
	}
	c := newTestCore(t)
	if c.ca.name() != "reno" || !c.setCongestionControl("cubic") || c.ca.name() != "cubic" || c.setCongestionControl("bbr") {
		t.Fatal("switching algorithms")
	}
	if cfg := (Options{}).config(); cfg.cc != "cubic" {
		t.Errorf("default %q, want cubic", cfg.cc)
	}
}

// TestDelayedAck: quick ACKs at the start, then one ACK per two full
// segments, the delayed-ACK timer for a lone segment, and at once for
// out-of-order data.
func TestDelayedAck(t *testing.T) {
	c := establishedCore(t)
	full := string(make([]byte, testMSS))
	seq := peerISS + 1
	for i := range maxQuickAcks {
		c.handleSegment(t0, data(seq, testISS+1, full))
		seq += testMSS
		if len(takeOut(c)) != 1 {
			t.Fatalf("quick ACK %d missing", i)
		}
	}
	c.handleSegment(t0, data(seq, testISS+1, full))
	seq += testMSS
	if out := takeOut(c); len(out) != 0 || c.due(c.ackAt) != t0.Add(40*time.Millisecond) {
		t.Fatalf("lone segment: out %+v ackAt %v", out, c.due(c.ackAt))
	}
	c.handleSegment(t0, data(seq, testISS+1, full))
	seq += testMSS
	if out := takeOut(c); len(out) != 1 || out[0].ack != seq || c.ackAt != 0 {
		t.Fatalf("second full segment: %+v", out)
	}
	c.handleSegment(t0, data(seq, testISS+1, "x"))
	seq++
	c.handleTimer(t0.Add(39 * time.Millisecond))
	if len(takeOut(c)) != 0 {
		t.Fatal("delayed ACK early")
	}
	c.handleTimer(t0.Add(40 * time.Millisecond))
	if out := takeOut(c); len(out) != 1 || out[0].ack != seq || c.ctr.delayedAcks.Load() != 1 {
		t.Fatalf("delayed ACK: %+v", out)
	}
	c.handleSegment(t0, data(seq+10, testISS+1, "y"))
	if len(takeOut(c)) != 1 {
		t.Fatal("out-of-order data not ACKed at once")
	}
	// Sending data carries the ACK: no separate one later.
	c.handleSegment(t0, data(seq, testISS+1, string(make([]byte, 10))))
	takeOut(c)
	c.handleSegment(t0, data(seq+11, testISS+1, "z"))
	c.write(t0, []byte("reply"))
	out := takeOut(c)
	if len(out) != 1 || out[0].dataLen != 5 || out[0].ack != seq+12 || c.ackAt != 0 {
		t.Fatalf("piggybacked ACK: %+v ackAt %v", out, c.due(c.ackAt))
	}
}

func TestNagle(t *testing.T) {
	c := establishedCore(t)
	c.noDelay = false
	c.write(t0, []byte("a"))
	if len(takeOut(c)) != 1 {
		t.Fatal("first small segment held")
	}
	c.write(t0, []byte("b"))
	c.write(t0, []byte("c"))
	if len(takeOut(c)) != 0 {
		t.Fatal("small segment sent while data is unacknowledged")
	}
	c.handleSegment(t0, ack(peerISS+1, testISS+2))
	if out := takeOut(c); len(out) != 1 || out[0].dataLen != 2 {
		t.Fatalf("after the ACK: %+v", out)
	}
	c.write(t0, []byte("d"))
	c.close(t0) // a FIN is not held back
	if out := takeOut(c); len(out) != 1 || out[0].flags&FlagFIN == 0 || out[0].dataLen != 1 {
		t.Fatalf("FIN held by Nagle: %+v", out)
	}
}

func TestKeepalive(t *testing.T) {
	c := establishedCore(t)
	c.cfg.kaProbes = 3
	start := t0.Add(10 * time.Millisecond)
	c.setKeepAlive(start, true)
	if c.due(c.kaAt) != start.Add(2*time.Hour) {
		t.Fatalf("first probe due %v", c.due(c.kaAt).Sub(start))
	}
	// Traffic postpones the probe.
	later := start.Add(time.Hour)
	c.handleSegment(later, ack(peerISS+1, testISS+1))
	c.handleTimer(c.due(c.kaAt))
	if len(takeOut(c)) != 0 || c.due(c.kaAt) != later.Add(2*time.Hour) {
		t.Fatalf("probe despite traffic; next %v", c.due(c.kaAt))
	}
	now := c.due(c.kaAt)
	for i := range 3 {
		c.handleTimer(now)
		out := takeOut(c)
		wantSeg(t, out, 0, testISS, peerISS+1, FlagACK, 0)
		if c.due(c.kaAt) != now.Add(75*time.Second) {
			t.Fatalf("probe %d: next at %v", i, c.due(c.kaAt).Sub(now))
		}
		now = c.due(c.kaAt)
	}
	c.handleTimer(now)
	out := takeOut(c)
	if c.state != StateClosed || !errors.Is(c.err, syscall.ETIMEDOUT) || len(out) != 1 || out[0].flags&FlagRST == 0 {
		t.Fatalf("after unanswered probes: %v %v %+v", c.state, c.err, out)
	}
	// An answer resets the count.
	c = establishedCore(t)
	c.setKeepAlive(t0, true)
	c.handleTimer(c.due(c.kaAt))
	takeOut(c)
	c.handleSegment(c.due(c.kaAt), ack(peerISS+1, testISS+1))
	if c.kaSent != 0 {
		t.Fatal("answer did not reset the probe count")
	}
	// A peer's probe (SEG.SEQ = RCV.NXT-1) gets an ACK.
	c.handleSegment(t0, ack(peerISS, testISS+1))
	wantSeg(t, takeOut(c), 0, testISS+1, peerISS+1, FlagACK, 0)
}

// TestPathMTU: an ICMP fragmentation-needed error for data in flight
// lowers the MSS and resends the flight in the new size, without a
// congestion response; one for a sequence number not in flight is ignored.
func TestPathMTU(t *testing.T) {
	c := establishedCore(t)
	c.write(t0, make([]byte, 3*testMSS))
	takeOut(c)
	cwnd := c.cwnd
	c.handleError(t0, stack.ErrorFragmentationNeeded, testISS+5000, 600)
	if c.mss != testMSS || len(c.out) != 0 {
		t.Fatal("error for a sequence number not in flight applied")
	}
	c.handleError(t0, stack.ErrorFragmentationNeeded, testISS+1, 600)
	out := takeOut(c)
	if c.mss != 560 || len(out) < 5 || out[0].seq != testISS+1 || out[0].dataLen != 560 || c.cwnd != cwnd {
		t.Fatalf("mss %d cwnd %d out %+v", c.mss, c.cwnd, out)
	}
	// Below the minimum MTU, the minimum is used; a larger MTU is ignored.
	c.handleError(t0, stack.ErrorFragmentationNeeded, testISS+1, 100)
	if c.mss != minPathMTU-40 {
		t.Fatalf("mss %d", c.mss)
	}
	c.handleError(t0, stack.ErrorFragmentationNeeded, testISS+1, 1500)
	if c.mss != minPathMTU-40 {
		t.Fatalf("a larger MTU raised the mss to %d", c.mss)
	}
}

func TestReceiveAutotune(t *testing.T) {
	c := establishedCore(t)
	c.rtt.srtt = 10 * time.Millisecond
	c.cfg = func() *config { x := *c.cfg; x.maxRcvBuf = 1 << 20; return &x }()
	c.rcv.max = 64 << 10
	buf := make([]byte, 16<<10)
	now := t0
	seq := peerISS + 1
	// The peer fills the window every round trip; the reader keeps up.
	for range 20 {
		for c.rcvWnd() >= len(buf) {
			c.handleSegment(now, data(seq, testISS+1, string(buf)))
			seq += seqnum.Value(len(buf))
		}
		for c.read(now, buf) > 0 {
		}
		takeOut(c)
		now = now.Add(10 * time.Millisecond)
	}
	if c.rcv.max != 1<<20 || c.ctr.rcvBufGrown.Load() == 0 {
		t.Fatalf("buffer %d after a steady reader", c.rcv.max)
	}
}

func TestSockopts(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	c, s, _ := pair(t, tn)
	if c.CongestionControl() != "cubic" || c.SetCongestionControl("reno") != nil || c.CongestionControl() != "reno" {
		t.Error("congestion control setter")
	}
	if err := c.SetCongestionControl("nope"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("unknown algorithm: %v", err)
	}
	for _, err := range []error{c.SetNoDelay(false), c.SetKeepAlive(true), c.SetKeepAlivePeriod(time.Minute), c.SetReadBuffer(1 << 20), c.SetWriteBuffer(1 << 20)} {
		if err != nil {
			t.Error(err)
		}
	}
	if c.Info().ReceiveBuffer != 1<<20 {
		t.Errorf("SetReadBuffer: %+v", c.Info())
	}
	// CloseRead: Read returns EOF, later data is discarded, not reset.
	if err := s.CloseRead(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read after CloseRead: %d %v", n, err)
	}
	if _, err := c.Write([]byte("ignored")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("still talking")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 13)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "still talking" {
		t.Fatalf("%q %v", buf, err)
	}
	// SetLinger(0): Close resets.
	s.SetLinger(0)
	s.Close()
	if _, err := c.Read(buf); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after peer's linger-0 close: %v", err)
	}
	c.Close()
}

// TestSynCookieConnectionKeepsOffloads: a connection accepted through a
// SYN cookie sends with its route's offloads (checksum and segmentation)
// as one from the SYN queue does; it used to be set up twice, the second
// time without them.
func TestSynCookieConnectionKeepsOffloads(t *testing.T) {
	s := stack.New(stack.Options{})
	defer s.Close()
	s.RegisterNetwork(&sinkIP{})
	p, err := Register(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	nic, _ := s.AddNIC("eth0", offloadLink{nullLink{1500}, 65536})
	nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24"))
	ln, err := Listen(s, netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tup := tuple{netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.1:40000")}
	const peerISN = seqnum.Value(1000)
	now := p.clock.Now()
	cookie, _ := p.makeCookie(tup, peerISN, now, 1460)
	ln.lastCookie.Store(p.cfg.nanos(now))
	if !ln.acceptCookie(tup, &segment{seq: peerISN + 1, ack: cookie + 1, flags: FlagACK, wnd: 65535}) {
		t.Fatal("cookie not accepted")
	}
	p.mu.RLock()
	e := p.conns.get(tup.key())
	p.mu.RUnlock()
	if e == nil {
		t.Fatal("no connection from the cookie")
	}
	csum, gso := routeOffloads(e.route.Route())
	e.mu.Lock()
	defer e.mu.Unlock()
	if !csum || gso == 0 || e.csumOffload != csum || e.c.gsoMax != gso {
		t.Fatalf("cookie connection: checksum offload %v, GSO %d; the route gives %v, %d", e.csumOffload, e.c.gsoMax, csum, gso)
	}
}

// TestProtocolClocksCountFromBase: the SYN cookie counter, the challenge
// ACK cap's second and the out-of-window ACK limit's milliseconds count
// from the protocol's base time (on the monotonic reading), not from the
// Unix epoch, so a wall clock step moves none of them (RFC 7323 section
// 5.4 asks the same of the TSval clock). The base is 30 s past a 64-second
// boundary of Unix time, so an epoch-based counter would tick at base+34s.
func TestProtocolClocksCountFromBase(t *testing.T) {
	base := time.Unix(1_700_000_030, 0)
	cfg := config{base: base}
	at := func(d time.Duration) time.Time { return base.Add(d) }
	for _, tt := range []struct {
		name      string
		got, want uint32
	}{
		{"cookie tick 0 at base", cfg.cookieCount(at(0)), 0},
		{"cookie tick 0 at base+63s", cfg.cookieCount(at(63 * time.Second)), 0},
		{"cookie tick 1 at base+64s", cfg.cookieCount(at(64 * time.Second)), 1},
		{"cookie tick before base", cfg.cookieCount(at(-time.Nanosecond)), ^uint32(0)},
		{"challenge second 0 at base+999ms", cfg.seconds(at(999 * time.Millisecond)), 0},
		{"challenge second 1 at base+1s", cfg.seconds(at(time.Second)), 1},
		{"challenge second before base", cfg.seconds(at(-time.Millisecond)), ^uint32(0)},
		{"oow clock never 0", cfg.oowClock(at(0)), 1},
		{"oow clock in ms", cfg.oowClock(at(5 * time.Millisecond)), 5},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	// A cookie made at base+63s is one tick old at base+127s and
	// expired at base+128s.
	p := &Protocol{}
	p.cfg.base = base
	tup := tuple{netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.1:40000")}
	c, _ := p.makeCookie(tup, 7, at(63*time.Second), 1460)
	if _, ok := p.checkCookie(tup, c, 7, at(127*time.Second)); !ok {
		t.Error("cookie of base+63s refused at base+127s")
	}
	if _, ok := p.checkCookie(tup, c, 7, at(128*time.Second)); ok {
		t.Error("cookie of base+63s accepted at base+128s")
	}
}
