package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
)

// BenchmarkRoundTrip measures the queue's own cost per task: each
// iteration is a run of 200 tasks that do nothing (echo), from Submit
// through the workers to Collect, with 1, 4 and 16 workers in this
// process, each on its own connection. It reports tasks/s; what a real
// task costs comes on top, on the worker.
//
//	go test -run '^$' -bench RoundTrip -benchtime 5x ./cluster/
func BenchmarkRoundTrip(b *testing.B) {
	const perRun = 200
	for _, workers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			srv := natstest.Start(b)
			q := testQueue(b, srv)
			for i := range workers {
				runWorker(b, srv, &Worker{Name: fmt.Sprint("w", i), Tasks: Registry{"echo": echoTask}})
			}
			c := NewCoordinator(q, nil)
			ctx := context.Background()
			run := 0
			start := time.Now()
			for b.Loop() {
				run++
				tasks := make([]Task, perRun)
				for i := range tasks {
					tasks[i] = Task{Run: fmt.Sprint("run-", run), ID: fmt.Sprint("t", i), Kind: "echo", Payload: json.RawMessage(`{"x":1}`)}
				}
				require.NoError(b, c.Run(ctx, tasks, func(Result) error { return nil }))
			}
			b.ReportMetric(float64(run*perRun)/time.Since(start).Seconds(), "tasks/s")
		})
	}
}
