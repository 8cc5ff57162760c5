package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
	"nas/pipeline"
	"nas/supernet"
)

// BenchmarkRoundTrip measures the queue's own cost per task: tasks that
// do nothing (echo), from the coordinator through the workers and back,
// with 1, 4 and 16 workers in this process, each on its own connection.
// Two coordinator paths:
//
//   - batch: Coordinator.Run of 200 tasks (Submit all, then one Collect);
//   - do: Coordinator.Do from as many goroutines as workers, the path of
//     cluster.Remote, which a search with --parallel N takes (each Do
//     submits its task and watches its own result key).
//
// It reports tasks/s and, against the module's server, the messages and
// bytes the server received and sent per task; what a real task costs
// comes on top, on the worker.
//
//	go test -run '^$' -bench RoundTrip -benchtime 5x ./cluster/
func BenchmarkRoundTrip(b *testing.B) {
	const perRun = 200
	for _, path := range []string{"batch", "do"} {
		for _, workers := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/workers=%d", path, workers), func(b *testing.B) {
				srv := natstest.Start(b)
				q := testQueue(b, srv)
				for i := range workers {
					runWorker(b, srv, &Worker{Name: fmt.Sprint("w", i), Tasks: Registry{"echo": echoTask}})
				}
				c := NewCoordinator(q, nil)
				ctx := context.Background()
				run := 0
				before, traffic := srv.Traffic()
				start := time.Now()
				for b.Loop() {
					run++
					tasks := make([]Task, perRun)
					for i := range tasks {
						tasks[i] = Task{Run: fmt.Sprint("run-", run), ID: fmt.Sprint("t", i), Kind: "echo", Payload: json.RawMessage(`{"x":1}`)}
					}
					if path == "batch" {
						require.NoError(b, c.Run(ctx, tasks, func(Result) error { return nil }))
						continue
					}
					doAll(b, c, tasks, workers)
				}
				n := float64(run * perRun)
				b.ReportMetric(n/time.Since(start).Seconds(), "tasks/s")
				if after, ok := srv.Traffic(); traffic && ok {
					b.ReportMetric(float64(after.InMsgs-before.InMsgs)/n, "msgs-in/task")
					b.ReportMetric(float64(after.OutMsgs-before.OutMsgs)/n, "msgs-out/task")
					b.ReportMetric(float64(after.InBytes-before.InBytes+after.OutBytes-before.OutBytes)/n, "B/task")
				}
			})
		}
	}
}

// doAll runs tasks through c.Do from `parallel` goroutines.
func doAll(b *testing.B, c *Coordinator, tasks []Task, parallel int) {
	next := make(chan Task)
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range next {
				if _, err := c.Do(context.Background(), t); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, t := range tasks {
		next <- t
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
}

// BenchmarkScoreTask measures what a score task costs besides the
// scoring itself: 16 candidates of a small supernet scored through one
// worker in this process (cluster.Remote, the search's path), one task
// per candidate (candidates=1) or eight candidates per task
// (candidates=8), each task's result read back for the time its function
// ran. It reports the scoring time per candidate on the worker
// (eval-ms/candidate) and the rest of the wall time per candidate
// (overhead-ms/candidate: publishing, delivery, the result's round trip).
// fetch-21MB measures a worker's first task on a supernet, fetching a
// blob of small28's supernet file size (21 MB) from the object store.
//
//	go test -run '^$' -bench ScoreTask -benchtime 5x ./cluster/
func BenchmarkScoreTask(b *testing.B) {
	b.Setenv("TMPDIR", b.TempDir())
	srv := natstest.Start(b)
	q := testQueue(b, srv)
	dir := writeStripes(b, 400, 1)
	data := pipeline.Dataset{Name: "mnist", Dir: dir}
	sn, sp := stripesSupernet(b, data)
	id, err := HashDataset("mnist", dir)
	require.NoError(b, err)
	runWorker(b, srv, &Worker{Name: "w", Dataset: &id, Tasks: PipelineTasks(&pipeline.Datasets{}, data, 1)})
	sets, err := (&pipeline.Datasets{}).Open(data)
	require.NoError(b, err)
	ev, err := supernet.NewEvaluator(sn, "mnist", sets, supernet.EvalOptions{})
	require.NoError(b, err)
	ctx := context.Background()
	const perRun = 16
	rng := rand.New(rand.NewPCG(6, 0))
	var cands []pipeline.Candidate
	for i := range perRun {
		_, a, err := sp.Sample(rng)
		require.NoError(b, err)
		cands = append(cands, pipeline.Candidate{Arch: a.String(), Seed: uint64(i)})
	}
	run := 0
	for _, per := range []int{1, 8} {
		b.Run(fmt.Sprintf("candidates=%d", per), func(b *testing.B) {
			var wall, worked time.Duration
			n := 0
			for b.Loop() {
				run++
				remote := &Remote{Coordinator: NewCoordinator(q, nil), Run: fmt.Sprint("run-", run)}
				for i := 0; i < perRun; i += per {
					task := pipeline.ScoreTask{Supernet: sn.Dir, Identity: sn.Identity, Space: sp.Name, Data: data,
						Candidates: cands[i : i+per], Eval: pipeline.ScoreOptionsOf(ev)}
					start := time.Now()
					_, err := remote.Score(ctx, task)
					require.NoError(b, err)
					wall += time.Since(start)
					e, err := q.results.Get(ctx, q.names.ResultKey(remote.Run, taskIDOf(b, remote, task)))
					require.NoError(b, err)
					r, err := DecodeResult(e.Value())
					require.NoError(b, err)
					worked += r.Elapsed
				}
				n += perRun
			}
			b.ReportMetric(float64(worked.Microseconds())/1e3/float64(n), "eval-ms/candidate")
			b.ReportMetric(float64((wall-worked).Microseconds())/1e3/float64(n), "overhead-ms/candidate")
		})
	}
	b.Run("fetch-21MB", func(b *testing.B) {
		blob := make([]byte, 21<<20)
		for i := range blob {
			blob[i] = byte(rng.Uint32())
		}
		hash, err := q.Blobs().Put(ctx, blob)
		require.NoError(b, err)
		for b.Loop() {
			_, err := q.Blobs().Get(ctx, hash)
			require.NoError(b, err)
		}
	})
}
