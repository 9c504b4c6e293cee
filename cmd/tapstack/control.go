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

	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/host"
)

// The control socket: `tapstack up` listens on an abstract unix socket
// "@tapstack/TAP" for each of its TAPs and serves its tables there over
// HTTP, as plain text; `tapstack route`, `tapstack arp` and
// `tapstack status` connect to it. Abstract sockets belong to the network
// namespace, like the TAP names themselves, so two hosts in two namespaces
// never collide, and nothing is left behind on disk when a host dies.
// Requests that change state need the caller to be root or the user
// running the host (SO_PEERCRED).

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

type connKey struct{}

// listenControl starts the control server of h on one socket per TAP.
func listenControl(cfg upConfig, h *host.Host) (*control, error) {
	c := &control{done: make(chan struct{})}
	c.srv = &http.Server{
		Handler:  controlHandler(cfg, h),
		ErrorLog: log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, nc)
		},
	}
	var ls []net.Listener
	for _, t := range cfg.Taps {
		l, err := net.Listen("unix", controlAddr(t.Name))
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("control socket %s: %v (is another tapstack running on %s in this network namespace?)", controlAddr(t.Name), err, t.Name)
		}
		ls = append(ls, l)
	}
	c.n = len(ls)
	for _, l := range ls {
		go func() {
			c.srv.Serve(l)
			c.done <- struct{}{}
		}()
	}
	return c, nil
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
//	GET  /status[?all]   the status page
//	GET  /route          the route table (ip route)
//	GET  /arp            the ARP table (arp -n)
//	GET  /resolve?name=  the IPv4 addresses of a name (the host's resolver)
//	POST /arp/delete?ip= arp -d IP
//	POST /arp/flush      flush learned entries
//	GET  /id             pid and TAPs, to tell hosts apart
func controlHandler(cfg upConfig, h *host.Host) http.Handler {
	mux := http.NewServeMux()
	text := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		text(w)
		h.WriteStatus(w, r.URL.Query().Has("all"))
	})
	mux.HandleFunc("GET /route", func(w http.ResponseWriter, r *http.Request) {
		text(w)
		h.WriteRoutes(w)
	})
	mux.HandleFunc("GET /arp", func(w http.ResponseWriter, r *http.Request) {
		text(w)
		h.WriteARP(w)
	})
	mux.HandleFunc("GET /resolve", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		addrs, err := h.Resolver().LookupHost(ctx, name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		text(w)
		for _, a := range addrs {
			fmt.Fprintln(w, a)
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
	return mux
}

// allowed lets root and the host's own user change state.
func allowed(w http.ResponseWriter, r *http.Request) bool {
	uc, ok := r.Context().Value(connKey{}).(*net.UnixConn)
	if ok {
		if raw, err := uc.SyscallConn(); err == nil {
			var cred *unix.Ucred
			var cerr error
			raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
			if cerr == nil && (cred.Uid == 0 || int(cred.Uid) == os.Geteuid()) {
				return true
			}
		}
	}
	http.Error(w, "permission denied: run as root or as the user running tapstack up", http.StatusForbidden)
	return false
}

// controlClient talks to the host whose control socket is addr.
func controlClient(addr string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", addr)
			},
		},
	}
}

// controlDo sends one request and returns the body of a 2xx answer; any
// other answer's body is the error.
func controlDo(addr, method, path string) (string, error) {
	req, err := http.NewRequest(method, "http://tapstack"+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := controlClient(addr).Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return "", fmt.Errorf("no tapstack host on %s in this network namespace", strings.TrimPrefix(addr, controlPrefix))
		}
		return "", fmt.Errorf("talking to tapstack on %s: %v", strings.TrimPrefix(addr, controlPrefix), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
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
	pids := map[string][]string{}
	for _, t := range taps {
		id, err := controlDo(controlAddr(t), "GET", "/id")
		if err != nil {
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
