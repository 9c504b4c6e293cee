// Command tapstack runs a virtual host — tapstack's userspace TCP/IP stack —
// on a Linux TAP device, optionally attached to a bridge, and serves HTTP,
// echo, discard and chargen on it.
//
//	tapstack up --tap tap0 --bridge br0 --addr 10.0.0.2/24 --gateway 10.0.0.1
//
// See `tapstack help`.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sig))
}
