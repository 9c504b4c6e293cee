package netnstest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestNamespaceIsolatedAndRemoved(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		ns := netnstest.New(t)
		name = ns.Name()
		ns.AddBridge("tsbr-iso", "10.0.0.1/24")

		out, err := ns.Output("ip", "-br", "addr", "show", "tsbr-iso")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "10.0.0.1/24") {
			t.Errorf("bridge in ns: %q", out)
		}
		// The bridge is not in the root namespace, where unlocked threads run.
		if l, err := netlink.LinkByName("tsbr-iso"); err == nil {
			t.Errorf("bridge %s leaked into the root namespace", l.Attrs().Name)
		}
		// Run puts this thread in ns and brings it back.
		before, _ := netns.Get()
		defer before.Close()
		err = ns.Run(func() error {
			cur, err := netns.Get()
			if err != nil {
				return err
			}
			defer cur.Close()
			if !cur.Equal(ns.Handle()) {
				t.Error("Run: thread is not inside the namespace")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		after, _ := netns.Get()
		defer after.Close()
		if !after.Equal(before) {
			t.Error("Run did not restore the thread's namespace")
		}
	})
	if _, err := os.Stat("/var/run/netns/" + name); !os.IsNotExist(err) {
		t.Errorf("namespace %s still exists after the test (stat: %v)", name, err)
	}
}

// A test gets its own namespace with a bridge, does its work inside it and
// runs commands there; the namespace disappears when the test ends.
func Example() {
	var t *testing.T // the test's
	ns := netnstest.New(t)
	ns.AddBridge("br0", "10.0.0.1/24")
	err := ns.Run(func() error {
		// Open a TAP here (tap.Open): it is created inside ns.
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := ns.Output("ping", "-c1", "-W1", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out)
}
