package integration

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/tap"
)

const (
	bridgeAddr = "10.0.0.1"
	hostAddr   = "10.0.0.2"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// binary builds cmd/tapstack once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tapstack-it-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tapstack")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/tapstack/tapstack/cmd/tapstack").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + ": " + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// needTools skips t when a command-line tool it runs is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (make deps installs it): %v", tool, err)
		}
	}
}

// bridgeNS makes a fresh namespace with bridge br0 at 10.0.0.1/24.
func bridgeNS(t *testing.T) *netnstest.NS {
	t.Helper()
	ns := netnstest.New(t)
	ns.AddBridge("br0", bridgeAddr+"/24")
	return ns
}

// startCommand runs `tapstack up` (with extra flags) on tap0 in br0 inside
// ns, as 10.0.0.2/24; see startTapstack.
func startCommand(t *testing.T, ns *netnstest.NS, extra ...string) {
	t.Helper()
	args := append([]string{"up", "--tap", "tap0", "--bridge", "br0", "--addr", hostAddr + "/24", "--gateway", bridgeAddr}, extra...)
	startTapstack(t, ns, "tapstack: up on tap0 (bridge br0) as 10.0.0.2/24", args...)
}

// startHost opens tap0 (attached to br0) inside ns and runs a host on it
// in-process; the host is closed when the test ends.
func startHost(t *testing.T, ns *netnstest.NS) *host.Host {
	t.Helper()
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tap0", Bridge: "br0", NoOffload: true})
		return err
	}); err != nil {
		t.Fatalf("open tap0: %v", err)
	}
	h, err := host.New(host.Config{
		Interfaces: []host.Interface{{Name: "tap0", Device: dev, Addr: netip.MustParsePrefix(hostAddr + "/24")}},
		Gateway:    netip.MustParseAddr(bridgeAddr),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("host close: %v", err)
		}
	})
	return h
}

// linuxDial connects from the Linux side of ns (a kernel socket created
// inside the namespace).
func linuxDial(ctx context.Context, ns *netnstest.NS, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Run(func() (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// linuxListen listens on the Linux side of ns.
func linuxListen(t *testing.T, ns *netnstest.NS, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := ns.Run(func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// patternReader yields n bytes of a deterministic, non-repeating-looking
// stream (xorshift), so corruption anywhere is caught by the hash.
type patternReader struct {
	n     int64
	state uint64
}

func newPatternReader(n int64, seed uint64) *patternReader {
	return &patternReader{n: n, state: seed | 1}
}

func (r *patternReader) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > r.n {
		b = b[:r.n]
	}
	for i := range b {
		r.state ^= r.state << 13
		r.state ^= r.state >> 7
		r.state ^= r.state << 17
		b[i] = byte(r.state >> 32)
	}
	r.n -= int64(len(b))
	return len(b), nil
}
