package pipeline

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/results"
	"nas/search"
	"nas/space"
	"nas/trainer"
)

// TestSearchTrialsShareTheValidationSplit builds the recipe two trials of
// one search train with (their own seeds, the run's seed 5) and checks
// that they are scored on the same validation images, drawn from the run
// seed and never trained on, and that a search with another seed holds
// out other images.
func TestSearchTrialsShareTheValidationSplit(t *testing.T) {
	const n = 600
	pixels := make([]uint8, n*4)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 3
		pixels[4*i] = uint8(i) // an id in every image
		pixels[4*i+1] = uint8(i >> 8)
	}
	train, err := trainer.NewDataset("synthetic", blocks.Shape{C: 1, H: 2, W: 2}, []string{"a", "b", "c"}, pixels, labels, trainer.Normalization{})
	require.NoError(t, err)
	ids := func(d *trainer.Dataset) []int {
		out := make([]int, d.Len())
		for i := range out {
			p := d.Pixels(i)
			out[i] = int(p[0]) | int(p[1])<<8
		}
		slices.Sort(out)
		return out
	}
	st := SearchSettings{ProxyEpochs: 1, ProxyFraction: 0.5, ProxyEval: 0.5, Batch: 8}
	split := func(runSeed, trialSeed uint64) (fit, val []int) {
		st.Seed = runSeed
		cfg := ProxyRecipe(st)
		cfg.Seed = trialSeed // what proxyEvaluator.Accuracy does
		f, v, err := cfg.Split(train)
		require.NoError(t, err)
		return ids(f), ids(v)
	}
	fitA, valA := split(5, 101)
	_, valB := split(5, 202)
	require.Equal(t, valA, valB, "two trials of one search score on the same images")
	require.Len(t, valA, 30) // half of the 10% held out
	for _, v := range valA {
		require.NotContains(t, fitA, v, "no trial trains on a validation image")
	}
	_, valOther := split(6, 101)
	require.NotEqual(t, valA, valOther, "another run seed holds out other images")
	// Runs stored before runs had one split: each trial drew its own.
	st.perTrialSplit = true
	_, valOwn := split(5, 202)
	require.NotEqual(t, valA, valOwn)
}

// fakeLatency prices a network by its MACs and measures it 10% slower.
type fakeLatency struct{}

func (fakeLatency) PredictMs(_ context.Context, a *space.Arch) (float64, error) {
	c, err := a.Cost()
	return float64(c.MACs) / 1e6, err
}

func (f fakeLatency) MeasureMs(ctx context.Context, archs []*space.Arch, _ int) ([]float64, error) {
	ms := make([]float64, len(archs))
	for i, a := range archs {
		p, err := f.PredictMs(ctx, a)
		if err != nil {
			return nil, err
		}
		ms[i] = 1.1 * p
	}
	return ms, nil
}

// fakeTrainer scores a network by its parameters and seed, and stops the
// run's context after stopAfter proxy trainings (0: never).
type fakeTrainer struct {
	mu               sync.Mutex
	calls, stopAfter int
	cancel           context.CancelFunc
}

func (f *fakeTrainer) Train(_ context.Context, task TrainTask) (TrainResult, error) {
	f.mu.Lock()
	f.calls++
	if f.stopAfter > 0 && f.calls == f.stopAfter {
		f.cancel()
	}
	f.mu.Unlock()
	a, err := space.ParseArch(task.Arch)
	if err != nil {
		return TrainResult{}, err
	}
	c, err := a.Cost()
	acc := 1 - 1/(1+float64(c.Params)/1e4) - float64(task.Recipe.Seed%97)*1e-4
	return TrainResult{ValAcc: acc, TestAcc: acc, Tested: task.Recipe.Test}, err
}

func fakeSettings() SearchSettings {
	return SearchSettings{Space: "convnet28", Data: "mnist", Seed: 4, Objective: search.SoftObjective(2, search.DefaultW), Budget: 8, Final: 1, Proxy: true}
}

// A search stopped after some trials and resumed ends with the trials,
// best network and final results of a search that was never stopped: one
// trial at a time, and three at once (the trials in flight when it stops
// are trained again).
func TestSearchResumeMatchesUninterrupted(t *testing.T) {
	for _, c := range []struct{ parallel, stopAfter int }{{1, 3}, {3, 6}} {
		t.Run(fmt.Sprint("parallel-", c.parallel), func(t *testing.T) {
			testSearchResume(t, c.parallel, c.stopAfter)
		})
	}
}

