//go:build !amd64 || noasm

package kernels

// Without the amd64 assembly there is no implicit B (NewImplicitB returns
// nil): convolutions take im2col.
const implicitPackSIMD = false

func packOffsets16(int, []float32, []int, []int32, []uint32, []float32, int) {
	panic("kernels: no implicit B packer")
}
