package bond

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

// abBond is an active-backup bond over two wires whose far ends are
// returned; carrier[i] is slave i's carrier.
func abBond(t *testing.T, cfg Config) (*Bond, []*wireEnd, []*atomic.Bool, *vclock.Clock, *sink) {
	t.Helper()
	clk := vclock.New(t0)
	var scs []SlaveConfig
	var far []*wireEnd
	var carrier []*atomic.Bool
	for i := range 2 {
		x, y := newWire()
		c := new(atomic.Bool)
		c.Store(true)
		carrier = append(carrier, c)
		far = append(far, y)
		y.Attach(&sink{})
		scs = append(scs, SlaveConfig{Name: []string{"ta0", "ta1"}[i], Dev: x, Carrier: c.Load})
	}
	cfg.Name, cfg.MAC, cfg.Mode, cfg.Clock = "bond0", stack.MAC{2, 0, 0, 0, 0, 0xa}, ActiveBackup, clk
	b, err := New(cfg, scs)
	if err != nil {
		t.Fatal(err)
	}
	b.SetAddrs(func() []Addr {
		return []Addr{{Prefix: netip.MustParsePrefix("10.0.0.2/24")}, {VID: 10, Prefix: netip.MustParsePrefix("10.0.10.2/24")}, {Prefix: netip.MustParsePrefix("fd00::2/64")}}
	})
	up := &sink{}
	b.Attach(up)
	t.Cleanup(func() { b.Close() })
	return b, far, carrier, clk, up
}

// garps returns the IPv4 addresses (with VIDs) announced by gratuitous
// ARP in frames, and the IPv6 targets of unsolicited NAs.
func garps(frames [][]byte) []string {
	var out []string
	for _, f := range frames {
		vid, off := uint16(0), 12
		if binary.BigEndian.Uint16(f[12:]) == stack.EtherTypeVLAN {
			vid, off = binary.BigEndian.Uint16(f[14:])&0xfff, 16
		}
		et, p := binary.BigEndian.Uint16(f[off:]), f[off+2:]
		switch {
		case et == stack.EtherTypeARP && binary.BigEndian.Uint16(p[6:]) == 1 && string(p[14:18]) == string(p[24:28]):
			out = append(out, netip.AddrFrom4([4]byte(p[14:18])).String()+"@"+string(rune('0'+vid/10))+string(rune('0'+vid%10)))
		case et == stack.EtherTypeIPv6 && p[6] == 58 && p[40] == 136:
			out = append(out, netip.AddrFrom16([16]byte(p[48:64])).String()+" NA")
		}
	}
	return out
}

// TestActiveBackupFailover: the primary carries everything; when its
// carrier drops the backup takes over at the next poll and announces
// every address (per VLAN) with gratuitous ARP and IPv6 with an
// unsolicited NA; frames arriving on the backup are dropped while it
// stands by; the primary takes over again when it returns.
func TestActiveBackupFailover(t *testing.T) {
	b, far, carrier, clk, up := abBond(t, Config{Primary: "ta0"})
	if got := txSlaves(b); !slices.Equal(got, []string{"ta0"}) {
		t.Fatalf("sends on %v", got)
	}
	frame := tcpFrame(stack.MAC{2, 0, 0, 0, 0, 0xb}, b.MAC(), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1, 2)
	far[1].WriteFrame(frame.Clone())
	far[0].WriteFrame(frame)
	if up.n.Load() != 1 || b.slaves[1].Counters.RxDropped.Load() != 1 {
		t.Fatalf("delivered %d (want 1, from the active slave only), dropped on backup %d", up.n.Load(), b.slaves[1].Counters.RxDropped.Load())
	}
	carrier[0].Store(false)
	clk.Advance(100 * time.Millisecond)
	if got := txSlaves(b); !slices.Equal(got, []string{"ta1"}) {
		t.Fatalf("after the primary's carrier loss sends on %v", got)
	}
	want := []string{"10.0.0.2@00", "10.0.10.2@10", "fd00::2 NA"}
	// far[1] is the peer of slave 1: what slave 1 sent arrived there;
	// the wire records at the writer, so read slave 1's own end.
	if got := garps(b.slaves[1].dev.(*wireEnd).last()); !slices.Equal(got, want) {
		t.Fatalf("announced %v, want %v", got, want)
	}
	st := b.Status()
	if st.Active != "ta1" || st.Failovers != 1 || st.Slaves[0].LinkFailures != 1 {
		t.Fatalf("status %+v", st)
	}
	carrier[0].Store(true)
	clk.Advance(100 * time.Millisecond)
	if got := txSlaves(b); !slices.Equal(got, []string{"ta0"}) {
		t.Fatalf("primary back: sends on %v", got)
	}
}

