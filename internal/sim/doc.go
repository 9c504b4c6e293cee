// Package sim is tapstack's deterministic simulation bed (issue 3): whole
// hosts (host.New: ARP, IPv4, TCP, UDP) joined by in-memory wires
// (link.Pipe) wrapped in fault injectors (link.NewFaulty), run inside a
// testing/synctest bubble so that time is virtual and advances only when
// every goroutine is idle. A 60-second TIME_WAIT or a two-minute RTO
// backoff then costs no wall time.
//
// Each seed draws a scenario: topology (two hosts, or two hosts and a
// router), MTU, buffer sizes, a fault profile per direction (loss up to
// 10%, reordering, duplication, corruption), a set of TCP connections that
// move random data both ways and close in different orders, and a burst of
// UDP datagrams. The test asserts byte-exact delivery, a bound on virtual
// time, orderly closing handshakes, that every goroutine ends (synctest
// fails otherwise) and that no pooled packet leaks.
//
//	go test ./internal/sim                            # 300 seeds
//	go test ./internal/sim -run 'TestSim$' -seed=42 -v # replay one seed
//	go test ./internal/sim -seeds=10000 -start=5000   # many seeds
//
// The package has no API; everything lives in its tests.
package sim
