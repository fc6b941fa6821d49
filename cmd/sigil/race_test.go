//go:build race

package main

// raceEnabled: the race detector slows every request several times, which
// tests that measure in checkpoint intervals allow for with a longer one.
const raceEnabled = true
