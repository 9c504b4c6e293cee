package tcp

import (
	"io"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

// TestTimeWaitRecordRules checks what a TIME_WAIT record does with each
// kind of segment (RFC 9293 section 3.10.7.4, RFC 6191, RFC 5961, RFC
// 7323), as the full connection does in TIME_WAIT.
func TestTimeWaitRecordRules(t *testing.T) {
	const rcvNxt, sndNxt = seqnum.Value(5000), seqnum.Value(9000)
	ts := func(val uint32) SegmentOptions {
		return SegmentOptions{HasTimestamps: true, TSVal: val, TSEcr: 1}
	}
	for _, tt := range []struct {
		name     string
		seg      segment
		ack, end bool
		restart  bool // TIME_WAIT starts over
	}{
		{"RFC 9293 3.10.7.4: a retransmitted FIN is acknowledged and restarts the 2 MSL timeout",
			segment{seq: rcvNxt - 1, ack: sndNxt, flags: FlagFIN | FlagACK}, true, false, true},
		{"RFC 9293 3.10.7.4: so is a retransmitted FIN with its data",
			segment{seq: rcvNxt - 4, ack: sndNxt, flags: FlagFIN | FlagACK, payload: []byte("abc")}, true, false, true},
		{"RFC 6191: a SYN above RCV.NXT may start a new connection",
			segment{seq: rcvNxt + 100, flags: FlagSYN}, false, true, false},
		{"RFC 6191: so may a SYN with a newer timestamp",
			segment{seq: rcvNxt - 100, flags: FlagSYN, opts: ts(200)}, false, true, false},
		{"RFC 5961 4: an old SYN gets an ACK",
			segment{seq: rcvNxt - 100, flags: FlagSYN}, true, false, false},
		{"RFC 5961 3: an exact RST ends TIME_WAIT",
			segment{seq: rcvNxt, flags: FlagRST}, false, true, false},
		{"RFC 5961 3: any other RST is ignored",
			segment{seq: rcvNxt + 10, flags: FlagRST}, false, false, false},
		{"RFC 7323 5.3: PAWS answers an old timestamp with an ACK (a duplicate ACK otherwise goes unanswered)",
			segment{seq: rcvNxt, ack: sndNxt, flags: FlagACK, opts: ts(50)}, true, false, false},
		{"a duplicate ACK is not answered",
			segment{seq: rcvNxt, ack: sndNxt, flags: FlagACK}, false, false, false},
		{"data after the FIN is acknowledged",
			segment{seq: rcvNxt, ack: sndNxt, flags: FlagACK, payload: []byte("late")}, true, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := stack.New(stack.Options{})
			defer s.Close()
			p := &Protocol{cfg: Options{}.config(), ctr: newCounters(s.Counters())}
			at := t0.Add(30 * time.Second).UnixNano()
			rec := &twConn{sndNxt: sndNxt, rcvNxt: rcvNxt, at: at, tsRecent: 100, tsOn: true}
			ack, end := p.twHandle(rec, t0, &tt.seg)
			if ack != tt.ack || end != tt.end {
				t.Fatalf("ack %v end %v, want %v %v", ack, end, tt.ack, tt.end)
			}
			if restarted := rec.at != at; restarted != tt.restart {
				t.Errorf("TIME_WAIT ends at %d, restarted %v, want %v", rec.at, restarted, tt.restart)
			}
			if tt.restart && rec.at != t0.Add(60*time.Second).UnixNano() {
				t.Errorf("restarted to end %v after, want 60s", time.Duration(rec.at-t0.UnixNano()))
			}
		})
	}
}

// TestTimeWaitRecordAckRateLimit: segments that are not data (an old SYN)
// get one ACK per InvalidAckInterval, as a connection does (RFC 5961
// section 7, Linux's tcp_invalid_ratelimit).
func TestTimeWaitRecordAckRateLimit(t *testing.T) {
	s := stack.New(stack.Options{})
	defer s.Close()
	p := &Protocol{cfg: Options{}.config(), ctr: newCounters(s.Counters())}
	rec := &twConn{sndNxt: 9000, rcvNxt: 5000, at: t0.Add(time.Minute).UnixNano()}
	syn := segment{seq: 4000, flags: FlagSYN}
	var acks []bool
	for _, d := range []time.Duration{0, 100 * time.Millisecond, 600 * time.Millisecond} {
		ack, _ := p.twHandle(rec, t0.Add(d), &syn)
		acks = append(acks, ack)
	}
	if !acks[0] || acks[1] || !acks[2] {
		t.Fatalf("ACKs at 0, 100ms and 600ms: %v, want true false true", acks)
	}
}

