package latency

import (
	"context"
	"errors"
	"math"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// spinRunner does a fixed amount of arithmetic per run and counts its runs.
type spinRunner struct {
	work int
	runs int
	acc  float64
	// cancel, when set, is called on the run numbered cancelAt.
	cancel   func()
	cancelAt int
}

func (r *spinRunner) Run() {
	r.runs++
	for i := range r.work {
		r.acc += math.Sqrt(float64(i))
	}
	if r.cancel != nil && r.runs == r.cancelAt {
		r.cancel()
	}
}

// fastProtocol keeps test measurements short.
var fastProtocol = Protocol{WarmupRuns: 2, WarmupTime: time.Millisecond, MinSamples: 5, MaxSamples: 40, MaxTime: 20 * time.Millisecond, MinSampleTime: time.Microsecond}

func TestMeasureEntryIsValid(t *testing.T) {
	tests := []struct {
		name string
		work int
		p    Protocol
	}{
		{"tiny run, many runs per sample", 10, fastProtocol},
		{"longer run", 20000, fastProtocol},
		{"sample cap", 100, Protocol{WarmupRuns: 1, WarmupTime: time.Microsecond, MinSamples: 3, MaxSamples: 3, Tolerance: 1e-12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &spinRunner{work: tt.work}
			m, err := Measure(context.Background(), r, tt.p)
			require.NoError(t, err)
			require.NoError(t, m.Validate())
			p := tt.p.withDefaults()
			require.LessOrEqual(t, m.Samples, p.MaxSamples)
			require.GreaterOrEqual(t, m.Samples, 3)
			require.GreaterOrEqual(t, m.RunsPerSample, 1)
			// Warm-up runs, then RunsPerSample runs per sample.
			require.GreaterOrEqual(t, r.runs, p.WarmupRuns+m.Samples*m.RunsPerSample)
			require.Contains(t, m.Protocol, "gc=off")
			require.Contains(t, m.Protocol, "runs/sample=")
			require.False(t, m.MeasuredAt.IsZero())
		})
	}
}

func TestMeasureRestoresGC(t *testing.T) {
	orig := debug.SetGCPercent(77)
	defer debug.SetGCPercent(orig)
	r := &spinRunner{work: 10}
	_, err := Measure(context.Background(), r, fastProtocol)
	require.NoError(t, err)
	// SetGCPercent returns the setting it replaces: Measure must have put
	// ours back.
	require.Equal(t, 77, debug.SetGCPercent(orig))
}

func TestMeasureStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &spinRunner{work: 10, cancel: cancel, cancelAt: 50}
	_, err := Measure(ctx, r, Protocol{MaxSamples: 1 << 30, MaxTime: time.Hour, Tolerance: 1e-12})
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

// TestMeasureDropsSamplesOfSlowProbes checks the probe's rule: a
// sample whose probe ran more than ProbeSlack times the fastest is not
// taken, the count dropped is recorded, and a
// machine that stays slow still gets a measurement after MaxTime.
func TestMeasureDropsSamplesOfSlowProbes(t *testing.T) {
	defer func(f func() float64) { probeFn = f }(probeFn)
	calls, slow := 0, 0
	probeFn = func() float64 {
		calls++
		if calls > 3 && calls <= 3+slow {
			return 2 // twice the fastest
		}
		return 1.1 // within ProbeSlack
	}

	slow = 7
	r := &spinRunner{work: 100}
	m, err := Measure(context.Background(), r, fastProtocol)
	require.NoError(t, err)
	require.NoError(t, m.Validate())
	require.Contains(t, m.Protocol, "probe=fma,slack=1.25,before-and-after-each-sample")
	require.Contains(t, m.Protocol, "probe-dropped=7")
	require.Equal(t, 7, m.ProbeDropped)
	require.False(t, m.Contended, "7 dropped, then fast probes: not contended")
	require.Equal(t, 3+7+m.Samples+1, calls, "a probe per sample taken or dropped, after three for the floor, and one after the last sample")

	calls, slow = 0, math.MaxInt32 // slow for good
	start := time.Now()
	m, err = Measure(context.Background(), &spinRunner{work: 100}, fastProtocol)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), fastProtocol.MaxTime, "it waited for a fast probe")
	require.GreaterOrEqual(t, m.Samples, 3, "and then took the samples anyway")
	require.True(t, m.Contended, "unprobed, so marked")
	require.NotContains(t, m.Protocol, "probe-dropped=0")

	calls, slow = 0, math.MaxInt32
	p := fastProtocol
	p.NoProbe = true
	m, err = Measure(context.Background(), &spinRunner{work: 100}, p)
	require.NoError(t, err)
	require.Zero(t, calls, "no probe with NoProbe")
	require.Contains(t, m.Protocol, "probe=off")
	require.NotContains(t, m.Protocol, "probe-dropped")
}

