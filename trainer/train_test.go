package trainer

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/space"
)

// stripes returns n 1x8x8 images of three classes: horizontal stripes,
// vertical stripes and a checkerboard, each at a random phase and
// contrast with noise, so that a small convolutional network can learn them
// in a few epochs but not in one step.
func stripes(t testing.TB, n int, seed uint64) *Dataset {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	shape := blocks.Shape{C: 1, H: 8, W: 8}
	pixels := make([]uint8, n*64)
	labels := make([]int, n)
	for i := range n {
		label := i % 3
		phase := rng.IntN(2)
		hi := 150 + rng.IntN(100)
		for y := range 8 {
			for x := range 8 {
				var on bool
				switch label {
				case 0:
					on = (y+phase)%2 == 0
				case 1:
					on = (x+phase)%2 == 0
				case 2:
					on = (x+y+phase)%2 == 0
				}
				v := rng.IntN(60)
				if on {
					v += hi - 30
				}
				pixels[i*64+y*8+x] = uint8(min(255, v))
			}
		}
		labels[i] = label
	}
	d, err := NewDataset("stripes", shape, []string{"horizontal", "vertical", "checker"}, pixels, labels, Normalization{})
	require.NoError(t, err)
	return d
}

func stripeSets(t testing.TB) *Sets {
	return &Sets{Train: stripes(t, 480, 1), Test: stripes(t, 120, 2)}
}

// tinyArch has a dropout layer so that tests cover the dropout stream.
func tinyArch() *space.Arch {
	return &space.Arch{Name: "tiny", Input: blocks.Shape{C: 1, H: 8, W: 8}, Classes: 3, Layers: []blocks.Spec{
		&blocks.Conv{Out: 8, Kernel: 3, Act: blocks.ActReLU},
		&blocks.Conv{Out: 8, Kernel: 3, Stride: 2, Act: blocks.ActReLU},
		&blocks.GlobalPool{},
		&blocks.Dropout{P: 10},
		&blocks.Linear{Out: 3},
	}}
}

func tinyConfig() Config {
	c := DefaultConfig()
	c.Epochs = 4
	c.BatchSize = 16
	c.LR = 0.05
	c.WarmupEpochs = 0.5
	c.Augment = Augmentation{CropPadding: 1, HorizontalFlip: true}
	c.ValFraction = 0.2
	c.EvalBatchSize = 50
	return c
}

func TestTrainLearns(t *testing.T) {
	sets := stripeSets(t)
	cfg := tinyConfig()
	cfg.Test = true
	var steps, epochs int
	cfg.OnStep = func(s StepReport) {
		steps++
		require.Equal(t, steps, s.Step)
		require.Equal(t, 24*4, s.TotalSteps) // 384 training images / 16
	}
	cfg.OnEpoch = func(e EpochReport) { epochs++; require.Equal(t, epochs, e.Epoch) }
	res, err := Train(context.Background(), cfg, tinyArch(), sets)
	require.NoError(t, err)
	require.Equal(t, 96, steps)
	require.Equal(t, 4, epochs)
	require.Len(t, res.History, 4)
	require.Equal(t, 4.0, res.Epochs)
	require.Equal(t, 384, res.TrainImages)
	require.Greater(t, res.ValAcc, 0.9, "history %+v", res.History)
	require.True(t, res.Tested)
	require.Greater(t, res.TestAcc, 0.9)
	require.Less(t, res.History[3].TrainLoss, res.History[0].TrainLoss)
	require.Greater(t, res.ImagesPerSec, 0.0)
	require.GreaterOrEqual(t, res.BestValAcc, res.ValAcc)
	// The reported validation figures are those of the returned network.
	fit, val, err := SplitValidation(sets.Train, cfg.ValFraction, true, rand.New(rand.NewPCG(cfg.Seed, streamSplit)))
	require.NoError(t, err)
	require.Equal(t, 384, fit.Len())
	m, err := Evaluate(context.Background(), res.Network, val, 7)
	require.NoError(t, err)
	require.InDelta(t, res.ValAcc, m.Acc, 1e-12)
	require.InDelta(t, res.ValLoss, m.Loss, 1e-5)
}

func stateOf(net *blocks.Network) map[string][]float32 {
	out := map[string][]float32{}
	for name, t := range net.State() {
		out[name] = append([]float32(nil), t.Data...)
	}
	return out
}

func TestTrainDeterministic(t *testing.T) {
	sets := stripeSets(t)
	for _, threads := range []int{1, 3} {
		cfg := tinyConfig()
		cfg.Epochs = 2
		cfg.Threads = threads
		a, err := Train(context.Background(), cfg, tinyArch(), sets)
		require.NoError(t, err)
		b, err := Train(context.Background(), cfg, tinyArch(), sets)
		require.NoError(t, err)
		require.Equal(t, stateOf(a.Network), stateOf(b.Network), "threads %d", threads)
		require.Equal(t, a.History, b.History, "threads %d", threads)

		cfg.Seed++
		c, err := Train(context.Background(), cfg, tinyArch(), sets)
		require.NoError(t, err)
		require.NotEqual(t, stateOf(a.Network), stateOf(c.Network), "threads %d", threads)
	}
}

