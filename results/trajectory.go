package results

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// TrajectoryPoint is one network on a path through the accuracy/latency
// plane, such as a NetAdapt iteration: its latency as the table predicts it,
// as measured end to end (0: not measured), and its validation accuracy.
type TrajectoryPoint struct {
	Label      string  // e.g. "3" (iteration), "final"
	LatencyMs  float64 // lookup table
	MeasuredMs float64 // end to end; 0 when not measured
	Accuracy   float64 // validation accuracy in [0, 1]
}

// PlotTrajectory draws a path of networks on the accuracy/latency plane:
// the table latencies joined in order, each point labelled, the measured
// latencies as open markers level with them, and the latency target as a
// dashed vertical line (targetMs 0: none).
func PlotTrajectory(title string, pts []TrajectoryPoint, targetMs float64) (*Figure, error) {
	if len(pts) == 0 {
		return nil, fmt.Errorf("plot %q: no points", title)
	}
	p, legend := newAccuracyPlot(title, "latency (ms, batch 1, one thread)")

	var table, measured plotter.XYs
	names := plotter.XYLabels{}
	xs, ys := rangeOf(), rangeOf()
	for _, pt := range pts {
		if !finite(pt.LatencyMs) || !finite(pt.Accuracy) || !finite(pt.MeasuredMs) {
			return nil, fmt.Errorf("plot %q: point %s: latency %v ms, measured %v ms, accuracy %v: want finite numbers",
				title, pt.Label, pt.LatencyMs, pt.MeasuredMs, pt.Accuracy)
		}
		xy := plotter.XY{X: pt.LatencyMs, Y: 100 * pt.Accuracy}
		table = append(table, xy)
		names.XYs = append(names.XYs, xy)
		names.Labels = append(names.Labels, pt.Label)
		xs.add(pt.LatencyMs)
		ys.add(xy.Y)
		if pt.MeasuredMs > 0 {
			measured = append(measured, plotter.XY{X: pt.MeasuredMs, Y: xy.Y})
			xs.add(pt.MeasuredMs)
		}
	}
	if targetMs > 0 {
		xs.add(targetMs)
	}
	xPad, yPad := xs.pad(), ys.pad()
	p.X.Min, p.X.Max = math.Max(0, xs.lo-xPad), xs.hi+xPad
	p.Y.Min, p.Y.Max = ys.lo-yPad, ys.hi+yPad

	l, s, err := plotter.NewLinePoints(table)
	if err != nil {
		return nil, fmt.Errorf("plot %q: %w", title, err)
	}
	l.LineStyle = draw.LineStyle{Color: colourFront, Width: vg.Points(1.5)}
	s.GlyphStyle = draw.GlyphStyle{Color: colourFront, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
	p.Add(l, s)
	legend.Add("lookup-table latency", l, s)
	if len(measured) > 0 {
		m, err := plotter.NewScatter(measured)
		if err != nil {
			return nil, fmt.Errorf("plot %q: measured: %w", title, err)
		}
		m.GlyphStyle = draw.GlyphStyle{Color: colourBaseline, Radius: vg.Points(3.5), Shape: draw.RingGlyph{}}
		p.Add(m)
		legend.Add("measured latency", m)
	}
	labels, err := plotter.NewLabels(names)
	if err != nil {
		return nil, fmt.Errorf("plot %q: labels: %w", title, err)
	}
	labels.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(4)}
	for i := range labels.TextStyle {
		labels.TextStyle[i].Font.Size = vg.Points(8)
	}
	p.Add(labels)
	if targetMs > 0 {
		t, err := plotter.NewLine(plotter.XYs{{X: targetMs, Y: p.Y.Min}, {X: targetMs, Y: p.Y.Max}})
		if err != nil {
			return nil, fmt.Errorf("plot %q: target: %w", title, err)
		}
		t.LineStyle = draw.LineStyle{Color: colourTarget, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(6), vg.Points(4)}}
		p.Add(t)
		legend.Add(fmt.Sprintf("target %.3g ms", targetMs), t)
	}
	return &Figure{Plot: p, Legend: legend}, nil
}