func TestMeasureDropsSampleBeforeSlowProbe(t *testing.T) {
	defer func(f func() float64) { probeFn = f }(probeFn)
	calls := 0
	probeFn = func() float64 {
		calls++
		if calls == 5 { // the probe after the first sample
			return 2
		}
		return 1
	}
	m, err := Measure(context.Background(), &spinRunner{work: 100}, fastProtocol)
	require.NoError(t, err)
	require.Equal(t, 2, m.ProbeDropped, "the sample before the slow probe, and the one the probe gated")
	require.Equal(t, 3+2+m.Samples+1, calls, "the dropped sample's probe, the slow one, then a probe per sample counted and one after the last")
	require.False(t, m.Contended)
}

func TestProbeWaitExtendsTheWait(t *testing.T) {
	defer func(f func() float64) { probeFn = f }(probeFn)
	// Slow for slowFor from the first probe after the three of the floor.
	var slowUntil time.Time
	var slowFor time.Duration
	calls := 0
	probeFn = func() float64 {
		if calls++; calls == 4 {
			slowUntil = time.Now().Add(slowFor)
		}
		if calls > 3 && time.Now().Before(slowUntil) {
			return 2
		}
		return 1
	}
	p := fastProtocol
	p.ProbeWait = 3 * p.MaxTime
	// Slow past the time cap, fast before the wait ends: the samples are
	// all probed ones, taken after the slow spell.
	calls, slowFor = 0, 3*p.MaxTime/2
	m, err := Measure(context.Background(), &spinRunner{work: 100}, p)
	require.NoError(t, err)
	require.GreaterOrEqual(t, m.Samples, 3)
	require.False(t, m.Contended, "every sample was probed")
	require.True(t, time.Now().After(slowUntil), "sampling ended after the slow spell")
	require.Greater(t, m.ProbeDropped, 0)
	// Waited sums the dropped samples and their probes, not the gaps a
	// loaded machine leaves between them, so only its presence is certain.
	require.Positive(t, m.Waited, "the wait is recorded")
	// Without the wait, the samples after the cap are unprobed. The probe
	// stays slow to the end, so the outcome does not depend on how long
	// the measurement takes on a loaded machine.
	calls, slowFor = 0, time.Hour
	m, err = Measure(context.Background(), &spinRunner{work: 100}, fastProtocol)
	require.NoError(t, err)
	require.True(t, m.Contended, "its samples were taken unprobed, inside the slow spell")
}

// flushRunner is a spinRunner that logs its runs and flushes in order.
type flushRunner struct {
	spinRunner
	log []byte // 'r' per run, 'f' per flush
}

func (r *flushRunner) Run() { r.log = append(r.log, 'r'); r.spinRunner.Run() }

func (r *flushRunner) FlushWeights() { r.log = append(r.log, 'f') }

func TestMeasureFlushesBeforeEveryTimedRun(t *testing.T) {
	defer func(f func() float64) { probeFn = f }(probeFn)
	probeFn = func() float64 { return 1 } // always fast: a probe before every sample
	for _, noProbe := range []bool{true, false} {
		p := fastProtocol
		p.FlushWeights, p.NoProbe = true, noProbe
		r := &flushRunner{spinRunner: spinRunner{work: 10}}
		m, err := Measure(context.Background(), r, p)
		require.NoError(t, err)
		require.NoError(t, m.Validate())
		require.Equal(t, 1, m.RunsPerSample, "one run per sample, however short")
		require.Contains(t, m.Protocol, "weights=flushed-before-each-run")
		log := string(r.log)
		require.Equal(t, m.Samples, strings.Count(log, "f"), "a flush per sample")
		require.NotContains(t, log, "ff")
		require.True(t, strings.HasSuffix(log, "fr"), "every flush is followed by the timed run: %s", log)
		require.Equal(t, m.Samples, strings.Count(log, "fr"))
		if !noProbe {
			// probe, untimed run to warm the activations, flush, timed run;
			// the last sample may start just past the cap, where probing
			// stops.
			require.GreaterOrEqual(t, strings.Count(log, "rfr"), m.Samples-1, log)
		}
	}
	// A runner that cannot flush is refused, not timed warm.
	p := fastProtocol
	p.FlushWeights = true
	_, err := Measure(context.Background(), &spinRunner{work: 10}, p)
	require.ErrorContains(t, err, "cannot flush its weights")
}
