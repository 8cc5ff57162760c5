package supernet

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/internal/crashtest"
	"nas/internal/safetensors"
	"nas/search"
	"nas/space"
	"nas/trainer"
)

// An Evaluator is what a search scores its candidates with.
var _ search.Evaluator = (*Evaluator)(nil)

// tinySpace has every family small28 has, on 8x8 images of 4 classes.
const tinySpace = `{
  "version": 1, "name": "tiny", "input": [1, 8, 8], "classes": 4,
  "stem": [{"type": "conv", "out": 8, "kernel": 3, "act": "relu"}],
  "stages": [
    {"stride": 1, "blocks": ["ir", "ghost", "fire", "shuffle2"], "kernels": [3, 5], "expansions": [1, 3], "se": [0, 0.25], "acts": ["relu", "hswish"], "widths": [8, 12], "depths": [1, 2]},
    {"stride": 2, "blocks": ["ir", "shuffle2", "shuffle1"], "kernels": [3, 5], "expansions": [3], "se": [0, 0.25], "acts": ["relu"], "widths": [12, 24], "depths": [1, 2]}
  ],
  "head": [{"type": "conv", "out": 32, "kernel": 1, "act": "hswish"}, {"type": "gap"}, {"type": "linear"}]
}`

func loadTiny(t testing.TB) *space.Space {
	t.Helper()
	sp, err := space.ParseSpaceJSON([]byte(tinySpace))
	require.NoError(t, err)
	return sp
}

// tinyData is n training and n/4 test images of 4 classes: each class
// lights one quadrant of the image, over seeded noise.
func tinyData(t testing.TB, n int, seed uint64) *trainer.Sets {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	shape := blocks.Shape{C: 1, H: 8, W: 8}
	make1 := func(name string, n int) *trainer.Dataset {
		pix := make([]uint8, n*64)
		labels := make([]int, n)
		for i := range n {
			c := i % 4
			labels[i] = c
			for y := range 8 {
				for x := range 8 {
					v := rng.IntN(100)
					if (y/4)*2+x/4 == c {
						v += 120
					}
					pix[i*64+y*8+x] = uint8(v)
				}
			}
		}
		d, err := trainer.NewDataset(name, shape, []string{"a", "b", "c", "d"}, pix, labels, trainer.Normalization{})
		require.NoError(t, err)
		return d
	}
	return &trainer.Sets{Train: make1("tiny-train", n), Test: make1("tiny-test", n/4)}
}

func tinyConfig() Config {
	c := DefaultConfig()
	c.Recipe.Epochs = 2
	c.Recipe.BatchSize = 16
	c.Recipe.LR = 0.05
	c.Recipe.WarmupEpochs = 0.5
	c.Recipe.Threads = 2
	c.Recipe.CheckpointSteps = 3
	c.Recipe.EvalBatchSize = 32
	c.CalibrationImages = 64
	return c
}

