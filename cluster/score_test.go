package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
	"nas/pipeline"
	"nas/space"
	"nas/supernet"
)

// stripesSpace is a small space of two families on the stripes images
// (opened as mnist: ten classes).
const stripesSpace = `{
  "version": 1, "name": "stripes", "input": [1, 8, 8], "classes": 10,
  "stem": [{"type": "conv", "out": 8, "kernel": 3, "act": "relu"}],
  "stages": [
    {"stride": 1, "blocks": ["ir", "ghost"], "kernels": [3, 5], "expansions": [1, 3], "se": [0, 0.25], "acts": ["relu", "hswish"], "widths": [8, 12], "depths": [1, 2]},
    {"stride": 2, "blocks": ["ir", "shuffle2"], "kernels": [3], "expansions": [3], "se": [0], "acts": ["relu"], "widths": [12, 16], "depths": [1, 2]}
  ],
  "head": [{"type": "conv", "out": 24, "kernel": 1, "act": "hswish"}, {"type": "gap"}, {"type": "linear"}]
}`

// stripesSupernet trains a supernet of stripesSpace on data (one short
// epoch) into a folder of its own.
func stripesSupernet(t testing.TB, data pipeline.Dataset) (*supernet.Supernet, *space.Space) {
	t.Helper()
	sp, err := space.ParseSpaceJSON([]byte(stripesSpace))
	require.NoError(t, err)
	sets, err := (&pipeline.Datasets{}).Open(data)
	require.NoError(t, err)
	cfg := supernet.DefaultConfig()
	cfg.Recipe.Epochs, cfg.Recipe.BatchSize, cfg.Recipe.LR, cfg.Recipe.WarmupEpochs, cfg.Recipe.Threads = 1, 16, 0.05, 0, 1
	cfg.Random, cfg.CalibrationImages = 0, 48
	dir := filepath.Join(t.TempDir(), "super")
	_, err = supernet.Train(context.Background(), cfg, sp, data.Name, sets, dir, false)
	require.NoError(t, err)
	sn, err := supernet.Open(dir)
	require.NoError(t, err)
	return sn, sp
}

