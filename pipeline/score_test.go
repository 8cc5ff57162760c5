package pipeline

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/space"
	"nas/supernet"
)

// scoreSpace is a small space on tinyData's images.
const scoreSpace = `{
  "version": 1, "name": "tiny-score", "input": [1, 8, 8], "classes": 3,
  "stem": [{"type": "conv", "out": 8, "kernel": 3, "act": "relu"}],
  "stages": [
    {"stride": 2, "blocks": ["ir", "ghost"], "kernels": [3, 5], "expansions": [1, 3], "se": [0], "acts": ["relu"], "widths": [8, 12], "depths": [1, 2]}
  ],
  "head": [{"type": "gap"}, {"type": "linear"}]
}`

// A Scorer built from a task's resolved settings scores what the
// evaluator the settings came from scores, bit for bit; other weights,
// another space or settings that give another validation set are
// refused as a supernet mismatch.
func TestScorer(t *testing.T) {
	sp, err := space.ParseSpaceJSON([]byte(scoreSpace))
	require.NoError(t, err)
	data := tinyDatasets(t)
	sets, err := data.Open(tinyName)
	require.NoError(t, err)
	cfg := supernet.DefaultConfig()
	cfg.Recipe.Epochs, cfg.Recipe.BatchSize, cfg.Recipe.Threads, cfg.Random, cfg.CalibrationImages = 1, 16, 1, 0, 24
	dir := filepath.Join(t.TempDir(), "super")
	_, err = supernet.Train(context.Background(), cfg, sp, tinyName.Name, sets, dir, false)
	require.NoError(t, err)
	sn, err := supernet.Open(dir)
	require.NoError(t, err)
	ev, err := supernet.NewEvaluator(sn, tinyName.Name, sets, supernet.EvalOptions{})
	require.NoError(t, err)

	rng := rand.New(rand.NewPCG(1, 2))
	task := ScoreTask{Supernet: dir, Identity: sn.Identity, Space: sp.Name, Data: tinyName, Eval: ScoreOptionsOf(ev)}
	for i := range 3 {
		_, a, err := sp.Sample(rng)
		require.NoError(t, err)
		task.Candidates = append(task.Candidates, Candidate{Arch: a.String(), Seed: uint64(i + 1)})
	}
	task.Candidates = append(task.Candidates, Candidate{Arch: "not an arch"})
	var sc Scorer
	res, err := sc.Score(context.Background(), task, data)
	require.NoError(t, err)
	require.Len(t, res.Scores, 4)
	for i, c := range task.Candidates[:3] {
		a, err := space.ParseArch(c.Arch)
		require.NoError(t, err)
		want, err := ev.Evaluate(context.Background(), a, c.Seed)
		require.NoError(t, err)
		require.Equal(t, Score{Acc: want.Acc, Loss: want.Loss}, res.Scores[i], "candidate %d", i)
	}
	require.NotEmpty(t, res.Scores[3].Error)

	for _, edit := range []func(*ScoreTask){
		func(t *ScoreTask) { t.Identity = "0123" },
		func(t *ScoreTask) { t.Space = "small28" },
		func(t *ScoreTask) { t.Eval.ValidationImages++ },
	} {
		bad := task
		edit(&bad)
		_, err := sc.Score(context.Background(), bad, data)
		require.ErrorIs(t, err, ErrSupernetMismatch)
	}
}
