//go:build !race

package tables

// floodN is how many detections TestFlood pushes: the full million the
// hardening issue asks for. Under -race (flood_race_test.go) every memory
// access is instrumented, which makes a million adds plus concurrent
// queries take minutes; the race build checks the same interleavings at a
// twentieth of the volume, and this build checks the volume.
const floodN = 1_000_000
