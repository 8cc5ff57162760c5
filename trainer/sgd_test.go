package trainer

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/internal/safetensors"
	"nas/space"
)

// goldenNet is the network of testdata/golden/gen_sgd.py: conv 3x3 1->4
// + BN + ReLU, global average pooling, linear 4->3.
func goldenNet(t testing.TB) *blocks.Network {
	t.Helper()
	a := &space.Arch{Input: blocks.Shape{C: 1, H: 6, W: 6}, Classes: 3, Layers: []blocks.Spec{
		&blocks.Conv{Out: 4, Kernel: 3, Act: blocks.ActReLU},
		&blocks.GlobalPool{},
		&blocks.Linear{Out: 3},
	}}
	g, err := a.Graph()
	require.NoError(t, err)
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	return net
}

func metaFloat(t *testing.T, f *safetensors.File, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(f.Metadata[key], 64)
	require.NoError(t, err, key)
	return v
}

func metaInt(t *testing.T, f *safetensors.File, key string) int {
	t.Helper()
	v, err := strconv.Atoi(f.Metadata[key])
	require.NoError(t, err, key)
	return v
}

// requireClose checks got against want elementwise, relative to the
// larger of |want| and 1.
func requireClose(t *testing.T, want, got []float32, tol float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		require.LessOrEqual(t, d, tol*math.Max(1, math.Abs(float64(want[i]))), "%s[%d]: got %v, want %v", what, i, got[i], want[i])
	}
}

// TestSGDGolden trains the golden network step by step exactly as PyTorch
// did (torch.optim.SGD with two parameter groups and SequentialLR of
// LinearLR and CosineAnnealingLR) and compares the learning rates, losses,
// final weights, BN statistics and momentum buffers.
func TestSGDGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "golden", "train", "sgd_*.safetensors"))
	require.NoError(t, err)
	require.Len(t, paths, 3, "run /usr/bin/python3 testdata/golden/gen_sgd.py")
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".safetensors"), func(t *testing.T) {
			f, err := safetensors.Read(path)
			require.NoError(t, err)
			steps := metaInt(t, f, "steps")
			sched := Schedule{Base: metaFloat(t, f, "lr"), Min: metaFloat(t, f, "eta_min"), Warmup: metaInt(t, f, "warmup"), Total: steps}
			require.NoError(t, sched.check())
			cfg := SGDConfig{Momentum: metaFloat(t, f, "momentum"), Nesterov: metaInt(t, f, "nesterov") == 1, WeightDecay: metaFloat(t, f, "weight_decay")}
			smoothing := metaFloat(t, f, "label_smoothing")

			net := goldenNet(t)
			init := map[string][]float32{}
			for name := range net.State() {
				init[name] = f.Tensors["init."+name].F32
			}
			require.NoError(t, net.LoadState(init))
			opt, err := NewSGD(net.Params(), cfg)
			require.NoError(t, err)
			tape := nn.NewTape(true, nil)

			torchLRs := strings.Fields(f.Metadata["lr64"])
			require.Len(t, torchLRs, steps)
			for step := range steps {
				want, err := strconv.ParseFloat(torchLRs[step], 64)
				require.NoError(t, err)
				lr := sched.LR(step)
				require.InDelta(t, want, lr, 1e-12*sched.Base, "learning rate of step %d", step)

				x := f.Tensors["x"+strconv.Itoa(step)]
				labels := make([]int, len(f.Tensors["y"+strconv.Itoa(step)].I64))
				for i, y := range f.Tensors["y"+strconv.Itoa(step)].I64 {
					labels[i] = int(y)
				}
				loss, _, err := gradStep(net, tape, nn.FromData(x.F32, x.Shape...), Target{Labels: labels, Smoothing: smoothing}, 100)
				require.NoError(t, err)
				opt.Step(lr)
				require.InDelta(t, f.Tensors["loss"].F32[step], loss, 1e-5*math.Max(1, loss), "loss of step %d", step)
			}
			for name, v := range net.State() {
				requireClose(t, f.Tensors["final."+name].F32, v.Data, 1e-5, name)
			}
			vel := opt.Velocity()
			for _, p := range net.Params() {
				requireClose(t, f.Tensors["momentum."+p.Name].F32, vel[p.Name], 1e-5, "momentum of "+p.Name)
			}
		})
	}
}

