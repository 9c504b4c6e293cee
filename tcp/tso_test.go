package tcp

import (
	"time"

	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/stack"
)

// offloadLink is a nullLink whose device completes checksums and, with
// gso > 0, segments TCP packets of up to gso bytes (stack.Offloader).
type offloadLink struct {
	nullLink
	gso int
}

func (l offloadLink) GSOMaxSize() int     { return l.gso }
func (offloadLink) ChecksumOffload() bool { return true }

// segmentingWire does what an offloading device does with the packets a
// sender writes (data starting at the TCP header): it checks that each
// carries the pseudo-header sum and ChecksumPartial, cuts a super-segment
// into GSOSize-byte segments (sequence numbers advanced, FIN and PSH on
// the last only, the same options in each) and completes every checksum.
// It records what it saw, and every rule the sender broke.
type segmentingWire struct {
	mu       sync.Mutex
	packets  int // packets the sender wrote
	partial  int // of them marked ChecksumPartial
	supers   int // of them super-segments (GSOSize > 0)
	segments int // segments after cutting
	maxLen   int // largest payload written
	gsoSizes map[int]int
	errs     []string
}

// mtu is the fake wire's MTU: every cut segment must fit it.
const fakeMTU = 1500

func (w *segmentingWire) fail(format string, args ...any) {
	if len(w.errs) < 10 {
		w.errs = append(w.errs, fmt.Sprintf(format, args...))
	}
}

func (w *segmentingWire) cut(r *stack.Route, p *stack.Packet) []*stack.Packet {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.packets++
	b := p.Bytes()
	h := Header(b)
	if err := h.Validate(); err != nil {
		w.fail("invalid header: %v", err)
		p.Release()
		return nil
	}
	payload := len(h.Payload())
	w.maxLen = max(w.maxLen, payload)
	if !p.ChecksumPartial {
		// Every segment leaves for the device to sum: the connections',
		// and those sent without one (a RST, a TIME_WAIT record's ACK, a
		// cookie SYN-ACK).
		w.fail("packet not ChecksumPartial: flags %#x", h.Flags())
		if p.GSOSize > 0 {
			w.fail("GSOSize %d without ChecksumPartial", p.GSOSize)
		}
		w.segments++
		return []*stack.Packet{p}
	}
	w.partial++
	if got, want := binary.BigEndian.Uint16(b[16:]), checksum.PseudoHeader(r.LocalAddr, r.RemoteAddr, stack.ProtocolTCP, uint16(len(b))); got != want {
		w.fail("checksum field %#04x, want the pseudo-header sum %#04x", got, want)
	}
	gso := int(p.GSOSize)
	if gso == 0 {
		if netHeaderLen(r.RemoteAddr)+len(b) > fakeMTU {
			w.fail("%d-byte segment without GSOSize exceeds the MTU", len(b))
		}
		binary.BigEndian.PutUint16(b[16:], checksum.Checksum(b, 0))
		p.ChecksumPartial = false
		w.segments++
		return []*stack.Packet{p}
	}
	defer p.Release()
	w.supers++
	if w.gsoSizes == nil {
		w.gsoSizes = make(map[int]int)
	}
	w.gsoSizes[gso]++
	hl := h.DataOffset()
	if nh := netHeaderLen(r.RemoteAddr); nh+hl+gso != fakeMTU {
		w.fail("GSOSize %d with a %d-byte header: segments of %d bytes, want full %d-byte ones", gso, hl, nh+hl+gso, fakeMTU)
	}
	if payload <= gso {
		w.fail("super-segment of %d bytes with GSOSize %d", payload, gso)
	}
	flags := h.Flags()
	if flags&FlagCWR != 0 {
		w.fail("super-segment with CWR (the device would copy it into every segment)")
	}
	if payload%gso != 0 && flags&(FlagPSH|FlagFIN) == 0 {
		w.fail("super-segment of %d bytes (GSOSize %d) leaves a short segment but is not the last data", payload, gso)
	}
	var out []*stack.Packet
	for off := 0; off < payload; off += gso {
		k := min(gso, payload-off)
		q := stack.NewPacket(stack.Headroom, hl+k)
		qb := q.Bytes()
		copy(qb, b[:hl])
		copy(qb[hl:], b[hl+off:hl+off+k])
		binary.BigEndian.PutUint32(qb[4:], h.Seq()+uint32(off))
		if off+k < payload {
			qb[13] &^= FlagFIN | FlagPSH
		}
		Header(qb).SetChecksum(r.LocalAddr, r.RemoteAddr)
		out = append(out, q)
		w.segments++
	}
	return out
}

