package host_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// TestREADMESnippetsAreExamples: every Go snippet of the README appears,
// verbatim (indented one tab), in an Example of this package, so a
// snippet that stops compiling fails go vet and go test here.
func TestREADMESnippetsAreExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var examples strings.Builder
	for _, f := range []string{"readme_example_test.go", "example_test.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples.Write(b)
	}
	snippets := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(snippets) == 0 {
		t.Fatal("no ```go snippet in README.md")
	}
	for _, m := range snippets {
		var indented strings.Builder
		for _, line := range strings.SplitAfter(string(m[1]), "\n") {
			if strings.TrimSpace(line) != "" {
				indented.WriteString("\t")
			}
			indented.WriteString(line)
		}
		if !strings.Contains(examples.String(), indented.String()) {
			t.Errorf("README snippet is not verbatim in an Example of package host (readme_example_test.go):\n%s", m[1])
		}
	}
}

// TestREADMEEmbedding runs the README's embedding snippet (Example_embedding)
// in a namespace: bridge br0 at 10.0.0.1/24 with a Linux HTTP server on
// :8080, which answers with what curl gets from the snippet's own server
// at http://10.0.0.2/. The snippet prints that answer.
func TestREADMEEmbedding(t *testing.T) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "10.0.0.1/24")
	var l net.Listener
	if err := ns.Run(func() (err error) {
		l, err = net.Listen("tcp", "10.0.0.1:8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := ns.Output("curl", "-sS", "--max-time", "10", "http://10.0.0.2/")
		if err != nil {
			http.Error(w, fmt.Sprintf("curl http://10.0.0.2/: %v %s", err, out), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "linux got: %s", out)
	})}
	go srv.Serve(l)
	defer srv.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	err = ns.Run(func() error { Example_embedding(); return nil })
	os.Stdout = stdout
	w.Close()
	var got bytes.Buffer
	io.Copy(&got, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := "linux got: hello from tapstack\n"; got.String() != want {
		t.Errorf("the README snippet printed %q, want %q", got.String(), want)
	}
}
