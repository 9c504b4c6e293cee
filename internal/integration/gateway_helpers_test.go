package integration

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// gwTopo is the gateway tests' network: a "host" namespace with bridge
// br0 (where `tapstack gateway --tap tap0 --bridge br0` runs), a web
// namespace behind a veth of the host namespace (198.51.100.80, with
// 198.51.100.1 on the host side: only the gateway's namespace reaches it)
// and a Linux guest on br0 with gwGuest/24 via 10.0.2.2.
type gwTopo struct {
	host, web, guest *netnstest.NS
}

// newGWTopo builds gwTopo; every namespace goes away with t.
func newGWTopo(t *testing.T) gwTopo {
	t.Helper()
	g := gwTopo{host: netnstest.New(t), web: netnstest.New(t), guest: netnstest.New(t)}
	g.host.AddBridge("br0", "192.168.77.1/24")
	gwNoRA(t, g.host)
	run := func(ns *netnstest.NS, cmds ...[]string) {
		t.Helper()
		for _, args := range cmds {
			if out, err := ns.Output(args[0], args[1:]...); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
	}
	run(g.host,
		[]string{"ip", "link", "add", "vw0", "type", "veth", "peer", "name", "eth0", "netns", g.web.Name()},
		[]string{"ip", "addr", "add", "198.51.100.1/24", "dev", "vw0"},
		[]string{"ip", "link", "set", "vw0", "up"},
		[]string{"ip", "link", "add", "vg1", "type", "veth", "peer", "name", "eth0", "netns", g.guest.Name()},
		[]string{"ip", "link", "set", "vg1", "master", "br0", "up"})
	run(g.web,
		[]string{"ip", "addr", "add", gwWeb + "/24", "dev", "eth0"},
		[]string{"ip", "link", "set", "eth0", "up"},
		[]string{"ip", "link", "set", "lo", "up"},
		[]string{"ip", "route", "add", "default", "via", "198.51.100.1"})
	run(g.guest,
		[]string{"ip", "addr", "add", gwGuest + "/24", "dev", "eth0"},
		[]string{"ip", "link", "set", "eth0", "up"},
		[]string{"ip", "link", "set", "lo", "up"},
		[]string{"ip", "route", "add", "default", "via", "10.0.2.2"})
	return g
}

// snmpCounter returns a counter of /proc/net/snmp in ns, e.g. ("Icmp",
// "InEchos").
func snmpCounter(t *testing.T, ns *netnstest.NS, group, name string) int64 {
	t.Helper()
	out, err := ns.Output("cat", "/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i++ {
		h, v := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(h) == 0 || h[0] != group+":" || len(v) != len(h) || v[0] != group+":" {
			continue
		}
		for j := range h {
			if h[j] == name {
				n, _ := strconv.ParseInt(v[j], 10, 64)
				return n
			}
		}
	}
	t.Fatalf("no %s %s in /proc/net/snmp:\n%s", group, name, out)
	return 0
}

// linuxListenUDP opens a UDP socket on the Linux side of ns.
func linuxListenUDP(t *testing.T, ns *netnstest.NS, addr string) net.PacketConn {
	t.Helper()
	var c net.PacketConn
	if err := ns.Run(func() (err error) {
		c, err = net.ListenPacket("udp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// gwNoRA stops the host namespace's br0 from taking the gateway's router
// advertisements, as the gateway's warning asks (else the namespace
// autoconfigures from them and routes IPv6 back through the gateway).
func gwNoRA(t *testing.T, ns *netnstest.NS) {
	t.Helper()
	if out, err := ns.Output("sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/br0/accept_ra"); err != nil {
		t.Fatalf("accept_ra: %v\n%s", err, out)
	}
}