// TestRemoteScore: candidates scored on a worker, whose data lies in
// another folder and who fetches the supernet from the object store,
// score what the coordinator's evaluator gives them, accuracy and loss
// bit for bit, and that at one thread and at two alike. A supernet of
// other weights or another space, or a worker of other data, is refused
// at once, naming both sides.
func TestRemoteScore(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // the worker's supernet cache
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	dir := writeStripes(t, 400, 1)
	copyDir := copyFiles(t, dir)
	data := pipeline.Dataset{Name: "mnist", Dir: dir}
	sn, sp := stripesSupernet(t, data)
	id, err := HashDataset("mnist", dir)
	require.NoError(t, err)
	runWorker(t, srv, &Worker{Name: "w", Dataset: &id,
		Tasks: PipelineTasks(&pipeline.Datasets{}, pipeline.Dataset{Name: "mnist", Dir: copyDir}, 1)})
	remote := &Remote{Coordinator: NewCoordinator(q, testLog(t)), Run: "run-20"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	sets, err := (&pipeline.Datasets{}).Open(data)
	require.NoError(t, err)
	ev, err := supernet.NewEvaluator(sn, "mnist", sets, supernet.EvalOptions{})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(4, 0))
	var cands []pipeline.Candidate
	for i := range 3 {
		_, a, err := sp.Sample(rng)
		require.NoError(t, err)
		cands = append(cands, pipeline.Candidate{Arch: a.String(), Seed: uint64(10 + i)})
	}
	cands = append(cands, pipeline.Candidate{Arch: "in1x8x8 cls10 | conv_o4_k3_arelu | gap | linear_o10", Seed: 1})
	task := pipeline.ScoreTask{Supernet: sn.Dir, Identity: sn.Identity, Space: sp.Name, Data: data, Candidates: cands, Eval: pipeline.ScoreOptionsOf(ev)}
	got, err := remote.Score(ctx, task)
	require.NoError(t, err)
	require.Len(t, got.Scores, len(cands))
	for threads := 1; threads <= 2; threads++ {
		prev := runtime.GOMAXPROCS(threads)
		for i, c := range cands[:3] {
			a, err := space.ParseArch(c.Arch)
			require.NoError(t, err)
			want, err := ev.Evaluate(ctx, a, c.Seed)
			require.NoError(t, err)
			require.Equal(t, want.Acc, got.Scores[i].Acc, "candidate %d at %d threads", i, threads)
			require.Equal(t, want.Loss, got.Scores[i].Loss, "candidate %d at %d threads", i, threads)
			require.Empty(t, got.Scores[i].Error)
		}
		runtime.GOMAXPROCS(prev)
	}
	require.Contains(t, got.Scores[3].Error, "layer", "a network outside the space is that candidate's error")

	// One candidate alone scores what it scored in the batch.
	one := task
	one.Candidates = cands[1:2]
	alone, err := remote.Score(ctx, one)
	require.NoError(t, err)
	require.Equal(t, got.Scores[1], alone.Scores[0])

	// The supernet went to the object store once, and sits in the
	// worker's cache under its hashes.
	cached, err := filepath.Glob(filepath.Join(DefaultSupernetCache(), "*", supernet.CheckpointFile))
	require.NoError(t, err)
	require.Len(t, cached, 1)

	// Other weights, another space: refused at once, naming both.
	bad := one
	bad.Identity = strings.Repeat("ab", 32)
	_, err = remote.Score(ctx, bad)
	require.ErrorIs(t, err, ErrTaskFailed)
	require.ErrorContains(t, err, "identity abababababab")
	require.ErrorContains(t, err, sn.Identity[:12])
	bad = one
	bad.Space = "other"
	_, err = remote.Score(ctx, bad)
	require.ErrorContains(t, err, "the task scores networks of space other")
	require.ErrorContains(t, err, "supernet of space stripes")
	e, err := q.results.Get(ctx, q.names.ResultKey(remote.Run, taskID(t, remote, bad)))
	require.NoError(t, err)
	r, err := DecodeResult(e.Value())
	require.NoError(t, err)
	require.Equal(t, 1, r.Attempt, "a refusal is not retried")

	// A supernet trained on other data than the task's (and the
	// worker's), or of another weights layout: refused, naming both.
	otherDir := writeStripes(t, 400, 3)
	otherSN, _ := stripesSupernet(t, pipeline.Dataset{Name: "mnist", Dir: otherDir})
	bad = one
	bad.Supernet, bad.Identity = otherSN.Dir, otherSN.Identity
	_, err = remote.Score(ctx, bad)
	require.ErrorIs(t, err, ErrTaskFailed)
	require.ErrorContains(t, err, "holds a supernet trained on mnist (400 training images, sha256 "+otherSN.Manifest.Data.Hash[:12])
	require.ErrorContains(t, err, "not on the data given (mnist, 400 training images, sha256 "+sn.Manifest.Data.Hash[:12])
	layout := filepath.Join(t.TempDir(), "layout")
	require.NoError(t, os.Mkdir(layout, 0o755))
	for _, name := range []string{supernet.ManifestFile, supernet.CheckpointFile} {
		b, err := os.ReadFile(filepath.Join(sn.Dir, name))
		require.NoError(t, err)
		if name == supernet.ManifestFile {
			b = []byte(strings.Replace(string(b), fmt.Sprintf(`"layout_version": %d`, supernet.LayoutVersion), `"layout_version": 999`, 1))
		}
		require.NoError(t, os.WriteFile(filepath.Join(layout, name), b, 0o644))
	}
	bad = one
	bad.Supernet = layout
	_, err = remote.Score(ctx, bad)
	require.ErrorIs(t, err, ErrTaskFailed)
	require.ErrorContains(t, err, "the supernet's weights layout is version 999")

	// A worker with other data files refuses the task.
	other := writeStripes(t, 400, 2)
	otherData := pipeline.Dataset{Name: "mnist", Dir: other}
	bad = one
	bad.Data = otherData
	_, err = remote.Score(ctx, bad)
	require.ErrorContains(t, err, "the task wants dataset mnist")
}

// taskID is the ID Remote gives the score task of task.
func taskID(t *testing.T, r *Remote, task pipeline.ScoreTask) string { return taskIDOf(t, r, task) }

