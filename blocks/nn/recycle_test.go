package nn

import (
	"math/rand/v2"
	"testing"
)

// recycleNet is a small network with every operator a MobileNet block
// uses: dense and depthwise convolutions (stride 1 and 2), batch norm,
// ReLU6, a residual add, pooling and a linear classifier.
type recycleNet struct {
	stem, pw, dw1, dw2 *Conv2D
	bn1, bn2, bn3      *BatchNorm
	fc                 *Linear
}

func newRecycleNet(t *testing.T) *recycleNet {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := &recycleNet{}
	var err error
	n.stem, err = NewConv2D("stem", SquareConv2D(3, 8, 3, 1, 1), rng)
	must(err)
	n.dw1, err = NewConv2D("dw1", SquareConv2D(8, 8, 3, 1, 8), rng)
	must(err)
	n.pw, err = NewConv2D("pw", SquareConv2D(8, 8, 1, 1, 1), rng)
	must(err)
	n.dw2, err = NewConv2D("dw2", SquareConv2D(8, 8, 3, 2, 8), rng)
	must(err)
	for _, bn := range []**BatchNorm{&n.bn1, &n.bn2, &n.bn3} {
		*bn, err = NewBatchNorm("bn", 8, BatchNormConfig{})
		must(err)
	}
	n.fc, err = NewLinear("fc", LinearConfig{In: 8, Out: 5, Bias: true}, rng)
	must(err)
	return n
}

func (n *recycleNet) params() []*Param {
	var ps []*Param
	for _, m := range []Module{n.stem, n.pw, n.dw1, n.dw2, n.bn1, n.bn2, n.bn3, n.fc} {
		ps = append(ps, m.Params()...)
	}
	return ps
}

// loss returns the loss and the logits.
func (n *recycleNet) loss(t *testing.T, tp *Tape, x *Tensor, labels []int) (loss, logits *Tensor) {
	h := ReLU6(tp, n.bn1.Forward(tp, n.stem.Forward(tp, x)))
	r := ReLU6(tp, n.bn2.Forward(tp, n.dw1.Forward(tp, h)))
	h = Add(tp, h, n.pw.Forward(tp, r))
	h = ReLU6(tp, n.bn3.Forward(tp, n.dw2.Forward(tp, h)))
	logits = n.fc.Forward(tp, Flatten(tp, GlobalAvgPool(tp, h)))
	loss, err := SoftmaxCrossEntropy(tp, logits, labels, 0)
	if err != nil {
		t.Fatal(err)
	}
	return loss, logits
}

// TestTapeRecycleSameResults trains the same network for a few steps on a
// tape that allocates and on one that recycles its storage, and checks
// every loss and parameter bit for bit.
func TestTapeRecycleSameResults(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := FromData(make([]float32, 4*3*10*10), 4, 3, 10, 10)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := []int{0, 3, 1, 4}
	run := func(recycle bool) ([]float32, []*Param) {
		net := newRecycleNet(t)
		tp := NewTape(true, nil)
		tp.Recycle = recycle
		var losses []float32
		for range 4 {
			ZeroGrads(net.params())
			loss, logits := net.loss(t, tp, x, labels)
			losses = append(losses, loss.Data[0])
			tp.Backward(loss)
			for _, p := range net.params() {
				for i, g := range p.Grad {
					p.Data[i] -= 0.1 * g
				}
			}
			tp.Release()
			if recycle && logits.Data != nil {
				t.Fatal("Release left the logits' storage in place")
			}
		}
		return losses, net.params()
	}
	wantLoss, wantParams := run(false)
	gotLoss, gotParams := run(true)
	for i := range wantLoss {
		if wantLoss[i] != gotLoss[i] {
			t.Fatalf("step %d: loss %v without recycling, %v with", i, wantLoss[i], gotLoss[i])
		}
	}
	for i, p := range wantParams {
		for j := range p.Data {
			if p.Data[j] != gotParams[i].Data[j] {
				t.Fatalf("%s[%d]: %v without recycling, %v with", p.Name, j, p.Data[j], gotParams[i].Data[j])
			}
		}
	}
}