// TestBindingSlices checks the sharing rule on a network whose kernels,
// widths and expansions are below the slots' largest: every tensor is
// the leading part of its slot on each axis, the centre on the kernel
// axes, and gradients land in the same places.
func TestBindingSlices(t *testing.T) {
	sp := loadTiny(t)
	w, err := NewWeights(sp, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	// ir, kernel 3, expansion 1, no SE, relu, width 8, depth 1 in stage 0;
	// ir, kernel 3, width 12, depth 1 in stage 1.
	s, err := w.subnetOf([]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	require.NoError(t, err)
	s.load()
	checked := 0
	for _, b := range s.binds {
		sh, full := b.net.Shape, b.shared.Shape
		if len(sh) != 4 || sh[2] != 3 || full[2] != 5 {
			continue
		}
		// Value (o, i, ky, kx) of the network is (o, i, ky+1, kx+1) of the slot.
		for o := range sh[0] {
			for i := range sh[1] {
				for ky := range 3 {
					for kx := range 3 {
						got := b.net.Data[((o*sh[1]+i)*3+ky)*3+kx]
						want := b.shared.Data[((o*full[1]+i)*5+ky+1)*5+kx+1]
						require.Equal(t, want, got, "%s (%d,%d,%d,%d)", b.net.Name, o, i, ky, kx)
					}
				}
			}
		}
		checked++
	}
	require.Positive(t, checked, "no 3x3 network kernel in a 5x5 slot")

	// Gradients of ones: each slot's gradient counts how many network
	// values map onto each of its values (0 or 1 here).
	w.clearGrads()
	for _, b := range s.binds {
		b.net.Grad = make([]float32, len(b.net.Data))
		for j := range b.net.Grad {
			b.net.Grad[j] = 1
		}
	}
	s.addGrads()
	for _, b := range s.binds {
		var sum float32
		for _, g := range b.shared.Grad {
			require.True(t, g == 0 || g == 1)
			sum += g
		}
		require.Equal(t, float32(len(b.net.Data)), sum, b.net.Name)
	}
}

// TestNetworkOutsideSpace names the layer and the choice.
func TestNetworkOutsideSpace(t *testing.T) {
	sp := loadTiny(t)
	w, err := NewWeights(sp, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	a, err := space.ParseArch("in1x8x8 cls4 | conv_o8_k3_arelu | ir_o8_m8_k7_arelu | ir_o12_m24_s2_arelu | conv_o32_k1_ahswish | gap | linear_o4")
	require.NoError(t, err)
	_, err = w.Network(a)
	require.ErrorContains(t, err, "layer 1 (ir_o8_m8_k7_arelu) is outside space tiny")
	require.ErrorContains(t, err, "k7 instead of")
}

func trainTiny(t *testing.T, dir string, cfg Config, sets *trainer.Sets, resume bool) *Result {
	t.Helper()
	res, err := Train(context.Background(), cfg, loadTiny(t), "tiny", sets, dir, resume)
	require.NoError(t, err)
	return res
}

func readCheckpoint(t *testing.T, dir string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Read(filepath.Join(dir, CheckpointFile))
	require.NoError(t, err)
	return f
}

func requireSameCheckpoint(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := readCheckpoint(t, a), readCheckpoint(t, b)
	require.Equal(t, len(fa.Tensors), len(fb.Tensors))
	for name, ta := range fa.Tensors {
		require.Equal(t, ta.F32, fb.Tensors[name].F32, name)
	}
	require.Equal(t, fa.Metadata["state"], fb.Metadata["state"])
}

// TestTrainDeterministic trains twice with the same seed and threads and
// requires identical checkpoints; stopping through the context and
// resuming ends identical too.
func TestTrainDeterministic(t *testing.T) {
	sets := tinyData(t, 160, 1)
	cfg := tinyConfig()
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	res := trainTiny(t, a, cfg, sets, false)
	require.Equal(t, 2*(144/16), res.Steps)
	require.Len(t, res.History, 2)
	trainTiny(t, b, cfg, sets, false)
	requireSameCheckpoint(t, a, b)

	ctx, cancel := context.WithCancel(context.Background())
	stop := cfg
	stop.OnStep = func(s trainer.StepReport) {
		if s.Step == 5 {
			cancel()
		}
	}
	_, err := Train(ctx, stop, loadTiny(t), "tiny", sets, c, false)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "continue with --resume")
	trainTiny(t, c, cfg, sets, true)
	requireSameCheckpoint(t, a, c)
}

// TestTrainSampling trains with each rule for drawing the random
// networks: the rules train other networks, "" is the uniform rule of
// supernets saved without the field, and a resumption under another rule
// is refused by name.
func TestTrainSampling(t *testing.T) {
	sets := tinyData(t, 96, 1)
	cfg := tinyConfig()
	cfg.Recipe.Epochs = 1
	fair, uniform, unset := t.TempDir(), t.TempDir(), t.TempDir()
	cfg.Sampling = SamplingFair
	trainTiny(t, fair, cfg, sets, false)
	cfg.Sampling = SamplingUniform
	trainTiny(t, uniform, cfg, sets, false)
	cfg.Sampling = ""
	trainTiny(t, unset, cfg, sets, false)
	requireSameCheckpoint(t, uniform, unset)
	requireCheckpointsDiffer(t, fair, uniform, "the fair and uniform rules train the same weights")

	cfg.Sampling = SamplingFair
	_, err := Train(context.Background(), cfg, loadTiny(t), "tiny", sets, uniform, true)
	require.ErrorContains(t, err, "settings differ")
	require.ErrorContains(t, err, "in sampling")
	cfg.Sampling = "round-robin"
	_, err = Train(context.Background(), cfg, loadTiny(t), "tiny", sets, t.TempDir(), false)
	require.ErrorContains(t, err, `sampling "round-robin": want "fair" or "uniform"`)
}

// requireCheckpointsDiffer fails unless some tensor of the checkpoints in
// folders a and b differs.
func requireCheckpointsDiffer(t *testing.T, a, b, msg string) {
	t.Helper()
	ca, cb := readCheckpoint(t, a), readCheckpoint(t, b)
	for name, ta := range ca.Tensors {
		if !slices.Equal(ta.F32, cb.Tensors[name].F32) {
			return
		}
	}
	t.Fatal(msg)
}

// TestTrainRule trains with each rule for training a step: single-path
// trains other weights than the sandwich rule, "" is the sandwich rule of
// supernets saved without the field, a resumption under another rule is
// refused by name, and single-path needs random networks to train.
func TestTrainRule(t *testing.T) {
	sets := tinyData(t, 96, 1)
	cfg := tinyConfig()
	cfg.Recipe.Epochs = 1
	single, sandwich, unset := t.TempDir(), t.TempDir(), t.TempDir()
	cfg.Rule = RuleSinglePath
	trainTiny(t, single, cfg, sets, false)
	cfg.Rule = RuleSandwich
	trainTiny(t, sandwich, cfg, sets, false)
	cfg.Rule = ""
	trainTiny(t, unset, cfg, sets, false)
	requireSameCheckpoint(t, sandwich, unset)
	requireCheckpointsDiffer(t, single, sandwich, "the single-path and sandwich rules train the same weights")

	cfg.Rule = RuleSinglePath
	_, err := Train(context.Background(), cfg, loadTiny(t), "tiny", sets, sandwich, true)
	require.ErrorContains(t, err, "settings differ")
	require.ErrorContains(t, err, "in rule")
	cfg.Random = 0
	_, err = Train(context.Background(), cfg, loadTiny(t), "tiny", sets, t.TempDir(), false)
	require.ErrorContains(t, err, "want at least 1")
	cfg.Rule, cfg.Random = "greedy", 1
	_, err = Train(context.Background(), cfg, loadTiny(t), "tiny", sets, t.TempDir(), false)
	require.ErrorContains(t, err, `rule "greedy": want "sandwich" or "single-path"`)
}

// crashEnv names the folder the crash child trains in.
const crashEnv = "NAS_SUPERNET_CRASH_DIR"

// crashStep is the step after which the child kills itself: the last
// checkpoint before it holds step 6, so step 7's work is lost.
const crashStep = 7

// TestCrashChild is the child of TestKillResume: it trains in the folder
// the environment names and sends itself SIGKILL right after step
// crashStep, before any checkpoint holds it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("the child of TestKillResume")
	}
	cfg := tinyConfig()
	cfg.OnStep = func(s trainer.StepReport) {
		if s.Step == crashStep {
			p, _ := os.FindProcess(os.Getpid())
			_ = p.Kill() // SIGKILL: no deferred function, no flush
		}
	}
	_, _ = Train(context.Background(), cfg, loadTiny(t), "tiny", tinyData(t, 160, 1), dir, false)
	t.Fatal("the child outlived its kill")
}

