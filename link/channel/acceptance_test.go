package channel_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sync"
	"testing"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link/channel"
	"github.com/tapstack/tapstack/stack"
)

// pump moves every packet from's stack sends into to's stack, batch by
// batch, as a tunnel would, until from is closed.
func pump(from, to *channel.Channel) error {
	const batch = 64
	bufs := make([][]byte, batch)
	pkts := make([][]byte, batch)
	sizes := make([]int, batch)
	for i := range bufs {
		bufs[i] = make([]byte, from.MTU())
	}
	for {
		n, err := from.Read(bufs, sizes, 0)
		if err != nil {
			return err
		}
		for i := range n {
			pkts[i] = bufs[i][:sizes[i]]
		}
		if _, err := to.Write(pkts[:n], 0); err != nil {
			return err
		}
	}
}

// tunnel joins two new hosts, 10.9.0.1 and 10.9.0.2, by packet channels
// pumped into each other: two stacks with no Ethernet, ARP or kernel
// device. Both are closed, and the pumps ended, at the end of the test.
func tunnel(t testing.TB, mtu int) (a, b *host.Host) {
	t.Helper()
	ca, _ := channel.New(channel.Config{MTU: mtu})
	cb, _ := channel.New(channel.Config{MTU: mtu})
	var err error
	a, err = host.New(host.Config{Interfaces: []host.Interface{{Name: "vpn0", Endpoint: ca, Addr: netip.MustParsePrefix("10.9.0.1/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err = host.New(host.Config{Interfaces: []host.Interface{{Name: "vpn0", Endpoint: cb, Addr: netip.MustParsePrefix("10.9.0.2/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	for _, p := range [][2]*channel.Channel{{ca, cb}, {cb, ca}} {
		go func() {
			defer wg.Done()
			if err := pump(p[0], p[1]); !errors.Is(err, channel.ErrClosed) {
				t.Errorf("pump: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
		wg.Wait()
	})
	return a, b
}

// Acceptance 1 of issue 15: two hosts joined by packet channels (no
// Ethernet, no root) serve HTTP and carry a 64 MiB transfer byte-exact.
func TestTwoHostsOverChannels(t *testing.T) {
	start := stack.LivePackets()
	a, b := tunnel(t, 1420)

	// HTTP: net/http's server on b's listener, its client dialling from a.
	l, err := b.Listen("tcp", "10.9.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %s", r.RemoteAddr, r.Host)
	})}
	go srv.Serve(l)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: a.DialContext}}
	resp, err := client.Get("http://10.9.0.2/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v, status %d", err, resp.StatusCode)
	}
	if want := "hello 10.9.0.1:"; len(body) < len(want) || string(body[:len(want)]) != want {
		t.Errorf("GET body %q, want it to start %q", body, want)
	}
	client.CloseIdleConnections()

	// 64 MiB from a to b, byte-exact (SHA-256 of what was sent and what
	// arrived).
	size := 64 << 20
	if raceEnabled {
		size = 8 << 20
	}
	bl, err := b.Listen("tcp", ":9000")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan [32]byte, 1)
	go func() {
		c, err := bl.Accept()
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		defer c.Close()
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil || n != int64(size) {
			t.Errorf("received %d bytes, %v; want %d", n, err, size)
		}
		got <- [32]byte(h.Sum(nil))
	}()
	c, err := a.DialContext(context.Background(), "tcp", "10.9.0.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	sent := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{15}), int64(size)), sent)
	if _, err := io.Copy(c, src); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if sum, ok := <-got; !ok || sum != [32]byte(sent.Sum(nil)) {
		t.Errorf("SHA-256 of the %d MiB received %x, sent %x", size>>20, sum, sent.Sum(nil))
	}
	t.Logf("%d MiB: channel drops a %d, b %d; tcp retransmits a %d", size>>20,
		a.Stack().Counters().Value(channel.CounterTxQueueFull), b.Stack().Counters().Value(channel.CounterTxQueueFull),
		a.Stack().Counters().Value("tcp.tx.retransmits"))
	bl.Close()
	l.Close()
	srv.Close()
	a.Close()
	b.Close()
	if n := stack.LivePackets() - start; n != 0 {
		t.Errorf("%d packets leaked", n)
	}
}
