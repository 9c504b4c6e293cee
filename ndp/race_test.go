//go:build race

package ndp_test

const raceEnabled = true
