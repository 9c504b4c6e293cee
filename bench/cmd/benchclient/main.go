// Command benchclient is the Linux-side client of the whole-system
// benchmark (scripts/bench.sh); it runs in the namespace of the bridge,
// with kernel sockets.
//
//	benchclient tput  -addr 10.0.0.2 -dir up|down -streams N -dur 5s [-every 1s] [-pid P]
//	benchclient conns -addr 10.0.0.2 -n 5000[,50000...] -pid P
//	benchclient udpecho -addr 10.0.0.2 -dur 5s [-pid P]
//	benchclient connrate -addr 10.0.0.2 -streams 16 -dur 5s [-pid P]
//	ping ... | benchclient pingstats
//	benchclient table -in results.tsv
//
// tput prints "gbps=G bytes=B secs=S cpu=C" (C: the server process's
// user+system CPU seconds during the run, from /proc/P/stat); with -every D
// it also prints "t=D gbps=G" for each interval D to stderr. conns opens N
// connections to the echo port, echoes one byte on each (so the server has
// accepted and served it), and prints "kib_per_conn_N=K" from the server's
// VmRSS before and after; with a list of counts it opens them in steps,
// holding all, and prints one figure per step. udpecho sends one 64-byte datagram at a time to
// the UDP echo port and waits for its echo, for -dur, and prints
// "rtps=R p50_us=M p99_us=N cpu=C cpu_pct=P cpu_us_per_rt=U" (round trips
// per second, the median and 99th percentile round trip, the server's CPU:
// seconds, percent of a CPU, microseconds per round trip). connrate opens
// connections to the echo port, -streams at a time, each closed with a RST
// once established, and prints "cps=R n=N errors=E cpu=C
// cpu_us_per_conn=U". pingstats reads
// ping's per-reply lines on stdin and prints "avg_ms=A p50_ms=M p99_ms=B n=N". table
// prints the results file as one table.
package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchclient: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: benchclient tput|conns|udpecho|connrate|pingstats|table ...")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "10.0.0.2", "server address")
	dir := fs.String("dir", "down", "tput: up (client sends) or down (server sends)")
	streams := fs.Int("streams", 1, "tput, connrate: parallel connections")
	dur := fs.Duration("dur", 5*time.Second, "tput: duration")
	every := fs.Duration("every", 0, "tput: also print the throughput of each interval this long to stderr (\"t=1s gbps=G\")")
	pidList := fs.String("pid", "", "server process id (for CPU and RSS); a comma-separated list sums several")
	n := fs.String("n", "5000", "conns: connections to open; a list (5000,50000) opens them in steps, all held together")
	hup := fs.Bool("hup", false, "conns: send the server SIGHUP while the connections are held (benchserver logs its memory figures, with -profile writes a heap profile)")
	in := fs.String("in", "", "table: results file (metric<TAB>stack<TAB>value)")
	fs.Parse(os.Args[2:])
	pid := parsePIDs(*pidList)
	switch os.Args[1] {
	case "tput":
		tput(*addr, *dir, *streams, *dur, *every, pid)
	case "conns":
		var ns []int
		for _, f := range strings.Split(*n, ",") {
			v, err := strconv.Atoi(f)
			if err != nil || v <= 0 || (len(ns) > 0 && v <= ns[len(ns)-1]) {
				log.Fatalf("-n %q: ascending positive counts, like 5000,50000", *n)
			}
			ns = append(ns, v)
		}
		conns(*addr, ns, pid, *hup)
	case "connsworker":
		connsWorker(*addr)
	case "udpecho":
		udpEcho(*addr, *dur, pid)
	case "connrate":
		connRate(*addr, *streams, *dur, pid)
	case "pingstats":
		pingStats(os.Stdin)
	case "table":
		table(*in)
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

// median returns the median of vs, numbers as bench.sh recorded them (the
// lower middle one of an even count), or the last value when they are not
// all numbers.
func median(vs []string) string {
	type num struct {
		s string
		v float64
	}
	ns := make([]num, 0, len(vs))
	for _, s := range vs {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return vs[len(vs)-1]
		}
		ns = append(ns, num{s, v})
	}
	slices.SortFunc(ns, func(a, b num) int { return cmp.Compare(a.v, b.v) })
	return ns[(len(ns)-1)/2].s
}

// pids are the server's processes (the kernel column may run several).
type pids []int

func parsePIDs(s string) pids {
	var p pids
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			log.Fatalf("-pid %q: process ids, comma-separated", s)
		}
		p = append(p, v)
	}
	return p
}

// cpuSeconds returns utime+stime of the processes in seconds.
func cpuSeconds(p pids) float64 {
	total := 0.0
	for _, pid := range p {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			log.Fatal(err)
		}
		// Fields after the ")" that ends the command name: state is field 3;
		// utime and stime are fields 14 and 15.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (ut + st) / 100 // USER_HZ
	}
	return total
}

