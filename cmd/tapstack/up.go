package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/tap"
)

// services are the TCP services `up` runs besides HTTP.
var services = []struct {
	name  string
	port  int
	serve func(net.Conn)
}{
	{"echo", 7, serveEcho},
	{"discard", 9, serveDiscard},
	{"chargen", 19, serveChargen},
}

// up runs the host until a value arrives on signals (nil: forever). It
// prints one line to stdout when the host is up and one when it stopped.
func up(cfg upConfig, stdout io.Writer, signals <-chan os.Signal) error {
	dev, err := tap.Open(tap.Config{Name: cfg.Tap, MTU: cfg.MTU, Bridge: cfg.Bridge})
	if err != nil {
		return explainOpenError(cfg, err)
	}
	var ldev link.Device = dev
	var pcapFile *os.File
	if cfg.Pcap != "" {
		f, err := os.Create(cfg.Pcap)
		if err != nil {
			dev.Close()
			return fmt.Errorf("cannot create pcap file: %v", err)
		}
		pcapFile = f
		defer f.Close()
		if ldev, err = link.NewCapture(ldev, f); err != nil {
			dev.Close()
			return fmt.Errorf("pcap %s: %v", cfg.Pcap, err)
		}
	}
	if cfg.Faults != nil {
		ldev = link.NewFaulty(ldev, *cfg.Faults)
	}
	mac := cfg.MAC
	if mac.IsZero() {
		mac = host.RandomMAC()
	}
	h, err := host.New(host.Config{
		Interfaces: []host.Interface{{Name: cfg.Tap, Device: ldev, MAC: mac, Addr: cfg.Addr}},
		Gateway:    cfg.Gateway,
	})
	if err != nil {
		return err
	}
	defer h.Close()

	hl, err := h.Listen(":80")
	if err != nil {
		return fmt.Errorf("listen on :80: %w", err)
	}
	srv := &http.Server{Handler: httpHandler(h), ErrorLog: log.New(io.Discard, "", 0)}
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		srv.Serve(hl)
	}()
	var servers []*server
	var udpEcho net.PacketConn
	udpDone := make(chan struct{})
	stopAll := func() {
		srv.Close()
		<-httpDone
		for _, s := range servers {
			s.stop()
		}
		if udpEcho != nil {
			udpEcho.Close()
			<-udpDone
		}
	}
	serving := []string{"http:80"}
	for _, svc := range services {
		l, err := h.Listen(fmt.Sprintf(":%d", svc.port))
		if err != nil {
			stopAll()
			return fmt.Errorf("listen on :%d (%s): %w", svc.port, svc.name, err)
		}
		servers = append(servers, startServer(l, svc.serve))
		serving = append(serving, fmt.Sprintf("%s:%d", svc.name, svc.port))
	}

	if udpEcho, err = h.ListenPacket(":7"); err != nil {
		stopAll()
		return fmt.Errorf("listen on udp :7 (echo): %w", err)
	}
	go func() {
		defer close(udpDone)
		serveUDPEcho(udpEcho)
	}()
	serving = append(serving, "udp-echo:7")

	where := cfg.Tap
	if cfg.Bridge != "" {
		where += " (bridge " + cfg.Bridge + ")"
	}
	extra := ""
	if cfg.Gateway.IsValid() {
		extra = " gateway " + cfg.Gateway.String()
	}
	if pcapFile != nil {
		extra += " pcap " + cfg.Pcap
	}
	if cfg.Faults != nil {
		extra += " faults " + cfg.FaultSpec
	}
	fmt.Fprintf(stdout, "tapstack: up on %s as %s mac %s mtu %d%s, serving %s\n",
		where, cfg.Addr, mac, h.Stack().NICs()[0].MTU(), extra, strings.Join(serving, " "))

	var sig os.Signal
	if signals != nil {
		sig = <-signals
	} else {
		select {}
	}
	stopAll()
	if err := h.Close(); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	fmt.Fprintf(stdout, "tapstack: stopped (%v)\n", sig)
	return nil
}

// explainOpenError turns a failure to open the TAP into one actionable
// line: tap's operator errors are worded for printing already.
func explainOpenError(cfg upConfig, err error) error {
	var te *tap.Error
	if errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("cannot open TAP %s: %v", cfg.Tap, err)
}
