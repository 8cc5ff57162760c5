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

// recycleBatch is a batch of four images for recycleNet, normal values
// drawn with the seed, and their labels.
func recycleBatch(seed1, seed2 uint64) (*Tensor, []int) {
	rng := rand.New(rand.NewPCG(seed1, seed2))
	x := FromData(make([]float32, 4*3*10*10), 4, 3, 10, 10)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x, []int{0, 3, 1, 4}
}

// TestTapeRecycleSameResults trains the same network for a few steps on a
// tape that allocates and on one that recycles its storage, and checks
// every loss and parameter bit for bit.
func TestTapeRecycleSameResults(t *testing.T) {
	x, labels := recycleBatch(3, 4)
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

// TestSizeClass checks that a request rounds up to a class no more than
// a quarter larger, that classes are fixed points, and that requests of
// slightly different lengths share a class.
func TestSizeClass(t *testing.T) {
	for n := range 5000 {
		c := sizeClass(n)
		if c < n || (n >= 8 && 4*(c-n) >= n) {
			t.Fatalf("sizeClass(%d) = %d: not within a quarter above", n, c)
		}
		if sizeClass(c) != c {
			t.Fatalf("sizeClass(%d) = %d, whose class is %d", n, c, sizeClass(c))
		}
		if n > 0 && sizeClass(n-1) > c {
			t.Fatalf("sizeClass(%d) = %d below sizeClass(%d) = %d", n, c, n-1, sizeClass(n-1))
		}
	}
	for _, tc := range []struct{ n, want int }{{0, 0}, {7, 7}, {8, 8}, {9, 10}, {17, 20}, {1000, 1024}, {1025, 1280}, {3 << 20, 3 << 20}, {3<<20 + 1, 7 << 19}} {
		if got := sizeClass(tc.n); got != tc.want {
			t.Errorf("sizeClass(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// TestStorageSharedAndTrimmed runs two tapes one after the other on one
// Storage: the second reuses the first's slices (of other lengths in the
// same class), and Trim drops what the last step did not need.
func TestStorageSharedAndTrimmed(t *testing.T) {
	st := NewStorage()
	a, b := NewTape(false, nil), NewTape(false, nil)
	for _, tp := range []*Tape{a, b} {
		tp.Recycle, tp.Storage = true, st
	}
	// Tape a: two tensors of 1000 values, one of 100 (class 112).
	x1, x2 := a.alloc(10, 100), a.alloc(1000)
	a.alloc(100)
	first := []*float32{&x1.Data[0], &x2.Data[0]}
	a.Release()
	held := st.Bytes()
	if want := int64(4 * (2*1024 + 112)); held != want {
		t.Fatalf("storage holds %d bytes after the first tape, want %d", held, want)
	}
	// Tape b: one tensor of 1020 values: the same class, reused.
	y := b.alloc(1020)
	if p := &y.Data[0]; p != first[0] && p != first[1] {
		t.Fatal("the second tape did not reuse the first one's storage")
	}
	for _, v := range y.Data {
		if v != 0 {
			t.Fatal("alloc handed out storage that is not zero")
		}
	}
	if st.Bytes() != held {
		t.Fatalf("the second tape grew the storage from %d to %d bytes", held, st.Bytes())
	}
	b.Release()
	// The peak since the last Trim is the first tape's: Trim keeps all.
	st.Trim()
	if st.Bytes() != held {
		t.Fatalf("Trim after the first tape's step dropped storage: %d bytes, want %d", st.Bytes(), held)
	}
	// A step that needs one slice of the class: Trim keeps one, drops
	// the 112-value class nothing took.
	b.alloc(1000)
	b.Release()
	st.Trim()
	if want := int64(4 * 1024); st.Bytes() != want {
		t.Fatalf("Trim kept %d bytes, want %d", st.Bytes(), want)
	}
	// Free hands storage back before Release on a NoGrad tape.
	b.NoGrad = true
	z := b.alloc(1000)
	b.Free(z)
	if z.Data != nil {
		t.Fatal("Free left the tensor's data in place")
	}
	w := b.alloc(1000)
	if st.Bytes() != 4*1024 {
		t.Fatalf("a tensor after a freed one grew the storage to %d bytes", st.Bytes())
	}
	b.Discard()
	if w.Data != nil {
		t.Fatal("Discard left a tensor's data in place")
	}
}

// TestNoGradRecordsNothing checks that a NoGrad tape computes what a
// recording one does and records no backward step.
func TestNoGradRecordsNothing(t *testing.T) {
	x, labels := recycleBatch(5, 6)
	var want []float32
	for _, noGrad := range []bool{false, true} {
		net := newRecycleNet(t)
		tp := NewTape(true, nil)
		tp.Recycle, tp.NoGrad = true, noGrad
		_, logits := net.loss(t, tp, x, labels)
		got := append([]float32(nil), logits.Data...)
		if noGrad && tp.Len() != 0 {
			t.Fatalf("a NoGrad tape recorded %d steps", tp.Len())
		}
		if !noGrad && tp.Len() == 0 {
			t.Fatal("a training tape recorded nothing")
		}
		tp.Discard()
		if want == nil {
			want = got
			continue
		}
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("logit %d: %v recording, %v with NoGrad", i, want[i], got[i])
			}
		}
	}
}

// TestStorageTakesLargerClass checks that a request whose class has no
// free slice takes one of a class up to twice its size, not a larger one.
func TestStorageTakesLargerClass(t *testing.T) {
	st := NewStorage()
	tp := NewTape(false, nil)
	tp.Recycle, tp.Storage = true, st
	big := tp.alloc(1024)
	p := &big.Data[0]
	tp.Release()
	if q := tp.alloc(600); &q.Data[0] != p || len(q.Data) != 600 {
		t.Fatal("a request of 600 values did not take the free slice of 1024")
	}
	tp.Release()
	if q := tp.alloc(400); &q.Data[0] == p {
		t.Fatal("a request of 400 values took a slice of 1024, more than twice its size")
	}
	tp.Release()
	if want := int64(4 * (1024 + 448)); st.Bytes() != want {
		t.Fatalf("storage holds %d bytes, want %d", st.Bytes(), want)
	}
}
