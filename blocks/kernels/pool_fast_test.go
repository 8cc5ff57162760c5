package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestMaxPoolRowsMatchesMaxPool2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, c := range []struct {
		h, w, k, s, p int
		ceil          bool
	}{
		{111, 111, 3, 2, 0, true}, {112, 112, 3, 2, 1, false}, {55, 54, 3, 2, 0, true}, {27, 27, 3, 2, 0, true}, {6, 40, 3, 2, 0, false}, {9, 41, 3, 2, 1, true}, {8, 4, 3, 2, 1, false}, {8, 3, 3, 1, 1, false}, {9, 30, 2, 2, 0, false}, {7, 7, 3, 1, 1, false}, {13, 21, 3, 2, 0, true}, {5, 5, 5, 1, 2, false},
		// Every window inside the plane, rows of 8 and 9 outputs (a call per plane).
		{17, 17, 3, 2, 0, false}, {19, 19, 3, 2, 0, true}, {3, 17, 3, 2, 0, false},
	} {
		t.Run(fmt.Sprintf("%dx%d_k%d_s%d_p%d_ceil%v", c.h, c.w, c.k, c.s, c.p, c.ceil), func(t *testing.T) {
			out := func(n int) int {
				num := n + 2*c.p - c.k
				if !c.ceil {
					return num/c.s + 1
				}
				o := (num+c.s-1)/c.s + 1
				if (o-1)*c.s >= n+c.p {
					o--
				}
				return o
			}
			win := Window{InH: c.h, InW: c.w, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.p, PadW: c.p, DilH: 1, DilW: 1, OutH: out(c.h), OutW: out(c.w)}
			const ch = 3
			x := randSlice(rng, ch*c.h*c.w)
			want := make([]float32, ch*win.OutH*win.OutW)
			MaxPool2D(win, ch, x, want, nil)
			y, check := guarded(t, len(want), nil)
			tmp, checkTmp := guarded(t, MaxPoolRowsScratchLen(win), nil)
			MaxPoolRows(win, ch, x, y, tmp)
			check("MaxPoolRows")
			checkTmp("MaxPoolRows tmp")
			for i := range want {
				if y[i] != want[i] {
					t.Fatalf("output %d = %v, MaxPool2D gives %v", i, y[i], want[i])
				}
			}
		})
	}
}
