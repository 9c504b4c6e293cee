package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/tap"
)

// TestTUN: a namespace whose only way to 10.77.0.2 is a TUN that tapstack
// made (tap.Open with Mode TUN, offloads on): `ip addr` and `ip route` in
// the namespace point into it, Linux pings the tapstack host through it and
// curls a web page and a 16 MiB download (SHA-256) from a tcp listener of
// the host. No bridge, no ARP, no MACs: the stack's NIC is L3.
func TestTUN(t *testing.T) {
	needTools(t, "ping", "curl", "sha256sum")
	ns := bridgeNS(t) // only the namespace is used: a TUN joins no bridge
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tun0", Mode: tap.TUN})
		return err
	}); err != nil {
		t.Fatalf("open tun0: %v", err)
	}
	h, err := host.New(host.Config{
		Interfaces: []host.Interface{{Name: "tun0", Endpoint: link.NewL3(dev), Addr: netip.MustParsePrefix("10.77.0.2/24")}},
	})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	defer h.Close()
	if !h.Stack().NIC("tun0").IsL3() {
		t.Fatal("the TUN's NIC is not L3")
	}
	for _, args := range [][]string{
		{"ip", "addr", "add", "10.77.0.1/32", "dev", "tun0"},
		{"ip", "route", "add", "10.77.0.2/32", "dev", "tun0"},
	} {
		if out, err := ns.Cmd(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := ns.Output("ip", "-d", "link", "show", "tun0"); err != nil || !strings.Contains(out, "tun type tun") {
		t.Fatalf("tun0 is not a TUN: %v\n%s", err, out)
	}

	out, err := ns.Cmd("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2").CombinedOutput()
	if err != nil || !strings.Contains(string(out), " 0% packet loss") {
		t.Fatalf("ping through the TUN: %v\n%s", err, out)
	}

	const size = 16 << 20
	l, err := h.Listen("tcp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.Copy(w, newPatternReader(size, 15))
			return
		}
		fmt.Fprintf(w, "hello %s over tun", r.RemoteAddr)
	})}
	go srv.Serve(l)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second) // a failure guard only
	defer cancel()
	body, err := ns.Cmd("curl", "-sS", "--max-time", "30", "http://10.77.0.2:8080/").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(body), "hello 10.77.0.1:") {
		t.Fatalf("curl through the TUN: %v\n%s", err, body)
	}
	cmd := ns.Cmd("sh", "-c", "curl -sS --max-time 100 http://10.77.0.2:8080/big | sha256sum")
	sum, err := cmd.CombinedOutput()
	if err != nil || ctx.Err() != nil {
		t.Fatalf("curl /big: %v\n%s", err, sum)
	}
	want := sha256.New()
	io.Copy(want, newPatternReader(size, 15))
	if got, _ := hex.DecodeString(strings.Fields(string(sum))[0]); !bytes.Equal(got, want.Sum(nil)) {
		t.Fatalf("SHA-256 of the 16 MiB download %s, want %x", sum, want.Sum(nil))
	}
	s := dev.Stats()
	t.Logf("tun stats: offload %v, rx %d packets, tx %d packets (%d GSO), %.0f bytes per written packet",
		dev.Offload(), s.RxFrames, s.TxFrames, s.TxGSO, float64(s.TxBytes)/float64(s.TxFrames))
	if dev.Offload() && s.TxGSO == 0 {
		t.Errorf("offloading TUN wrote no GSO packet: %+v", s)
	}
	if n := h.Stack().Counters().Value("arp.tx.requests") + h.Stack().Counters().Value("arp.tx.gratuitous"); n != 0 {
		t.Errorf("ARP sent %d packets on a TUN", n)
	}
}