func (w *segmentingWire) check(t testing.TB) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 {
		t.Errorf("the offloading wire saw:\n%s", strings.Join(w.errs, "\n"))
	}
}

// TestTSOSendCore: with a super-segment size, the core sends whole
// segments in one super-segment (GSO size = MSS less options), a short
// tail only with the last queued byte, rounds a window-limited one down
// to whole segments, and retransmits single segments.
func TestTSOSendCore(t *testing.T) {
	mk := func() *core {
		c := establishedCore(t)
		c.gsoMax = 65535 - 20 - MaxHeaderLen
		c.sndWnd = 1 << 20
		return c
	}
	t.Run("initial window in one super-segment", func(t *testing.T) {
		c := mk()
		c.write(t0, make([]byte, 100_000))
		out := takeOut(c)
		if len(out) != 1 || out[0].dataLen != 10*testMSS || out[0].gso != testMSS {
			t.Fatalf("out %+v, want one 10-segment super-segment with gso %d", out, testMSS)
		}
	})
	t.Run("all queued data with a short tail", func(t *testing.T) {
		c := mk()
		c.write(t0, make([]byte, 2500))
		out := takeOut(c)
		wantSeg(t, out, 0, testISS+1, peerISS+1, FlagACK|FlagPSH, 2500)
		if len(out) != 1 || out[0].gso != testMSS {
			t.Fatalf("out %+v", out)
		}
	})
	t.Run("one segment is not a super-segment", func(t *testing.T) {
		c := mk()
		c.write(t0, make([]byte, testMSS))
		if out := takeOut(c); len(out) != 1 || out[0].gso != 0 {
			t.Fatalf("out %+v", out)
		}
	})
	t.Run("window-limited rounds down to whole segments", func(t *testing.T) {
		c := mk()
		c.sndWnd = 3500
		c.write(t0, make([]byte, 100_000))
		out := takeOut(c)
		if len(out) != 1 || out[0].dataLen != 3*testMSS || out[0].gso != testMSS {
			t.Fatalf("out %+v, want 3 segments in one", out)
		}
	})
	t.Run("SACK blocks come off the GSO size", func(t *testing.T) {
		c := mk()
		c.sackOn = true
		c.setLossRecovery()
		c.handleSegment(t0, data(peerISS+100, testISS+1, "x")) // a hole: one SACK block
		takeOut(c)
		c.write(t0, make([]byte, 100_000))
		out := takeOut(c)
		if len(out) != 1 || out[0].nsack != 1 || out[0].gso != testMSS-12 || out[0].dataLen%(testMSS-12) != 0 {
			t.Fatalf("out %+v, want gso %d", out, testMSS-12)
		}
	})
	t.Run("retransmissions are single segments", func(t *testing.T) {
		c := mk()
		c.write(t0, make([]byte, 100_000))
		takeOut(c)
		c.handleTimer(c.due(c.rtxAt))
		out := takeOut(c)
		if len(out) != 1 || out[0].dataLen != testMSS || out[0].gso != 0 {
			t.Fatalf("RTO retransmission %+v", out)
		}
		// The ACK of it opens cwnd to 2 segments: still retransmissions.
		c.handleSegment(c.due(c.rtxAt), ack(peerISS+1, testISS+1+testMSS))
		for _, o := range takeOut(c) {
			if o.dataLen > testMSS || o.gso != 0 {
				t.Fatalf("go-back-N resend %+v", o)
			}
		}
	})
}

