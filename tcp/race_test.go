//go:build race

package tcp

// raceEnabled says the race detector is on: it makes stack frames larger.
const raceEnabled = true
