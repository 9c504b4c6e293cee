package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/lacp"
	"github.com/tapstack/tapstack/link/bond"
	"github.com/tapstack/tapstack/stack"
)

// lacpPair starts `tapstack up --bond bond0,slaves=ta0+ta1,mode=802.3ad,
// lacp_rate=fast,xmit_hash_policy=layer3+4` as 10.0.7.1 and an
// in-process host 10.0.7.2 on its own 802.3ad bond over tb0 and tb1,
// cabled ta0-tb0 and ta1-tb1; opts are more options of the --bond.
// both reports whether both bonds collect and distribute on both links.
func lacpPair(t *testing.T, opts string) (ns *netnstest.NS, h *host.Host, b *bond.Bond, both func() bool) {
	t.Helper()
	needTools(t, "ip")
	ns = netnstest.New(t)
	needTools(t, "tc")
	startTapstack(t, ns, "tapstack: up on bond0 as 10.0.7.1/24",
		"up", "--bond", "bond0,slaves=ta0+ta1,mode=802.3ad,lacp_rate=fast,xmit_hash_policy=layer3+4"+opts,
		"--nic", "bond0,addr=10.0.7.1/24,mac=02:00:00:00:07:01", "--no-dad")
	h, b = bondHost(t, ns, bond.Config{Name: "bond1", MAC: stack.MAC{2, 0, 0, 0, 7, 2}, Mode: bond.LACP, LACPFast: true, Hash: bond.Layer34},
		[]string{"tb0", "tb1"}, []string{"", ""},
		[]host.Interface{{Name: "bond1", Addr: netip.MustParsePrefix("10.0.7.2/24")}})
	cable(t, ns, "ta0", "tb0")
	cable(t, ns, "ta1", "tb1")
	both = func() bool {
		out := bondCmd(t, ns, "bond0")
		return len(carrying(b)) == 2 && strings.Count(out, "Mux State: COLLECTING_DISTRIBUTING") == 2 && strings.Contains(out, "Number of ports: 2")
	}
	return ns, h, b, both
}

