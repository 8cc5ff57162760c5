//go:build amd64 && !noasm

package kernels

const asmEnabled = true