// TestKillResume kills a training process with SIGKILL after a known
// step, resumes it, and requires the result to be bit-identical to an
// uninterrupted run.
func TestKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	sets := tinyData(t, 160, 1)
	want, dir := t.TempDir(), t.TempDir()
	trainTiny(t, want, tinyConfig(), sets, false)

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	crashtest.Start(t, cmd)
	err := cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child must die of its kill")
	ws, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "child: %v", err)
	f := readCheckpoint(t, dir)
	require.Equal(t, "6", f.Metadata["step"], "the last checkpoint before the kill")

	trainTiny(t, dir, tinyConfig(), sets, true)
	requireSameCheckpoint(t, want, dir)
}

// TestRefusals opens a folder with another space, data, settings and
// layout.
func TestRefusals(t *testing.T) {
	sets := tinyData(t, 96, 1)
	cfg := tinyConfig()
	cfg.Recipe.Epochs = 1
	dir := t.TempDir()
	trainTiny(t, dir, cfg, sets, false)

	_, err := Train(context.Background(), cfg, loadTiny(t), "tiny", sets, dir, false)
	require.ErrorContains(t, err, "already holds a supernet")

	other := loadTiny(t)
	other.Stages[1].Kernels = []int{3}
	_, err = Train(context.Background(), cfg, other, "tiny", sets, dir, true)
	require.ErrorContains(t, err, "not of the space given (tiny), which differs in stage 1")
	require.ErrorContains(t, err, "nas supernet train --space tiny")

	_, err = Train(context.Background(), cfg, loadTiny(t), "tiny", tinyData(t, 96, 2), dir, true)
	require.ErrorContains(t, err, "they differ in content")
	require.ErrorContains(t, err, "nas supernet train --data tiny --out NEWDIR")

	lr := cfg
	lr.Recipe.LR = 0.01
	_, err = Train(context.Background(), lr, loadTiny(t), "tiny", sets, dir, true)
	require.ErrorContains(t, err, "differ from those of the run")
	require.ErrorContains(t, err, "in lr")

	sn, err := Open(dir)
	require.NoError(t, err)
	_, err = NewEvaluator(sn, "tiny", tinyData(t, 96, 3), EvalOptions{})
	require.ErrorContains(t, err, "not on the data given")

	// Another layout version.
	m, err := readManifest(dir)
	require.NoError(t, err)
	m.LayoutVersion = LayoutVersion + 1
	require.NoError(t, writeManifest(dir, m))
	_, err = Open(dir)
	require.ErrorContains(t, err, "weights layout is version 2, this nas uses version 1: train it again with nas supernet train --space tiny --data tiny")

	_, err = Open(t.TempDir())
	require.ErrorIs(t, err, ErrNoSupernet)
}