// TestBond8023adBackToBack is issue 18's acceptance 1: `tapstack up
// --bond ...,mode=802.3ad,lacp_rate=fast,xmit_hash_policy=layer3+4` and
// an in-process host with its own 802.3ad bond, back to back over two
// links, reach COLLECTING_DISTRIBUTING on both links; eight TCP echo
// flows use both links (per-slave counters); cutting one link silently
// (only LACP can tell) moves every flow to the other link while the
// flows continue byte-exact, and restoring it re-aggregates; taking a
// TAP down (carrier, through netlink) does the same on the other link.
//
// The links are tc mirred redirects between the two TAPs, not Linux
// bridges: a bridge never forwards the Slow Protocols group address
// 01:80:c2:00:00:02 (BR_GROUPFWD_RESTRICTED; group_fwd_mask refuses
// it), so LACP cannot run across one, with Linux's bonding driver
// either. LACPDUs captured on ta1 decode in tshark's lacp dissector
// with nothing malformed (acceptance 4).
func TestBond8023adBackToBack(t *testing.T) {
	ns, h, b, both := lacpPair(t, "")
	took, ok := waitFor(15*time.Second, both)
	if !ok {
		t.Fatalf("not aggregated after %v: in-process bond carries on %v; tapstack bond:\n%s", took, carrying(b), bondCmd(t, ns, "bond0"))
	}
	t.Logf("both bonds collecting/distributing on both links after %v", took)
	capDone := captureLACPDUs(t, ns, "ta1")

	// Sixteen flows (eight left all on one link 1 time in 128), each on
	// one link, both links used; they go on
	// through the loss of a link and its return.
	lost, back, down := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	before := b.Status()
	for i := range 16 {
		c := dialEcho(t, h, "10.0.7.1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			errs <- phasedEcho(c, uint64(i+1), 128<<10, lost, back, down)
		}()
	}
	// Wait until every flow sent its first chunk and both links carried
	// some of it.
	if _, ok := waitFor(10*time.Second, func() bool {
		st := b.Status()
		return st.Slaves[0].TxFrames-before.Slaves[0].TxFrames > 100 && st.Slaves[1].TxFrames-before.Slaves[1].TxFrames > 100
	}); !ok {
		st := b.Status()
		t.Fatalf("sixteen layer3+4 flows did not use both links: tx frames %d and %d", st.Slaves[0].TxFrames-before.Slaves[0].TxFrames, st.Slaves[1].TxFrames-before.Slaves[1].TxFrames)
	}
	out := bondCmd(t, ns, "bond0")
	rx0, _ := counters(slaveSection(out, "ta0"))
	rx1, _ := counters(slaveSection(out, "ta1"))
	if rx0 == 0 || rx1 == 0 {
		t.Fatalf("tapstack received on ta0 %d and ta1 %d frames:\n%s", rx0, rx1, out)
	}
	t.Logf("per-slave rx frames of tapstack: ta0 %d, ta1 %d", rx0, rx1)

	// A silent link loss: the ta0-tb0 cable is cut, both TAPs stay up.
	cut(t, ns, "ta0", "tb0")
	lossAt := time.Now()
	took, ok = waitFor(15*time.Second, func() bool {
		c := carrying(b)
		out := bondCmd(t, ns, "bond0")
		return len(c) == 1 && c[0] == "tb1" && strings.Contains(slaveSection(out, "ta0"), "Mux State: ATTACHED") || strings.Contains(slaveSection(out, "ta0"), "Mux State: DETACHED") && len(c) == 1
	})
	if !ok {
		t.Fatalf("after the ta0-tb0 cable was cut: in-process bond carries on %v; tapstack:\n%s", carrying(b), bondCmd(t, ns, "bond0"))
	}
	t.Logf("both bonds moved off the silent link %v after it went (3 fast LACP periods are 3s)", took)
	close(lost)
	aBefore := b.Status().Slaves[0].TxFrames
	// Every flow now runs on tb1/ta1: tb0 sends nothing but LACPDUs.
	if _, ok := waitFor(20*time.Second, func() bool {
		st := b.Status()
		return st.Slaves[1].TxFrames > before.Slaves[1].TxFrames+2000
	}); !ok {
		t.Fatal("the flows did not continue on tb1")
	}
	if d := b.Status().Slaves[0].TxFrames - aBefore; d > 20 {
		t.Errorf("tb0 sent %d data frames after it left the aggregation", d)
	}

	cable(t, ns, "ta0", "tb0")
	took, ok = waitFor(15*time.Second, both)
	if !ok {
		t.Fatalf("not re-aggregated: %v\n%s", carrying(b), bondCmd(t, ns, "bond0"))
	}
	t.Logf("re-aggregated %v after the cable was restored (%v after the loss)", took, time.Since(lossAt))
	close(back)

	// A loss seen by carrier on one side: ta1 goes down. tapstack's
	// netlink poll drops it at once, the in-process bond by LACP timeout.
	if out, err := ns.Output("ip", "link", "set", "ta1", "down"); err != nil {
		t.Fatal(err, out)
	}
	took, ok = waitFor(15*time.Second, func() bool {
		c := carrying(b)
		sec := slaveSection(bondCmd(t, ns, "bond0"), "ta1")
		return len(c) == 1 && c[0] == "tb0" && strings.Contains(sec, "MII Status: down") && strings.Contains(sec, "Link Failure Count: 1")
	})
	if !ok {
		t.Fatalf("after ta1 went down: in-process bond carries on %v; tapstack:\n%s", carrying(b), bondCmd(t, ns, "bond0"))
	}
	t.Logf("both bonds moved off ta1-tb1 %v after ta1 went down", took)
	close(down)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	capDone()
	t.Logf("tapstack bond bond0:\n%s", bondCmd(t, ns, "bond0"))
}

