// Package integration holds tapstack's end-to-end tests against the real
// Linux kernel: each test makes its own network namespace with a bridge
// (10.0.0.1/24) and a TAP, runs a tapstack host on the TAP (the built
// command via `ip netns exec`, or host.New in-process), and talks to it with
// real ping, curl and Linux sockets. They need root and skip otherwise.
// The package has no non-test code.
package integration