// TestEvaluateAndExtract scores networks of a trained supernet and checks
// that an extracted network loads into a fresh network of its arch with
// trainer.LoadWeights (as nas eval --weights reads it) and computes the
// same outputs.
func TestEvaluateAndExtract(t *testing.T) {
	sn, ev, sets := tinyEvaluator(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 4 {
		_, a, err := sn.Space.Sample(rng)
		require.NoError(t, err)
		e1, err := ev.Evaluate(context.Background(), a, 1)
		require.NoError(t, err)
		e2, err := ev.Evaluate(context.Background(), a, 1)
		require.NoError(t, err)
		require.Equal(t, e1.Acc, e2.Acc, "same seed, same score")
		require.Equal(t, 16, e1.Images)
		small, err := NewEvaluator(sn, "tiny", sets, EvalOptions{ValidationImages: 8})
		require.NoError(t, err)
		e8, err := small.Evaluate(context.Background(), a, 1)
		require.NoError(t, err)
		require.Equal(t, 8, e8.Images, "ValidationImages sets the part of the split scored on")
		acc, err := ev.Accuracy(context.Background(), a, 1)
		require.NoError(t, err)
		require.Equal(t, e1.Acc, acc)

		net, err := ev.Network(context.Background(), a, 1)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "w.safetensors")
		require.NoError(t, trainer.SaveWeights(path, net, nil))
		g, err := a.Graph()
		require.NoError(t, err)
		fresh, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(9, 9)))
		require.NoError(t, err)
		_, err = trainer.LoadWeights(path, fresh)
		require.NoError(t, err)
		x := nn.New(4, 1, 8, 8)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		require.Equal(t, net.Forward(nil, x).Data, fresh.Forward(nil, x).Data)
		m, err := trainer.Evaluate(context.Background(), fresh, valSplit(t, sn, sets), 32)
		require.NoError(t, err)
		require.InDelta(t, e1.Acc, m.Acc, 1e-9)
	}
}

