package kernels

// ActKind selects the activation an Epilogue applies. Each one computes
// what the kernel of the same name in elementwise.go computes, element for
// element, so a fused path and an unfused one give the same bits.
type ActKind uint8

// The activations an epilogue can apply.
const (
	ActIdentity    ActKind = iota // x
	ActReLU                       // max(0, x)
	ActReLU6                      // min(max(0, x), 6)
	ActHardSwish                  // x*ReLU6(x+3)/6
	ActSwish                      // x*sigmoid(x)
	ActSigmoid                    // 1/(1+exp(-x))
	ActHardSigmoid                // ReLU6(x+3)/6
	ActPReLU                      // max(0, x) + slope*min(0, x), slope per row
)

// Epilogue is what an inference plan applies to the output of a
// convolution while it is still in cache: a bias per row (output channel),
// optionally a residual added, then an activation.
type Epilogue struct {
	Bias  []float32 // per row; nil for none
	Act   ActKind
	Slope []float32 // per row, ActPReLU only

	noSIMD bool // tests: take the pure-Go loops
}

// Apply sets, for r < rows and j < cols,
//
//	y[r*ldy+j] = act(y[r*ldy+j] + Bias[row0+r] + res[r*ldres+j])
//
// where res is nil for no residual. Rows are output channels: row0 is the
// channel of y's first row, for Bias and Slope.
func (e *Epilogue) Apply(y []float32, ldy, row0, rows, cols int, res []float32, ldres int) {
	simd := !e.noSIMD
	for r := 0; r < rows; r++ {
		yr := y[r*ldy : r*ldy+cols]
		var b float32
		if e.Bias != nil {
			b = e.Bias[row0+r]
		}
		if res != nil {
			rr := res[r*ldres : r*ldres+cols]
			if !simd || !biasResidualRowSIMD(yr, rr, b) {
				rr = rr[:len(yr)]
				for j, v := range rr {
					yr[j] += b + v
				}
			}
			b = 0
		}
		if e.Act == ActIdentity && b == 0 {
			continue
		}
		if simd && biasActRowSIMD(e.Act, yr, b) {
			continue
		}
		if b != 0 {
			for j := range yr {
				yr[j] += b
			}
		}
		var slope float32
		if e.Act == ActPReLU {
			slope = e.Slope[row0+r]
		}
		ActivateRow(e.Act, yr, slope)
	}
}

// ActivateRow applies act to y in place; slope is PReLU's.
func ActivateRow(act ActKind, y []float32, slope float32) {
	switch act {
	case ActIdentity:
	case ActReLU:
		clampForward(ActReLU, y, y, 0, posInf32)
	case ActReLU6:
		clampForward(ActReLU6, y, y, 0, 6)
	case ActHardSwish:
		HardSwish(y, y)
	case ActSwish:
		Swish(y, y)
	case ActSigmoid:
		Sigmoid(y, y)
	case ActHardSigmoid:
		HardSigmoid(y, y)
	case ActPReLU:
		for i, v := range y {
			y[i] = max(v, 0) + slope*min(v, 0)
		}
	default:
		panic("kernels: unknown activation kind")
	}
}
