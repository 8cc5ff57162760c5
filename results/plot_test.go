package results

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func TestPlotEdgeCases(t *testing.T) {
	one := okTrial(1, 2, 0.9, 0.9)
	failed := Trial{Seq: 2, Arch: "a2", PredictedLatencyMs: 0, Status: TrialFailed, Reason: "diverged"}
	for name, tc := range map[string]struct {
		trials    []Trial
		baselines []Baseline
		target    float64
	}{
		"no trials":            {},
		"no trials, target":    {target: 3},
		"one trial":            {trials: []Trial{one}},
		"identical trials":     {trials: []Trial{one, okTrial(2, 2, 0.9, 0.9), okTrial(3, 2, 0.9, 0.9)}, target: 2},
		"only failed, 0 ms":    {trials: []Trial{failed}},
		"only baselines":       {baselines: testBaselines, target: 2},
		"accuracy 0 and 1":     {trials: []Trial{okTrial(1, 1, 0, 0), okTrial(2, 5, 1, 1)}},
		"sub-microsecond span": {trials: []Trial{okTrial(1, 1e-4, 0.5, 0.5), okTrial(2, 2e-4, 0.6, 0.6)}},
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReport(Run{ID: 1, Config: RunConfig{Strategy: "random", TargetMs: tc.target}}, tc.trials, tc.baselines)
			fig, err := r.Plot()
			require.NoError(t, err)
			var svg, png bytes.Buffer
			require.NoError(t, WriteSVG(&svg, fig))
			require.NoError(t, WritePNG(&png, fig))
			xmlTexts(t, svg.Bytes())
			require.True(t, bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")))
			require.Less(t, fig.Plot.X.Min, fig.Plot.X.Max)
			require.Less(t, fig.Plot.Y.Min, fig.Plot.Y.Max)
		})
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		labels []string
	}{
		{76, 92, []string{"76", "78", "80", "82", "84", "86", "88", "90", "92"}},
		{0.4, 2.7, []string{"0.5", "1.0", "1.5", "2.0", "2.5"}},
		{0, 100, []string{"0", "20", "40", "60", "80", "100"}},
		{0.0001, 0.0002, []string{"0.00010", "0.00012", "0.00014", "0.00016", "0.00018", "0.00020"}},
		{5, 5, []string{"5"}},
	} {
		var got []string
		for _, tick := range (niceTicks{}).Ticks(tc.lo, tc.hi) {
			require.GreaterOrEqual(t, tick.Value, tc.lo-1e-12)
			require.LessOrEqual(t, tick.Value, tc.hi+1e-12)
			if tick.Label != "" {
				got = append(got, tick.Label)
			}
		}
		require.Equal(t, tc.labels, got, "ticks of [%v, %v]", tc.lo, tc.hi)
	}
}

// TestMarksOnPoints checks that the marks (the SVG's tooltips) sit on the
// points the plot draws: the pixel of the PNG under each front trial's mark
// has the front's colour, and every mark lies inside the axes.
func TestMarksOnPoints(t *testing.T) {
	trials := fakeTrials(t, rand.New(rand.NewPCG(9, 9)), 40)
	for i := range trials {
		trials[i].Seq = uint64(i + 1)
	}
	r := NewReport(Run{ID: 1, Config: RunConfig{Strategy: "random", TargetMs: 2}}, trials, testBaselines)
	fig, err := r.Plot()
	require.NoError(t, err)
	require.Len(t, fig.Marks, len(trials)+len(testBaselines))

	c := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	fig.Draw(dc)
	img := c.Image()
	axes, _ := fig.layout(dc)
	data := fig.Plot.DataCanvas(axes)
	pts := fig.markPoints(dc)
	front := 0
	for i, m := range fig.Marks {
		require.True(t, data.Contains(pts[i]), "mark %q at %v is inside the axes", m.Title, pts[i])
		if !strings.Contains(m.Title, "on the Pareto front") || strings.Contains(m.Title, "best reward") {
			continue // the best trial's ring is drawn over its point
		}
		front++
		px := int(math.Round(pts[i].X.Dots(plotDPI)))
		py := img.Bounds().Dy() - int(math.Round(pts[i].Y.Dots(plotDPI)))
		got := color.NRGBAModel.Convert(img.At(px, py)).(color.NRGBA)
		require.Equal(t, colourFront, got, "pixel (%d, %d) under %q", px, py, m.Title)
	}
	require.GreaterOrEqual(t, front, 2)

	// The SVG holds the marks at the same places, y measured down.
	var svg bytes.Buffer
	require.NoError(t, WriteSVG(&svg, fig))
	doc := svg.String()
	for i := range fig.Marks {
		require.Contains(t, doc, fmt.Sprintf(`<circle cx="%.2f" cy="%.2f"`, pts[i].X.Points(), (plotHeight-pts[i].Y).Points()))
	}
}

// TestBaselineNamesApart checks that the names of baselines drawn close
// together (a search's final trainings sit where their trials are) do not
// cross each other.
func TestBaselineNamesApart(t *testing.T) {
	trials := []Trial{okTrial(1, 0.174, 0.1, 0.1), okTrial(2, 0.199, 0.1, 0.1), okTrial(3, 0.447, 0.1, 0.1)}
	var baselines []Baseline
	for i, lat := range []float64{0.170, 0.196, 0.171, 0.170} {
		baselines = append(baselines, Baseline{Name: fmt.Sprintf("searched-%d (final)", i+1), LatencyMs: lat, Accuracy: 0.1})
	}
	r := NewReport(Run{ID: 1, Config: RunConfig{Strategy: "evolution", TargetMs: 0.5}}, trials, baselines)
	fig, err := r.Plot()
	require.NoError(t, err)
	var base plotter.XYLabels
	for _, b := range r.Baselines {
		base.XYs = append(base.XYs, plotter.XY{X: b.LatencyMs, Y: 100 * b.Accuracy})
		base.Labels = append(base.Labels, b.Name)
	}
	names, err := baselineNames(fig.Plot, fig.Legend, base, nil)
	require.NoError(t, err)

	c := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: plotWidth, Y: plotHeight}}}
	axes, _ := fig.layout(c)
	data := fig.Plot.DataCanvas(axes)
	toX, toY := fig.Plot.Transforms(&data)
	var boxes []vg.Rectangle
	for _, p := range names {
		l := p.(*plotter.Labels)
		for i, xy := range l.XYs {
			st := l.TextStyle[i]
			at := vg.Point{X: toX(xy.X) + l.Offset.X, Y: toY(xy.Y) + l.Offset.Y}
			w, h := st.Width(l.Labels[i]), st.Height(l.Labels[i])
			box := vg.Rectangle{Min: vg.Point{X: at.X + vg.Length(st.XAlign)*w, Y: at.Y}}
			box.Max = vg.Point{X: box.Min.X + w, Y: box.Min.Y + h}
			const e = 0.01 // the data coordinates' rounding: names may touch
			box.Min, box.Max = vg.Point{X: box.Min.X + e, Y: box.Min.Y + e}, vg.Point{X: box.Max.X - e, Y: box.Max.Y - e}
			require.True(t, data.Contains(box.Min) && data.Contains(box.Max), "%q inside the axes", l.Labels[i])
			boxes = append(boxes, box)
		}
	}
	require.Len(t, boxes, len(baselines))
	for i := range boxes {
		for j := range i {
			require.False(t, overlap(boxes[i], boxes[j]), "names %d and %d cross: %v, %v", i, j, boxes[i], boxes[j])
		}
	}
}
