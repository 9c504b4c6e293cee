package integration

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/stack"
)

// TestVLANRouterOnAStick: tapstack routes between VLAN 10 and VLAN 20 of
// one trunk TAP (--nic ...,vlan=10 --nic ...,vlan=20 --forward); a host on
// VLAN 10 reaches an echo server on a host on VLAN 20 through it (issue 7,
// inter-VLAN routing).
func TestVLANRouterOnAStick(t *testing.T) {
	needTools(t, "ip")
	ns := netnstest.New(t)
	ns.AddBridge("br0", "")
	startTapstack(t, ns, "tapstack: up on tap0.10 (bridge br0) as 10.0.10.1/24",
		"up", "--nic", "tap0,bridge=br0,addr=10.0.10.1/24,vlan=10", "--nic", "tap0,addr=10.0.20.1/24,vlan=20", "--forward")

	def := func(gw string) host.Route {
		return host.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr(gw)}
	}
	b := trunkHost(t, ns, "tap1", stack.MAC{2, 0, 0, 0, 0, 0x0b}, map[uint16]string{10: "10.0.10.3/24"}, def("10.0.10.1"))
	c := trunkHost(t, ns, "tap2", stack.MAC{2, 0, 0, 0, 0, 0x0c}, map[uint16]string{20: "10.0.20.3/24"}, def("10.0.20.1"))
	l, err := c.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(conn, conn); conn.Close() }()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := b.DialContext(ctx, "tcp", "10.0.20.3:7")
	if err != nil {
		t.Fatalf("VLAN 10 host → VLAN 20 host through the router: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	msg := strings.Repeat("routed between VLANs ", 1000)
	go io.WriteString(conn, msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != msg {
		t.Fatalf("echo through the router: %v", err)
	}
	if remote := conn.RemoteAddr().String(); remote != "10.0.20.3:7" {
		t.Errorf("remote %s", remote)
	}
	status, err := ns.Output(binary(t), "status")
	if err != nil {
		t.Fatal(err)
	}
	if n := counter(status, "ipv4.fwd.forwarded"); n < 4 {
		t.Errorf("ipv4.fwd.forwarded = %d", n)
	} else {
		t.Logf("router on a stick forwarded %d packets", n)
	}
}
