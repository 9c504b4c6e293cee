package host_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"os"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/tap"
)

// Example_embedding is the README's "Embedding it" snippet, verbatim
// (TestREADMESnippetsAreExamples checks that the README still shows this
// text): a host on a TAP in bridge br0 serves HTTP on :80 and fetches
// http://10.0.0.1:8080/ through the stack. It needs root, a bridge br0
// and a server at 10.0.0.1:8080, so go test only compiles it;
// TestREADMEEmbedding runs it in a network namespace.
func Example_embedding() {
	dev, err := tap.Open(tap.Config{Name: "tap0", Bridge: "br0"}) // with offloads; or one end of link.Pipe(1500)
	if err != nil {
		log.Fatal(err) // one line, e.g. `bridge "br0" does not exist (create it: ...)`
	}
	h, err := host.New(host.Config{
		Interfaces: []host.Interface{{Name: "tap0", Device: dev, Addr: netip.MustParsePrefix("10.0.0.2/24")}},
		Gateway:    netip.MustParseAddr("10.0.0.1"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	l, err := h.Listen("tcp", ":80") // a net.Listener on the virtual host, as from net.Listen
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from tapstack")
	}))

	// The host as a client: any code that takes a DialContext.
	client := &http.Client{Transport: &http.Transport{DialContext: h.DialContext}}
	resp, err := client.Get("http://10.0.0.1:8080/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(os.Stdout, resp.Body)
}
