//go:build race

package channel_test

// raceEnabled: the race detector allocates on channel operations and slows
// bulk transfers, so allocation counts are asserted only without it and the
// bulk transfer is smaller under it.
const raceEnabled = true
