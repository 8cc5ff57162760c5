package latency

import (
	"context"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/internal/cacheflush"
	"nas/space"
)

func TestCalibratedOverhead(t *testing.T) {
	// Three networks: 10 over 8, 30 over 20, 13 over 10 (ns).
	e := calibratedOverhead([]float64{10, 30, 13}, []float64{8, 20, 10})
	require.NoError(t, e.Validate())
	require.Equal(t, 3, e.Samples)
	require.InDelta(t, 1.3, e.Scale, 1e-12, "the median ratio")
	require.InDelta(t, 3, e.MedianNs, 1e-12, "the median difference")
	// Networks faster than their blocks: no negative overhead, and a
	// scale below 1.
	e = calibratedOverhead([]float64{9, 18}, []float64{10, 20})
	require.NoError(t, e.Validate())
	require.Zero(t, e.MedianNs)
	require.InDelta(t, 0.9, e.Scale, 1e-12)
}

func TestOverheadCalibration(t *testing.T) {
	archs := []*space.Arch{tinyArch("a", 1), tinyArch("b", 2), tinyArch("c", 3)}
	items, err := DistinctItems(archs[:1], 1)
	require.NoError(t, err)

	t.Run("calibrated on networks, whose blocks are profiled too", func(t *testing.T) {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		p := newTestProfiler(t, tbl)
		p.Calibration = archs
		st, err := p.Profile(context.Background(), items)
		require.NoError(t, err)
		all, err := DistinctItems(archs, 1)
		require.NoError(t, err)
		require.Equal(t, len(all), st.Measured)
		e, ok, err := tbl.Get(OverheadKey(archs[0].Input, 1))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 3, e.Samples)
		require.Contains(t, e.Protocol, "calibrated on 3 networks")
		require.NoError(t, e.Validate())
		require.Positive(t, e.Scale)
	})

	t.Run("without networks of the input: the empty graph", func(t *testing.T) {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		p := newTestProfiler(t, tbl)
		other := tinyArch("big", 1)
		other.Input = blocks.Shape{C: 3, H: 16, W: 16}
		p.Calibration = []*space.Arch{other}
		_, err := p.Profile(context.Background(), items)
		require.NoError(t, err)
		e, ok, err := tbl.Get(OverheadKey(archs[0].Input, 1))
		require.NoError(t, err)
		require.True(t, ok)
		require.Contains(t, e.Protocol, "empty graph")
		_, ok, err = tbl.Get(OverheadKey(other.Input, 1))
		require.NoError(t, err)
		require.True(t, ok, "the calibration network's own overhead")
	})
}

func TestProfileRecalibrate(t *testing.T) {
	archs := []*space.Arch{tinyArch("a", 1), tinyArch("b", 2)}
	items, err := DistinctItems(archs, 1)
	require.NoError(t, err)
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	p := newTestProfiler(t, tbl)
	p.Calibration = archs
	_, err = p.Profile(context.Background(), items)
	require.NoError(t, err)
	before := map[string]Entry{}
	for _, it := range items {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		before[it.Key] = e
	}

	// Nothing is missing: a plain run measures nothing.
	st, err := p.Profile(context.Background(), items)
	require.NoError(t, err)
	require.Zero(t, st.Measured)

	p.Recalibrate = true
	st, err = p.Profile(context.Background(), items)
	require.NoError(t, err)
	require.Equal(t, 1, st.Measured, "the one overhead entry, nothing else")
	for _, it := range items {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		if it.IsOverhead() {
			require.True(t, e.MeasuredAt.After(before[it.Key].MeasuredAt), "the overhead entry is made anew")
			require.Len(t, e.CalibrationNs, len(archs))
			require.NoError(t, e.Validate())
			continue
		}
		require.Equal(t, before[it.Key], e, "block %s is left as it was", it.Key)
	}
}

func TestFitBeta(t *testing.T) {
	var xs, ys []float64
	for i := range 50 {
		x := float64(i * 7 % 23)
		xs = append(xs, x)
		ys = append(ys, 1.7*x+5+0.01*float64(i%3-1))
	}
	require.InDelta(t, 1.7, fitBeta(xs, ys), 0.01, "the slope, whatever the intercept")
	require.Zero(t, fitBeta(xs[:2], ys[:2]), "too few points")
	require.Zero(t, fitBeta([]float64{3, 3, 3}, []float64{1, 2, 3}), "no spread in x")
	neg := make([]float64, len(xs))
	for i, x := range xs {
		neg[i] = -x
	}
	require.Zero(t, fitBeta(xs, neg), "clamped at 0")
	require.Equal(t, maxBeta, fitBeta(xs, scaled(xs, 100)), "clamped at maxBeta")
}

func scaled(v []float64, f float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = f * x
	}
	return out
}

// TestProfileColdAndBeta profiles a small network on the inference plan:
// every block with weights gets a cold entry, and the calibrated overhead
// a beta fitted on its blocks timed inside it.
func TestProfileColdAndBeta(t *testing.T) {
	if !cacheflush.Supported {
		t.Skip("no cache flush on " + runtime.GOARCH)
	}
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	a := tinyArch("a", 1)
	p := &Profiler{Table: tbl, Compile: PlanCompiler(1), Protocol: fastProtocol, Calibration: []*space.Arch{a}, Rounds: 2}
	items, err := ArchItems(a, 1)
	require.NoError(t, err)
	_, err = p.Profile(context.Background(), items)
	require.NoError(t, err)
	for _, it := range items {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		require.NoError(t, e.Validate(), it.Key)
		if it.IsOverhead() {
			require.Contains(t, e.Protocol, "beta")
			require.LessOrEqual(t, e.Beta, maxBeta)
			require.Greater(t, e.Scale, 0.0)
			require.Equal(t, []string{a.String()}, e.CalibrationArchs, "the reference for Drift")
			require.Len(t, e.CalibrationNs, 1)
			continue
		}
		g, err := it.Graph()
		require.NoError(t, err)
		if len(g.Ops) > 0 {
			require.Contains(t, e.Protocol, "cold: weights flushed", it.Key)
		}
	}
	// Drift measures the calibration network again, and only it.
	var compiled []int
	counting := func(g *blocks.Graph, batch, threads int) (Runner, error) {
		compiled = append(compiled, len(g.Blocks))
		return PlanCompiler(1)(g, batch, threads)
	}
	drift, ok, err := Drift(context.Background(), tbl, counting, a.Input, 1, 1, fastProtocol, 1)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, math.IsNaN(drift) || math.IsInf(drift, 0))
	require.Greater(t, drift, -1.0)
	ag, err := a.Graph()
	require.NoError(t, err)
	require.Equal(t, []int{len(ag.Blocks)}, compiled)
	_, ok, err = Drift(context.Background(), tbl, counting, blocks.Shape{C: 3, H: 9, W: 9}, 1, 1, fastProtocol, 1)
	require.NoError(t, err)
	require.False(t, ok, "no overhead entry for that input")

	// The blocks timed inside the network: one figure per block.
	g, err := a.Graph()
	require.NoError(t, err)
	r, err := PlanCompiler(1)(g, 1, 1)
	require.NoError(t, err)
	defer closeRunner(r)
	inside, err := MeasureBlocks(context.Background(), r.(StepTimer), g, fastProtocol)
	require.NoError(t, err)
	require.Len(t, inside, len(g.Blocks))
	for i, v := range inside {
		require.Greater(t, v, 0.0, "block %d", i)
	}
}
