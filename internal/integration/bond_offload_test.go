package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/link/bond"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// offloadTaps opens TAPs with the virtio-net header (CSUM, TSO) on br0
// in ns, skipping t when the kernel refuses the offloads.
func offloadTaps(t *testing.T, ns *netnstest.NS, names ...string) []*tap.Device {
	t.Helper()
	var devs []*tap.Device
	for _, name := range names {
		var dev *tap.Device
		if err := ns.Run(func() (err error) {
			dev, err = tap.Open(tap.Config{Name: name, Bridge: "br0"})
			return err
		}); err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		devs = append(devs, dev)
		if !dev.Offload() {
			for _, d := range devs {
				d.Close()
			}
			t.Skip("the kernel refused IFF_VNET_HDR/TUNSETOFFLOAD")
		}
	}
	return devs
}

// offloadBond is an active-backup bond over offloading TAPs.
func offloadBond(t *testing.T, devs []*tap.Device, mac stack.MAC) *bond.Bond {
	t.Helper()
	var scs []bond.SlaveConfig
	for _, d := range devs {
		scs = append(scs, bond.SlaveConfig{Name: d.Name(), Dev: d})
	}
	b, err := bond.New(bond.Config{Name: "bond0", MAC: mac, Mode: bond.ActiveBackup}, scs)
	if err != nil {
		t.Fatal(err)
	}
	if g, c := b.GSOMaxSize(), b.ChecksumOffload(); g != tap.MaxGSOSize || !c {
		t.Fatalf("a bond over offloading TAPs offloads (%d, %v), want (%d, true)", g, c, tap.MaxGSOSize)
	}
	return b
}

// serveDownload has h serve size bytes of the pattern (seed 77) on
// :5001 to one client, which dial connects; it returns what the client
// read and the server's error.
func serveDownload(t *testing.T, h *host.Host, size int64, dial func(ctx context.Context) (net.Conn, error)) {
	t.Helper()
	l, err := h.Listen("tcp", ":5001")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, newPatternReader(size, 77))
		served <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second)) // a failure guard only
	got := sha256.New()
	n, err := io.Copy(got, c)
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
	want := sha256.New()
	io.Copy(want, newPatternReader(size, 77))
	if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("client read %d bytes (want %d) with SHA-256 %x, want %x", n, size, got.Sum(nil), want.Sum(nil))
	}
}

// checkSuperSegments checks that the TAPs wrote TCP super-segments for
// the kernel to cut, more than an MTU a frame on average.
func checkSuperSegments(t *testing.T, devs []*tap.Device) {
	t.Helper()
	var gso, frames, bytes uint64
	for _, d := range devs {
		s := d.Stats()
		gso, frames, bytes = gso+s.TxGSO, frames+s.TxFrames, bytes+s.TxBytes
	}
	t.Logf("the TAPs wrote %d frames (%d GSO), %.0f bytes a frame", frames, gso, float64(bytes)/float64(frames))
	if gso == 0 || bytes/frames <= 1518 {
		t.Errorf("no TCP super-segments: %d GSO frames of %d, %d bytes a frame", gso, frames, bytes/max(frames, 1))
	}
}

// TestBondTSOToLinux (issue 17's offloads through bonds): a host on an
// active-backup bond over two offloading TAPs serves 32 MiB to a Linux
// client on the bridge. The route through the bond answers the TAPs'
// common offloads, so TCP writes super-segments with partial checksums
// (tap counters, the bond's per-slave bytes a frame) and the kernel
// cuts them: the client's SHA-256 matches.
func TestBondTSOToLinux(t *testing.T) {
	ns := bridgeNS(t)
	devs := offloadTaps(t, ns, "bf0", "bf1")
	mac := stack.MAC{2, 0, 0, 0, 0xbf, 1}
	b := offloadBond(t, devs, mac)
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "bond0", Device: b, MAC: mac, Addr: netip.MustParsePrefix(hostAddr + "/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	serveDownload(t, h, 32<<20, func(ctx context.Context) (net.Conn, error) { return linuxDial(ctx, ns, "tcp4", hostAddr+":5001") })
	checkSuperSegments(t, devs)
	for _, s := range b.Status().Slaves {
		if s.Active && s.TxBytes/max(s.TxFrames, 1) <= 1518 {
			t.Errorf("the bond's active slave %s sent %d frames of %d bytes on average", s.Name, s.TxFrames, s.TxBytes/max(s.TxFrames, 1))
		}
	}
}

// TestVLANTSO (issue 17): a VLAN port of an 802.1Q trunk on an
// offloading TAP, and on a bond of two (the MAAS layout), passes the
// device's offloads on: a host on VLAN 10 serves 32 MiB to a second
// stack trunked on the same bridge with TCP super-segments, tagged,
// that the kernel cuts for the peer's TAP (which takes no offloads);
// the peer's SHA-256 matches.
func TestVLANTSO(t *testing.T) {
	for _, onBond := range []bool{false, true} {
		name := "on a TAP"
		if onBond {
			name = "on a bond"
		}
		t.Run(name, func(t *testing.T) {
			ns := netnstest.New(t)
			ns.AddBridge("br0", "")
			mac := stack.MAC{2, 0, 0, 0, 0xbf, 2}
			var devs []*tap.Device
			var dev link.Device
			if onBond {
				devs = offloadTaps(t, ns, "bf0", "bf1")
				dev = offloadBond(t, devs, mac)
			} else {
				devs = offloadTaps(t, ns, "bf0")
				dev = devs[0]
			}
			v10, err := link.NewTrunk(dev, mac).VLAN(10, 0)
			if err != nil {
				t.Fatal(err)
			}
			h, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "bf0.10", Endpoint: v10, Addr: netip.MustParsePrefix("10.0.10.1/24")}}})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			peer := trunkHost(t, ns, "bfp", stack.MAC{2, 0, 0, 0, 0xbf, 3}, map[uint16]string{10: "10.0.10.3/24"})
			serveDownload(t, h, 32<<20, func(ctx context.Context) (net.Conn, error) { return peer.DialContext(ctx, "tcp", "10.0.10.1:5001") })
			checkSuperSegments(t, devs)
		})
	}
}
