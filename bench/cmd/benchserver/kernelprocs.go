package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The kernel column holds one descriptor per connection, and a container
// without CAP_SYS_RESOURCE cannot raise its hard RLIMIT_NOFILE (20,000
// here) to 50,000 idle connections. With -procs K the echo port is served
// by K processes sharing it through SO_REUSEPORT (the kernel spreads the
// connections over them); the client sums their RSS. tapstack and gVisor
// hold no descriptor per connection and always run as one process.

// listenReusePort listens on TCP port with SO_REUSEPORT.
func listenReusePort(port int) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", fmt.Sprintf(":%d", port))
}

// startEchoProcs starts n more processes serving the echo port (each runs
// this command with -echo-only) and returns their process ids once each
// is listening. They die with this process (PR_SET_PDEATHSIG).
func startEchoProcs(n int) ([]int, error) {
	var ids []int
	for range n {
		cmd := exec.Command(os.Args[0], "-stack", "kernel", "-echo-only")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			return nil, fmt.Errorf("echo process %d did not come up (%q, %v)", cmd.Process.Pid, line, err)
		}
		ids = append(ids, cmd.Process.Pid)
	}
	return ids, nil
}

// serveEchoOnly is a -echo-only process: the echo port alone, until killed.
func serveEchoOnly() {
	l, err := listenReusePort(7)
	if err != nil {
		log.Fatalf("listen :7: %v", err)
	}
	fmt.Println("ready")
	acceptLoop(l, serveEcho)
}
