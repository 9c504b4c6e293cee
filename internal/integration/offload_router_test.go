package integration

import (
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/tap"
)

// TestOffloadRouterTransfer: the router topology with offloads on both
// TAPs (the command's default): the kernels hand the router TCP
// super-segments (GSO) and packets whose checksum is only partial
// (NEEDS_CSUM). 100 MiB from A to B arrive byte-exact (SHA-256), and the
// counters show the router did get such packets and passed them on for
// the output TAP to segment and checksum. Before ipv4 knew about
// ChecksumPartial and GSOSize, this transfer stalled: the 64 KiB segments
// exceeded the MTU with DF set, and B dropped A's ACK-carrying partial
// checksums.
func TestOffloadRouterTransfer(t *testing.T) {
	tp := newRouterTopo(t, false)
	line, _ := startTapstack(t, tp.r, "tapstack: up on tap1 (bridge br1) as "+routerIn+"/24",
		"up", "--nic", "tap1,bridge=br1,addr="+routerIn+"/24", "--nic", "tap2,bridge=br2,addr="+routerOut+"/24,mtu=1400", "--forward")
	if !strings.Contains(line, "offload: tso+csum") {
		t.Fatalf("up line %q does not say offload: tso+csum", line)
	}
	hashSink(t, tp.b)
	d := transfer(t, tp, bulk)
	t.Logf("100 MiB A→B through tapstack with offloads in %v (%s), SHA-256 checked by B", d.Round(1e6), mibps(bulk, d))
	status, err := tp.r.Output(binary(t), "status")
	if err != nil {
		t.Fatal(err)
	}
	passed, offl := counter(status, "ipv4.fwd.gso_passed"), counter(status, "ipv4.fwd.csum_offloaded")
	t.Logf("ipv4.fwd: forwarded %d gso_passed %d csum_offloaded %d gso_segmented %d csum_completed %d",
		counter(status, "ipv4.fwd.forwarded"), passed, offl, counter(status, "ipv4.fwd.gso_segmented"), counter(status, "ipv4.fwd.csum_completed"))
	if passed == 0 || offl == 0 {
		t.Errorf("gso_passed %d csum_offloaded %d: the kernel handed the router no GSO or NEEDS_CSUM packets, so this test shows nothing", passed, offl)
	}
}

// TestOffloadRouterSoftwareFallback: the same transfer through an
// in-process router whose output TAP (towards B) is behind a capture
// decorator, which hides its offloads from the stack: the super-segments
// from A are cut into segments and the partial checksums completed in
// software (ipv4.fwd.gso_segmented, csum_completed), every segment fits
// B's 1400-byte MTU, and B gets the bytes exact; B's ACKs go the other way
// to the offloading TAP with their checksums left partial.
func TestOffloadRouterSoftwareFallback(t *testing.T) {
	tp := newRouterTopo(t, false)
	var d1, d2 *tap.Device
	if err := tp.r.Run(func() (err error) {
		if d1, err = tap.Open(tap.Config{Name: "tap1", Bridge: "br1"}); err != nil {
			return err
		}
		d2, err = tap.Open(tap.Config{Name: "tap2", Bridge: "br2", MTU: 1400})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !d1.Offload() || !d2.Offload() {
		t.Skip("the kernel refused TAP offloads")
	}
	hidden, err := link.NewCapture(d2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg := host.Config{Interfaces: []host.Interface{
		{Name: "tap1", Device: d1, Addr: netip.MustParsePrefix(routerIn + "/24")},
		{Name: "tap2", Device: hidden, Addr: netip.MustParsePrefix(routerOut + "/24")},
	}}
	cfg.IPv4.Forwarding = true
	h, err := host.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	hashSink(t, tp.b)
	dur := transfer(t, tp, bulk)
	c := h.Stack().Counters()
	s1, s2 := d1.Stats(), d2.Stats()
	t.Logf("100 MiB A→B in %v (%s); ipv4.fwd: gso_segmented %d gso_segments %d csum_completed %d csum_offloaded %d gso_passed %d",
		dur.Round(1e6), mibps(bulk, dur), c.Value("ipv4.fwd.gso_segmented"), c.Value("ipv4.fwd.gso_segments"),
		c.Value("ipv4.fwd.csum_completed"), c.Value("ipv4.fwd.csum_offloaded"), c.Value("ipv4.fwd.gso_passed"))
	t.Logf("tap1 rx GSO %d rx partial %d tx partial %d; tap2 tx frames %d tx GSO %d tx partial %d",
		s1.RxGSO, s1.RxChecksumPartial, s1.TxChecksumPartial, s2.TxFrames, s2.TxGSO, s2.TxChecksumPartial)
	if c.Value("ipv4.fwd.gso_segmented") == 0 || c.Value("ipv4.fwd.gso_passed") != 0 {
		t.Errorf("want software segmentation only towards the hidden TAP")
	}
	if s2.TxGSO != 0 || s2.TxChecksumPartial != 0 {
		t.Errorf("tap2 (offloads hidden) wrote %d GSO and %d partial-checksum frames", s2.TxGSO, s2.TxChecksumPartial)
	}
	if s1.RxGSO == 0 || s1.RxChecksumPartial == 0 {
		t.Errorf("tap1 received no GSO (%d) or partial-checksum (%d) frames: the test shows nothing", s1.RxGSO, s1.RxChecksumPartial)
	}
}