// rssKiB returns the sum of the processes' VmRSS in KiB.
func rssKiB(p pids) float64 {
	total := 0.0
	for _, pid := range p {
		total += procKiB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
	}
	return total
}

// slabKiB is the kernel's slab memory (/proc/meminfo's Slab) in KiB.
func slabKiB() float64 { return procKiB("/proc/meminfo", "Slab") }

// procKiB reads the "key: N kB" line of a /proc file.
func procKiB(path, key string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key+":" {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				log.Fatalf("%s: %q", path, line)
			}
			return v
		}
	}
	log.Fatalf("%s has no %s line", path, key)
	return 0
}

func tput(addr, dir string, streams int, dur, every time.Duration, pid pids) {
	port := "19"
	if dir == "up" {
		port = "9"
	}
	cs := make([]net.Conn, streams)
	for i := range cs {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, port), 5*time.Second)
		if err != nil {
			log.Fatal(err)
		}
		cs[i] = c
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuSeconds(pid)
	start := time.Now()
	deadline := start.Add(dur)
	if every > 0 {
		go func() {
			var last int64
			for t := every; ; t += every {
				time.Sleep(time.Until(start.Add(t)))
				b := total.Load()
				fmt.Fprintf(os.Stderr, "t=%v gbps=%.3f\n", t, float64(b-last)*8/every.Seconds()/1e9)
				last = b
			}
		}()
	}
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 256<<10)
			if dir == "up" {
				for time.Now().Before(deadline) {
					n, err := c.Write(buf)
					total.Add(int64(n))
					if err != nil {
						log.Fatalf("upload: %v", err)
					}
				}
				// Every byte is counted once the server has read it all
				// and closed in turn.
				c.(*net.TCPConn).CloseWrite()
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.Copy(io.Discard, c); err != nil {
					log.Fatalf("upload: waiting for the server's close: %v", err)
				}
				return
			}
			c.SetReadDeadline(deadline)
			for {
				n, err := c.Read(buf)
				total.Add(int64(n))
				if err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						log.Fatalf("download: %v", err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu := cpuSeconds(pid) - cpu0
	b := total.Load()
	fmt.Printf("gbps=%.3f bytes=%d secs=%.3f cpu=%.2f\n", float64(b)*8/secs/1e9, b, secs, cpu)
}

// table prints metric rows with one column per stack and the ratios.
func table(path string) {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	// A metric measured in several rounds (ROUNDS) shows its median.
	all := map[string]map[string][]string{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) != 3 {
			continue
		}
		if all[p[0]] == nil {
			all[p[0]] = map[string][]string{}
			order = append(order, p[0])
		}
		all[p[0]][p[1]] = append(all[p[0]][p[1]], p[2])
	}
	vals := map[string]map[string]string{}
	for m, byStack := range all {
		vals[m] = map[string]string{}
		for s, vs := range byStack {
			vals[m][s] = median(vs)
		}
	}
	// The kernel column's RSS per idle connection is the application's
	// share alone (its goroutine, buffer and file; kernel socket memory is
	// not in the process's RSS): less it, what is left is the user-space
	// stack's own state. One such row follows each "RSS per idle
	// connection" row.
	for i := 0; i < len(order); i++ {
		m := order[i]
		if !strings.HasPrefix(m, "RSS per idle connection") {
			continue
		}
		k, err := strconv.ParseFloat(vals[m]["kernel"], 64)
		if err != nil {
			continue
		}
		own := map[string]string{}
		for _, s := range []string{"tapstack", "gvisor"} {
			if x, err := strconv.ParseFloat(vals[m][s], 64); err == nil {
				own[s] = fmt.Sprintf("%.2f", x-k)
			}
		}
		ownRow := "  less the kernel's: the stack's own, KiB"
		if _, at, ok := strings.Cut(m, " at "); ok {
			n, _, _ := strings.Cut(at, ",")
			ownRow = "  less the kernel's at " + n + ": the stack's own, KiB"
		}
		order = append(order[:i+1], append([]string{ownRow}, order[i+1:]...)...)
		vals[ownRow] = own
		i++
	}
	// Memory per idle connection, the machine's: the server's RSS growth
	// plus the kernel's slab growth. Both include the Linux client's
	// sockets; the kernel column's slab holds its server's sockets too,
	// which its RSS does not. One such row follows each "kernel slab per
	// idle connection" row.
	for i := 0; i < len(order); i++ {
		m := order[i]
		rest, ok := strings.CutPrefix(m, "kernel slab per idle connection at ")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		rss := vals["RSS per idle connection at "+n+", KiB (lower is better)"]
		sum := map[string]string{}
		for s, v := range vals[m] {
			x, err1 := strconv.ParseFloat(v, 64)
			y, err2 := strconv.ParseFloat(rss[s], 64)
			if err1 == nil && err2 == nil {
				sum[s] = fmt.Sprintf("%.2f", x+y)
			}
		}
		row := "  RSS and slab together at " + n + ": the machine's, KiB"
		order = append(order[:i+1], append([]string{row}, order[i+1:]...)...)
		vals[row] = sum
		i++
	}
	ratio := func(a, b string) string {
		x, err1 := strconv.ParseFloat(a, 64)
		y, err2 := strconv.ParseFloat(b, 64)
		if err1 != nil || err2 != nil || y == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", x/y)
	}
	get := func(m map[string]string, k string) string {
		if v, ok := m[k]; ok && v != "" {
			return v
		}
		return "-"
	}
	w := 0
	for _, m := range order {
		w = max(w, len(m))
	}
	// With several rounds, the range of the tapstack/kernel ratio over
	// the rounds: the i-th figure of each stack is its i-th round's.
	rounds := func(m string) string {
		ts, ks := all[m]["tapstack"], all[m]["kernel"]
		lo, hi, n := 0.0, 0.0, 0
		for i := range min(len(ts), len(ks)) {
			x, err1 := strconv.ParseFloat(ts[i], 64)
			y, err2 := strconv.ParseFloat(ks[i], 64)
			if err1 != nil || err2 != nil || y == 0 {
				continue
			}
			r := x / y
			if n == 0 || r < lo {
				lo = r
			}
			if n == 0 || r > hi {
				hi = r
			}
			n++
		}
		if n < 2 {
			return "-"
		}
		return fmt.Sprintf("%.2f-%.2fx", lo, hi)
	}
	fmt.Printf("%-*s | %10s | %10s | %10s | %15s | %15s | %18s\n", w, "metric", "tapstack", "gVisor", "kernel", "tapstack/gVisor", "tapstack/kernel", "per round")
	fmt.Println(strings.Repeat("-", w+96))
	for _, m := range order {
		v := vals[m]
		t, g, k := get(v, "tapstack"), get(v, "gvisor"), get(v, "kernel")
		fmt.Printf("%-*s | %10s | %10s | %10s | %15s | %15s | %18s\n", w, m, t, g, k, ratio(t, g), ratio(t, k), rounds(m))
	}
}

