package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/tap"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// The tun2socks shape of issue 15 (acceptance 2 and 3) over a TAP: the
// client namespace's default route points at tapstack (10.0.0.2 on tap0 in
// its bridge); tapstack's forwarders relay every accepted flow with the
// kernel's net.Dial, run inside a third namespace that holds the "real"
// destinations on its lo (192.0.2.80 serves HTTP on 80 and echoes UDP on
// 7). Nothing listens on 192.0.2.81: the relay's dial fails and the flow
// is refused.
const (
	fwdWebAddr  = "192.0.2.80"
	fwdDeadAddr = "192.0.2.81"
	fwdPingAddr = "192.0.2.1"
)

func TestForwarderTun2socksNetns(t *testing.T) {
	needTools(t, "curl", "ping")
	client := bridgeNS(t)
	if _, err := client.Output("ip", "route", "add", "default", "via", hostAddr); err != nil {
		t.Fatal(err)
	}
	tun2socks(t, client, startHost(t, client))
}

// TestForwarderTun2socksTUN is the same over a TUN, as tun2socks runs: the
// client namespace holds tapstack's TUN tun0 (10.0.0.1/24 on the kernel
// side, a default route into it), tapstack is 10.0.0.2/24 on the L3
// interface, with offloads.
func TestForwarderTun2socksTUN(t *testing.T) {
	needTools(t, "curl", "ping", "ip")
	client := netnstest.New(t)
	var dev *tap.Device
	if err := client.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tun0", Mode: tap.TUN})
		return err
	}); err != nil {
		t.Fatalf("open tun0: %v", err)
	}
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "tun0", Device: dev, Addr: netip.MustParsePrefix(hostAddr + "/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for _, args := range [][]string{
		{"ip", "addr", "add", bridgeAddr + "/24", "dev", "tun0"},
		{"ip", "link", "set", "tun0", "up"},
		{"ip", "route", "add", "default", "dev", "tun0"},
	} {
		if out, err := client.Output(args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	tun2socks(t, client, h)
}

// tun2socks runs the checks of both shapes: client reaches 10.0.0.2 (h)
// and routes everything else through it.
func tun2socks(t *testing.T, client *netnstest.NS, h *host.Host) {
	web := netnstest.New(t)
	if _, err := web.Output("ip", "addr", "add", fwdWebAddr+"/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	l := linuxListen(t, web, fwdWebAddr+":80")
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from the web namespace\n", r.RemoteAddr)
	}))
	var uc net.PacketConn
	if err := web.Run(func() (err error) {
		uc, err = net.ListenPacket("udp4", fwdWebAddr+":7")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			uc.WriteTo(buf[:n], from)
		}
	}()

	var mu sync.Mutex
	var seen []string
	_, err := h.InstallForwarders(host.ForwarderConfig{
		TCP: func(r *tcp.ForwarderRequest) {
			mu.Lock()
			seen = append(seen, r.ID().Local.String()+" from "+r.ID().Remote.String())
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			up, err := linuxDial(ctx, web, "tcp4", r.ID().Local.String())
			if err != nil {
				r.Refuse() // as the destination did
				return
			}
			defer up.Close()
			down, err := r.Accept()
			if err != nil {
				return
			}
			defer down.Close()
			relay(down, up)
		},
		UDP: func(r *udp.ForwarderRequest) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			up, err := linuxDial(ctx, web, "udp4", r.ID().Local.String())
			if err != nil {
				r.Refuse()
				return
			}
			defer up.Close()
			down, err := r.Accept()
			if err != nil {
				return
			}
			defer down.Close()
			go func() {
				buf := make([]byte, 1500)
				for {
					n, err := up.Read(buf)
					if err != nil {
						return
					}
					down.Write(buf[:n])
				}
			}()
			buf := make([]byte, 1500)
			for {
				n, err := down.Read(buf) // ends when the flow idles out
				if err != nil {
					return
				}
				up.Write(buf[:n])
			}
		},
		Echo: func(_, dst netip.Addr) bool { return dst == netip.MustParseAddr(fwdPingAddr) },
	})
	if err != nil {
		t.Fatal(err)
	}

	// curl through the forwarder: the web server sees the relay (the
	// kernel's socket in its namespace), curl sees the real destination.
	out, err := client.Output("curl", "-sS", "--max-time", "20", "http://"+fwdWebAddr+"/")
	if err != nil || !strings.Contains(out, "from the web namespace") {
		t.Fatalf("curl %s through tapstack: %v\n%s", fwdWebAddr, err, out)
	}
	mu.Lock()
	if len(seen) != 1 || !strings.HasPrefix(seen[0], fwdWebAddr+":80 from "+bridgeAddr+":") {
		t.Errorf("forwarder saw %q, want one flow to %s:80 from %s", seen, fwdWebAddr, bridgeAddr)
	}
	mu.Unlock()

	// A refused flow is "connection refused": curl fails to connect at
	// once (exit status 7; this curl words ECONNREFUSED "Couldn't connect
	// to server"), and a kernel socket's connect returns ECONNREFUSED.
	out, err = client.Output("curl", "-sS", "--max-time", "20", "http://"+fwdDeadAddr+"/")
	if err == nil || !strings.Contains(err.Error(), "exit status 7") {
		t.Errorf("curl %s (refused): %v, want exit status 7:\n%s", fwdDeadAddr, err, out)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer dcancel()
	if _, err := linuxDial(dctx, client, "tcp4", fwdDeadAddr+":80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("kernel connect to %s:80 (refused): %v, want ECONNREFUSED", fwdDeadAddr, err)
	}

	// UDP through the forwarder, from a kernel socket in the client
	// namespace.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := linuxDial(ctx, client, "udp4", fwdWebAddr+":7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte("udp via tapstack")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "udp via tapstack" {
		t.Fatalf("udp echo through the forwarder: %q %v", buf[:n], err)
	}

	// A DNS query with dig to dnsmasq behind the forwarder.
	if _, err := exec.LookPath("dig"); err != nil {
		t.Log("no dig: DNS through the forwarder not tried (apt-get install bind9-dnsutils)")
	} else {
		startFwdDnsmasq(t, web)
		out, err = client.Output("dig", "+short", "+time=5", "+tries=3", "@"+fwdWebAddr, "web.test", "A")
		if err != nil || strings.TrimSpace(out) != fwdWebAddr {
			t.Errorf("dig @%s web.test through tapstack: %v\n%s", fwdWebAddr, err, out)
		}
	}

	// Linux ping to a forwarded address the Echo callback allows.
	out, err = client.Output("ping", "-c", "2", "-W", "5", fwdPingAddr)
	if err != nil || !strings.Contains(out, " 0% packet loss") {
		t.Errorf("Linux ping %s through tapstack: %v\n%s", fwdPingAddr, err, out)
	}
	// h.Ping reaches the Linux bridge address and reports an RTT.
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	rtt, err := h.Ping(pctx, netip.MustParseAddr(bridgeAddr))
	if err != nil {
		t.Fatalf("h.Ping(%s): %v", bridgeAddr, err)
	}
	t.Logf("h.Ping(%s): RTT %v", bridgeAddr, rtt)
}

// relay copies both ways until both directions end.
func relay(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(b, a)
		if cw, ok := b.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		close(done)
	}()
	io.Copy(a, b)
	if cw, ok := a.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	<-done
}

// startFwdDnsmasq runs dnsmasq in ns as a DNS server on fwdWebAddr:53
// answering web.test with fwdWebAddr; it is killed when the test ends.
func startFwdDnsmasq(t *testing.T, ns *netnstest.NS) {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		if bin = "/usr/sbin/dnsmasq"; !fileExists(bin) {
			t.Skip("needs dnsmasq")
		}
	}
	dir := t.TempDir()
	cmd := ns.Cmd(bin, "--no-daemon", "--conf-file=/dev/null", "--listen-address="+fwdWebAddr,
		"--bind-interfaces", "--port=53", "--address=/web.test/"+fwdWebAddr, "--no-resolv", "--no-hosts",
		"--pid-file="+dir+"/pid", "--user=root", "--group=root")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
