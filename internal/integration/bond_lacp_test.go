package integration

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link/bond"
	"github.com/tapstack/tapstack/stack"
)

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
	needTools(t, "ip")
	ns := netnstest.New(t)
	needTools(t, "tc")
	startTapstack(t, ns, "tapstack: up on bond0 as 10.0.7.1/24",
		"up", "--bond", "bond0,slaves=ta0+ta1,mode=802.3ad,lacp_rate=fast,xmit_hash_policy=layer3+4",
		"--nic", "bond0,addr=10.0.7.1/24,mac=02:00:00:00:07:01", "--no-dad")
	h, b := bondHost(t, ns, bond.Config{Name: "bond1", MAC: stack.MAC{2, 0, 0, 0, 7, 2}, Mode: bond.LACP, LACPFast: true, Hash: bond.Layer34},
		[]string{"tb0", "tb1"}, []string{"", ""},
		[]host.Interface{{Name: "bond1", Addr: netip.MustParsePrefix("10.0.7.2/24")}})
	cable(t, ns, "ta0", "tb0")
	cable(t, ns, "ta1", "tb1")

	both := func() bool {
		out := bondCmd(t, ns, "bond0")
		return len(carrying(b)) == 2 && strings.Count(out, "Mux State: COLLECTING_DISTRIBUTING") == 2 && strings.Contains(out, "Number of ports: 2")
	}
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
