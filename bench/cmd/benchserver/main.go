// Command benchserver is the server side of the whole-system benchmark
// (scripts/bench.sh). It runs the same services over one of three TCP/IP
// stacks, so that only the stack differs between the columns of the table:
//
//	-stack tapstack  tapstack embedded (package host over tap.Open) on a TAP
//	-stack gvisor    gVisor's netstack (fdbased endpoint) on a plain TAP
//	-stack kernel    the Linux kernel's sockets (run it in a namespace)
//
// Services: HTTP on :80 (a 6-byte body), echo on TCP :7 (a small buffer,
// for the idle-connection test) and UDP :7 (the round-trip test), discard on :9 (upload sink) and an endless
// source on :19 (download). It prints "ready" once listening, writes a CPU
// profile between SIGUSR1 and SIGUSR2 when -profile is set, and exits on
// SIGTERM or SIGINT. SIGHUP logs the runtime's memory figures (heap,
// goroutine stacks) and, with -profile, writes a heap profile to
// <prefix>heap.pprof. With -stack kernel -procs K, K processes share the
// echo port (see kernelprocs.go) and the ready line names them all:
// "ready pids=P1,P2,...". With -debug ADDR it serves net/http/pprof and
// (tapstack) the host's counters, connections by state and TCP memory at
// /metrics on a kernel socket in its namespace (debug.go).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
)

func main() {
	stackName := flag.String("stack", "tapstack", "tapstack, gvisor or kernel")
	tapName := flag.String("tap", "tap0", "TAP name (tapstack, gvisor)")
	bridge := flag.String("bridge", "br0", "bridge the TAP joins (tapstack, gvisor)")
	addr := flag.String("addr", "10.0.0.2/24", "the server's address (tapstack, gvisor)")
	addr6 := flag.String("addr6", "", "the server's IPv6 address too, e.g. fd00::2/64 (tapstack, gvisor)")
	tun := flag.Bool("tun", false, "tapstack, gvisor: open -tap as a TUN (bare IP, no bridge)")
	offload := flag.Bool("offload", false, "tapstack: open the TAP with the virtio-net header (CSUM, TSO4)")
	profile := flag.String("profile", "", "CPU profile path prefix: SIGUSR1 starts <prefix>N.pprof, SIGUSR2 stops it")
	procs := flag.Int("procs", 1, "kernel: serve the echo port from this many processes (SO_REUSEPORT), for more connections than one process's descriptor limit")
	debug := flag.String("debug", "", "serve net/http/pprof and (tapstack) the host's counters at /metrics on this kernel-socket address, e.g. 127.0.0.1:6060 (in the server's namespace)")
	exactHeap := flag.Bool("exact-heap", false, "sample every allocation, so that the heap profile SIGHUP writes (with -profile) counts each idle connection's bytes exactly; every allocation then records its stack, so not for CPU profiles")
	echoOnly := flag.Bool("echo-only", false, "kernel: serve only the echo port, with SO_REUSEPORT (the extra processes of -procs)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchserver: ")
	if *exactHeap {
		runtime.MemProfileRate = 1
	}
	if *echoOnly {
		serveEchoOnly()
		return
	}
	if *procs > 1 && *stackName != "kernel" {
		log.Fatalf("-procs: only with -stack kernel (the others hold no descriptor per connection)")
	}

	prefix, err := netip.ParsePrefix(*addr)
	if err != nil {
		log.Fatalf("-addr: %v", err)
	}
	var prefix6 netip.Prefix
	if *addr6 != "" {
		if prefix6, err = netip.ParsePrefix(*addr6); err != nil || !prefix6.Addr().Is6() {
			log.Fatalf("-addr6 %q: not an IPv6 prefix like fd00::2/64", *addr6)
		}
	}
	var listen func(port int) (net.Listener, error)
	var listenUDP func(port int) (net.PacketConn, error)
	var closeStack func()
	switch *stackName {
	case "tapstack":
		listen, listenUDP, closeStack, err = tapstackListen(*tapName, *bridge, prefix, prefix6, *offload, *tun)
	case "gvisor":
		listen, listenUDP, closeStack, err = gvisorListen(*tapName, *bridge, prefix, prefix6, *tun)
	case "kernel":
		listen = func(port int) (net.Listener, error) { return net.Listen("tcp", fmt.Sprintf(":%d", port)) }
		listenUDP = func(port int) (net.PacketConn, error) { return net.ListenPacket("udp", fmt.Sprintf(":%d", port)) }
		closeStack = func() {}
	default:
		log.Fatalf("unknown -stack %q", *stackName)
	}
	if err != nil {
		log.Fatal(err)
	}
	services := []struct {
		port  int
		serve func(net.Conn)
	}{{7, serveEcho}, {9, serveDiscard}, {19, serveSource}}
	var more []int
	if *procs > 1 {
		kernelListen := listen
		listen = func(port int) (net.Listener, error) {
			if port == 7 {
				return listenReusePort(port)
			}
			return kernelListen(port)
		}
	}
	for _, s := range services {
		l, err := listen(s.port)
		if err != nil {
			log.Fatalf("listen :%d: %v", s.port, err)
		}
		go acceptLoop(l, s.serve)
	}
	uc, err := listenUDP(7)
	if err != nil {
		log.Fatalf("listen udp :7: %v", err)
	}
	go serveUDPEcho(uc)
	hl, err := listen(80)
	if err != nil {
		log.Fatalf("listen :80: %v", err)
	}
	body := []byte("hello\n")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go srv.Serve(hl)
	if *procs > 1 {
		if more, err = startEchoProcs(*procs - 1); err != nil {
			log.Fatal(err)
		}
	}
	if *debug != "" {
		if err := serveDebug(*debug); err != nil {
			log.Fatalf("-debug: %v", err)
		}
	}
	ids := []string{fmt.Sprint(os.Getpid())}
	for _, id := range more {
		ids = append(ids, fmt.Sprint(id))
	}
	fmt.Println("ready pids=" + strings.Join(ids, ","))

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	var prof *os.File
	n := 0
	for sig := range sigs {
		switch sig {
		case syscall.SIGUSR1:
			if *profile == "" || prof != nil {
				continue
			}
			n++
			if prof, err = os.Create(fmt.Sprintf("%s%d.pprof", *profile, n)); err != nil {
				slog.Warn("profile not written", "err", err)
				prof = nil
				continue
			}
			pprof.StartCPUProfile(prof)
		case syscall.SIGHUP:
			heapReport(*profile)
		case syscall.SIGUSR2:
			if prof != nil {
				pprof.StopCPUProfile()
				prof.Close()
				prof = nil
			}
		default:
			if prof != nil {
				pprof.StopCPUProfile()
				prof.Close()
			}
			srv.Close()
			closeStack()
			return
		}
	}
}

