package integration

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestPingRecordRoute: the kernel's ping -R gets its record route option
// back with the virtual host in it (RFC 1122 3.2.2.6; issue 13 finding 6).
func TestPingRecordRoute(t *testing.T) {
	needTools(t, "ping", "ip")
	ns := bridgeNS(t)
	startHost(t, ns)
	out, err := ns.Output("ping", "-R", "-c", "1", "-W", "5", hostAddr)
	if err != nil {
		t.Fatalf("ping -R: %v\n%s", err, out)
	}
	// ping prints "RR: \t10.0.0.1\n\t10.0.0.2\n\t10.0.0.1\n" after the
	// reply line: the sender, us, and the sender again on receipt.
	i := strings.Index(out, "RR:")
	if i < 0 {
		t.Fatalf("the reply carries no record route:\n%s", out)
	}
	rr := out[i:]
	if j := strings.Index(rr, "\n\n"); j >= 0 {
		rr = rr[:j]
	}
	if !strings.Contains(rr, hostAddr) {
		t.Errorf("record route without %s:\n%s", hostAddr, out)
	}
}

// scapyEchoes is run by /usr/bin/python3 in the namespace: it sends, from
// br0 to the host's MAC (argv[1]), an echo request with an 802.1Q priority
// tag (VID 0, PCP 6), echo requests from the martian sources 127.0.0.1 and
// 0.0.0.0, and last a plain echo request, then prints one line per echo
// reply seen on br0 ("reply <id> tagged=<bool>") until the plain one's
// reply (the host answers in order, so any answer to the earlier ones has
// been seen by then) or 20 seconds.
const scapyEchoes = `
import sys, threading
from scapy.all import AsyncSniffer, Dot1Q, Ether, ICMP, IP, conf, sendp
conf.verb = 0
mac = sys.argv[1]
ready = threading.Event()
done = lambda p: ICMP in p and p[ICMP].type == 0 and p[ICMP].id == 0x300
s = AsyncSniffer(iface="br0", started_callback=ready.set, stop_filter=done, timeout=20,
                 lfilter=lambda p: ICMP in p and p[ICMP].type == 0)
s.start()
ready.wait(10)
sendp([
    Ether(dst=mac)/Dot1Q(vlan=0, prio=6)/IP(src="10.0.0.1", dst="10.0.0.2")/ICMP(id=0x100, seq=1)/b"priority",
    Ether(dst=mac)/IP(src="127.0.0.1", dst="10.0.0.2")/ICMP(id=0x200, seq=1)/b"martian",
    Ether(dst=mac)/IP(src="0.0.0.0", dst="10.0.0.2")/ICMP(id=0x201, seq=1)/b"martian",
    Ether(dst=mac)/IP(src="10.0.0.1", dst="10.0.0.2")/ICMP(id=0x300, seq=1)/b"control",
], iface="br0")
s.join()
for p in s.results:
    print("reply %#x tagged=%s" % (p[ICMP].id, Dot1Q in p))
`

// TestPriorityTagAndMartiansOnTheWire: crafted frames from the bridge. A
// priority-tagged echo (IEEE 802.1Q VID 0) is answered, untagged, as Linux
// answers it; echoes from 127.0.0.1 and 0.0.0.0 are not answered (RFC 1122
// 3.2.1.3) and are counted as martians (issue 13 finding 6).
func TestPriorityTagAndMartiansOnTheWire(t *testing.T) {
	needTools(t, "ip")
	if exec.Command("/usr/bin/python3", "-c", "import scapy.all").Run() != nil {
		t.Skip("needs python3-scapy (make deps installs it)")
	}
	ns := bridgeNS(t)
	h := startHost(t, ns)
	mac := h.Stack().NICs()[0].LinkAddress()
	out, err := ns.Output("/usr/bin/python3", "-c", scapyEchoes, mac.String())
	if err != nil {
		t.Fatalf("scapy: %v\n%s", err, out)
	}
	want := fmt.Sprintf("reply %#x tagged=False\nreply %#x tagged=False\n", 0x100, 0x300)
	if got := strings.TrimLeft(out, "\n"); got != want {
		t.Errorf("echo replies seen:\n%s\nwant:\n%s", got, want)
	}
	if n := h.Stack().Counters().Value("ipv4.rx.martian_source"); n != 2 {
		t.Errorf("ipv4.rx.martian_source = %d, want 2", n)
	}
	if n := h.Stack().Counters().Value("link.rx.priority_tagged"); n != 1 {
		t.Errorf("link.rx.priority_tagged = %d, want 1", n)
	}
}
