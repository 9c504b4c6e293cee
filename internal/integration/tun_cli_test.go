package integration

import (
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// TestTUNCommand (issue 15): `tapstack up --tun tun0` with an address of
// each family runs on a TUN in a namespace whose kernel has the other end
// (10.0.0.1/24 and fd00::1/64 on tun0): Linux pings both addresses and
// curls the status page over each family through it, and the up line
// says it is a TUN.
func TestTUNCommand(t *testing.T) {
	needTools(t, "ip", "ping", "curl")
	ns := netnstest.New(t)
	line, _ := startTapstack(t, ns, "tapstack: up on tun0 as 10.0.0.2/24 fd00::2/64 tun mtu 1500",
		"up", "--tun", "tun0", "--addr", "10.0.0.2/24", "--addr", "fd00::2/64")
	t.Logf("up line: %s", line)
	for _, args := range [][]string{
		{"ip", "addr", "add", "10.0.0.1/24", "dev", "tun0"},
		{"ip", "addr", "add", "fd00::1/64", "dev", "tun0", "nodad"},
		{"ip", "link", "set", "tun0", "up"},
	} {
		if out, err := ns.Output(args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	for _, dst := range []string{"10.0.0.2", "fd00::2"} {
		if out, err := ns.Output("ping", "-c", "2", "-W", "5", dst); err != nil || !strings.Contains(out, " 0% packet loss") {
			t.Errorf("ping %s through the TUN: %v\n%s", dst, err, out)
		}
	}
	for _, url := range []string{"http://10.0.0.2/", "http://[fd00::2]/"} {
		if out, err := ns.Output("curl", "-sS", "--max-time", "10", url); err != nil || !strings.Contains(out, "# interfaces") {
			t.Errorf("curl %s through the TUN: %v\n%.300s", url, err, out)
		}
	}
}
