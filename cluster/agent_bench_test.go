package cluster

import (
	"context"
	"testing"
	"time"

	"nas/internal/natstest"
	"nas/latency"
)

// BenchmarkAgentMeasure times one block measurement of small28's
// (default protocol, one thread) in this process and through an agent on
// the same machine over a loopback nats-server, side by side; the agent's
// overhead_ms is the requester's time minus the agent's own, per request:
// what a remote measurement costs beyond the measurement.
//
//	go test -run '^$' -bench AgentMeasure -benchtime 20x ./cluster/
func BenchmarkAgentMeasure(b *testing.B) {
	const key = "ir_o24_m48_ahswish|16x28x28|b1"
	it, batch, err := latency.ParseKey(key)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("local", func(b *testing.B) {
		p := &latency.Profiler{Compile: latency.PlanCompiler(1), Batch: batch, Threads: 1}
		for b.Loop() {
			if _, err := p.MeasureItem(context.Background(), it); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("agent", func(b *testing.B) {
		srv := natstest.Start(b)
		board := latency.CurrentFingerprint(1)
		a := &Agent{Device: "here", Name: "a1", Fingerprint: board}
		nc, err := Connect(Settings{URL: srv.URL()})
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, nc, "") }()
		defer func() { cancel(); <-done }()
		var d *Device
		for d == nil {
			d, _ = OpenDevice(context.Background(), nc, "", "here", DeviceOptions{})
		}
		var overhead time.Duration
		for b.Loop() {
			start := time.Now()
			rep, err := d.request(context.Background(), MeasureRequest{Key: key})
			if err != nil {
				b.Fatal(err)
			}
			overhead += time.Since(start) - time.Duration(rep.ElapsedNs)
		}
		b.ReportMetric(float64(overhead.Microseconds())/1e3/float64(b.N), "overhead_ms/op")
	})
}
