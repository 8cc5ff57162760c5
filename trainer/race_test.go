//go:build race

package trainer

// raceEnabled: the race detector makes more values escape to the heap, so
// allocation figures mean nothing under it.
const raceEnabled = true
