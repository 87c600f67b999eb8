//go:build race

package tables

// floodN under -race: 2.5 times the test's max_events, so the cap still
// drops most of it; see flood_norace_test.go for why it is smaller.
const floodN = 50_000
