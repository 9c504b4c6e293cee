// Package web serves a host's status page to browsers: the tables of
// `tapstack status` (interfaces, VLANs and bonds, addresses, ARP and NDP
// caches, routes, TCP connections with `ss -ti` details, UDP endpoints,
// counters with what they count) as a page that updates itself every
// second, with a time-sequence graph per TCP connection and a diagram of
// the interfaces and routes. Everything it sends is embedded (go:embed);
// the page fetches nothing from elsewhere and works from the keyboard.
//
// A Server answers three kinds of request: the page itself (any path
// not below), /status.json (the Snapshot the page renders) and
// /static/NAME (its script and style). WantsHTML tells a browser from
// curl, so a program can keep serving text to the latter on the same
// path.
package web

import (
	"embed"
	"encoding/json"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/tcp"
)

//go:embed assets
var assets embed.FS

// Options configure a Server; the zero value is the operator's page.
type Options struct {
	// Public leaves out TCP and UDP peers, counters, TCP details and the
	// graphs (what an off-path attacker would want, CVE-2016-5696), and
	// never runs the sampler: the page for readers on the network.
	Public bool
	// Explain says what a counter counts; nil uses host.CounterHelp, the
	// explanations /metrics gives as HELP lines too.
	Explain func(name string) string
	// SampleInterval is how often the graph sampler reads the connections
	// (10ms); SampleIdle how long it keeps going after the last poll (5s).
	SampleInterval, SampleIdle time.Duration
	// MaxGraphConns bounds the connections with a history (32),
	// MaxGraphSamples each history (600), MaxGraphPoints the points of
	// one graph in a snapshot (400).
	MaxGraphConns, MaxGraphSamples, MaxGraphPoints int
}

func (o *Options) defaults() {
	if o.Explain == nil {
		o.Explain = host.CounterHelp
	}
	if o.SampleInterval <= 0 {
		o.SampleInterval = 10 * time.Millisecond
	}
	if o.SampleIdle <= 0 {
		o.SampleIdle = 5 * time.Second
	}
	if o.MaxGraphConns <= 0 {
		o.MaxGraphConns = 32
	}
	if o.MaxGraphSamples <= 0 {
		o.MaxGraphSamples = 600
	}
	if o.MaxGraphPoints <= 0 {
		o.MaxGraphPoints = 400
	}
}

// Server is the status page of one host. Close stops its sampler.
type Server struct {
	h    *host.Host
	opts Options
	smp  *sampler
}

// New returns the status page of h.
func New(h *host.Host, opts Options) *Server {
	opts.defaults()
	details := func(d []tcp.ConnDetail) []tcp.ConnDetail { return h.TCP().ConnDetails(d) }
	return &Server{h: h, opts: opts, smp: newSampler(details, opts)}
}

// Close stops the sampler and waits for its goroutine.
func (s *Server) Close() { s.smp.close() }

// WantsHTML reports whether the client of r asked for HTML (a browser's
// Accept header lists text/html; curl sends */*).
func WantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if q, ok := params["q"]; ok && strings.Trim(q, "0.") == "" {
				continue // q=0: not acceptable (RFC 9110 12.4.2)
			}
			if err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
				return true
			}
		}
	}
	return false
}

// ServeHTTP serves the page, /status.json and /static/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	// Nothing from elsewhere, no framing, no sniffing.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/status.json"):
		s.serveJSON(w)
	case strings.HasPrefix(p, "/static/"):
		s.serveAsset(w, path.Base(p))
	default:
		s.serveAsset(w, "index.html")
	}
}

var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

func (s *Server) serveAsset(w http.ResponseWriter, name string) {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		http.NotFound(w, nil)
		return
	}
	w.Header().Set("Content-Type", types[path.Ext(name)])
	w.Write(b)
}

func (s *Server) serveJSON(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.Encode(s.Snapshot())
}

// Snapshot takes the host's tables now. Off the public page it also
// keeps the graph sampler running (see Options.SampleIdle) and adds each
// connection's graph.
func (s *Server) Snapshot() *Snapshot {
	h, public := s.h, s.opts.Public
	st := h.Stack()
	snap := &Snapshot{Time: st.Clock().Now(), Public: public, Forwarding: h.Forwarding(),
		Interfaces: interfaces(st), Routes: routes(st), TCP: []Conn{}, UDP: []Datagram{}}
	snap.ARP, snap.NDP = neighbours(h)
	if !public {
		s.smp.poke()
		snap.Sampling = true
	}
	graphs := map[string]*Graph{}
	if !public {
		graphs, _ = s.smp.graphs(s.opts.MaxGraphPoints)
	}
	details := map[string]*Detail{}
	if !public {
		for _, d := range h.TCP().ConnDetails(nil) {
			details[connID(d.Local, d.Remote)] = detail(&d, s.smp.retransSeen(d.Local, d.Remote))
		}
	}
	for _, c := range h.TCP().Connections() {
		cn := Conn{Local: c.Local.String(), Remote: peerString(c.Remote, public), State: c.State, RecvQ: c.RecvQueue, SendQ: c.SendQueue}
		if !public && c.State != "LISTEN" {
			cn.ID = connID(c.Local, c.Remote)
			cn.Detail, cn.Graph = details[cn.ID], graphs[cn.ID]
		}
		snap.TCP = append(snap.TCP, cn)
	}
	for _, e := range h.UDP().Endpoints() {
		snap.UDP = append(snap.UDP, Datagram{Local: e.Local.String(), Remote: peerString(e.Remote, public), Queued: e.Queued})
	}
	if !public {
		snap.Counters = []Counter{}
		for _, c := range st.Counters().Snapshot() {
			snap.Counters = append(snap.Counters, Counter{Name: c.Name, Value: c.Value, Help: s.opts.Explain(c.Name)})
		}
	}
	return snap
}
