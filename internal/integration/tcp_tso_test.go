package integration

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/tap"
)

// TestTCPTSODownload: a tapstack host on an offloading TAP (virtio-net
// header, CSUM and TSO4) serves 64 MiB to a Linux client on the bridge.
// tapstack writes TCP super-segments with partial checksums and the
// kernel cuts and completes them: the client's SHA-256 matches, the TAP
// wrote GSO frames, and frames average more than the MTU.
func TestTCPTSODownload(t *testing.T) {
	ns := bridgeNS(t)
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tap0", Bridge: "br0"})
		return err
	}); err != nil {
		t.Fatalf("open tap0: %v", err)
	}
	if !dev.Offload() {
		dev.Close()
		t.Skip("the kernel refused IFF_VNET_HDR/TUNSETOFFLOAD")
	}
	h, err := host.New(host.Config{
		Interfaces: []host.Interface{{Name: "tap0", Device: dev, Addr: netip.MustParsePrefix(hostAddr + "/24")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	const size = 64 << 20
	serveDownload(t, h, size, func(ctx context.Context) (net.Conn, error) { return linuxDial(ctx, ns, "tcp4", hostAddr+":5001") })
	s := dev.Stats()
	t.Logf("tap stats %+v (%.0f bytes per written frame)", s, float64(s.TxBytes)/float64(s.TxFrames))
	if s.TxGSO == 0 {
		t.Errorf("no GSO frame written: %+v", s)
	}
	if s.TxBytes/s.TxFrames <= 1514 {
		t.Errorf("written frames average %d bytes, not more than the MTU", s.TxBytes/s.TxFrames)
	}
	cs := h.Stack().Counters()
	t.Logf("tcp: %d segments sent, %d retransmits", cs.Get("tcp.tx.segments").Load(), cs.Get("tcp.tx.retransmits").Load())
}