// TestTrainResume stops runs at several points (inside an epoch, on an
// epoch boundary, inside the last epoch) by cancelling the context, resumes
// them, and requires the weights and history of a run never interrupted.
func TestTrainResume(t *testing.T) {
	sets := stripeSets(t)
	cfg := tinyConfig()
	cfg.Epochs = 3
	want, err := Train(context.Background(), cfg, tinyArch(), sets)
	require.NoError(t, err)

	for _, stopAfter := range []int{5, 24, 60} {
		dir := t.TempDir()
		cfg := cfg
		cfg.CheckpointDir = dir
		ctx, cancel := context.WithCancel(context.Background())
		cfg.OnStep = func(s StepReport) {
			if s.Step == stopAfter {
				cancel()
			}
		}
		_, err := Train(ctx, cfg, tinyArch(), sets)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "checkpoint in "+dir)
		cancel()
		for _, f := range []string{WeightsFile, ArchFile, StateFile} {
			require.FileExists(t, filepath.Join(dir, f))
		}

		cfg.OnStep = func(s StepReport) { require.Greater(t, s.Step, stopAfter) }
		cfg.Resume = true
		got, err := Train(context.Background(), cfg, tinyArch(), sets)
		require.NoError(t, err, "stopped after %d", stopAfter)
		require.Equal(t, stateOf(want.Network), stateOf(got.Network), "stopped after %d", stopAfter)
		require.Equal(t, want.History, got.History)
		require.Equal(t, want.ValAcc, got.ValAcc)
	}
}

func TestTrainResumeErrors(t *testing.T) {
	sets := stripeSets(t)
	cfg := tinyConfig()
	cfg.Epochs = 1
	cfg.Resume = true
	cfg.CheckpointDir = t.TempDir()
	_, err := Train(context.Background(), cfg, tinyArch(), sets)
	require.ErrorIs(t, err, ErrNoCheckpoint)

	cfg.Resume = false
	_, err = Train(context.Background(), cfg, tinyArch(), sets)
	require.NoError(t, err)
	cfg.Resume = true

	other := cfg
	other.LR = 0.07
	_, err = Train(context.Background(), other, tinyArch(), sets)
	require.ErrorContains(t, err, `config differs from the checkpointed run's in "lr"`)

	wider := tinyArch()
	wider.Layers[0] = &blocks.Conv{Out: 12, Kernel: 3, Act: blocks.ActReLU}
	_, err = Train(context.Background(), cfg, wider, sets)
	require.ErrorContains(t, err, "another architecture")

	// A state file of another step than the weights: a checkpoint cut short.
	st, err := os.ReadFile(filepath.Join(cfg.CheckpointDir, StateFile))
	require.NoError(t, err)
	cfg2 := cfg
	cfg2.Resume = false
	cfg2.Epochs = 2
	cfg2.CheckpointDir = t.TempDir()
	_, err = Train(context.Background(), cfg2, tinyArch(), sets)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(cfg2.CheckpointDir, StateFile), st, 0o644))
	cfg2.Resume = true
	cfg2.Epochs = 1
	_, err = Train(context.Background(), cfg2, tinyArch(), sets)
	require.ErrorContains(t, err, "cut short")
}

func TestTrainStepsBudget(t *testing.T) {
	cfg := tinyConfig()
	cfg.Steps = 30 // one epoch of 24 steps and 6 more
	res, err := Train(context.Background(), cfg, tinyArch(), stripeSets(t))
	require.NoError(t, err)
	require.Equal(t, 30, res.Steps)
	require.InDelta(t, 1.25, res.Epochs, 1e-12)
	require.Len(t, res.History, 2)
	require.Equal(t, 30, res.History[1].Steps)
}

func TestTrainDataFraction(t *testing.T) {
	cfg := tinyConfig()
	cfg.Epochs = 1
	cfg.DataFraction = 0.5
	res, err := Train(context.Background(), cfg, tinyArch(), stripeSets(t))
	require.NoError(t, err)
	require.Equal(t, 192, res.TrainImages)
	require.Equal(t, 12, res.Steps)
}

