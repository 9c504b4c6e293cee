package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// perWorker is how many connections one worker process holds: its
// descriptor limit less a margin. The hard RLIMIT_NOFILE may be lower
// than the largest count (a container without CAP_SYS_RESOURCE cannot
// raise it), so the connections are spread over several processes.
func perWorker() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		log.Fatal(err)
	}
	return int(min(r.Cur, 1<<20)) - 256
}

// worker is one connsworker child: it opens the connections it is told to
// and holds them until its stdin closes.
type worker struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	held int
}

// conns opens connections in steps up to each count of ns (ascending),
// all held open together, and after each step prints the server's VmRSS
// growth per connection since before the first: the larger counts pay
// for every connection, none reuses memory that closed ones left.
// It also prints the growth of the kernel's slab memory per connection
// (/proc/meminfo's Slab: socket, file, inode, dentry and epoll entries),
// which no process's RSS shows: the Linux client's sockets in every
// column, and in the kernel column the server's too.
// With hup it sends the server SIGHUP at the end, while it holds them
// (benchserver logs its memory figures).
func conns(addr string, ns []int, pid pids, hup bool) {
	before, slab0 := rssKiB(pid), slabKiB()
	total := ns[len(ns)-1]
	per := perWorker()
	var ws []*worker
	for range (total + per - 1) / per {
		cmd := exec.Command(os.Args[0], "connsworker", "-addr", addr)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			log.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			log.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		ws = append(ws, &worker{cmd: cmd, in: in, out: bufio.NewReader(out)})
	}
	res := []string{fmt.Sprintf("before=%.0f workers=%d", before, len(ws))}
	from := 0
	for _, n := range ns {
		// Spread the step over the workers, each up to per.
		left := n - from
		var asked []*worker
		for _, w := range ws {
			if left == 0 {
				break
			}
			m := min(left, per-w.held, (n-from+len(ws)-1)/len(ws))
			if m <= 0 {
				continue
			}
			fmt.Fprintf(w.in, "%d\n", m)
			w.held += m
			left -= m
			asked = append(asked, w)
		}
		for _, w := range ws {
			if left == 0 {
				break
			}
			if m := min(left, per-w.held); m > 0 {
				fmt.Fprintf(w.in, "%d\n", m)
				w.held += m
				left -= m
				asked = append(asked, w)
			}
		}
		for _, w := range asked {
			line, err := w.out.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "ok" {
				log.Fatalf("conns: a worker failed (%q, %v)", line, err)
			}
		}
		from = n
		time.Sleep(500 * time.Millisecond) // let the server settle (a measurement, not a synchronisation)
		after, slab := rssKiB(pid), slabKiB()
		res = append(res, fmt.Sprintf("kib_per_conn_%d=%.2f after_%d=%.0f slab_kib_per_conn_%d=%.2f", n, (after-before)/float64(n), n, after, n, (slab-slab0)/float64(n)))
	}
	fmt.Println(strings.Join(res, " "))
	if hup {
		// The server writes a heap profile while the connections are held.
		syscall.Kill(pid[0], syscall.SIGHUP)
		time.Sleep(3 * time.Second) // the profile's time, not a synchronisation
	}
	for _, w := range ws {
		w.in.Close()
	}
	for _, w := range ws {
		if err := w.cmd.Wait(); err != nil {
			log.Fatalf("conns: worker: %v", err)
		}
	}
}

// connsWorker reads counts from stdin, one a line; for each it opens that
// many connections to the echo port, echoes one byte on each (so the
// server has accepted and served it), keeps them and answers "ok". At the
// end of stdin it closes them all.
func connsWorker(addr string) {
	var held []net.Conn
	var d net.Dialer
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil || n <= 0 {
			log.Fatalf("connsworker: bad count %q", sc.Text())
		}
		cs := make([]net.Conn, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var b [1]byte
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(addr, "7"))
					if err != nil {
						log.Fatalf("conn %d: %v", len(held)+i, err)
					}
					c.SetDeadline(time.Now().Add(30 * time.Second))
					if _, err := c.Write([]byte{'x'}); err != nil {
						log.Fatalf("conn %d: %v", len(held)+i, err)
					}
					if _, err := io.ReadFull(c, b[:]); err != nil {
						log.Fatalf("conn %d: echo: %v", len(held)+i, err)
					}
					c.SetDeadline(time.Time{})
					cs[i] = c
				}
			}()
		}
		wg.Wait()
		cancel()
		held = append(held, cs...)
		fmt.Println("ok")
	}
	for _, c := range held {
		c.Close()
	}
}
