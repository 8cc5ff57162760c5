//go:build (amd64 || arm64) && !noasm

package kernels

const asmEnabled = true