// heapReport logs where the process's memory is and, with a profile
// prefix, writes the heap profile (after a collection, so it shows what is
// live) to <prefix>heap.pprof.
func heapReport(prefix string) {
	runtime.GC()
	if prefix != "" {
		path := prefix + "heap.pprof"
		if f, err := os.Create(path); err != nil {
			slog.Warn("heap profile not written", "err", err)
		} else {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	log.Printf("memory: goroutines=%d heap_alloc=%d heap_inuse=%d heap_idle=%d heap_released=%d stack_inuse=%d mspan=%d other_sys=%d sys=%d",
		runtime.NumGoroutine(), ms.HeapAlloc, ms.HeapInuse, ms.HeapIdle, ms.HeapReleased, ms.StackInuse, ms.MSpanInuse, ms.OtherSys, ms.Sys)
}

func acceptLoop(l net.Listener, serve func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			serve(c)
		}()
	}
}

// serveEcho echoes with a small buffer, so that an idle connection costs
// the server little more than its goroutine and the stack's own state.
func serveEcho(c net.Conn) {
	var buf [512]byte
	for {
		n, err := c.Read(buf[:])
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// serveDiscard reads and drops until EOF, then closes (the client waits
// for that close to know every byte arrived).
func serveDiscard(c net.Conn) {
	buf := make([]byte, 256<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// serveSource writes until the client goes away.
func serveSource(c net.Conn) {
	buf := make([]byte, 256<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// serveUDPEcho answers each datagram with its payload. It uses the
// allocation-free ReadFromUDPAddrPort/WriteToUDPAddrPort pair where the
// stack has it (tapstack, the kernel), ReadFrom/WriteTo otherwise (gVisor).
func serveUDPEcho(c net.PacketConn) {
	buf := make([]byte, 2048)
	type addrPortConn interface {
		ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
		WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	}
	if ac, ok := c.(addrPortConn); ok {
		for {
			n, from, err := ac.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			ac.WriteToUDPAddrPort(buf[:n], from)
		}
	}
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		c.WriteTo(buf[:n], from)
	}
}
