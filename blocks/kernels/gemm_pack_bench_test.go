package kernels

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkPack times packing one kc-deep block of A (mr-row panels) and of
// B (nr-wide panels) for each transpose, in ns per packed element.
func BenchmarkPack(b *testing.B) {
	const rows, depth = 256, 256
	rng := rand.New(rand.NewPCG(9, 10))
	src := randomSlice(rng, rows*depth)
	for _, kern := range gemmKernels() {
		mr, nr := kern.mr, kern.nr
		dst := make([]float32, roundUp(rows, max(mr, nr))*depth)
		for _, trans := range []bool{false, true} {
			name := kern.name + "/N"
			if trans {
				name = kern.name + "/T"
			}
			b.Run("A/"+name, func(b *testing.B) {
				for b.Loop() {
					for ir := 0; ir+mr <= rows; ir += mr {
						ap := dst[:mr*depth]
						switch {
						case !trans && kern.packNoTrans != nil:
							kern.packNoTrans(depth, src[ir*depth:], depth, 1.5, ap)
						case trans && kern.packTrans != nil:
							kern.packTrans(depth, src[ir:], rows, 1.5, ap)
						default:
							packA(trans, src, depth, ir, mr, 0, depth, mr, 1.5, ap)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows/mr*mr*depth), "ns/elem")
			})
			b.Run("B/"+name, func(b *testing.B) {
				for b.Loop() {
					packB(kern, trans, src, rows, 0, depth, 0, rows, dst)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*depth), "ns/elem")
			})
		}
	}
}