func testSearchResume(t *testing.T, parallel, stopAfter int) {
	fakeSettings := func() SearchSettings {
		s := fakeSettings()
		s.Parallel = parallel
		return s
	}
	open := func() *results.Store {
		s, err := results.Open(filepath.Join(t.TempDir(), "store.db"))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	ref := &Search{Store: open(), Latency: fakeLatency{}, Trainer: &fakeTrainer{}, Out: t.TempDir()}
	want, err := ref.Start(context.Background(), fakeSettings())
	require.NoError(t, err)
	require.Len(t, want.Trials, 8)
	require.Len(t, want.Final, 1)
	require.FileExists(t, filepath.Join(want.Dir, FinalFile))

	ctx, cancel := context.WithCancel(context.Background())
	tr := &fakeTrainer{stopAfter: stopAfter, cancel: cancel}
	s := &Search{Store: open(), Latency: fakeLatency{}, Trainer: tr, Out: t.TempDir()}
	_, err = s.Start(ctx, fakeSettings())
	var stopped *StoppedError
	require.ErrorAs(t, err, &stopped)
	require.ErrorIs(t, err, context.Canceled)
	run, err := s.Store.Run(stopped.Run)
	require.NoError(t, err)
	require.Equal(t, results.RunStopped, run.Status)

	// A resume given settings that differ from the run's is refused,
	// naming each with both values; the same values are accepted.
	given := fakeSettings()
	given.Budget, given.Seed, given.Strategy, given.Parallel = 9, 5, "random", parallel+1
	_, err = s.Resume(context.Background(), stopped.Run, given, "budget", "seed", "strategy", "target_ms", "store", "parallel")
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, []SettingDiff{{"budget", 8.0, 9.0}, {"parallel", float64(parallel), float64(parallel + 1)}, {"seed", 4.0, 5.0}, {"strategy", "evolution", "random"}}, ce.Diffs)
	require.Contains(t, err.Error(), fmt.Sprintf("budget: stored 8, given 9; parallel: stored %d, given %d; seed: stored 4, given 5; strategy: stored evolution, given random", parallel, parallel+1))
	_, err = s.Resume(ctx, stopped.Run, given, "data", "space") // ctx is cancelled: the run stops at once
	require.ErrorIs(t, err, context.Canceled, "settings not named are not compared")
	tr.mu.Lock()
	tr.stopAfter = 0
	tr.mu.Unlock()
	got, err := s.Resume(context.Background(), stopped.Run, fakeSettings(), "budget", "seed", "target_ms", "alpha", "beta")
	require.NoError(t, err)
	require.Equal(t, want.Best.Key, got.Best.Key)
	require.Equal(t, want.Best.Reward, got.Best.Reward)
	require.Equal(t, len(want.Trials), len(got.Trials))
	for i := range want.Trials {
		w, g := want.Trials[i], got.Trials[i]
		w.Wall, g.Wall, w.Choices, g.Choices = 0, 0, nil, nil
		require.Equal(t, w, g, "trial %d", i)
	}
	require.Equal(t, want.Final[0].Arch, got.Final[0].Arch)
	_, err = s.Resume(context.Background(), stopped.Run, SearchSettings{})
	var finished *FinishedError
	require.ErrorAs(t, err, &finished)
}

func TestSearchSettingsValidate(t *testing.T) {
	require.NoError(t, fakeSettings().Validate())
	for _, c := range []struct {
		edit    func(*SearchSettings)
		setting string
	}{
		{func(s *SearchSettings) { s.Objective.TargetMs = 0 }, "target_ms"},
		{func(s *SearchSettings) { s.Objective.TargetMs = math.Inf(1) }, "target_ms"},
		{func(s *SearchSettings) { s.Objective.Beta = 0.1 }, "beta"},
		{func(s *SearchSettings) { s.Budget = -1 }, "budget"},
		{func(s *SearchSettings) { s.Proxy = false; s.SupernetRecipe.Epochs = -1 }, "supernet_epochs"},
		{func(s *SearchSettings) { s.Parallel = -1 }, "parallel"},
		{func(s *SearchSettings) { s.Strategy = "anneal" }, "strategy"},
		{func(s *SearchSettings) { s.Data = "imagenet" }, "data"},
		{func(s *SearchSettings) { s.ProxyFraction = 1.5 }, "proxy_fraction"},
		{func(s *SearchSettings) { s.Final = -1 }, "final"},
		{func(s *SearchSettings) { s.Baselines = []string{"resnet50"} }, "baselines"},
	} {
		s := fakeSettings()
		c.edit(&s)
		err := s.Validate()
		var se *SettingError
		require.ErrorAs(t, err, &se, c.setting)
		require.Equal(t, c.setting, se.Setting)
		require.NotContains(t, err.Error(), "--", "the library names settings, not flags")
	}
	// Zero means the default; the stored form reads back the same.
	s := SearchSettings{Objective: search.HardObjective(1), Budget: 3, Seed: 9, Device: "fp-x", Proxy: true, Parallel: 4}.withDefaults()
	require.Equal(t, DefaultSpace, s.Space)
	require.Equal(t, DefaultBatch, s.Batch)
	require.Equal(t, 1, s.ProxyEpochs)
	back, err := settingsOf(1, s.runConfig("fp-x"))
	require.NoError(t, err)
	require.Equal(t, s, back)
	require.True(t, back.Objective.Hard())
}