// udpEcho measures sequential round trips to the UDP echo port: one
// datagram in flight, so the rate is the inverse of the round-trip time.
func udpEcho(addr string, dur time.Duration, pid pids) {
	c, err := net.Dial("udp", net.JoinHostPort(addr, "7"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 64)
	buf := make([]byte, 2048)
	// Warm up (ARP, the server's first wake-up), then measure.
	for i := 0; i < 100; i++ {
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.Write(msg)
		c.Read(buf)
	}
	rtts := make([]time.Duration, 0, 1<<20)
	lost := 0
	cpu0 := cpuSeconds(pid)
	start := time.Now()
	deadline := start.Add(dur)
	for t0 := start; t0.Before(deadline); {
		if _, err := c.Write(msg); err != nil {
			log.Fatalf("udpecho: %v", err)
		}
		c.SetReadDeadline(t0.Add(100 * time.Millisecond))
		_, err := c.Read(buf)
		t1 := time.Now()
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				log.Fatalf("udpecho: %v", err)
			}
			lost++
		} else {
			rtts = append(rtts, t1.Sub(t0))
		}
		t0 = t1
	}
	secs := time.Since(start).Seconds()
	cpu := cpuSeconds(pid) - cpu0
	if len(rtts) == 0 {
		log.Fatal("udpecho: no echo")
	}
	slices.Sort(rtts)
	q := func(f float64) float64 { return float64(rtts[int(f*float64(len(rtts)-1))].Nanoseconds()) / 1e3 }
	fmt.Printf("rtps=%.0f p50_us=%.1f p99_us=%.1f lost=%d cpu=%.2f cpu_pct=%.0f cpu_us_per_rt=%.1f\n",
		float64(len(rtts))/secs, q(0.5), q(0.99), lost, cpu, 100*cpu/secs, 1e6*cpu/float64(len(rtts)))
}

// pingStats reads ping's output and prints the mean and 99th percentile of
// the "time=X ms" of its replies.
func pingStats(r io.Reader) {
	var ms []float64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), " time=")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " ms"), 64)
		if err == nil {
			ms = append(ms, v)
		}
	}
	if len(ms) == 0 {
		log.Fatal("pingstats: no replies")
	}
	sum := 0.0
	for _, v := range ms {
		sum += v
	}
	slices.Sort(ms)
	q := func(f float64) float64 { return ms[int(f*float64(len(ms)-1))] }
	fmt.Printf("avg_ms=%.3f p50_ms=%.3f p99_ms=%.3f n=%d\n", sum/float64(len(ms)), q(0.5), q(0.99), len(ms))
}
