package results

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlotTrajectory(t *testing.T) {
	pts := []TrajectoryPoint{
		{Label: "0", LatencyMs: 0.71, MeasuredMs: 0.62, Accuracy: 0.925},
		{Label: "1", LatencyMs: 0.66, MeasuredMs: 0.58, Accuracy: 0.921},
		{Label: "2", LatencyMs: 0.61, Accuracy: 0.918}, // not measured
		{Label: "final", LatencyMs: 0.61, MeasuredMs: 0.55, Accuracy: 0.923},
	}
	fig, err := PlotTrajectory("netadapt: mb8", pts, 0.6)
	require.NoError(t, err)
	var svg, png bytes.Buffer
	require.NoError(t, WriteSVG(&svg, fig))
	require.NoError(t, WritePNG(&png, fig))
	texts := xmlTexts(t, svg.Bytes())
	for _, want := range []string{"netadapt: mb8", "final", "measured latency", "target 0.6 ms"} {
		require.Contains(t, texts, want)
	}
	require.True(t, bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")))
	require.LessOrEqual(t, fig.Plot.X.Min, 0.55, "measured points are inside the axes")
	require.GreaterOrEqual(t, fig.Plot.Y.Max, 92.5)

	one, err := PlotTrajectory("one", pts[:1], 0)
	require.NoError(t, err)
	require.Less(t, one.Plot.X.Min, one.Plot.X.Max)

	_, err = PlotTrajectory("empty", nil, 1)
	require.Error(t, err)
	_, err = PlotTrajectory("nan", []TrajectoryPoint{{Label: "0", LatencyMs: math.NaN()}}, 1)
	require.ErrorContains(t, err, "point 0")
}
