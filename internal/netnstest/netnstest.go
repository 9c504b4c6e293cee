// Package netnstest gives tests a private Linux network namespace to build
// TAPs, bridges and addresses in, so that no test ever touches the root
// namespace, and removes it when the test ends, failed or not.
//
//	ns := netnstest.New(t)               // skips unless root on Linux
//	ns.AddBridge("br0", "10.0.0.1/24")   // bridge + lo up, inside ns
//	err := ns.Run(func() error {         // this OS thread is inside ns
//		dev, err = tap.Open(tap.Config{Name: "tap0", Bridge: "br0"})
//		return err
//	})
//	out, err := ns.Cmd("ping", "-c1", "10.0.0.2").CombinedOutput()
//
// Namespaces belong to threads, not goroutines. Run locks the calling
// goroutine to its OS thread, moves the thread into the namespace for the
// duration of f and moves it back afterwards. Whatever f creates there (a
// TAP through TUNSETIFF, a netlink socket, a listening socket) stays in the
// namespace after the thread leaves, and file descriptors opened there keep
// working from any thread: a TAP opened inside Run can be read and written
// by goroutines running anywhere. Goroutines started by f do not run inside
// the namespace (they may be scheduled on any thread).
package netnstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is a named network namespace owned by one test.
type NS struct {
	t      testing.TB
	name   string
	handle netns.NsHandle
	nl     *netlink.Handle
}

var seq atomic.Int64

// Skip skips t unless the process can create network namespaces and TAPs:
// Linux, root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and /dev/net/tun.
func Skip(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, bridges and TAPs")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun (modprobe tun): %v", err)
	}
}

// New creates a fresh, uniquely named network namespace (visible to
// `ip netns` as Name()) with lo up, and registers a cleanup that deletes it,
// which destroys every interface in it. It skips the test when not root.
func New(t testing.TB) *NS {
	t.Helper()
	Skip(t)
	if err := runDirOnce(); err != nil {
		t.Fatalf("netnstest: prepare %s as ip netns does: %v", runDir, err)
	}
	name := fmt.Sprintf("tapstack-%d-%d", os.Getpid(), seq.Add(1))
	h, err := create(name)
	if err != nil {
		t.Fatalf("netnstest: create namespace %s: %v", name, err)
	}
	ns := &NS{t: t, name: name, handle: h}
	t.Cleanup(func() { ns.destroy(t) })
	ns.nl, err = netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("netnstest: netlink handle in %s: %v", name, err)
	}
	if err := ns.SetUp("lo"); err != nil {
		t.Fatal(err)
	}
	return ns
}

// runDir is where named namespaces are mounted (iproute2's NETNS_RUN_DIR).
const runDir = "/run/netns"

// runDirOnce makes runDir a shared mount point of its own, as `ip netns
// add` does the first time it runs on a machine. Without it, an `ip netns
// add` elsewhere (a bench script, the demo) while this process's
// namespaces exist binds runDir over itself, and each namespace mounted
// before then can no longer be deleted (EBUSY: its file is a mount point
// under the new mount); that failed make test's cleanup once.
var runDirOnce = sync.OnceValue(func() error {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", runDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err != unix.EINVAL {
		return err
	}
	// Not a mount point yet: bind it over itself, then share it.
	if err := unix.Mount(runDir, runDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return unix.Mount("", runDir, "none", unix.MS_SHARED|unix.MS_REC, "")
})

// create makes a named namespace without leaving the calling thread in it.
func create(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return netns.None(), err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name) // moves this thread into the new namespace
	if serr := netns.Set(orig); serr != nil {
		// The thread is stuck in the wrong namespace: keep it locked so
		// the runtime destroys it when this goroutine exits.
		return netns.None(), fmt.Errorf("restore namespace: %w", serr)
	}
	runtime.UnlockOSThread()
	return h, err
}

func (ns *NS) destroy(t testing.TB) {
	if ns.nl != nil {
		ns.nl.Close()
	}
	ns.handle.Close()
	if err := netns.DeleteNamed(ns.name); err != nil {
		t.Errorf("netnstest: delete namespace %s: %v", ns.name, err)
	}
}

// Name is the namespace's name, as `ip netns list` shows it.
func (ns *NS) Name() string { return ns.name }

// Handle returns the namespace's file descriptor handle; it is closed when
// the test ends.
func (ns *NS) Handle() netns.NsHandle { return ns.handle }

// Netlink returns a netlink handle operating inside the namespace from any
// thread; it is closed when the test ends.
func (ns *NS) Netlink() *netlink.Handle { return ns.nl }

// Run calls f with the calling goroutine locked to an OS thread that is
// inside the namespace, and moves the thread back before returning. It
// returns f's error, or an error if the thread could not enter the
// namespace. It must not be called from inside another Run.
func (ns *NS) Run(f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netnstest: current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns.handle); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netnstest: enter %s: %w", ns.name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime throws it away when
			// the goroutine exits instead of reusing it in ns.
			return
		}
		runtime.UnlockOSThread()
	}()
	return f()
}

// Cmd returns a command that runs name with args inside the namespace (via
// `ip netns exec`).
func (ns *NS) Cmd(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
}

// Output runs name with args inside the namespace and returns its combined
// output, with an error that quotes the output when the command fails.
func (ns *NS) Output(name string, args ...string) (string, error) {
	out, err := ns.Cmd(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// SetUp brings the named link in the namespace up.
func (ns *NS) SetUp(link string) error {
	l, err := ns.nl.LinkByName(link)
	if err != nil {
		return fmt.Errorf("netnstest: %s in %s: %w", link, ns.name, err)
	}
	if err := ns.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("netnstest: set %s up: %w", link, err)
	}
	return nil
}

// AddBridge creates a Linux bridge (STP off, so ports forward at once) in
// the namespace, gives it the address cidr ("10.0.0.1/24"; empty for none)
// and brings it up. It fails the test on error, so call it from the test's
// goroutine.
func (ns *NS) AddBridge(name, cidr string) {
	ns.t.Helper()
	if err := ns.addBridge(name, cidr); err != nil {
		ns.t.Fatal(err)
	}
}

func (ns *NS) addBridge(name, cidr string) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := ns.nl.LinkAdd(br); err != nil {
		return fmt.Errorf("netnstest: add bridge %s: %w", name, err)
	}
	if cidr != "" {
		ip, ipnet, err := net.ParseCIDR(cidr)
		if err != nil {
			return fmt.Errorf("netnstest: bridge address: %w", err)
		}
		ipnet.IP = ip
		if err := ns.nl.AddrAdd(br, &netlink.Addr{IPNet: ipnet}); err != nil {
			return fmt.Errorf("netnstest: address %s on %s: %w", cidr, name, err)
		}
	}
	return ns.SetUp(name)
}
