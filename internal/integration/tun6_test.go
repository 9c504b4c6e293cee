package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
	"github.com/tapstack/tapstack/tcp"
)

// TestTUNIPv6: IPv6 over a tapstack TUN with offloads (TSO6): a stack
// with only ipv6 and tcp (no NDP: an L3 link has no neighbours) serves a
// 16 MiB download to Linux's curl over fd77::/64; the SHA-256 matches and
// the TUN wrote IPv6 TCP super-segments for the kernel to cut.
func TestTUNIPv6(t *testing.T) {
	needTools(t, "ping", "curl", "sha256sum")
	ns := bridgeNS(t)
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tun6", Mode: tap.TUN})
		return err
	}); err != nil {
		t.Fatalf("open tun6: %v", err)
	}
	s := stack.New(stack.Options{})
	defer s.Close()
	if _, err := ipv6.Register(s, ipv6.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tcp.Register(s, tcp.Options{}); err != nil {
		t.Fatal(err)
	}
	nic, err := s.AddNIC("tun6", link.NewL3(dev))
	if err != nil {
		t.Fatal(err)
	}
	if err := nic.AddAddress(netip.MustParsePrefix("fd77::2/64")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"ip", "-6", "addr", "add", "fd77::1/128", "dev", "tun6", "nodad"},
		{"ip", "-6", "route", "add", "fd77::2/128", "dev", "tun6"},
	} {
		if out, err := ns.Cmd(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := ns.Cmd("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "fd77::2").CombinedOutput(); err != nil {
		t.Fatalf("ping -6 through the TUN: %v\n%s", err, out)
	}
	const size = 16 << 20
	l, err := tcp.Listen(s, netip.AddrPortFrom(netip.IPv6Unspecified(), 8080))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut { // an upload: answer its SHA-256
			h := sha256.New()
			io.Copy(h, r.Body)
			w.Write([]byte(hex.EncodeToString(h.Sum(nil))))
			return
		}
		io.Copy(w, newPatternReader(size, 6))
	})}
	go srv.Serve(l)
	defer srv.Close()
	sum, err := ns.Cmd("sh", "-c", "curl -sS --max-time 100 'http://[fd77::2]:8080/' | sha256sum").CombinedOutput()
	if err != nil {
		t.Fatalf("curl -6: %v\n%s", err, sum)
	}
	want := sha256.New()
	io.Copy(want, newPatternReader(size, 6))
	if got, _ := hex.DecodeString(strings.Fields(string(sum))[0]); !bytes.Equal(got, want.Sum(nil)) {
		t.Fatalf("SHA-256 of the IPv6 download %s, want %x", sum, want.Sum(nil))
	}
	// Upload: Linux sends, the kernel hands the TUN TCPv6 super-segments.
	up, err := ns.Cmd("sh", "-c", "head -c 16777216 /dev/zero | curl -sS --max-time 100 -T - 'http://[fd77::2]:8080/up'").CombinedOutput()
	zero := sha256.Sum256(make([]byte, size))
	if err != nil || string(up) != hex.EncodeToString(zero[:]) {
		t.Fatalf("upload over IPv6: %v, server's SHA-256 %q, want %x", err, up, zero)
	}
	st := dev.Stats()
	t.Logf("tun stats: offload %v, tx %d packets (%d GSO), rx %d (%d GSO), %.0f bytes per written packet",
		dev.Offload(), st.TxFrames, st.TxGSO, st.RxFrames, st.RxGSO, float64(st.TxBytes)/float64(st.TxFrames))
	if dev.Offload() && st.TxGSO == 0 {
		t.Errorf("offloading TUN wrote no IPv6 GSO packet: %+v", st)
	}
}
