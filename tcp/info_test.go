package tcp

import (
	"io"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// TestConnDetailsSequenceSpace: after n bytes are sent and acknowledged,
// the sender's SND.UNA is ISS+1+n (RFC 9293 3.3.1: the SYN takes one
// sequence number) and nothing is in flight; the receiver's RCV.NXT is
// IRS+1+n and its advertised right edge is not left of RCV.NXT.
func TestConnDetailsSequenceSpace(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	c, s, ln := pair(t, tn)
	defer ln.Close()
	defer c.Close()
	defer s.Close()
	const n = 100000
	go c.Write(make([]byte, n))
	if _, err := io.ReadFull(s, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	var d ConnDetail
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds := tn.pa.ConnDetails(nil)
		if len(ds) != 1 {
			t.Fatalf("A has %d connections, want 1", len(ds))
		}
		d = ds[0]
		if d.SndUna-d.ISS == n+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond) // polling with a deadline, not synchronisation
	}
	if d.SndUna-d.ISS != n+1 || d.SndNxt != d.SndUna || d.SndMax != d.SndUna || d.BytesInFlight != 0 {
		t.Errorf("sender: una-iss %d nxt %d max %d una %d inflight %d", d.SndUna-d.ISS, d.SndNxt, d.SndMax, d.SndUna, d.BytesInFlight)
	}
	if d.State != "ESTABLISHED" || d.Cwnd <= 0 || d.MSS <= 0 || !d.HasRTT || d.RTO <= 0 || d.CC == "" {
		t.Errorf("sender: %+v", d)
	}
	r := tn.pb.ConnDetails(nil)
	if len(r) != 1 {
		t.Fatalf("B has %d connections, want 1", len(r))
	}
	if got := r[0].RcvNxt - r[0].IRS; got != n+1 {
		t.Errorf("receiver: rcv.nxt-irs %d, want %d", got, n+1)
	}
	if seqnum.Value(r[0].RcvAdvRight).LessThan(seqnum.Value(r[0].RcvNxt)) {
		t.Errorf("receiver: advertised right edge %d left of rcv.nxt %d", r[0].RcvAdvRight, r[0].RcvNxt)
	}
}

// TestConnDetailRFC6675Pipe: bytes in flight are SND.MAX-SND.UNA less
// the SACKed bytes (RFC 6675's pipe without the lost-segment estimate),
// and the scoreboard is reported lowest block first.
func TestConnDetailRFC6675Pipe(t *testing.T) {
	var c core
	c.init(&config{sndBuf: 1 << 16, rcvBuf: 1 << 16, base: t0.Add(-1)}, nil, 1000, 1460, 0)
	c.state = StateEstablished
	c.sndUna, c.sndNxt, c.sndMax = 1001, 9001, 9001
	c.sb.blocks = append(c.sb.blocks, seqRange{3001, 4001}, seqRange{5001, 7001})
	c.ooo = append(c.ooo, seqRange{100, 200})
	d := c.detail(ConnInfo{})
	if d.Sacked != 3000 || d.BytesInFlight != 8000-3000 {
		t.Errorf("sacked %d inflight %d, want 3000 5000", d.Sacked, d.BytesInFlight)
	}
	if d.NumSACK != 2 || d.SACK[0] != (SACKBlock{3001, 4001}) || d.SACK[1] != (SACKBlock{5001, 7001}) {
		t.Errorf("SACK %v (%d)", d.SACK, d.NumSACK)
	}
	if d.NumOOO != 1 || d.OOO[0] != (SACKBlock{100, 200}) {
		t.Errorf("OOO %v (%d)", d.OOO, d.NumOOO)
	}
	if d.State != "ESTABLISHED" || d.ISS != 1000 {
		t.Errorf("state %s iss %d", d.State, d.ISS)
	}
}
