//go:build race

package tap

// raceEnabled: the race detector allocates on channel operations, so
// allocation counts are only asserted without it.
const raceEnabled = true