func TestTrainDiverged(t *testing.T) {
	for _, threads := range []int{1, 2} {
		cfg := tinyConfig()
		cfg.Threads = threads
		cfg.LR = 1e6
		cfg.WarmupEpochs = 0
		_, err := Train(context.Background(), cfg, tinyArch(), stripeSets(t))
		require.ErrorIs(t, err, ErrDiverged)
		require.ErrorContains(t, err, "lower the learning rate")

		cfg = tinyConfig()
		cfg.Threads = threads
		cfg.MaxLoss = 0.01
		_, err = Train(context.Background(), cfg, tinyArch(), stripeSets(t))
		require.ErrorIs(t, err, ErrDiverged)
		require.ErrorContains(t, err, "epoch 1, step 1")
	}
}

func TestTrainCancelledWithoutCheckpoint(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Train(ctx, tinyConfig(), tinyArch(), stripeSets(t))
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.ErrorContains(t, err, "stopped at step 0")
}

func TestTrainErrors(t *testing.T) {
	sets := stripeSets(t)
	edit := func(f func(c *Config)) Config { c := tinyConfig(); f(&c); return c }
	cases := []struct {
		name string
		cfg  Config
		arch *space.Arch
		want string
	}{
		{"epochs", edit(func(c *Config) { c.Epochs = 0 }), tinyArch(), "epochs 0"},
		{"batch", edit(func(c *Config) { c.BatchSize = 0 }), tinyArch(), "batch size 0"},
		{"batch too big", edit(func(c *Config) { c.BatchSize = 1000 }), tinyArch(), "fewer than one batch of 1000"},
		{"lr", edit(func(c *Config) { c.LR = -1 }), tinyArch(), "learning rate -1"},
		{"smoothing", edit(func(c *Config) { c.LabelSmoothing = 1 }), tinyArch(), "label smoothing 1"},
		{"val", edit(func(c *Config) { c.ValFraction = 0 }), tinyArch(), "validation fraction 0"},
		{"data", edit(func(c *Config) { c.DataFraction = 2 }), tinyArch(), "data fraction 2"},
		{"momentum", edit(func(c *Config) { c.Momentum = 1.5 }), tinyArch(), "momentum 1.5"},
		{"resume", edit(func(c *Config) { c.Resume = true }), tinyArch(), "resume needs the checkpoint folder"},
		{"crop", edit(func(c *Config) { c.Augment.CropPadding = 9 }), tinyArch(), "crop padding 9"},
		{"input", tinyConfig(), func() *space.Arch { a := tinyArch(); a.Input.H = 9; return a }(), "network takes 1x9x8"},
		{"classes", tinyConfig(), func() *space.Arch { a := tinyArch(); a.Classes = 4; a.Layers[4] = &blocks.Linear{Out: 4}; return a }(), "has 3 classes but the network has 4 outputs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Train(context.Background(), c.cfg, c.arch, sets)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestTrainResumeAfterCrash copies the periodic checkpoint a run left
// behind while it was still running (what a killed process leaves), lets
// the run finish, then resumes the copy: it must end where the run did.
func TestTrainResumeAfterCrash(t *testing.T) {
	sets := stripeSets(t)
	cfg := tinyConfig()
	cfg.Epochs = 2
	cfg.CheckpointDir = t.TempDir()
	cfg.CheckpointSteps = 7
	crashed := t.TempDir()
	cfg.OnStep = func(s StepReport) {
		if s.Step != 10 { // the folder holds the checkpoint of step 7
			return
		}
		for _, f := range []string{WeightsFile, ArchFile, StateFile} {
			b, err := os.ReadFile(filepath.Join(cfg.CheckpointDir, f))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(crashed, f), b, 0o644))
		}
	}
	want, err := Train(context.Background(), cfg, tinyArch(), sets)
	require.NoError(t, err)

	cfg.CheckpointDir = crashed
	cfg.Resume = true
	first := 0
	cfg.OnStep = func(s StepReport) {
		if first == 0 {
			first = s.Step
		}
	}
	got, err := Train(context.Background(), cfg, tinyArch(), sets)
	require.NoError(t, err)
	require.Equal(t, 8, first)
	require.Equal(t, stateOf(want.Network), stateOf(got.Network))
	require.Equal(t, want.History, got.History)
}

func TestConfigDiff(t *testing.T) {
	a := tinyConfig()
	require.Equal(t, "", configDiff(a, a))
	cases := []struct {
		edit func(c *Config)
		want string
	}{
		{func(c *Config) { c.Seed = 9 }, "seed"},
		{func(c *Config) { c.Nesterov = !c.Nesterov }, "nesterov"},
		{func(c *Config) { c.Augment.HorizontalFlip = !c.Augment.HorizontalFlip }, "augment"},
		{func(c *Config) { c.Test = !c.Test }, ""},
		{func(c *Config) { c.EvalBatchSize = 3 }, ""},
		{func(c *Config) { c.CheckpointSteps = 3 }, ""},
	}
	for _, c := range cases {
		b := tinyConfig()
		c.edit(&b)
		require.Equal(t, c.want, configDiff(a, b))
	}
}
