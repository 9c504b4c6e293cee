package tcp

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

func TestHTTPOverTCP(t *testing.T) {
	g, pk := runtime.NumGoroutine(), stack.LivePackets()
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:80"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/echo" {
			// HTTP/1 is not full duplex in net/http: read, then answer.
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Error(err)
			}
			w.Write(b)
			return
		}
		w.Write(body)
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return nil, err
		}
		return Dial(ctx, tn.a, ap)
	}}
	client := &http.Client{Transport: tr}
	for i := range 3 { // keep-alive reuses the connection
		resp, err := client.Get("http://10.0.0.2/big")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("GET %d: %d bytes, %v", i, len(got), err)
		}
	}
	resp, err := client.Post("http://10.0.0.2/echo", "text/plain", bytes.NewReader(body[:100000]))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, body[:100000]) {
		t.Fatalf("POST echo: %d bytes", len(got))
	}
	tr.CloseIdleConnections()
	srv.Close()
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve returned %v", err)
	}
	checkNoLeaks(t, tn, g, pk)
}
