//go:build race

package arp_test

const raceEnabled = true
