package tcp

import (
	"net/netip"
	"testing"
	"time"
)

// The details ss prints follow the sequence space: the SYN and the FIN
// each take a sequence number but are not bytes (RFC 9293 3.4), the bytes
// in flight are SND.NXT - SND.UNA, and the retransmission timer is "on"
// while data is in flight (RFC 6298 5.1), off once all is acknowledged.
func TestSocketFollowsSequenceSpace(t *testing.T) {
	c := establishedCore(t)
	now := t0.Add(20 * time.Millisecond)
	type want struct {
		sent, acked, received uint32
		unacked               int
		timer                 string
	}
	check := func(step string, w want) {
		t.Helper()
		d := c.socket(now, ConnInfo{})
		got := want{d.BytesSent, d.BytesAcked, d.BytesReceived, d.BytesInFlight, d.Timer}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", step, got, w)
		}
		if d.Timer == "on" && (d.TimerLeft <= 0 || d.TimerLeft > d.RTO) {
			t.Errorf("%s: timer left %v, RTO %v", step, d.TimerLeft, d.RTO)
		}
	}
	check("established", want{})
	c.write(now, make([]byte, 2500))
	takeOut(c)
	check("2500 bytes written", want{sent: 2500, unacked: 2500, timer: "on"})
	c.handleSegment(now, ack(peerISS+1, testISS+1+1000))
	takeOut(c)
	check("1000 acknowledged", want{sent: 2500, acked: 1000, unacked: 1500, timer: "on"})
	c.handleSegment(now, data(peerISS+1, testISS+1+2500, "hello"))
	takeOut(c)
	check("all acknowledged, 5 received", want{sent: 2500, acked: 2500, received: 5})
	c.close(now)
	takeOut(c)
	check("FIN sent", want{sent: 2500, acked: 2500, received: 5, unacked: 1, timer: "on"})
	c.handleSegment(now, &segment{seq: peerISS + 6, ack: testISS + 1 + 2501, flags: FlagACK | FlagFIN, wnd: 65535})
	takeOut(c)
	if c.state != StateTimeWait {
		t.Fatalf("state %v, want TIME_WAIT", c.state)
	}
	check("FIN acknowledged, FIN received", want{sent: 2500, acked: 2500, received: 5, timer: "timewait"})
}

// A Socket carries ConnDetail: RTT estimate, window and congestion state
// from the core, and the addresses given.
func TestSocketCarriesConnDetail(t *testing.T) {
	c := establishedCore(t)
	d := c.socket(t0, ConnInfo{Local: netip.MustParseAddrPort("10.0.0.1:1"), Remote: netip.MustParseAddrPort("10.0.0.2:2")})
	if d.State != "ESTABLISHED" || d.Local.Port() != 1 || d.Remote.Port() != 2 {
		t.Errorf("ConnInfo %+v", d.ConnInfo)
	}
	if d.SRTT != 10*time.Millisecond || d.RTTVar != 5*time.Millisecond {
		t.Errorf("srtt/rttvar %v/%v after one 10ms sample, want 10ms/5ms (RFC 6298 2.2)", d.SRTT, d.RTTVar)
	}
	if d.MSS != testMSS || d.Cwnd != c.cwnd || d.CC != "reno" || d.SndWnd != 65535 {
		t.Errorf("mss %d cwnd %d cc %q snd_wnd %d", d.MSS, d.Cwnd, d.CC, d.SndWnd)
	}
}

// A running protocol lists its listener (Send-Q the backlog) first, then
// its connection with details.
func TestSockets(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	c, s, ln := pair(t, tn)
	defer ln.Close()
	defer c.Close()
	defer s.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := s.Read(buf); err != nil {
		t.Fatal(err)
	}
	ds := tn.pb.Sockets()
	if len(ds) != 2 {
		t.Fatalf("B has %d entries, want listener and connection: %+v", len(ds), ds)
	}
	l, e := ds[0], ds[1]
	if l.State != "LISTEN" || l.SendQueue != tn.pb.backlog {
		t.Errorf("listener %+v, want LISTEN with Send-Q %d", l.ConnInfo, tn.pb.backlog)
	}
	if e.State != "ESTABLISHED" || e.BytesReceived != 4 || e.Remote != c.LocalAddrPort() || e.RTO <= 0 || e.CC == "" {
		t.Errorf("connection %+v", e)
	}
}
