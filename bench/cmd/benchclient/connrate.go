package main

import (
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// connRate opens connections to the echo port from par goroutines for
// dur, each one closed as soon as it is established, with a RST (SO_LINGER
// 0) so that neither side keeps a TIME_WAIT and the client's ports do not
// run out, and prints "cps=R n=N errors=E cpu=C cpu_us_per_conn=U"
// (connections established per second, their count, failed attempts, the
// server's CPU seconds and microseconds of it per connection).
func connRate(addr string, par int, dur time.Duration, pid pids) {
	target := net.JoinHostPort(addr, "7")
	// Warm up (ARP, the listener's first accepts).
	for range 10 {
		if c, err := net.DialTimeout("tcp4", target, time.Second); err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}
	var n, errs atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuSeconds(pid)
	start := time.Now()
	deadline := start.Add(dur)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				c, err := net.DialTimeout("tcp4", target, time.Second)
				if err != nil {
					errs.Add(1)
					continue
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu := cpuSeconds(pid) - cpu0
	if n.Load() == 0 {
		log.Fatalf("connrate: no connection to %s (%d errors)", target, errs.Load())
	}
	fmt.Printf("cps=%.0f n=%d errors=%d cpu=%.2f cpu_us_per_conn=%.1f\n",
		float64(n.Load())/secs, n.Load(), errs.Load(), cpu, 1e6*cpu/float64(n.Load()))
}
