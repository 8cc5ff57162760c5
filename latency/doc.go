// Package latency measures how long blocks and networks take on this device
// and keeps the measurements in a lookup table (a bbolt file with one bucket
// per device fingerprint), predicts a network's latency as the sum over its
// blocks, and validates those predictions against end-to-end runs.
//
// A table made on another device, with another thread count or an older
// kernel version is refused, never silently used.
package latency
