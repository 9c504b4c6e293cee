package web_test

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/host/web"
	"github.com/tapstack/tapstack/link"
)

// A program serves its host's status page: browsers get the live page,
// curl keeps its text.
func ExampleNew() {
	dev, peer := link.Pipe(1500) // a real program opens a TAP (tap.Open)
	defer peer.Close()
	h, err := host.New(host.Config{Interfaces: []host.Interface{
		{Name: "tap0", Device: dev, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	if err != nil {
		panic(err)
	}
	defer h.Close()

	page := web.New(h, web.Options{}) // web.Options{Public: true} for readers on the network
	defer page.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /status.json", page)
	mux.Handle("GET /static/", page)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if web.WantsHTML(r) {
			page.ServeHTTP(w, r)
			return
		}
		h.WriteStatus(w, false)
	})
	ln, err := h.Listen("tcp", ":80") // on the virtual host itself
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go http.Serve(ln, mux)
}

// WantsHTML tells a browser from curl by the Accept header.
func ExampleWantsHTML() {
	r, _ := http.NewRequest("GET", "http://10.0.0.2/", nil)
	r.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	fmt.Println(web.WantsHTML(r))
	// Output: true
}

// Snapshot is what /status.json serves: here, the interfaces of a host
// with one VLAN on a trunk.
func ExampleServer_Snapshot() {
	dev, peer := link.Pipe(1500)
	defer peer.Close()
	trunk := link.NewTrunk(dev, host.RandomMAC())
	native := trunk.Native()
	vlan10, _ := trunk.VLAN(10, 0)
	h, err := host.New(host.Config{Interfaces: []host.Interface{
		{Name: "tap0", Endpoint: native, Addr: netip.MustParsePrefix("10.0.0.2/24")},
		{Name: link.VLANName("tap0", 10), Endpoint: vlan10, Addr: netip.MustParsePrefix("10.0.10.2/24")}}})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	page := web.New(h, web.Options{Public: true})
	defer page.Close()
	for _, i := range page.Snapshot().Interfaces {
		fmt.Println(i.Name, i.Kind, i.VID, i.Parent, i.Addrs[0].Prefix)
	}
	// Output:
	// tap0 native 0  10.0.0.2/24
	// tap0.10 vlan 10 tap0 10.0.10.2/24
}