// TestTSOSendWire moves data over a wire whose sender NIC offloads
// checksums and segmentation: the sender writes super-segments (GSO size
// a full segment less options) and partial checksums, and the data
// arrives byte-exact after the wire cut them, with and without loss and
// reordering (SACK and NewReno recovery with super-segments in flight).
func TestTSOSendWire(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		ab, ba linkFaults
		size   int
	}{
		{"clean", Options{}, linkFaults{offload: 65535}, linkFaults{offload: 65535}, 8 << 20},
		{"checksum offload only", Options{}, linkFaults{offload: -1}, linkFaults{offload: -1}, 1 << 20},
		{"loss and reordering, SACK", Options{}, linkFaults{seed: 1, loss: 0.02, reorder: 0.02, offload: 65535}, linkFaults{seed: 2, loss: 0.02, offload: 65535}, 4 << 20},
		{"loss, no SACK", Options{DisableSACK: true}, linkFaults{seed: 3, loss: 0.02, offload: 65535}, linkFaults{seed: 4, loss: 0.01, offload: 65535}, 2 << 20},
		{"loss, no timestamps", Options{DisableTimestamps: true}, linkFaults{seed: 5, loss: 0.02, offload: 65535}, linkFaults{seed: 6, offload: 65535}, 2 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runBulk(t, tt.opts, tt.size, tt.ab, tt.ba)
			for _, w := range []*segmentingWire{res.wireA, res.wireB} {
				w.check(t)
			}
			w := res.wireA
			t.Logf("A wrote %d packets (%d partial, %d super-segments, GSO sizes %v, largest payload %d) = %d segments; %d retransmits",
				w.packets, w.partial, w.supers, w.gsoSizes, w.maxLen, w.segments, res.retransmits)
			if tt.ab.offload > 0 && (w.supers == 0 || w.maxLen <= 1460) {
				t.Errorf("no super-segments: %d, largest payload %d", w.supers, w.maxLen)
			}
			if tt.ab.offload < 0 && (w.supers != 0 || w.partial == 0) {
				t.Errorf("checksum offload only: %d super-segments, %d partial", w.supers, w.partial)
			}
		})
	}
}

// TestTSONotOnLoopback: a local route never offloads.
func TestTSONotOnLoopback(t *testing.T) {
	s := stack.New(stack.Options{})
	defer s.Close()
	nic, err := s.AddNIC("eth0", offloadLink{nullLink{1500}, 65535})
	if err != nil {
		t.Fatal(err)
	}
	r := stack.Route{NIC: nic}
	if csum, gso := routeOffloads(r); !csum || gso != 65535-20-MaxHeaderLen {
		t.Errorf("offloading NIC: csum %v gso %d", csum, gso)
	}
	r.Local = true
	if csum, gso := routeOffloads(r); csum || gso != 0 {
		t.Errorf("local route: csum %v gso %d", csum, gso)
	}
	nic2, _ := s.AddNIC("eth1", nullLink{1500})
	if csum, gso := routeOffloads(stack.Route{NIC: nic2}); csum || gso != 0 {
		t.Errorf("plain NIC: csum %v gso %d", csum, gso)
	}
}

// TestStatelessRepliesOffloaded: the RST for a port nothing listens on,
// sent without a connection as a TIME_WAIT record's ACK is, leaves
// ChecksumPartial on a route that offloads checksums, as a connection's
// segments do (the offloading wire checks every packet; a TIME_WAIT ACK
// summed in software once failed TestTSOSendWire's loss row).
func TestStatelessRepliesOffloaded(t *testing.T) {
	tn := newTestNetFamilies(t, Options{}, linkFaults{offload: 65535}, linkFaults{offload: 65535}, 4)
	defer tn.close()
	ctx, cancel := contextTimeout(10 * time.Second)
	defer cancel()
	if c, err := Dial(ctx, tn.a, netipAddrPort(tn.ipB, 9)); err == nil {
		c.Close()
		t.Fatal("a dial to a port nothing listens on succeeded")
	}
	if tn.wireB.packets == 0 {
		t.Fatal("B sent nothing")
	}
	tn.wireB.check(t)
}