// TestUnsolicitedNAChecksum (RFC 4861 7.2.6, RFC 8200 8.1): the NA we
// announce with has a valid ICMPv6 checksum, hop limit 255 and the
// Override flag.
func TestUnsolicitedNAChecksum(t *testing.T) {
	ip := netip.MustParseAddr("fd00::2")
	p := unsolicitedNA(stack.MAC{2, 0, 0, 0, 0, 0xa}, 0, ip)
	defer p.Release()
	f := p.Bytes()[14:]
	if f[7] != 255 || f[40+4]&0x20 == 0 {
		t.Fatalf("hop limit %d flags %#x", f[7], f[44])
	}
	var sum uint32
	src, dst := f[8:24], f[24:40]
	for i := 0; i < 16; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(src[i:])) + uint32(binary.BigEndian.Uint16(dst[i:]))
	}
	m := f[40:]
	sum += uint32(len(m)) + 58
	for i := 0; i < len(m); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(m[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	if sum != 0xffff {
		t.Fatalf("ICMPv6 checksum does not verify: %#x", sum)
	}
}

// TestARPMonitor: with arp_interval and arp_ip_target, the active slave
// probes the target every interval; a slave whose link silently drops
// everything (carrier still up) is down after two intervals and the
// backup, which still hears the segment, takes over.
func TestARPMonitor(t *testing.T) {
	target := netip.MustParseAddr("10.0.0.1")
	b, far, _, clk, _ := abBond(t, Config{ARPInterval: 100 * time.Millisecond, ARPTargets: []netip.Addr{target}})
	// Both far ends answer every probe, like a target behind two
	// switches.
	reply := func(i int) {
		f := arpFrame(b.MAC(), stack.MAC{2, 0, 0, 0, 0, 1}, 0, 2, target, b.MAC(), netip.MustParseAddr("10.0.0.2"))
		far[i].WriteFrame(f)
	}
	for range 5 {
		clk.Advance(100 * time.Millisecond)
		reply(0)
		reply(1)
	}
	if got := txSlaves(b); !slices.Equal(got, []string{"ta0"}) {
		t.Fatalf("sends on %v", got)
	}
	if n := b.slaves[0].dev.(*wireEnd).count(stack.EtherTypeARP); n < 4 {
		t.Fatalf("%d ARP probes on the active slave in 5 intervals", n)
	}
	// ta0's wire now drops everything silently.
	far[0].up.Store(false)
	b.slaves[0].dev.(*wireEnd).up.Store(false)
	took, ok := until(clk, 2*time.Second, func() bool {
		reply(1)
		return slices.Equal(txSlaves(b), []string{"ta1"})
	})
	if !ok {
		var sb strings.Builder
		b.Status().WriteProc(&sb)
		t.Fatalf("no failover:\n%s", sb.String())
	}
	t.Logf("failover after %v", took)
	if st := b.Status(); st.Slaves[0].ARPUp || !st.Slaves[0].MIIUp {
		t.Fatalf("slave 0: %+v", st.Slaves[0])
	}
}

// TestBalanceXORFlows: balance-xor with layer3+4 keeps each flow on one
// slave and uses both for eight flows; with layer2 one MAC pair is one
// slave; a slave whose carrier drops takes no traffic.
func TestBalanceXORFlows(t *testing.T) {
	for _, h := range []HashPolicy{Layer34, Layer2} {
		t.Run(h.String(), func(t *testing.T) {
			clk := vclock.New(t0)
			var ends []*wireEnd
			var scs []SlaveConfig
			carrier := []*atomic.Bool{new(atomic.Bool), new(atomic.Bool)}
			for i := range 2 {
				x, y := newWire()
				y.Attach(&sink{})
				carrier[i].Store(true)
				ends = append(ends, x)
				scs = append(scs, SlaveConfig{Name: []string{"ta0", "ta1"}[i], Dev: x, Carrier: carrier[i].Load})
			}
			b, err := New(Config{Name: "bond0", MAC: stack.MAC{2, 0, 0, 0, 0, 0xa}, Mode: BalanceXOR, Hash: h, Clock: clk}, scs)
			if err != nil {
				t.Fatal(err)
			}
			b.Attach(&sink{})
			defer b.Close()
			a, c := netip.MustParseAddr("10.0.7.1"), netip.MustParseAddr("10.0.7.2")
			for port := uint16(40000); port < 40008; port++ {
				before := []int{ends[0].count(stack.EtherTypeIPv4), ends[1].count(stack.EtherTypeIPv4)}
				for range 4 {
					b.WriteFrame(tcpFrame(b.MAC(), stack.MAC{2, 0, 0, 0, 0, 0xb}, a, c, port, 5001))
				}
				d0, d1 := ends[0].count(stack.EtherTypeIPv4)-before[0], ends[1].count(stack.EtherTypeIPv4)-before[1]
				if d0 != 4 && d1 != 4 {
					t.Fatalf("flow %d split %d/%d", port, d0, d1)
				}
			}
			n0, n1 := ends[0].count(stack.EtherTypeIPv4), ends[1].count(stack.EtherTypeIPv4)
			if h == Layer34 && (n0 == 0 || n1 == 0) {
				t.Fatalf("eight flows all on one slave: %d/%d", n0, n1)
			}
			if h == Layer2 && n0 != 0 && n1 != 0 {
				t.Fatalf("one MAC pair on two slaves: %d/%d", n0, n1)
			}
			carrier[0].Store(false)
			clk.Advance(100 * time.Millisecond)
			if got := txSlaves(b); !slices.Equal(got, []string{"ta1"}) {
				t.Fatalf("after carrier loss sends on %v", got)
			}
		})
	}
}

// TestWriteFailureTakesSlaveDown: a failing write takes the slave out
// at the next poll (here without a carrier to ask), and it is back once
// writes succeed again.
func TestWriteFailureTakesSlaveDown(t *testing.T) {
	clk := vclock.New(t0)
	x0, y0 := newWire()
	x1, y1 := newWire()
	y0.Attach(&sink{})
	y1.Attach(&sink{})
	b, err := New(Config{Name: "bond0", Mode: ActiveBackup, Clock: clk}, []SlaveConfig{{Name: "ta0", Dev: x0}, {Name: "ta1", Dev: x1}})
	if err != nil {
		t.Fatal(err)
	}
	b.Attach(&sink{})
	defer b.Close()
	x0.fail.Store(true)
	if err := b.WriteFrame(stack.NewPacketFrom(make([]byte, 60))); err == nil {
		t.Fatal("write on a failing slave succeeded")
	}
	clk.Advance(100 * time.Millisecond)
	if got := txSlaves(b); !slices.Equal(got, []string{"ta1"}) {
		t.Fatalf("sends on %v", got)
	}
	x0.fail.Store(false)
	clk.Advance(100 * time.Millisecond)
	if st := b.Status(); !st.Slaves[0].MIIUp || st.Slaves[0].LinkFailures != 1 || st.Active != "ta1" {
		t.Fatalf("after writes work again: %+v", st)
	}
}

// FuzzFrameHash: no frame panics the hash, and the chosen slave is in
// range.
func FuzzFrameHash(f *testing.F) {
	p := tcpFrame(stack.MAC{1}, stack.MAC{2}, netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("5.6.7.8"), 1, 2)
	f.Add(append([]byte(nil), p.Bytes()...))
	p.Release()
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 1, 0x86, 0xdd})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = frameHash(Layer34, b)
		_ = frameHash(Layer2, b)
	})
}
