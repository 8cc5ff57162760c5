//go:build !noasm

package kernels

// implicitPackSIMD reports whether SgemmPackedImplicit's panel packers run
// here (AVX2).
var implicitPackSIMD = hasAVX2

// packOffsets16 is packBOffsets16S1 to S4 (gen/gemm) for len(bases)
// segments, rows ldd apart in dst; the caller has checked the bounds.
func packOffsets16(k int, x []float32, bases []int, offs []int32, masks []uint32, dst []float32, ldd int) {
	switch len(bases) {
	case 1:
		packBOffsets16S1(k, x, bases, offs, masks, dst, ldd)
	case 2:
		packBOffsets16S2(k, x, bases, offs, masks, dst, ldd)
	case 3:
		packBOffsets16S3(k, x, bases, offs, masks, dst, ldd)
	case 4:
		packBOffsets16S4(k, x, bases, offs, masks, dst, ldd)
	default:
		panic("kernels: a panel of B over more than 4 output rows")
	}
}
