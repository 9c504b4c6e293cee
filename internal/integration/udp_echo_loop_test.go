package integration

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestUDPEchoNoLoop: two `tapstack up` hosts on one bridge, each with its
// UDP echo on :7. One datagram from a spoofer on the bridge, to A's echo
// from B's echo (or to a broadcast address), must get no reply from either
// host: answered, it bounces between the two echo services forever (issue
// 13 found 8,400 round trips a second, 1.35 of 2 cores; acceptance 3).
//
// Both hosts know each other's MAC (static entries) and the prober's
// (from a warm-up echo), so a reply would leave at once. Each host handles
// its datagrams in order on one TAP queue and one echo goroutine, so when
// a prober's datagram sent after the spoofed one comes back echoed, any
// reply to the spoofed one has already been sent and counted: the host's
// udp.tx.datagrams must have grown by exactly one, the marker's echo (no
// sleep, no time threshold). A raw socket on each TAP shows where the
// replies went.
func TestUDPEchoNoLoop(t *testing.T) {
	needTools(t, "ip")
	const (
		macA, macB, macSpoofer = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:99"
		bcast                  = "ff:ff:ff:ff:ff:ff"
	)
	var (
		addrA, addrB = netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
		echoB        = netip.AddrPortFrom(addrB, 7)
		prober       = netip.MustParseAddrPort(bridgeAddr + ":40001")
	)
	tests := []struct {
		name   string
		src    netip.AddrPort
		dst    netip.Addr
		dstMAC string
	}{
		{"B's echo to A's echo, spoofed", echoB, addrA, macA},
		{"to the subnet broadcast", prober, netip.MustParseAddr("10.0.0.255"), bcast},
		{"to the limited broadcast", prober, netip.MustParseAddr("255.255.255.255"), bcast},
		{"B's echo to the subnet broadcast, spoofed", echoB, netip.MustParseAddr("10.0.0.255"), bcast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := bridgeNS(t)
			type echoHost struct {
				name, tap string
				addr      netip.Addr
				raw       *rawSocket
			}
			hosts := []*echoHost{{name: "A", tap: "tap0", addr: addrA}, {name: "B", tap: "tap1", addr: addrB}}
			startTapstack(t, ns, "tapstack: up on tap0", "up", "--tap", "tap0", "--bridge", "br0",
				"--addr", addrA.String()+"/24", "--mac", macA, "--arp", addrB.String()+"="+macB)
			startTapstack(t, ns, "tapstack: up on tap1", "up", "--tap", "tap1", "--bridge", "br0",
				"--addr", addrB.String()+"/24", "--mac", macB, "--arp", addrA.String()+"="+macA)
			for _, h := range hosts {
				h.raw = openRaw(t, ns, h.tap)
			}
			probe := linuxUDP(t, ns, "")
			// echoBoth sends msg to both echo services and waits (bounded)
			// for both echoes.
			echoBoth := func(msg string) {
				t.Helper()
				for _, h := range hosts {
					if _, err := probe.WriteToUDPAddrPort([]byte(msg), netip.AddrPortFrom(h.addr, 7)); err != nil {
						t.Fatal(err)
					}
				}
				probe.SetReadDeadline(time.Now().Add(10 * time.Second))
				got := map[netip.Addr]bool{}
				buf := make([]byte, 2048)
				for len(got) < len(hosts) {
					n, from, err := probe.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("echo of %q: %v (answered by %v)", msg, err, got)
					}
					if string(buf[:n]) == msg {
						got[from.Addr().Unmap()] = true
					}
				}
			}
			echoBoth("warm-up") // the hosts learn the prober's MAC, the bridge learns theirs
			sent := func(h *echoHost) int64 {
				t.Helper()
				out, err := ns.Output(binary(t), "status", "--tap", h.tap)
				if err != nil {
					t.Fatal(err)
				}
				return counter(out, "udp.tx.datagrams")
			}
			before := map[*echoHost]int64{}
			for _, h := range hosts {
				before[h] = sent(h)
			}

			token := []byte("issue-13 echo loop " + tt.name)
			inject := openRaw(t, ns, "br0")
			if err := inject.send(udpFrame(t, macSpoofer, tt.dstMAC, tt.src, netip.AddrPortFrom(tt.dst, 7), token)); err != nil {
				t.Fatal(err)
			}
			echoBoth("marker")

			for _, h := range hosts {
				// The host's one echo goroutine wrote any reply to the
				// spoofed datagram before its echo of the marker, which
				// came back: the counter has it. (A capture on the TAP
				// need not show the two in order: the kernel takes frames
				// from a TAP on the CPU that wrote them.)
				n := sent(h) - before[h]
				var replies []string
				for _, f := range h.raw.drain() {
					p, ok := parseL4(f.data)
					if !f.out && ok && p.proto == 17 && p.src.Addr() == h.addr && bytes.Equal(p.payload, token) && len(replies) < 5 {
						replies = append(replies, fmt.Sprintf("%v -> %v", p.src, p.dst))
					}
				}
				if n != 1 {
					t.Errorf("host %s sent %d datagrams for the datagram %v -> %v:7 (%s) and the marker, want 1 (the marker's echo); replies seen on %s: %s",
						h.name, n, tt.src, tt.dst, tt.name, h.tap, strings.Join(replies, ", "))
				}
			}
			// The echo services still answer an ordinary client.
			echoBoth("after")
		})
	}
}
