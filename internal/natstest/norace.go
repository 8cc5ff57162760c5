//go:build !race

package natstest

// raceBuild is false outside the race detector (see race.go).
const raceBuild = false
