package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// TestStatusPageChromium (issue 19, acceptance 2): a headless Chromium on
// the bridge opens http://10.0.0.2/ of `tapstack up --status full` (with
// a VLAN, and 1% loss on what it sends) while Linux downloads from it and
// uploads to its discard port; the page it renders has the tables (the
// interface, the VLAN in the diagram, the ARP entry of the bridge, the ESTABLISHED connection with
// its ss -ti details, counters with what they count), the download's
// time-sequence graph has points and the upload's graph shows data received. The screenshot is kept in
// the test's temporary directory and copied to $TAPSTACK_SCREENSHOT_DIR
// when that is set.
func TestStatusPageChromium(t *testing.T) {
	needTools(t, "curl")
	chromium := findChromium(t)
	ns := bridgeNS(t)
	// A VLAN beside the untagged interface, for the diagram, and 1% loss
	// on what tapstack sends, so the graph has retransmissions to show.
	startTapstack(t, ns, "tapstack: up on tap0 (bridge br0) as 10.0.0.2/24",
		"up", "--tap", "tap0", "--bridge", "br0", "--addr", hostAddr+"/24", "--gateway", bridgeAddr,
		"--vlan", "10:10.0.10.2/24", "--faults", "tx.loss=1%,seed=7", "--status", "full")

	// A download that lasts the test: curl reads slowly, so tapstack's
	// side of the connection stays ESTABLISHED with data in flight.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dl := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name(),
		"curl", "-sS", "-o", "/dev/null", "--limit-rate", "4M", "http://"+hostAddr+"/bytes?n=1000000000")
	if err := dl.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); dl.Wait() }()
	// And an upload to discard (port 9): a connection that receives.
	up, err := linuxDial(ctx, ns, "tcp", hostAddr+":9")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		buf := make([]byte, 16<<10)
		for ctx.Err() == nil {
			if _, err := up.Write(buf); err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond) // pacing the upload, not synchronisation
		}
	}()

	// The JSON the page renders: wait (bounded) until the download's
	// connection has a graph of a few samples. Polling it starts the
	// sampler, as the page does.
	var id string
	deadline := time.Now().Add(15 * time.Second)
	for id == "" {
		if time.Now().After(deadline) {
			t.Fatal("no ESTABLISHED connection with a graph in status.json")
		}
		out, err := ns.Output("curl", "-sS", "--max-time", "5", "http://"+hostAddr+"/status.json")
		if err != nil {
			t.Fatal(err)
		}
		var snap struct {
			TCP []struct {
				ID, State string
				Graph     *struct{ Samples [][]int64 }
			}
		}
		if err := json.Unmarshal([]byte(out), &snap); err != nil {
			t.Fatalf("status.json: %v\n%.300s", err, out)
		}
		for _, c := range snap.TCP {
			if c.State == "ESTABLISHED" && c.Graph != nil && len(c.Graph.Samples) >= 3 {
				id = c.ID
			}
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline, not synchronisation
	}

	// curl still gets the text page.
	if out, err := ns.Output("curl", "-sS", "--max-time", "5", "http://"+hostAddr+"/"); err != nil || !strings.HasPrefix(out, "# interfaces") {
		t.Errorf("curl gets %.200q, %v; want the text page", out, err)
	}

	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		base := []string{"netns", "exec", ns.Name(), chromium, "--headless", "--no-sandbox", "--disable-gpu",
			"--no-first-run", "--disable-extensions", "--user-data-dir=" + filepath.Join(dir, "profile"),
			"--virtual-time-budget=4000", "--window-size=1280,2700", "--hide-scrollbars"}
		cmd := exec.CommandContext(ctx, "ip", append(base, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	url := "http://" + hostAddr + "/"
	dom := run("--dump-dom", url)

	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`<table id="t-interfaces">.*<td>tap0</td>.*inet 10\.0\.0\.2/24`),
		regexp.MustCompile(`<table id="t-routes">.*<td>default</td><td>10\.0\.0\.1</td>`),
		regexp.MustCompile(`<table id="t-arp">.*<td>10\.0\.0\.1</td><td>[0-9a-f:]{17}</td><td>tap0</td><td>(REACHABLE|STALE|DELAY|PROBE)</td><td>C</td>`),
		regexp.MustCompile(`<table id="t-tcp">.*<td>ESTABLISHED</td>.*<code>[a-z]+ .*rto:\d+.*cwnd:`),
		regexp.MustCompile(`<table id="t-counters">.*<td>tcp\.tx\.segments</td><td>\d+</td>.*TCP segments sent`),
		regexp.MustCompile(`<svg class="diagram".*tap0\.10  \(VLAN 10\)`),
	} {
		if !want.MatchString(strings.ReplaceAll(dom, "\n", " ")) {
			t.Errorf("the rendered page lacks %s", want)
		}
	}
	local, remote, _ := strings.Cut(id, "-")
	m := regexp.MustCompile(`<svg class="tsg"[^>]*aria-label="Data sent by us on ` + regexp.QuoteMeta(local+" ⇄ "+remote) +
		`"[^>]*data-points="(\d+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no time-sequence graph of data sent in the rendered page:\n%.3000s", dom)
	}
	if n, _ := strconv.Atoi(m[1]); n < 3 {
		t.Errorf("the graph has %d points, want at least 3", n)
	}
	if !regexp.MustCompile(`<svg class="tsg"[^>]*aria-label="Data received by us on 10\.0\.0\.2:9 ⇄ 10\.0\.0\.1:\d+"[^>]*data-points="[1-9]`).MatchString(dom) {
		t.Errorf("no graph of the upload to port 9 (data received) in the rendered page")
	}
	if c := strings.Count(dom, `<circle class="pt"`) + strings.Count(dom, `<circle class="rec pt"`) + strings.Count(dom, `<circle class="rtx pt"`); c < 3 {
		t.Errorf("the graph draws %d points, want at least 3", c)
	}
	t.Logf("connection %s: graph of %s points", id, m[1])

	// The same page on the control socket, for the host's operator.
	if out, err := ns.Output("curl", "-sS", "--max-time", "5", "--abstract-unix-socket", "tapstack/tap0",
		"-H", "Accept: text/html", "http://tapstack/status"); err != nil || !strings.Contains(out, `id="t-tcp"`) {
		t.Errorf("the control socket's /status for a browser: %v\n%.200s", err, out)
	}

	// The screenshot, its graphs zoomed to the last second (the README's).
	shot := filepath.Join(dir, "status-page.png")
	run("--screenshot="+shot, url+"#zoom=1000")
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, st.Size())
	if d := os.Getenv("TAPSTACK_SCREENSHOT_DIR"); d != "" {
		b, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(filepath.Join(d, "status-page.png"), b, 0o644)
		}
		if err != nil {
			t.Errorf("copy the screenshot to %s: %v", d, err)
		}
	}
}

// findChromium returns the Chromium binary, or skips saying why.
func findChromium(t *testing.T) string {
	t.Helper()
	netnstest.Skip(t)
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("needs chromium (make deps installs the Debian package chromium)")
	return ""
}