func taskIDOf(t testing.TB, r *Remote, task pipeline.ScoreTask) string {
	t.Helper()
	p, err := r.scorePayload(context.Background(), task)
	require.NoError(t, err)
	tk, err := r.task(KindScore, task.Data, p)
	require.NoError(t, err)
	return tk.ID
}

// The score payload's decoder refuses what is out of range, naming it.
func TestDecodeScorePayload(t *testing.T) {
	h := strings.Repeat("0f", 32)
	good := func() scorePayload {
		return scorePayload{Supernet: supernetBlobs{Manifest: h, Weights: h, Identity: h, Space: "small28"},
			Data: pipeline.Dataset{Name: "fashion-mnist"}, Candidates: []pipeline.Candidate{{Arch: "in1x8x8 cls10 | gap | linear_o10", Seed: 3}},
			Eval: pipeline.ScoreOptions{CalibrationImages: 500, EvalFraction: 0.02, Batch: 100, ValidationImages: 1000}}
	}
	enc := func(p scorePayload) []byte {
		b, err := json.Marshal(p)
		require.NoError(t, err)
		return b
	}
	p, err := decodeScorePayload(enc(good()))
	require.NoError(t, err)
	require.Equal(t, good(), *p)
	many := good()
	for range MaxScoreCandidates {
		many.Candidates = append(many.Candidates, many.Candidates[0])
	}
	for _, c := range []struct {
		edit func(*scorePayload)
		want string
	}{
		{func(p *scorePayload) { p.Supernet.Weights = "xyz" }, `supernet weights "xyz"`},
		{func(p *scorePayload) { p.Supernet.Manifest = "" }, "supernet manifest"},
		{func(p *scorePayload) { p.Supernet.Identity = h[:10] }, "supernet identity"},
		{func(p *scorePayload) { p.Supernet.Space = "" }, "supernet space"},
		{func(p *scorePayload) { p.Data.Name = "" }, "dataset name"},
		{func(p *scorePayload) { p.Candidates = nil }, "0 candidates: want 1 to 64"},
		{func(p *scorePayload) { *p = many }, "65 candidates: want 1 to 64"},
		{func(p *scorePayload) { p.Candidates[0].Arch = "" }, "candidate 0: arch of 0 bytes"},
		{func(p *scorePayload) { p.Eval.CalibrationImages = 1 }, "calibration_images 1"},
		{func(p *scorePayload) { p.Eval.EvalFraction = 1.5 }, "eval_fraction 1.5"},
		{func(p *scorePayload) { p.Eval.Batch = 0 }, "batch 0"},
		{func(p *scorePayload) { p.Eval.ValidationImages = -1 }, "validation_images -1"},
	} {
		p := good()
		c.edit(&p)
		_, err := decodeScorePayload(enc(p))
		require.ErrorIs(t, err, ErrMalformed, c.want)
		require.ErrorContains(t, err, c.want)
	}
	for _, raw := range []string{``, `[]`, `{"supernet": {}, "extra": 1}`, string(enc(good())) + `{}`, strings.Repeat(" ", MaxTaskBytes+1)} {
		_, err := decodeScorePayload([]byte(raw))
		require.ErrorIs(t, err, ErrMalformed, raw)
	}
}