// TestSGDUpdate checks one update by hand: plain SGD, weight decay only
// where allowed, momentum and Nesterov.
func TestSGDUpdate(t *testing.T) {
	cases := []struct {
		name    string
		cfg     SGDConfig
		noDecay bool
		want    [2]float32 // p after step 1 and 2, from p=1 and grad 0.5 each step, lr 0.1
	}{
		{"plain", SGDConfig{}, false, [2]float32{0.95, 0.9}},
		{"decay", SGDConfig{WeightDecay: 0.1}, false, [2]float32{0.94, 0.8806}},
		{"no decay param", SGDConfig{WeightDecay: 0.1}, true, [2]float32{0.95, 0.9}},
		// v1 = 0.5, p1 = 0.95; v2 = 0.9*0.5+0.5 = 0.95, p2 = 0.95-0.095.
		{"momentum", SGDConfig{Momentum: 0.9}, false, [2]float32{0.95, 0.855}},
		// d1 = 0.5+0.9*0.5 = 0.95, p1 = 0.905; v2 = 0.95, d2 = 0.5+0.855 = 1.355, p2 = 0.905-0.1355.
		{"nesterov", SGDConfig{Momentum: 0.9, Nesterov: true}, false, [2]float32{0.905, 0.7695}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := nn.NewParam("w", c.noDecay, 1)
			p.Data[0] = 1
			opt, err := NewSGD([]*nn.Param{p}, c.cfg)
			require.NoError(t, err)
			for step := range 2 {
				p.Grad = []float32{0.5}
				opt.Step(0.1)
				require.InDelta(t, c.want[step], p.Data[0], 1e-6, "step %d", step+1)
			}
		})
	}
}

func TestSGDSkipsParamsWithoutGradient(t *testing.T) {
	p := nn.NewParam("w", false, 2)
	p.Data[0], p.Data[1] = 1, 2
	opt, err := NewSGD([]*nn.Param{p}, SGDConfig{Momentum: 0.9, WeightDecay: 0.1})
	require.NoError(t, err)
	opt.Step(0.1)
	require.Equal(t, []float32{1, 2}, p.Data)
	require.Empty(t, opt.Velocity())
}

func TestSGDConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  SGDConfig
		want string
	}{
		{SGDConfig{Momentum: -0.1}, "momentum -0.1"},
		{SGDConfig{Momentum: 1}, "momentum 1"},
		{SGDConfig{Nesterov: true}, "nesterov momentum needs"},
		{SGDConfig{WeightDecay: -1}, "weight decay -1"},
		{SGDConfig{WeightDecay: math.NaN()}, "weight decay NaN"},
	}
	for _, c := range cases {
		_, err := NewSGD(nil, c.cfg)
		require.ErrorContains(t, err, c.want)
	}
}

func TestSGDSetVelocity(t *testing.T) {
	p := nn.NewParam("w", false, 2)
	opt, err := NewSGD([]*nn.Param{p}, SGDConfig{Momentum: 0.9})
	require.NoError(t, err)
	require.ErrorContains(t, opt.SetVelocity(map[string][]float32{"x": {1, 2}}), `"x" belongs to no parameter`)
	require.ErrorContains(t, opt.SetVelocity(map[string][]float32{"w": {1}}), "has 1 values, the parameter has 2")
	require.NoError(t, opt.SetVelocity(map[string][]float32{"w": {1, 2}}))
	require.Equal(t, map[string][]float32{"w": {1, 2}}, opt.Velocity())
}
