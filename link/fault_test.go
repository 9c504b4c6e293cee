package link

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    FaultConfig
		wantErr string
	}{
		{"loss=2%,duplicate=1%,reorder=1%,corrupt=0.1%,seed=7", FaultConfig{Seed: 7,
			Tx: FaultRates{Loss: 0.02, Duplicate: 0.01, Reorder: 0.01, Corrupt: 0.001},
			Rx: FaultRates{Loss: 0.02, Duplicate: 0.01, Reorder: 0.01, Corrupt: 0.001}}, ""},
		{"", FaultConfig{}, ""},
		{"loss=1%,seed=3,mirror=on", FaultConfig{Seed: 3, Mirror: true, Tx: FaultRates{Loss: 0.01}, Rx: FaultRates{Loss: 0.01}}, ""},
		{"mirror=yes", FaultConfig{}, "fault mirror=yes: want on or off"},
		{" rx.loss = 0.5 , tx.corrupt=100% ", FaultConfig{Rx: FaultRates{Loss: 0.5}, Tx: FaultRates{Corrupt: 1}}, ""},
		{"loss=2%,tx.loss=0", FaultConfig{Rx: FaultRates{Loss: 0.02}}, ""},
		{"loss", FaultConfig{}, `fault "loss": want name=value, like loss=2%`},
		{"loss=abc", FaultConfig{}, "fault loss=abc: want a percentage like 2% or a fraction like 0.02"},
		{"loss=150%", FaultConfig{}, "fault loss=150%: rate must be between 0% and 100%"},
		{"loss=-1%", FaultConfig{}, "fault loss=-1%: rate must be between 0% and 100%"},
		{"loss=NaN", FaultConfig{}, "fault loss=NaN: rate must be between 0% and 100%"},
		{"jitter=1%", FaultConfig{}, "fault jitter=1%: want a duration like 1ms or 200us"},
		{"delay=1ms,jitter=200us,rate=100mbit,queue=50", FaultConfig{
			Tx: FaultRates{Delay: time.Millisecond, Jitter: 200 * time.Microsecond, Rate: 100e6, Queue: 50},
			Rx: FaultRates{Delay: time.Millisecond, Jitter: 200 * time.Microsecond, Rate: 100e6, Queue: 50}}, ""},
		{"tx.rate=1.5Gbit,rx.rate=64kbit,rx.delay=0", FaultConfig{Tx: FaultRates{Rate: 1.5e9}, Rx: FaultRates{Rate: 64e3}}, ""},
		{"rate=9600bit,tx.rate=0bit", FaultConfig{Rx: FaultRates{Rate: 9600}}, ""},
		{"corrupt-all=1%,rx.corrupt=2%", FaultConfig{Tx: FaultRates{Corrupt: 0.01, CorruptAll: true}, Rx: FaultRates{Corrupt: 0.02}}, ""},
		{"delay=-1ms", FaultConfig{}, "fault delay=-1ms: must not be negative"},
		{"delay=2h", FaultConfig{}, "fault delay=2h: at most 1h0m0s"},
		{"delay=5", FaultConfig{}, "fault delay=5: want a duration like 1ms or 200us"},
		{"rate=100", FaultConfig{}, "fault rate=100: want bits per second with a unit, like 100mbit (bit, kbit, mbit, gbit)"},
		{"rate=100mbps", FaultConfig{}, "fault rate=100mbps: want bits per second with a unit, like 100mbit (bit, kbit, mbit, gbit)"},
		{"rate=-1mbit", FaultConfig{}, "fault rate=-1mbit: must not be negative"},
		{"rate=0.5bit", FaultConfig{}, "fault rate=0.5bit: at least 1bit per second"},
		{"rate=1e30gbit", FaultConfig{}, "fault rate=1e30gbit: too large"},
		{"rate=NaNbit", FaultConfig{}, "fault rate=NaNbit: want bits per second with a unit, like 100mbit (bit, kbit, mbit, gbit)"},
		{"queue=0", FaultConfig{}, "fault queue=0: want a number of frames from 1 to 16777216"},
		{"queue=x", FaultConfig{}, "fault queue=x: want a number of frames from 1 to 16777216"},
		{"speed=1%", FaultConfig{}, `unknown fault "speed" (want loss, duplicate, reorder, corrupt, corrupt-all, delay, jitter, rate, queue, seed or mirror)`},
		{"up.loss=1%", FaultConfig{}, `fault "up.loss": direction must be tx or rx`},
		{"seed=-3", FaultConfig{}, `fault seed "-3": want a non-negative integer`},
	}
	for _, tt := range tests {
		got, err := ParseFaults(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseFaults(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseFaults(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// numbered returns a frame whose payload starts with n.
func numbered(n int) *stack.Packet {
	p := frame(macB, macA, 0x88b5, 64)
	binary.BigEndian.PutUint32(p.Bytes()[EthernetHeaderLen:], uint32(n))
	return p
}

func number(p *stack.Packet) int {
	return int(binary.BigEndian.Uint32(p.Bytes()[EthernetHeaderLen:]))
}

// runTx writes frames 0..n-1 through a Faulty on a recording device and
// returns the numbers of the frames that came out, in order. Without a
// clock in cfg it runs on a virtual one that stands still, so no held
// frame reaches MaxReorderHold however slowly the machine writes.
func runTx(t *testing.T, cfg FaultConfig, n int) ([]int, *Faulty) {
	t.Helper()
	if cfg.Clock == nil {
		cfg.Clock = vclock.New(t0)
	}
	start := stack.LivePackets()
	dev := &frameDev{mtu: 1500}
	f := NewFaulty(dev, cfg).(*Faulty)
	for i := range n {
		if err := f.WriteFrame(numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	var out []int
	for _, p := range dev.written {
		out = append(out, number(p))
	}
	dev.release()
	f.Close()
	checkLive(t, start)
	return out, f
}

func TestFaultyEachFault(t *testing.T) {
	out, f := runTx(t, FaultConfig{Tx: FaultRates{Loss: 1}}, 10)
	if len(out) != 0 || f.TxStats().Lost != 10 {
		t.Errorf("loss=100%%: out %v stats %+v", out, f.TxStats())
	}
	out, f = runTx(t, FaultConfig{Tx: FaultRates{Duplicate: 1}}, 3)
	if want := []int{0, 0, 1, 1, 2, 2}; !slices.Equal(out, want) || f.TxStats().Duplicated != 3 {
		t.Errorf("duplicate=100%%: out %v want %v stats %+v", out, want, f.TxStats())
	}
	out, f = runTx(t, FaultConfig{Tx: FaultRates{Reorder: 1}}, 5)
	// 0 held; 1 sent then 0; 2 held; 3 then 2; 4 held and released at Close.
	if want := []int{1, 0, 3, 2}; !slices.Equal(out, want) {
		t.Errorf("reorder=100%%: out %v want %v stats %+v", out, want, f.TxStats())
	}
	out, _ = runTx(t, FaultConfig{}, 4)
	if want := []int{0, 1, 2, 3}; !slices.Equal(out, want) {
		t.Errorf("no faults: out %v", out)
	}
}

// TestFaultyReorderHoldBounded: a frame held back for reordering leaves
// alone once it has waited MaxReorderHold for the next frame (a quiet
// link does not keep it), and not before; both directions. The frames
// come out through a Pipe into a channel, which orders the timer's
// writes before the test's reads.
func TestFaultyReorderHoldBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := stack.LivePackets()
		a, b := Pipe(1500)
		fa := NewFaulty(a, FaultConfig{Tx: FaultRates{Reorder: 1}}).(*Faulty)
		out := make(chanSink, 8)
		b.Attach(out)
		next := func() int {
			p := <-out
			defer p.Release()
			return number(p)
		}
		if err := fa.WriteFrame(numbered(0)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(MaxReorderHold - time.Microsecond)
		synctest.Wait()
		if len(out) != 0 {
			t.Fatalf("frame %d out before MaxReorderHold", next())
		}
		time.Sleep(time.Microsecond)
		synctest.Wait()
		if len(out) != 1 || next() != 0 {
			t.Fatal("frame 0 still held after MaxReorderHold")
		}
		// Held again, then released by the next frame, as before.
		fa.WriteFrame(numbered(1))
		fa.WriteFrame(numbered(2))
		time.Sleep(10 * MaxReorderHold)
		synctest.Wait()
		if got := []int{next(), next()}; !slices.Equal(got, []int{2, 1}) || len(out) != 0 {
			t.Fatalf("out %v, want [2 1]", got)
		}
		fa.Close()
		b.Close()

		c, d := Pipe(1500)
		fd := NewFaulty(d, FaultConfig{Rx: FaultRates{Reorder: 1}}).(*Faulty)
		in := make(chanSink, 8)
		fd.Attach(in)
		if err := c.WriteFrame(numbered(7)); err != nil {
			t.Fatal(err)
		}
		p := recv(t, in) // after MaxReorderHold of virtual time
		if number(p) != 7 {
			t.Errorf("rx: got frame %d", number(p))
		}
		p.Release()
		c.Close()
		fd.Close()
		checkLive(t, start)
	})
}

func TestFaultyCorruptAllFlipsOneBitOfACopy(t *testing.T) {
	start := stack.LivePackets()
	dev := &frameDev{mtu: 1500}
	f := NewFaulty(dev, FaultConfig{Seed: 3, Tx: FaultRates{Corrupt: 1, CorruptAll: true}})
	for i := range 50 {
		p := numbered(i)
		kept := p.Ref()
		orig := append([]byte(nil), p.Bytes()...)
		if err := f.WriteFrame(p); err != nil {
			t.Fatal(err)
		}
		got := dev.written[len(dev.written)-1].Bytes()
		if !bytes.Equal(got[:EthernetHeaderLen], orig[:EthernetHeaderLen]) {
			t.Fatalf("frame %d: Ethernet header corrupted", i)
		}
		diff := 0
		for j := range got {
			diff += bits.OnesCount8(got[j] ^ orig[j])
		}
		if diff != 1 {
			t.Fatalf("frame %d: %d bits differ, want 1", i, diff)
		}
		if !bytes.Equal(kept.Bytes(), orig) {
			t.Fatalf("frame %d: the writer's packet was modified", i)
		}
		kept.Release()
	}
	dev.release()
	f.Close()
	checkLive(t, start)
}

func TestFaultyDeterministicAndRoughlyAtRate(t *testing.T) {
	cfg, err := ParseFaults("loss=10%,duplicate=5%,reorder=5%,seed=42")
	if err != nil {
		t.Fatal(err)
	}
	a, fa := runTx(t, cfg, 5000)
	b, _ := runTx(t, cfg, 5000)
	if !slices.Equal(a, b) {
		t.Error("same seed, different faults")
	}
	cfg.Seed = 43
	c, _ := runTx(t, cfg, 5000)
	if slices.Equal(a, c) {
		t.Error("different seeds, same faults")
	}
	// Deterministic for the seed, so these bounds cannot flake.
	if s := fa.TxStats(); s.Lost < 400 || s.Lost > 600 || s.Duplicated < 150 || s.Duplicated > 350 || s.Reordered < 150 || s.Reordered > 350 {
		t.Errorf("stats %+v far from 10%%/5%%/5%% of 5000", s)
	}
}

// TestFaultyMirror: with mirror=on the frames received meet the faults
// the frames sent do, frame for frame (the same loss positions for a
// sender on either side of a benchmark).
func TestFaultyMirror(t *testing.T) {
	cfg, err := ParseFaults("loss=30%,seed=5,mirror=on")
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	sent, _ := runTx(t, cfg, n)
	start := stack.LivePackets()
	a, b := Pipe(1500)
	fb := NewFaulty(b, cfg).(*Faulty)
	c := make(chanSink, n)
	fb.Attach(c)
	for i := range n {
		if err := a.WriteFrame(numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	for range sent {
		p := recv(t, c)
		got = append(got, number(p))
		p.Release()
	}
	if !slices.Equal(got, sent) {
		t.Errorf("received %v, want the frames the transmit direction passed: %v", got, sent)
	}
	a.Close()
	fb.Close()
	checkLive(t, start)
}

// TestFaultyRx puts rx faults on the receiving end of a Pipe.
func TestFaultyRx(t *testing.T) {
	start := stack.LivePackets()
	a, b := Pipe(1500)
	fb := NewFaulty(b, FaultConfig{Rx: FaultRates{Duplicate: 1}, Tx: FaultRates{Loss: 1}}).(*Faulty)
	c := make(chanSink, 8)
	fb.Attach(c)
	if err := a.WriteFrame(numbered(7)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		p := recv(t, c)
		if number(p) != 7 {
			t.Errorf("got frame %d", number(p))
		}
		p.Release()
	}
	if s := fb.RxStats(); s.Duplicated != 1 {
		t.Errorf("rx stats %+v", s)
	}
	if err := fb.WriteFrame(numbered(8)); err != nil {
		t.Fatal(err)
	}
	if s := fb.TxStats(); s.Lost != 1 {
		t.Errorf("tx stats %+v", s)
	}
	a.Close()
	fb.Close()
	checkLive(t, start)
}

func FuzzParseFaults(f *testing.F) {
	f.Add("loss=2%,duplicate=1%,reorder=1%,corrupt=0.1%,seed=7")
	f.Add("rx.loss=0.5,tx.corrupt=100%")
	f.Add("loss=1e-3%,seed=18446744073709551615")
	f.Add("delay=1ms,jitter=200us,rate=100mbit,queue=50")
	f.Add("tx.rate=1.5gbit,rx.corrupt-all=1%,rx.queue=16777216")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseFaults(s)
		if err != nil {
			return
		}
		for _, r := range []FaultRates{c.Tx, c.Rx} {
			for _, v := range []float64{r.Loss, r.Duplicate, r.Reorder, r.Corrupt} {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("ParseFaults(%q) gave rate %v", s, v)
				}
			}
			if r.Delay < 0 || r.Delay > MaxFaultDelay || r.Jitter < 0 || r.Jitter > MaxFaultDelay {
				t.Fatalf("ParseFaults(%q) gave delay %v jitter %v", s, r.Delay, r.Jitter)
			}
			if r.Queue < 0 || r.Queue > MaxFaultQueue {
				t.Fatalf("ParseFaults(%q) gave queue %d", s, r.Queue)
			}
			if r.Rate > 0 {
				_ = transmitTime(65535+EthernetHeaderLen, r.Rate) // must not panic
			}
		}
	})
}

// ipv4Frame builds a frame carrying an IPv4 packet of ipLen bytes (its
// total length) padded to frameLen, behind the given VLAN TPIDs.
func ipv4Frame(tpids []uint16, ipLen, frameLen int) (p *stack.Packet, ipStart int) {
	p = stack.NewPacket(stack.Headroom, frameLen)
	b := p.Bytes()
	for i := range b {
		b[i] = byte(i * 7)
	}
	off := 12
	for _, tpid := range tpids {
		binary.BigEndian.PutUint16(b[off:], tpid)
		binary.BigEndian.PutUint16(b[off+2:], 10) // VID 10
		off += VLANTagLen
	}
	binary.BigEndian.PutUint16(b[off:], stack.EtherTypeIPv4)
	ipStart = off + 2
	b[ipStart] = 0x45
	binary.BigEndian.PutUint16(b[ipStart+2:], uint16(ipLen))
	return p, ipStart
}

// TestFaultyCorruptOnlyIPv4 checks that by default corruption flips one
// bit of the IPv4 packet of IPv4 frames (untagged, 802.1Q, QinQ; never the
// tags or the padding) and leaves every other frame alone.
func TestFaultyCorruptOnlyIPv4(t *testing.T) {
	type tc struct {
		name     string
		make     func() (*stack.Packet, int, int) // frame, first and end of the corruptible range (0, 0: none)
		corrupts bool
	}
	ip := func(tpids []uint16, ipLen, frameLen int) func() (*stack.Packet, int, int) {
		return func() (*stack.Packet, int, int) {
			p, start := ipv4Frame(tpids, ipLen, frameLen)
			return p, start, start + ipLen
		}
	}
	other := func(tpids []uint16, et uint16, n int) func() (*stack.Packet, int, int) {
		return func() (*stack.Packet, int, int) {
			p, start := ipv4Frame(tpids, 20, max(n, 14+4*len(tpids)+4))
			binary.BigEndian.PutUint16(p.Bytes()[start-2:], et)
			p.SetLen(n)
			return p, 0, 0
		}
	}
	tests := []tc{
		{"ipv4", ip(nil, 1500, 1514), true},
		{"ipv4 padded", ip(nil, 28, 60), true},
		{"ipv4 802.1Q", ip([]uint16{stack.EtherTypeVLAN}, 100, 118), true},
		{"ipv4 QinQ", ip([]uint16{stack.EtherTypeQinQ, stack.EtherTypeVLAN}, 100, 122), true},
		// A bogus total length: the whole rest of the frame may be hit.
		{"ipv4 bad length", func() (*stack.Packet, int, int) {
			p, start := ipv4Frame(nil, 3, 60)
			return p, start, 60
		}, true},
		{"arp", other(nil, stack.EtherTypeARP, 60), false},
		{"arp 802.1Q", other([]uint16{stack.EtherTypeVLAN}, stack.EtherTypeARP, 64), false},
		{"three tags", other([]uint16{stack.EtherTypeVLAN, stack.EtherTypeVLAN, stack.EtherTypeVLAN}, stack.EtherTypeIPv4, 80), false},
		{"ipv6", other(nil, 0x86dd, 80), false},
		{"header only", other(nil, stack.EtherTypeIPv4, 14), false},
		{"runt", other(nil, stack.EtherTypeIPv4, 13), false},
		{"tag cut", other([]uint16{stack.EtherTypeVLAN}, stack.EtherTypeIPv4, 16), false},
	}
	for _, tt := range tests {
		start := stack.LivePackets()
		dev := &frameDev{mtu: 9000}
		f := NewFaulty(dev, FaultConfig{Seed: 5, Tx: FaultRates{Corrupt: 1}}).(*Faulty)
		const n = 200
		for range n {
			p, from, to := tt.make()
			orig := slices.Clone(p.Bytes())
			f.WriteFrame(p)
			got := dev.written[len(dev.written)-1].Bytes()
			var flipped []int
			for j := range got {
				for range bits.OnesCount8(got[j] ^ orig[j]) {
					flipped = append(flipped, j)
				}
			}
			switch {
			case !tt.corrupts && len(flipped) != 0:
				t.Fatalf("%s: bytes %v changed", tt.name, flipped)
			case tt.corrupts && (len(flipped) != 1 || flipped[0] < from || flipped[0] >= to):
				t.Fatalf("%s: flipped bits in bytes %v, want one in [%d, %d)", tt.name, flipped, from, to)
			}
		}
		want := uint64(0)
		if tt.corrupts {
			want = n
		}
		if s := f.TxStats(); s.Corrupted != want {
			t.Errorf("%s: %d counted corrupted, want %d", tt.name, s.Corrupted, want)
		}
		dev.release()
		f.Close()
		checkLive(t, start)
	}
}

// TestFaultyCorruptDrawsUnchanged: frames that are not corrupted still
// consume the same random draws, so the other faults of a seed do not
// depend on which frames carry IPv4.
func TestFaultyCorruptDrawsUnchanged(t *testing.T) {
	base := FaultConfig{Seed: 9, Tx: FaultRates{Loss: 0.3, Reorder: 0.2}}
	withCorrupt := base
	withCorrupt.Tx.Corrupt = 0.5
	a, _ := runTx(t, base, 500)
	b, f := runTx(t, withCorrupt, 500) // numbered frames are not IPv4
	if !slices.Equal(a, b) {
		t.Error("enabling corruption of non-IPv4 frames changed the other faults")
	}
	if s := f.TxStats(); s.Corrupted != 0 {
		t.Errorf("%d non-IPv4 frames corrupted", s.Corrupted)
	}
}