// FuzzDecodeScorePayload: the score payload's decoder never panics, and
// what it accepts is within its limits and round-trips.
func FuzzDecodeScorePayload(f *testing.F) {
	h := strings.Repeat("0f", 32)
	seed, _ := json.Marshal(scorePayload{Supernet: supernetBlobs{Manifest: h, Weights: h, Identity: h, Space: "small28"},
		Data: pipeline.Dataset{Name: "fashion-mnist"}, Candidates: []pipeline.Candidate{{Arch: "in1x8x8 cls10 | gap | linear_o10", Seed: 3}},
		Eval: pipeline.ScoreOptions{CalibrationImages: 500, EvalFraction: 0.02, Batch: 100, ValidationImages: 1000}})
	f.Add(seed)
	f.Add([]byte(`{"candidates": [{"arch": "x"}]}`))
	f.Add([]byte(`{"eval": {"eval_fraction": 1e999}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeScorePayload(b)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(p.Candidates), MaxScoreCandidates)
		again, err := json.Marshal(p)
		require.NoError(t, err)
		q, err := decodeScorePayload(again)
		require.NoError(t, err)
		require.Equal(t, p, q)
	})
}

// TestScoreWorkerKilled: a worker process killed with SIGKILL as it
// starts a score task loses it to another worker process after AckWait,
// and every candidate scores what the coordinator's evaluator gives it,
// bit for bit.
func TestScoreWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out an AckWait")
	}
	t.Setenv("TMPDIR", t.TempDir()) // the workers' supernet cache
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	dir := writeStripes(t, 400, 1)
	data := pipeline.Dataset{Name: "mnist", Dir: dir}
	sn, sp := stripesSupernet(t, data)
	sets, err := (&pipeline.Datasets{}).Open(data)
	require.NoError(t, err)
	ev, err := supernet.NewEvaluator(sn, "mnist", sets, supernet.EvalOptions{})
	require.NoError(t, err)
	remote := &Remote{Coordinator: NewCoordinator(q, testLog(t)), Run: "run-21"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rng := rand.New(rand.NewPCG(5, 0))
	var tasks []pipeline.ScoreTask
	var waits []func() (pipeline.ScoreResult, error)
	for i := range 3 {
		_, a, err := sp.Sample(rng)
		require.NoError(t, err)
		task := pipeline.ScoreTask{Supernet: sn.Dir, Identity: sn.Identity, Space: sp.Name, Data: data,
			Candidates: []pipeline.Candidate{{Arch: a.String(), Seed: uint64(20 + i)}}, Eval: pipeline.ScoreOptionsOf(ev)}
		wait, err := remote.SubmitScore(ctx, task)
		require.NoError(t, err)
		tasks, waits = append(tasks, task), append(waits, wait)
	}
	killed := taskID(t, remote, tasks[1])
	a := startWorkerProcess(t, srv, dir, "A", killed, envWorkerPipeline+"=1")
	err = a.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "worker A: %v", err)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())
	startWorkerProcess(t, srv, dir, "B", "", envWorkerPipeline+"=1")

	for i, wait := range waits {
		got, err := wait()
		require.NoError(t, err)
		c := tasks[i].Candidates[0]
		arch, err := space.ParseArch(c.Arch)
		require.NoError(t, err)
		want, err := ev.Evaluate(ctx, arch, c.Seed)
		require.NoError(t, err)
		require.Equal(t, want.Acc, got.Scores[0].Acc, "candidate %d", i)
		require.Equal(t, want.Loss, got.Scores[0].Loss, "candidate %d", i)
	}
	e, err := q.results.Get(ctx, q.names.ResultKey(remote.Run, killed))
	require.NoError(t, err)
	r, err := DecodeResult(e.Value())
	require.NoError(t, err)
	require.Equal(t, "B", r.Worker)
	require.Equal(t, 2, r.Attempt, "delivered to A, then to B")
}

// TestScoreMissingSupernet: a score task whose supernet is not in the
// object store fails on each delivery and, after MaxDeliver, is recorded
// as a failure that says so.
func TestScoreMissingSupernet(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	dir := writeStripes(t, 100, 1)
	id, err := HashDataset("mnist", dir)
	require.NoError(t, err)
	runWorker(t, srv, &Worker{Name: "w", Dataset: &id, Tasks: PipelineTasks(&pipeline.Datasets{}, pipeline.Dataset{Name: "mnist", Dir: dir}, 1)})
	h := strings.Repeat("0f", 32)
	p, err := json.Marshal(scorePayload{Supernet: supernetBlobs{Manifest: h, Weights: h, Identity: h, Space: "stripes"},
		Data: pipeline.Dataset{Name: "mnist"}, Candidates: []pipeline.Candidate{{Arch: "in1x8x8 cls10 | gap | linear_o10"}},
		Eval: pipeline.ScoreOptions{CalibrationImages: 8, Batch: 8, ValidationImages: 8}})
	require.NoError(t, err)
	task := Task{Run: "run-22", ID: "s0", Kind: KindScore, Dataset: &id, Payload: p}
	got := collect(t, q, []Task{task}, time.Minute)["s0"]
	require.Equal(t, StatusFailed, got.Status)
	require.Equal(t, 3, got.Attempt)
	require.Contains(t, got.Error, "supernet supernet.json: blob not found: 0f0f0f0f0f0f")
}
