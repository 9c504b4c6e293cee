package integration

import (
	be "encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestARPFlood: 100,000 ARP requests for tapstack's address from random
// senders (random MAC and IPv4 address in the /16), crafted on an
// AF_PACKET socket on the bridge, leave the ARP cache within its bound
// (512 entries), memory bounded, and the host answering (issue 6,
// acceptance 4).
func TestARPFlood(t *testing.T) {
	const n = 100000
	ns := arpNS(t, "10.0.0.1/16")
	_, pid := startTapstack(t, ns, "tapstack: up on tap0",
		"up", "--tap", "tap0", "--bridge", "br0", "--addr", "10.0.0.2/16", "--mac", "02:00:00:00:00:02")
	before := rssKiB(t, pid)

	var fd int
	if err := ns.Run(func() error {
		br, err := net.InterfaceByName("br0")
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: br.Index})
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// Sending on the bridge device hands the frame to the bridge, which
	// forwards it to tap0 (flooded: broadcast).
	frame := make([]byte, 42)
	copy(frame[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	be.BigEndian.PutUint16(frame[12:], 0x0806)
	be.BigEndian.PutUint16(frame[14:], 1)      // Ethernet
	be.BigEndian.PutUint16(frame[16:], 0x0800) // IPv4
	frame[18], frame[19] = 6, 4
	be.BigEndian.PutUint16(frame[20:], 1) // request
	copy(frame[38:42], []byte{10, 0, 0, 2})
	rng := rand.New(rand.NewPCG(1, 2))
	sent := 0
	for range n {
		mac := rng.Uint64()
		for i := range 6 {
			frame[6+i] = byte(mac >> (8 * i))
		}
		frame[6] = frame[6]&^1 | 2 // unicast, locally administered
		copy(frame[22:28], frame[6:12])
		ip := rng.Uint32()
		frame[28], frame[29], frame[30], frame[31] = 10, 0, byte(ip>>8), byte(ip)
		if frame[30] == 0 && frame[31] <= 2 {
			frame[31] = 3
		}
		if err := unix.Send(fd, frame, 0); err != nil {
			if err == unix.ENOBUFS || err == unix.EAGAIN {
				continue // the kernel queue is full: the next one
			}
			t.Fatalf("send after %d frames: %v", sent, err)
		}
		sent++
	}
	t.Logf("sent %d of %d ARP requests from random senders", sent, n)

	// The host still answers ARP and ping. A request sent at once may
	// find the TAP's queue still full of the flood and be dropped by the
	// kernel before tapstack reads it: up to three tries.
	var out string
	var err error
	for range 3 {
		out, err = ns.Output("arping", "-c", "1", "-w", "5", "-I", "br0", "10.0.0.2")
		if err == nil && strings.Contains(out, "[02:00:00:00:00:02]") {
			break
		}
	}
	if err != nil || !strings.Contains(out, "[02:00:00:00:00:02]") {
		t.Fatalf("arping after the flood (three tries): %v\n%s", err, out)
	}
	if out, err := ns.Output("ping", "-c", "2", "-W", "5", "10.0.0.2"); err != nil {
		t.Fatalf("ping after the flood: %v\n%s", err, out)
	}
	table, err := ns.Output(binary(t), "arp")
	if err != nil {
		t.Fatal(err)
	}
	entries := strings.Count(table, "\n") - 1
	status, _ := ns.Output(binary(t), "status")
	after := rssKiB(t, pid)
	t.Logf("ARP cache after the flood: %d entries; RSS %d KiB before, %d KiB after; arp.rx counters: %s",
		entries, before, after, arpCounters(status))
	if entries > 512 {
		t.Errorf("ARP cache holds %d entries, over its bound of 512", entries)
	}
	if counter(status, "arp.rx.requests")+counter(status, "arp.rx.packets") < 1000 {
		t.Errorf("the host saw few of the requests: %s", arpCounters(status))
	}
	// A guard, not a measurement: 100,000 remembered senders would take
	// far more than this.
	if after-before > 64<<10 {
		t.Errorf("RSS grew by %d KiB during the flood", after-before)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// arpCounters picks the arp.* lines of a status page.
func arpCounters(status string) string {
	var s []string
	for _, line := range strings.Split(status, "\n") {
		if strings.HasPrefix(line, "arp.") {
			s = append(s, strings.Join(strings.Fields(line), "="))
		}
	}
	return strings.Join(s, " ")
}
