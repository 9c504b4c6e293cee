package link

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"testing"

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
		{" rx.loss = 0.5 , tx.corrupt=100% ", FaultConfig{Rx: FaultRates{Loss: 0.5}, Tx: FaultRates{Corrupt: 1}}, ""},
		{"loss=2%,tx.loss=0", FaultConfig{Rx: FaultRates{Loss: 0.02}}, ""},
		{"loss", FaultConfig{}, `fault "loss": want name=value, like loss=2%`},
		{"loss=abc", FaultConfig{}, "fault loss=abc: want a percentage like 2% or a fraction like 0.02"},
		{"loss=150%", FaultConfig{}, "fault loss=150%: rate must be between 0% and 100%"},
		{"loss=-1%", FaultConfig{}, "fault loss=-1%: rate must be between 0% and 100%"},
		{"loss=NaN", FaultConfig{}, "fault loss=NaN: rate must be between 0% and 100%"},
		{"jitter=1%", FaultConfig{}, `unknown fault "jitter" (want loss, duplicate, reorder, corrupt or seed)`},
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
// returns the numbers of the frames that came out, in order.
func runTx(t *testing.T, cfg FaultConfig, n int) ([]int, *Faulty) {
	t.Helper()
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

func TestFaultyCorruptFlipsOneBitOfACopy(t *testing.T) {
	start := stack.LivePackets()
	dev := &frameDev{mtu: 1500}
	f := NewFaulty(dev, FaultConfig{Seed: 3, Tx: FaultRates{Corrupt: 1}})
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
		}
	})
}
