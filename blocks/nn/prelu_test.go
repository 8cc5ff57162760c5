package nn

import (
	"math/rand/v2"
	"testing"
)

func TestPReLUGolden(t *testing.T) {
	for _, g := range goldenCases(t, "prelu_*") {
		t.Run(g.name, func(t *testing.T) {
			x, w := g.T(t, "x"), g.T(t, "weight")
			requireClose(t, g.T(t, "y").Data, PReLU(nil, x, w).Data, goldenTol, "y (nil tape)")
			x.SetRequiresGrad(true)
			w.SetRequiresGrad(true)
			tp := NewTape(true, nil)
			y := PReLU(tp, x, w)
			copy(y.grad(), g.T(t, "gy").Data)
			tp.BackwardFrom()
			requireClose(t, g.T(t, "gx").Data, x.Grad, goldenTol, "gx")
			requireClose(t, g.T(t, "gweight").Data, w.Grad, goldenTol, "gweight")
		})
	}
}

func TestPReLUGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := New(2, 3, 4, 5)
	for i := range x.Data {
		v := rng.NormFloat64()
		if v > -0.1 && v < 0.1 { // keep clear of the kink
			v += 0.3
		}
		x.Data[i] = float32(v)
	}
	w := FromData([]float32{0.25, -0.1, 0.6}, 3)
	gradCheck(t, []*Tensor{x, w}, func(tp *Tape) *Tensor { return PReLU(tp, x, w) }, 60, 9)
}