// TestTimeWaitRecord follows a connection a server closed first: its
// endpoint is let go for a record that ss lists as TIME_WAIT, that
// answers a retransmitted FIN and starts over, that a new SYN on its
// tuple ends (RFC 6191) and that otherwise ends after TimeWait. It runs in
// a synctest bubble: a minute of TIME_WAIT costs no wall time.
func TestTimeWaitRecord(t *testing.T) {
	for _, ending := range []string{"expires", "new SYN"} {
		t.Run(ending, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testTimeWaitRecord(t, ending) })
		})
	}
}

func testTimeWaitRecord(t *testing.T, ending string) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	c, s, ln := pair(t, tn)
	defer ln.Close()
	s.Close() // the server closes first: TIME_WAIT on its side
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	c.Close()
	synctest.Wait()
	id := tuple{s.e.id().local, s.e.id().remote}
	tn.pb.mu.RLock()
	stillEndpoint := tn.pb.conns.get(id.key()) != nil
	rec, haveRec := tn.pb.tw.m[id.key()]
	tn.pb.mu.RUnlock()
	if stillEndpoint || !haveRec {
		t.Fatalf("endpoint kept %v, record %v", stillEndpoint, haveRec)
	}
	socks := tn.pb.Sockets()
	if len(socks) != 2 || socks[1].State != "TIME_WAIT" || socks[1].Local != id.local || socks[1].Remote != id.remote ||
		socks[1].Timer != "timewait" || socks[1].TimerLeft != 60*time.Second {
		t.Fatalf("sockets %+v, want the listener and the TIME_WAIT", socks)
	}
	if n := tn.b.Counters().Value("tcp.timewait.records"); n != 1 {
		t.Errorf("tcp.timewait.records %d, want 1", n)
	}
	// Segments from here on are injected: A's stack is closed, so what B
	// answers is lost instead of being answered with a RST.
	tn.a.Close()
	inject := func(f Fields) {
		pkt := stack.NewPacket(stack.Headroom, HeaderLen)
		f.SrcPort, f.DstPort, f.DataOffset = id.remote.Port(), id.local.Port(), HeaderLen
		f.Encode(pkt.Bytes())
		pkt.Src, pkt.Dst, pkt.ChecksumOK = id.remote.Addr(), id.local.Addr(), true
		tn.pb.HandlePacket(pkt)
	}
	time.Sleep(30 * time.Second)
	sent := tn.b.Counters().Value("tcp.tx.segments")
	inject(Fields{Seq: uint32(rec.rcvNxt - 1), Ack: uint32(rec.sndNxt), Flags: FlagFIN | FlagACK, Window: 1000})
	if d := tn.b.Counters().Value("tcp.tx.segments") - sent; d != 1 {
		t.Errorf("a retransmitted FIN got %d segments, want an ACK", d)
	}
	if left := tn.pb.Sockets()[1].TimerLeft; left != 60*time.Second {
		t.Errorf("after the FIN TIME_WAIT has %v left, want 60s again", left)
	}
	switch ending {
	case "expires":
		time.Sleep(60*time.Second - time.Nanosecond)
		synctest.Wait()
		if n := len(tn.pb.Sockets()); n != 2 {
			t.Fatalf("TIME_WAIT gone early: %d sockets", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if socks := tn.pb.Sockets(); len(socks) != 1 {
			t.Fatalf("after TIME_WAIT: %+v", socks)
		}
	case "new SYN":
		inject(Fields{Seq: uint32(rec.rcvNxt + 1000), Flags: FlagSYN, Window: 1000})
		socks := tn.pb.Sockets()
		if len(socks) != 2 || socks[1].State != "SYN_RECEIVED" || socks[1].Remote != id.remote {
			t.Fatalf("sockets after a new SYN on the tuple: %+v, want a connection in SYN_RECEIVED", socks)
		}
		if n := tn.b.Counters().Value("tcp.timewait.ended_early"); n != 1 {
			t.Errorf("tcp.timewait.ended_early %d, want 1", n)
		}
	}
	tn.pb.mu.RLock()
	n := len(tn.pb.tw.m)
	tn.pb.mu.RUnlock()
	if n != 0 {
		t.Errorf("%d records left", n)
	}
}

// TestTimeWaitTableFull: with the table full, a connection entering
// TIME_WAIT closes at once (Linux's tcp_max_tw_buckets), counted, and
// holds nothing.
func TestTimeWaitTableFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
		tn.pb.mu.Lock()
		tn.pb.tw.max = 0
		tn.pb.mu.Unlock()
		c, s, ln := pair(t, tn)
		defer ln.Close()
		s.Close()
		if _, err := io.ReadAll(c); err != nil {
			t.Fatal(err)
		}
		c.Close()
		synctest.Wait()
		if socks := tn.pb.Sockets(); len(socks) != 1 || socks[0].State != "LISTEN" {
			t.Fatalf("sockets %+v, want only the listener", socks)
		}
		if n := tn.b.Counters().Value("tcp.timewait.overflow"); n != 1 {
			t.Errorf("tcp.timewait.overflow %d, want 1", n)
		}
	})
}