// TestEvaluateConcurrently scores networks from several goroutines at
// once on one Evaluator, as a search with a window of candidates does
// (run it with -race): each score equals the one a lone evaluation gives.
func TestEvaluateConcurrently(t *testing.T) {
	sn, ev, _ := tinyEvaluator(t)
	rng := rand.New(rand.NewPCG(5, 6))
	archs := make([]*space.Arch, 6)
	want := make([]Evaluation, len(archs))
	for i := range archs {
		var err error
		_, archs[i], err = sn.Space.Sample(rng)
		require.NoError(t, err)
		want[i], err = ev.Evaluate(context.Background(), archs[i], uint64(i))
		require.NoError(t, err)
	}
	got := make([]Evaluation, len(archs))
	errs := make([]error, len(archs))
	var wg sync.WaitGroup
	for i := range archs {
		wg.Go(func() { got[i], errs[i] = ev.Evaluate(context.Background(), archs[i], uint64(i)) })
	}
	wg.Wait()
	for i := range archs {
		require.NoError(t, errs[i])
		require.Equal(t, want[i].Acc, got[i].Acc, "network %d", i)
		require.Equal(t, want[i].Loss, got[i].Loss, "network %d", i)
	}
}

// tinyEvaluator trains a tiny supernet on 160 images and returns it with
// its Evaluator at the default options and the data it was trained on.
func tinyEvaluator(t *testing.T) (*Supernet, *Evaluator, *trainer.Sets) {
	t.Helper()
	sets := tinyData(t, 160, 1)
	dir := t.TempDir()
	trainTiny(t, dir, tinyConfig(), sets, false)
	sn, err := Open(dir)
	require.NoError(t, err)
	ev, err := NewEvaluator(sn, "tiny", sets, EvalOptions{})
	require.NoError(t, err)
	return sn, ev, sets
}

func valSplit(t *testing.T, sn *Supernet, sets *trainer.Sets) *trainer.Dataset {
	_, val, err := sn.Manifest.Config.Recipe.Split(sets.Train)
	require.NoError(t, err)
	return val
}

// FuzzReadManifest reads arbitrary manifests: an error or a manifest whose
// space parses, never a panic.
func FuzzReadManifest(f *testing.F) {
	sp, err := space.ParseSpaceJSON([]byte(tinySpace))
	require.NoError(f, err)
	m, err := newManifest(sp, DataIdentity{Name: "tiny", Hash: "00", TrainImages: 1}, DefaultConfig())
	require.NoError(f, err)
	dir := f.TempDir()
	require.NoError(f, writeManifest(dir, m))
	good, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{"format": "nas supernet", "layout_version": 1, "space": {}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o644))
		m, err := readManifest(dir)
		if err != nil {
			return
		}
		_, _ = m.space()
	})
}

func TestWarmupSteps(t *testing.T) {
	for _, c := range []struct {
		epochs          float64
		perEpoch, total int
		want            int
	}{
		{1, 100, 1000, 100}, // ten epochs: the whole first epoch
		{1, 100, 100, 10},   // one epoch: a tenth of it, not all of it
		{1, 100, 200, 20},   // two epochs: a tenth
		{0.5, 100, 1000, 50},
		{0, 100, 1000, 0},
		{1, 5, 5, 0}, // too short for any
	} {
		if got := warmupSteps(c.epochs, c.perEpoch, c.total); got != c.want {
			t.Errorf("warmupSteps(%g, %d, %d) = %d, want %d", c.epochs, c.perEpoch, c.total, got, c.want)
		}
	}
}
