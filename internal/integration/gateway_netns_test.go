package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// Issue 16's gateway, as a new user runs it: `tapstack gateway` in a
// "host" namespace on tap0 in br0; guests are Linux namespaces with a
// veth on br0 (the first static 10.0.2.100/24 via 10.0.2.2, the second
// through the gateway's DHCP server with busybox udhcpc). The host namespace also reaches
// a web namespace over a veth (198.51.100.80, which no guest can reach
// directly) and serves on its own 127.0.0.1.
const (
	gwWeb   = "198.51.100.80"
	gwGuest = "10.0.2.100"
)

func TestGatewayNetns(t *testing.T) {
	needTools(t, "curl", "ip", "sh", "sha256sum", "ping")
	hostNS := netnstest.New(t)
	hostNS.AddBridge("br0", "192.168.77.1/24")
	gwNoRA(t, hostNS)
	web := netnstest.New(t)
	guest := netnstest.New(t)
	guest2 := netnstest.New(t)
	for _, args := range [][]string{
		{"ip", "link", "add", "vw0", "type", "veth", "peer", "name", "eth0", "netns", web.Name()},
		{"ip", "addr", "add", "198.51.100.1/24", "dev", "vw0"},
		{"ip", "link", "set", "vw0", "up"},
		{"ip", "link", "add", "vg1", "type", "veth", "peer", "name", "eth0", "netns", guest.Name()},
		{"ip", "link", "set", "vg1", "master", "br0", "up"},
		{"ip", "link", "add", "vg2", "type", "veth", "peer", "name", "eth0", "netns", guest2.Name()},
		{"ip", "link", "set", "vg2", "master", "br0", "up"},
	} {
		if out, err := hostNS.Output(args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	for _, g := range []struct {
		ns   *netnstest.NS
		addr string
	}{{web, gwWeb + "/24"}, {guest, gwGuest + "/24"}} {
		cmds := [][]string{{"ip", "addr", "add", g.addr, "dev", "eth0"}, {"ip", "link", "set", "eth0", "up"}, {"ip", "link", "set", "lo", "up"}}
		if g.ns == web {
			cmds = append(cmds, []string{"ip", "route", "add", "default", "via", "198.51.100.1"})
		} else {
			cmds = append(cmds, []string{"ip", "route", "add", "default", "via", "10.0.2.2"})
		}
		for _, args := range cmds {
			if out, err := g.ns.Output(args[0], args[1:]...); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
	}

	// The web namespace: HTTP on 80 (/bytes: 64 MiB of a pattern), a
	// holder on 9 (keeps connections open) and a writer on 19 that
	// writes up to 256 MiB to whoever connects.
	wl := linuxListen(t, web, gwWeb+":80")
	go http.Serve(wl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bytes" {
			io.Copy(w, newPatternReader(64<<20, 16))
			return
		}
		fmt.Fprintf(w, "web saw %s\n", r.RemoteAddr)
	}))
	hold := linuxListen(t, web, gwWeb+":9")
	go func() {
		for {
			c, err := hold.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	var written atomic.Int64
	writeDone := make(chan struct{})
	wr := linuxListen(t, web, gwWeb+":19")
	go func() {
		c, err := wr.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for written.Load() < 256<<20 {
			n, err := c.Write(buf)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
		close(writeDone)
	}()
	// The host namespace's loopback server and the guest's server.
	lo := linuxListen(t, hostNS, "127.0.0.1:0")
	go http.Serve(lo, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "host loopback") }))
	gl := linuxListen(t, guest, gwGuest+":80")
	go http.Serve(gl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "guest server") }))

	line, pid := startTapstack(t, hostNS, "tapstack: gateway on tap0 (bridge br0) for 10.0.2.0/24",
		"gateway", "--tap", "tap0", "--bridge", "br0", "--forward-port", "tcp:127.0.0.1:8080="+gwGuest+":80")
	_ = line

	// guest2 takes its address, route and DNS server from the gateway's
	// DHCP server (busybox udhcpc; its default script configures eth0).
	for _, args := range [][]string{{"ip", "link", "set", "eth0", "up"}, {"ip", "link", "set", "lo", "up"}} {
		if out, err := guest2.Output(args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	script := t.TempDir() + "/udhcpc.sh"
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] || exit 0\nip addr add $ip/$mask dev $interface\nip route add default via $router\necho \"$ip $router $dns\" > "+script+".lease\n"), 0o755)
	if out, err := guest2.Output("busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-T", "2", "-s", script); err != nil {
		t.Fatalf("udhcpc in guest2: %v\n%s", err, out)
	}
	lease, _ := os.ReadFile(script + ".lease")
	if got := strings.TrimSpace(string(lease)); got != "10.0.2.15 10.0.2.2 10.0.2.3" {
		t.Errorf("guest2's lease: %q, want 10.0.2.15 via 10.0.2.2 dns 10.0.2.3", got)
	}
	// A name the gateway's resolver knows, through the DNS server at .3.
	if out, err := guest2.Output("busybox", "nslookup", "gateway", "10.0.2.3"); err != nil || !strings.Contains(out, "10.0.2.2") {
		t.Errorf("nslookup gateway at 10.0.2.3: %v\n%s", err, out)
	}

	curl := func(ns *netnstest.NS, url string) (string, error) {
		return ns.Output("curl", "-sS", "--max-time", "20", url)
	}
	// 1. A web server only the gateway's namespace reaches.
	if out, err := curl(guest, "http://"+gwWeb+"/"); err != nil || !strings.Contains(out, "web saw 198.51.100.1:") {
		t.Fatalf("curl %s from the guest: %v\n%s", gwWeb, err, out)
	}
	// The router address is the host's loopback.
	port := lo.Addr().(*net.TCPAddr).Port
	if out, err := curl(guest, fmt.Sprintf("http://10.0.2.2:%d/", port)); err != nil || out != "host loopback\n" {
		t.Errorf("curl 10.0.2.2:%d (host loopback): %v\n%s", port, err, out)
	}
	// 2. A port forward into the guest.
	if out, err := curl(hostNS, "http://127.0.0.1:8080/"); err != nil || out != "guest server\n" {
		t.Errorf("curl the forwarded port 8080: %v\n%s", err, out)
	}
	// A refused destination: curl exit 7.
	if out, err := curl(guest, "http://"+gwWeb+":81/"); err == nil || !strings.Contains(err.Error(), "exit status 7") {
		t.Errorf("curl %s:81 (refused): %v, want exit status 7\n%s", gwWeb, err, out)
	}
	// Ping to the web namespace, relayed (this namespace has no
	// ping_group_range: the gateway, root here, uses a raw ICMP socket;
	// TestGatewayPingRelay covers the unprivileged one): every echo
	// answered.
	if out, err := guest.Output("ping", "-c", "4", "-i", "0.5", "-W", "2", gwWeb); err != nil || !strings.Contains(out, " 0% packet loss") {
		t.Errorf("ping %s through the gateway: %v\n%s", gwWeb, err, out)
	}
	// 64 MiB, SHA-256 checked.
	h := sha256.New()
	io.Copy(h, newPatternReader(64<<20, 16))
	want := hex.EncodeToString(h.Sum(nil))
	out, err := guest.Output("sh", "-c", "curl -sS --max-time 60 http://"+gwWeb+"/bytes | sha256sum")
	if err != nil || !strings.HasPrefix(out, want) {
		t.Fatalf("64 MiB through the gateway: %v, sha256 %q, want %s", err, out, want)
	}

	// 4. 5,000 open connections from one guest and a guest that never
	// reads: the gateway's memory stays bounded, another guest is served.
	const conns = 5000
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	if err := guest.Run(func() error {
		d := net.Dialer{Timeout: 20 * time.Second}
		for i := range conns {
			c, err := d.Dial("tcp4", gwWeb+":9")
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			held = append(held, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sink, err := linuxDial(ctx, guest, "tcp4", gwWeb+":19")
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, sink) // never read
	if !poll(20*time.Second, func() bool { return written.Load() >= 1<<20 }) {
		t.Fatalf("the writer wrote only %d bytes toward the guest that never reads", written.Load())
	}
	// A guest flooding closed ports: 20,000 datagrams to 10,000 ports
	// of the web namespace where nothing listens. The gateway's UDP flows
	// stay within their cap and end on the port unreachables.
	if err := guest.Run(func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range 20000 {
			c.WriteToUDP([]byte("flood"), &net.UDPAddr{IP: net.ParseIP(gwWeb), Port: 20000 + i%10000})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out, err := curl(guest2, "http://"+gwWeb+"/"); err != nil || !strings.Contains(out, "web saw") {
		t.Errorf("another guest's curl with 5,000 relays and a stalled one: %v\n%s", err, out)
	}
	rss := vmRSS(t, pid)
	w := written.Load()
	t.Logf("gateway RSS %d MiB with %d open relays and a stalled one; the writer got %d MiB through", rss>>20, conns, w>>20)
	select {
	case <-writeDone:
		t.Errorf("the writer finished 256 MiB toward a guest that never reads: the gateway buffered it")
	default:
	}
	const bound = 256 << 20 // 79 MiB measured
	if rss > bound {
		t.Errorf("gateway RSS %d MiB, want under %d MiB", rss>>20, bound>>20)
	}
	st, err := hostNS.Output(binary(t), "status")
	if err != nil || !strings.Contains(st, "gateway.tcp.relayed") {
		t.Errorf("tapstack status: %v\n%s", err, st)
	}
	// The lease table on the status page lists guest2's lease, with its
	// MAC.
	mac, _ := guest2.Output("cat", "/sys/class/net/eth0/address")
	leaseLine := ""
	if _, tbl, ok := strings.Cut(st, "# dhcp leases (server on 10.0.2.0/24)\n"); ok {
		for _, l := range strings.Split(tbl, "\n") {
			if strings.HasPrefix(l, "10.0.2.15 ") {
				leaseLine = l
			}
		}
	}
	if f := strings.Fields(leaseLine); len(f) < 3 || f[1] != "bound" || f[2] != strings.TrimSpace(mac) {
		t.Errorf("status page: no bound lease of 10.0.2.15 to %s in\n%s", strings.TrimSpace(mac), st)
	}
	t.Logf("status page lease: %s", leaseLine)
	for _, l := range strings.Split(st, "\n") {
		if strings.Contains(l, "gateway.") || strings.Contains(l, "udp.fwd.") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

// vmRSS returns the resident set of process pid in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
