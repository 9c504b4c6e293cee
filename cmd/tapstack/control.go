package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/host/web"
)

// The control socket: `tapstack up` listens on an abstract unix socket
// "@tapstack/TAP" for each of its TAPs and serves its tables there over
// HTTP, as plain text; `tapstack route`, `tapstack arp` and
// `tapstack status` connect to it. Abstract sockets belong to the network
// namespace, like the TAP names themselves, so two hosts in two namespaces
// never collide, and nothing is left behind on disk when a host dies.
// Anyone can take or connect to an abstract name, so both ends check the
// other's credentials and believe only root or their own user
// (control_cred.go), and the server has timeouts and caps
// (control_limits.go).

// controlTimeout bounds a request of the CLI to a host (a table is
// answered at once; resolve waits longer, see resolve.go).
const controlTimeout = 10 * time.Second

// controlPrefix starts the abstract socket name of every host.
const controlPrefix = "@tapstack/"

// controlAddr is the socket name of the host owning TAP name.
func controlAddr(tap string) string { return controlPrefix + tap }

// control is the running control server.
type control struct {
	srv  *http.Server
	done chan struct{}
	n    int
}

type peerKey struct{}

// listenControl starts the control server of h on one socket per TAP;
// extra sections (a gateway's DHCP leases) follow h's status page.
func listenControl(cfg upConfig, h *host.Host, extra ...func(io.Writer)) (*control, error) {
	var ls []net.Listener
	for _, t := range cfg.Taps {
		addr := controlAddr(t.Name)
		l, err := net.Listen("unix", addr)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, squattedError(addr, t.Name, err)
			}
			return nil, fmt.Errorf("control socket %s: %v", addr, err)
		}
		ls = append(ls, l)
	}
	return serveControl(ls, controlHandler(cfg, h, extra...), defaultControlLimits), nil
}

// serveControl serves handler on the listeners to believed clients only,
// within lim.
func serveControl(ls []net.Listener, handler http.Handler, lim controlLimits) *control {
	c := &control{done: make(chan struct{}), n: len(ls)}
	c.srv = &http.Server{
		Handler:           bodiless(handler),
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    lim.maxHeaderBytes,
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			if sc, ok := nc.(*slotConn); ok {
				return context.WithValue(ctx, peerKey{}, sc.p)
			}
			return ctx
		},
	}
	self := uint32(os.Geteuid())
	for _, l := range ls {
		gl := newGuardedListener(l, self, &lim)
		go func() {
			c.srv.Serve(gl)
			c.done <- struct{}{}
		}()
	}
	return c
}

// close stops the server and waits for its goroutines.
func (c *control) close() {
	c.srv.Close()
	for range c.n {
		<-c.done
	}
}

// controlHandler serves:
//
//	GET  /status[?all]   the status page (a browser gets the web page, web.WantsHTML)
//	GET  /status.json, /static/  the web page's data and assets (host/web)
//	GET  /route[?family=4|6]  the route tables (ip route, then ip -6 route)
//	GET  /neigh[?family=4|6]  the neighbour tables (ip neigh: ARP, then NDP)
//	GET  /arp            the ARP table (arp -n)
//	GET  /ss, /metrics   TCP sockets (ss -tanoi), counters (metrics.go)
//	GET  /resolve?name=  the IPv4 addresses of a name (the host's resolver)
//	POST /arp/delete?ip= arp -d IP
//	POST /arp/flush      flush learned entries
//	GET  /id             pid and TAPs, to tell hosts apart
func controlHandler(cfg upConfig, h *host.Host, extra ...func(io.Writer)) http.Handler {
	mux := http.NewServeMux()
	text := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	ws := web.New(h, web.Options{}) // its sampler runs only while polled
	mux.Handle("GET /status.json", ws)
	mux.Handle("GET /static/", ws)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		if web.WantsHTML(r) {
			ws.ServeHTTP(w, r)
			return
		}
		text(w)
		h.WriteStatus(w, r.URL.Query().Has("all"))
		writeBondStatus(w)
		for _, f := range extra {
			f(w)
		}
	})
	handleBonds(mux)
	mux.HandleFunc("GET /route", func(w http.ResponseWriter, r *http.Request) {
		v4, v6 := families(r)
		text(w)
		if v4 {
			h.WriteRoutes(w)
		}
		if v6 {
			h.WriteRoutes6(w)
		}
	})
	mux.HandleFunc("GET /neigh", func(w http.ResponseWriter, r *http.Request) {
		v4, v6 := families(r)
		text(w)
		h.WriteNeigh(w, v4, v6)
	})
	mux.HandleFunc("GET /arp", func(w http.ResponseWriter, r *http.Request) {
		text(w)
		h.WriteARP(w)
	})
	mux.HandleFunc("GET /resolve", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		res := h.Resolver()
		ctx, cancel := context.WithTimeout(r.Context(), resolveBudget(res))
		defer cancel()
		addrs, err := res.LookupHost(ctx, name)
		if err != nil {
			http.Error(w, resolveError(name, res, err), http.StatusNotFound)
			return
		}
		text(w)
		for _, a := range addrs {
			fmt.Fprintln(w, a)
		}
	})
	mux.HandleFunc("GET /trace", func(w http.ResponseWriter, r *http.Request) {
		if allowed(w, r) {
			serveTrace(w, r, h)
		}
	})
	mux.HandleFunc("GET /id", func(w http.ResponseWriter, r *http.Request) {
		text(w)
		var taps []string
		for _, t := range cfg.Taps {
			taps = append(taps, t.Name)
		}
		fmt.Fprintf(w, "%d %s\n", os.Getpid(), strings.Join(taps, " "))
	})
	mux.HandleFunc("POST /arp/delete", func(w http.ResponseWriter, r *http.Request) {
		if !allowed(w, r) {
			return
		}
		ip, err := netip.ParseAddr(r.URL.Query().Get("ip"))
		if err != nil || !ip.Is4() {
			http.Error(w, fmt.Sprintf("%q is not an IPv4 address", r.URL.Query().Get("ip")), http.StatusBadRequest)
			return
		}
		if err := h.DeleteARP(ip); err != nil {
			http.Error(w, fmt.Sprintf("no ARP entry for %v", ip), http.StatusNotFound)
			return
		}
		text(w)
	})
	mux.HandleFunc("POST /arp/flush", func(w http.ResponseWriter, r *http.Request) {
		if !allowed(w, r) {
			return
		}
		text(w)
		fmt.Fprintf(w, "%d\n", h.FlushARP())
	})
	addObservability(mux, h) // GET /ss, GET /metrics (metrics.go)
	return mux
}