// TestBond8023adFailover100MiB is the rest of issue 18's acceptance 1:
// one 100 MiB TCP transfer (tapstack's chargen, RFC 864, to the
// in-process host, which checks every byte against the chargen stream)
// goes on byte-exact while the link carrying it is cut silently (only
// LACP can tell), restored, then lost again by tapstack's TAP going
// down (carrier) and brought back. Each time the data moves to the
// other link (per-slave counters of both bonds: all of the data of the
// phase goes over the surviving link), and after the restore both bonds
// re-aggregate and the flow's hash puts it back on its link. How long
// each failover took, in fast LACP periods (1 s), is logged, not
// asserted.
//
// The reader pauses at each step (the window closes, tapstack's data
// waits) so the test knows which link the hash chose before it cuts
// that link; the transfer then resumes into the cut link.
func TestBond8023adFailover100MiB(t *testing.T) {
	ns, h, b, both := lacpPair(t, "")
	if took, ok := waitFor(15*time.Second, both); !ok {
		t.Fatalf("not aggregated after %v: in-process bond carries on %v; tapstack bond:\n%s", took, carrying(b), bondCmd(t, ns, "bond0"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, err := h.DialContext(ctx, "tcp", "10.0.7.1:19")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(120 * time.Second))

	const MiB = 1 << 20
	marks := []int64{8 * MiB, 35 * MiB, 43 * MiB, 70 * MiB, 100 * MiB}
	gates := make([]chan struct{}, len(marks)-1)
	for k := range gates {
		gates[k] = make(chan struct{})
	}
	var got atomic.Int64
	readErr := make(chan error, 1)
	start := time.Now()
	go func() { readErr <- readChargen(c, marks, gates, &got) }()
	// reached waits until the reader stopped at marks[k].
	reached := func(k int) {
		t.Helper()
		if _, ok := waitFor(60*time.Second, func() bool { return got.Load() >= marks[k] }); !ok {
			select {
			case err := <-readErr:
				t.Fatalf("chargen: %v after %d bytes", err, got.Load())
			default:
			}
			t.Fatalf("the transfer stalled at %d bytes (before %d); in-process bond carries on %v; tapstack:\n%s", got.Load(), marks[k], carrying(b), bondCmd(t, ns, "bond0"))
		}
	}
	rx := func(i int) uint64 { return b.Status().Slaves[i].RxFrames }
	// busiest is the slave of the in-process bond that received more
	// frames since st.
	busiest := func(st bond.Status) int {
		now := b.Status()
		if now.Slaves[1].RxFrames-st.Slaves[1].RxFrames > now.Slaves[0].RxFrames-st.Slaves[0].RxFrames {
			return 1
		}
		return 0
	}
	// txBytes reads tapstack's tx bytes on ta0 and ta1.
	txBytes := func() (n [2]uint64) {
		out := bondCmd(t, ns, "bond0")
		for i := range n {
			_, line, _ := strings.Cut(slaveSection(out, fmt.Sprintf("ta%d", i)), ", tx ")
			fmt.Sscanf(line, "%d frames %d bytes", new(uint64), &n[i])
		}
		return n
	}
	// lose runs one failure of link i, done by fail, from the pause at
	// marks[k] to the pause at marks[k+1]; gone tells when tapstack's
	// side of link i is out of the aggregation.
	lose := func(what string, k, i int, fail func(), gone func(sec string) bool) {
		t.Helper()
		o := 1 - i
		tx0, base := txBytes(), rx(o)
		fail()
		lossAt := time.Now()
		close(gates[k])
		dropped, ok := waitFor(15*time.Second, func() bool { c := carrying(b); return len(c) == 1 && c[0] == fmt.Sprintf("tb%d", o) })
		if !ok {
			t.Fatalf("%s: the in-process bond still carries on %v", what, carrying(b))
		}
		t.Logf("%s: the in-process bond dropped link %d after %v (%.1f fast LACP periods)", what, i, dropped, dropped.Seconds()/lacp.FastPeriodicTime.Seconds())
		took, ok := waitFor(20*time.Second, func() bool { return rx(o) > base+200 })
		took += dropped
		if !ok {
			t.Fatalf("%s: the data did not move to tb%d: in-process bond carries on %v; tapstack:\n%s", what, o, carrying(b), bondCmd(t, ns, "bond0"))
		}
		t.Logf("%s: the transfer moved to link %d after %v (%.1f fast LACP periods)", what, o, took, took.Seconds()/lacp.FastPeriodicTime.Seconds())
		if _, ok := waitFor(15*time.Second, func() bool {
			c := carrying(b)
			return len(c) == 1 && c[0] == fmt.Sprintf("tb%d", o) && gone(slaveSection(bondCmd(t, ns, "bond0"), fmt.Sprintf("ta%d", i)))
		}); !ok {
			t.Fatalf("%s: the bonds did not drop link %d: in-process bond carries on %v; tapstack:\n%s", what, i, carrying(b), bondCmd(t, ns, "bond0"))
		}
		t.Logf("%s: both bonds dropped link %d %v after the loss", what, i, time.Since(lossAt))
		txDrop := txBytes()
		reached(k + 1)
		tx1 := txBytes()
		// Every byte of the phase arrived, so what was sent in it
		// went over the survivor (what went on the lost link before
		// the bonds noticed was lost): all of the phase but what the
		// receiver held when the phase began, at most its largest
		// receive window (tcp's MaxReceiveBuffer, 6 MiB). Once out,
		// the lost link carries at most a few LACPDUs (124 bytes
		// each), no data.
		const rcvBufMax = 6 * MiB
		phase := uint64(marks[k+1] - marks[k])
		t.Logf("%s: tapstack sent %d bytes on ta%d and %d on ta%d (%d of them after the drop) for the %d bytes of the phase",
			what, tx1[o]-tx0[o], o, tx1[i]-tx0[i], i, tx1[i]-txDrop[i], phase)
		if tx1[o]-tx0[o] < phase-rcvBufMax || tx1[i]-txDrop[i] > 1024 {
			t.Errorf("%s: of %d bytes of the transfer tapstack sent %d bytes on ta%d (the survivor), and %d on ta%d after the bonds dropped it", what, phase, tx1[o]-tx0[o], o, tx1[i]-txDrop[i], i)
		}
	}
	// restore brings link i back and opens the gate at marks[k] once
	// both bonds re-aggregated; at marks[k+1] the flow must be back on
	// link i (the layer3+4 hash over the same two links).
	restore := func(what string, k, i int, fix func()) {
		t.Helper()
		fix()
		took, ok := waitFor(15*time.Second, both)
		if !ok {
			t.Fatalf("%s: not re-aggregated: %v\n%s", what, carrying(b), bondCmd(t, ns, "bond0"))
		}
		t.Logf("%s: re-aggregated %v after the restore", what, took)
		st := b.Status()
		close(gates[k])
		if k+1 < len(gates) {
			reached(k + 1)
		} else if err := <-readErr; err != nil {
			t.Fatalf("chargen: %v after %d bytes", err, got.Load())
		}
		if j := busiest(st); j != i {
			t.Errorf("%s: after re-aggregation the flow arrives on link %d, not back on %d", what, j, i)
		}
	}

	before := b.Status()
	reached(0)
	i := busiest(before)
	ta, tb := fmt.Sprintf("ta%d", i), fmt.Sprintf("tb%d", i)
	t.Logf("the transfer runs on link %d (%s-%s)", i, ta, tb)
	lose("silent cut", 0, i, func() { cut(t, ns, ta, tb) }, func(sec string) bool {
		return strings.Contains(sec, "Mux State: ATTACHED") || strings.Contains(sec, "Mux State: DETACHED")
	})
	restore("silent cut", 1, i, func() { cable(t, ns, ta, tb) })
	lose(ta+" down", 2, i, func() {
		if out, err := ns.Output("ip", "link", "set", ta, "down"); err != nil {
			t.Fatal(err, out)
		}
	}, func(sec string) bool { return strings.Contains(sec, "MII Status: down") })
	restore(ta+" down", 3, i, func() {
		if out, err := ns.Output("ip", "link", "set", ta, "up"); err != nil {
			t.Fatal(err, out)
		}
	})
	st := b.Status()
	t.Logf("100 MiB arrived byte-exact in %v through two failovers and two re-aggregations; in-process rx frames tb0 %d, tb1 %d",
		time.Since(start), st.Slaves[0].RxFrames, st.Slaves[1].RxFrames)
}

// chargenPeriod is two periods of the RFC 864 stream tapstack's chargen
// sends: 95 lines of 72 characters from the rotating printable set,
// each line starting one character later, then CR LF.
var chargenPeriod = func() []byte {
	var b []byte
	for range 2 {
		for i := range 95 {
			for k := range 72 {
				b = append(b, byte(' '+(i+k)%95))
			}
			b = append(b, '\r', '\n')
		}
	}
	return b
}()

// readChargen reads a chargen stream from c up to marks[len(marks)-1]
// bytes, checking each byte; at marks[k] it waits for gates[k] to close.
// got follows the bytes checked.
func readChargen(c net.Conn, marks []int64, gates []chan struct{}, got *atomic.Int64) error {
	const period = 95 * 74
	buf := make([]byte, 64<<10)
	var n int64
	for k, mark := range marks {
		for n < mark {
			m, err := c.Read(buf[:min(int64(len(buf)), mark-n)])
			for j := 0; j < m; {
				off := int((n + int64(j)) % period)
				l := min(m-j, period)
				if !bytes.Equal(buf[j:j+l], chargenPeriod[off:off+l]) {
					return fmt.Errorf("byte %d..%d differs from the chargen stream", n+int64(j), n+int64(j+l))
				}
				j += l
			}
			n += int64(m)
			got.Store(n)
			if err != nil {
				return err
			}
		}
		if k < len(gates) {
			<-gates[k]
		}
	}
	return nil
}

// TestBondLinuxOptions: `tapstack up --bond ...,lacp_active=off,
// min_links=2,updelay=200,downdelay=100` prints those options as
// /proc/net/bonding does; the passive bond aggregates with an active
// partner (it answers the partner's LACPDUs, 802.1AX-2014 6.4.13); with
// one link down it is under min_links, so its MII Status is down and it
// sends nothing: a ping from the partner fails; back to two links it
// carries again.
func TestBondLinuxOptions(t *testing.T) {
	ns, h, b, both := lacpPair(t, ",lacp_active=off,min_links=2,updelay=200,downdelay=100")
	if took, ok := waitFor(15*time.Second, both); !ok {
		t.Fatalf("the passive bond did not aggregate with the active one after %v:\n%s", took, bondCmd(t, ns, "bond0"))
	}
	out := bondCmd(t, ns, "bond0")
	for _, want := range []string{"Up Delay (ms): 200\n", "Down Delay (ms): 100\n", "LACP active: off\n", "Min links: 2\n",
		"port state: 62 (short_timeout,aggregation,synchronization,collecting,distributing)"} {
		if !strings.Contains(out, want) {
			t.Errorf("tapstack bond lacks %q:\n%s", want, out)
		}
	}
	connect := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := h.DialContext(ctx, "tcp", "10.0.7.1:7")
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := connect(); err != nil {
		t.Fatalf("connect to tapstack's echo over the aggregated bonds: %v", err)
	}
	if out, err := ns.Output("ip", "link", "set", "ta1", "down"); err != nil {
		t.Fatal(err, out)
	}
	if _, ok := waitFor(15*time.Second, func() bool {
		out := bondCmd(t, ns, "bond0")
		return strings.Contains(out, "Transmit Hash Policy: layer3+4 (1)\nMII Status: down\n") && strings.Contains(slaveSection(out, "ta1"), "MII Status: down")
	}); !ok {
		t.Fatalf("with one link of min_links 2 the bond is not down:\n%s", bondCmd(t, ns, "bond0"))
	}
	if _, ok := waitFor(15*time.Second, func() bool { c := carrying(b); return len(c) == 1 && c[0] == "tb0" }); !ok {
		t.Fatalf("the in-process bond carries on %v", carrying(b))
	}
	if err := connect(); err == nil {
		t.Errorf("tapstack answered through a bond under min_links")
	}
	if out, err := ns.Output("ip", "link", "set", "ta1", "up"); err != nil {
		t.Fatal(err, out)
	}
	if _, ok := waitFor(15*time.Second, both); !ok {
		t.Fatalf("not re-aggregated:\n%s", bondCmd(t, ns, "bond0"))
	}
	if err := connect(); err != nil {
		t.Errorf("connect after re-aggregation: %v", err)
	}
}
