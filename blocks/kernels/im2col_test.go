package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestIm2colMatchesNaive compares Im2col with the definition, entry by
// entry, on geometries with and without padding, at strides 1 and 2, with
// dilation, and over channel ranges written by separate calls (as the
// plan's threads do): each call writes its own rows of the matrix and
// nothing else, the guard values around the matrix stay, and a call reads
// nothing past its channels (the input slice ends there).
func TestIm2colMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type geo struct{ c, h, w, k, s, p, d int }
	var cases []geo
	for _, s := range []int{1, 2} {
		for _, hw := range [][2]int{{13, 13}, {55, 55}, {7, 9}, {27, 27}, {3, 3}, {2, 17}} {
			for _, k := range []int{1, 3, 5} {
				cases = append(cases, geo{5, hw[0], hw[1], k, s, k / 2, 1}, geo{3, hw[0], hw[1], k, s, 0, 1})
			}
		}
	}
	cases = append(cases, geo{4, 12, 12, 3, 1, 2, 2}, geo{3, 12, 10, 3, 2, 3, 3}, geo{2, 4, 4, 7, 1, 3, 1})
	for _, g := range cases {
		oh := (g.h+2*g.p-g.d*(g.k-1)-1)/g.s + 1
		ow := (g.w+2*g.p-g.d*(g.k-1)-1)/g.s + 1
		if oh < 1 || ow < 1 {
			continue
		}
		t.Run(fmt.Sprintf("c%d_%dx%d_k%d_s%d_p%d_d%d", g.c, g.h, g.w, g.k, g.s, g.p, g.d), func(t *testing.T) {
			win := Window{InH: g.h, InW: g.w, KH: g.k, KW: g.k, StrideH: g.s, StrideW: g.s, PadH: g.p, PadW: g.p,
				DilH: g.d, DilW: g.d, OutH: oh, OutW: ow}
			plane, ohw, rows := g.h*g.w, oh*ow, g.k*g.k
			x := randSlice(rng, g.c*plane)
			// Garbage first: every entry must be written.
			cols, check := guarded(t, g.c*rows*ohw, randSlice(rng, g.c*rows*ohw))
			// Last channels first: a call that wrote into the rows of the
			// channels after its own would leave them wrong.
			for _, r := range [][2]int{{g.c - 1, g.c}, {1, g.c - 1}, {0, 1}} {
				c0, c1 := r[0], r[1]
				if c0 >= c1 {
					continue
				}
				xs := make([]float32, (c1-c0)*plane) // ends with the call's channels
				copy(xs, x[c0*plane:c1*plane])
				Im2col(win, c1-c0, xs, cols[c0*rows*ohw:c1*rows*ohw])
			}
			check("Im2col")
			for ci := range g.c {
				for kh := range g.k {
					for kw := range g.k {
						row := (ci*g.k+kh)*g.k + kw
						for o := range ohw {
							ih := o/ow*g.s - g.p + kh*g.d
							iw := o%ow*g.s - g.p + kw*g.d
							var want float32
							if ih >= 0 && ih < g.h && iw >= 0 && iw < g.w {
								want = x[ci*plane+ih*g.w+iw]
							}
							if got := cols[row*ohw+o]; got != want {
								t.Fatalf("row %d position %d = %v, want %v", row, o, got, want)
							}
						}
					}
				}
			}
		})
	}
}