// TestTimeWaitRecordsEndWithinSlack: records made over a second (more than
// the sweep looks at between letting go of the lock) each last
// their TIME_WAIT (RFC 9293 section 3.6.1: 2 MSL at least) and at most a
// twSlack-th of it longer; the table's timer sweeps them a bounded number
// of times, and the emptied table gives its map back.
func TestTimeWaitRecordsEndWithinSlack(t *testing.T) {
	const n, spread = 3*twSweepChunk + 100, time.Second
	clk := vclock.New(t0)
	p, c, _, remote, local := handConnClock(t, &sinkIP{}, Options{}, clk, "10.0.0.2/24", "10.0.0.1")
	tw := p.cfg.timeWait
	ends := map[connKey]time.Time{}
	for i := range n {
		id := tuple{netip.AddrPortFrom(local, 80), netip.AddrPortFrom(remote, uint16(1024+i))}
		e := newEndpoint(p, id, c.e.route.Route())
		if err := p.addConn(e); err != nil {
			t.Fatal(err)
		}
		e.mu.Lock()
		letGo, _ := p.timeWaitAdd(e, clk.Now())
		e.mu.Unlock()
		if !letGo {
			t.Fatal("record not made")
		}
		ends[id.key()] = clk.Now().Add(tw)
		clk.Advance(spread / n)
	}
	sweeps := 0
	for clk.RunNext() {
		sweeps++
		now := clk.Now()
		p.mu.RLock()
		for k, end := range ends {
			_, held := p.tw.m[k]
			switch {
			case held && now.After(end.Add(tw/twSlack)):
				t.Fatalf("record held %v past its TIME_WAIT", now.Sub(end))
			case !held && now.Before(end):
				t.Fatalf("record ended %v before its TIME_WAIT", end.Sub(now))
			case !held:
				delete(ends, k)
			}
		}
		p.mu.RUnlock()
		if sweeps > twSlack+2 {
			t.Fatalf("%d sweeps for records made over %v", sweeps, spread)
		}
	}
	if len(ends) != 0 || p.tw.m != nil {
		t.Fatalf("%d records left, map kept %v", len(ends), p.tw.m != nil)
	}
}

// TestTimeWaitRecordSize keeps a TIME_WAIT record at 32 bytes beside its
// 38-byte key: a server closing first holds a minute's connections as
// records (up to maxTimeWait), and each byte more is paid by all of them.
func TestTimeWaitRecordSize(t *testing.T) {
	if n, k := unsafe.Sizeof(twConn{}), unsafe.Sizeof(connKey{}); n > 32 || k > 38 {
		t.Fatalf("record %d bytes (want <= 32), key %d (want <= 38)", n, k)
	}
}