// families reads ?family=4 or 6 (both when absent).
func families(r *http.Request) (v4, v6 bool) {
	switch r.URL.Query().Get("family") {
	case "4":
		return true, false
	case "6":
		return false, true
	}
	return true, true
}

// allowed lets root and the host's own user change state. The listener
// lets no one else in; this checks again where state changes.
func allowed(w http.ResponseWriter, r *http.Request) bool {
	if p, ok := r.Context().Value(peerKey{}).(peer); ok && believed(p.uid, uint32(os.Geteuid())) {
		return true
	}
	http.Error(w, "permission denied: run as root or as the user running tapstack up", http.StatusForbidden)
	return false
}

// controlClient talks to the host whose control socket is addr, once it
// has checked who serves it (dialControl).
func controlClient(addr string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialControl(ctx, addr)
			},
			DisableKeepAlives:      true,
			MaxResponseHeaderBytes: controlMaxReplyHeader,
		},
	}
}

// controlDo sends one request and returns the body of a 2xx answer; any
// other answer's body is the error. It reads at most controlMaxReply
// bytes of it.
func controlDo(addr, method, path string) (string, error) {
	timeout := controlTimeout
	if strings.HasPrefix(path, "/resolve") {
		timeout = resolveClientTimeout // the resolver's own error comes first
	}
	req, err := http.NewRequest(method, "http://tapstack"+path, nil)
	if err != nil {
		return "", err
	}
	tap := strings.TrimPrefix(addr, controlPrefix)
	resp, err := controlClient(addr, timeout).Do(req)
	if err != nil {
		var ue *untrustedError
		var de *deniedError
		switch {
		case errors.As(err, &ue):
			return "", ue
		case errors.As(err, &de):
			return "", de
		case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT):
			return "", fmt.Errorf("no tapstack host on %s in this network namespace", tap)
		}
		return "", fmt.Errorf("talking to tapstack on %s: %v", tap, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, controlMaxReply+1))
	if err != nil {
		return "", fmt.Errorf("reading the reply of tapstack on %s: %v", tap, err)
	}
	if len(body) > controlMaxReply {
		return "", fmt.Errorf("the reply of tapstack on %s is longer than %d MiB: refusing it", tap, controlMaxReply>>20)
	}
	if resp.StatusCode/100 != 2 {
		return "", errors.New(strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// runningTaps lists the TAPs with a control socket in this network
// namespace, from /proc/net/unix.
func runningTaps() ([]string, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	var taps []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 {
			continue
		}
		// Num RefCount Protocol Flags Type St Inode Path; listening
		// sockets have the __SO_ACCEPTCON flag (00010000).
		name, ok := strings.CutPrefix(fields[7], controlPrefix)
		if !ok || fields[3] != "00010000" || seen[name] {
			continue
		}
		seen[name] = true
		taps = append(taps, name)
	}
	sort.Strings(taps)
	return taps, sc.Err()
}

// findHost picks the control socket: of --tap NAME when given, else of the
// only host running in this network namespace.
func findHost(tap string) (string, error) {
	if tap != "" {
		return controlAddr(tap), nil
	}
	taps, err := runningTaps()
	if err != nil {
		return "", fmt.Errorf("cannot list running hosts: %v", err)
	}
	if len(taps) == 0 {
		return "", errors.New("no tapstack host is running in this network namespace (start one with tapstack up)")
	}
	// One host serves a socket per TAP: group them by process.
	// Sockets served by someone we do not believe are skipped, and
	// named when nothing else answers.
	pids := map[string][]string{}
	var refused error
	for _, t := range taps {
		id, err := controlDo(controlAddr(t), "GET", "/id")
		if err != nil {
			var ue *untrustedError
			var de *deniedError
			if refused == nil && (errors.As(err, &ue) || errors.As(err, &de)) {
				refused = err
			}
			continue
		}
		pid, _, _ := strings.Cut(id, " ")
		pids[pid] = append(pids[pid], t)
	}
	if len(pids) == 1 {
		for _, ts := range pids {
			return controlAddr(ts[0]), nil
		}
	}
	if len(pids) == 0 && refused != nil {
		return "", refused
	}
	if len(pids) == 0 {
		return "", errors.New("no tapstack host is answering in this network namespace")
	}
	var firsts []string
	for _, ts := range pids {
		firsts = append(firsts, ts[0])
	}
	sort.Strings(firsts)
	return "", usagef("%d tapstack hosts run here (on %s): choose one with --tap NAME", len(pids), strings.Join(firsts, ", "))
}
