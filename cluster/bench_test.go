package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
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
