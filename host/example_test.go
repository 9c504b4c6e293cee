package host_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
)

// Two virtual hosts joined by an in-memory wire (no root needed): one
// serves HTTP with net/http, the other fetches from it. With a TAP instead
// of the pipe (tap.Open), the same server answers curl from Linux.
func ExampleNew() {
	wireA, wireB := link.Pipe(1500)
	server, err := host.New(host.Config{Interfaces: []host.Interface{
		{Name: "eth0", Device: wireA, Addr: netip.MustParsePrefix("10.0.0.2/24")},
	}})
	if err != nil {
		panic(err)
	}
	defer server.Close()
	client, err := host.New(host.Config{Interfaces: []host.Interface{
		{Name: "eth0", Device: wireB, Addr: netip.MustParsePrefix("10.0.0.1/24")},
	}})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	l, err := server.Listen("tcp", ":80")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from tapstack\n", r.RemoteAddr)
	})}
	go srv.Serve(l)
	defer srv.Close()

	tr := &http.Transport{DialContext: client.DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://10.0.0.2/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.Status, ": ", string(body)[:len("hello 10.0.0.1")])
	// Output: 200 OK: hello 10.0.0.1
}
