package results

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Size and resolution of the plot files.
const (
	plotWidth  = 10 * vg.Inch
	plotHeight = 6 * vg.Inch
	plotDPI    = 150 // PNG: 1500 x 900 pixels
)

// Colours of the plot, chosen to stay apart for colour-blind readers
// (Okabe-Ito).
var (
	colourTrial    = color.NRGBA{R: 0x56, G: 0xb4, B: 0xe9, A: 0xb0} // sky blue
	colourFront    = color.NRGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff} // blue
	colourBest     = color.NRGBA{R: 0x00, G: 0x00, B: 0x00, A: 0xff}
	colourTarget   = color.NRGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff} // vermilion
	colourBaseline = color.NRGBA{R: 0x00, G: 0x9e, B: 0x73, A: 0xff} // bluish green
	colourNoAcc    = color.NRGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	colourGrid     = color.NRGBA{R: 0xdd, G: 0xdd, B: 0xdd, A: 0xff}
)

// Figure is a report's plot with its legend, which is drawn in a column
// to the right of the axes so that it never hides a point.
type Figure struct {
	Plot   *plot.Plot
	Legend plot.Legend
}

// Draw draws the figure on c: the axes on the left, the legend to their
// right, level with the top of the data.
func (f *Figure) Draw(c draw.Canvas) {
	gap := vg.Points(10)
	c = draw.Crop(c, gap/2, 0, gap/2, -gap/2) // a margin, for the title
	legendWidth := f.Legend.Rectangle(c).Size().X + 2*gap
	f.Plot.Draw(draw.Crop(c, 0, -legendWidth, 0, 0))
	titleHeight := f.Plot.Title.TextStyle.Height(f.Plot.Title.Text) + f.Plot.Title.Padding
	f.Legend.Draw(draw.Crop(c, c.Size().X-legendWidth+gap, 0, 0, -titleHeight-gap))
}

// newAccuracyPlot returns a plot of validation accuracy (%) against
// latency with the house style (ticks, grid) and a legend to fill, for
// the report's plot and NetAdapt's trajectory.
func newAccuracyPlot(title, xLabel string) (*plot.Plot, plot.Legend) {
	p := plot.New()
	legend := plot.NewLegend()
	legend.TextStyle.Font.Size = vg.Points(10)
	legend.Padding = vg.Points(4)
	p.X.Tick.Marker, p.Y.Tick.Marker = niceTicks{}, niceTicks{}
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = "validation accuracy (%)"
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = colourGrid, colourGrid
	p.Add(grid)
	return p, legend
}

// Plot draws the run on the accuracy/latency plane: every ok trial, the
// Pareto front as the staircase of the best accuracy reachable at each
// latency, the best trial ringed, the latency target as a dashed vertical
// line, and the baselines as labelled triangles. Failed and skipped trials
// have no accuracy; they are drawn as crosses at their latency in a band
// under the data. Accuracy is shown in percent.
func (r *Report) Plot() (*Figure, error) {
	p, legend := newAccuracyPlot(fmt.Sprintf("%s: validation accuracy against latency", r.Run.ID),
		"latency (ms; measured where available, else predicted)")
	legend.Top, legend.Left = true, true
	if c := r.Run.Config; c.Strategy != "" || c.Space != "" {
		p.Title.Text += fmt.Sprintf(" (%s", c.Strategy)
		if c.Space != "" {
			p.Title.Text += ", space " + c.Space
		}
		if c.Dataset != "" {
			p.Title.Text += ", " + c.Dataset
		}
		p.Title.Text += ")"
	}

	var ok, noAcc plotter.XYs
	for _, t := range r.Trials {
		if t.Status == TrialOK {
			ok = append(ok, plotter.XY{X: t.LatencyMs, Y: 100 * t.ValAccuracy})
		} else {
			noAcc = append(noAcc, plotter.XY{X: t.LatencyMs})
		}
	}
	var front plotter.XYs
	for _, t := range r.Front {
		front = append(front, plotter.XY{X: t.LatencyMs, Y: 100 * t.ValAccuracy})
	}
	base := plotter.XYLabels{}
	for _, b := range r.Baselines {
		base.XYs = append(base.XYs, plotter.XY{X: b.LatencyMs, Y: 100 * b.Accuracy})
		base.Labels = append(base.Labels, b.Name)
	}
	target := r.Run.Config.TargetMs

	// Axis ranges: all points, the target, a margin; room under the data
	// for the band of trials without accuracy.
	xs, ys := rangeOf(), rangeOf()
	for _, pts := range []plotter.XYs{ok, base.XYs} {
		for _, pt := range pts {
			xs.add(pt.X)
			ys.add(pt.Y)
		}
	}
	for _, pt := range noAcc {
		xs.add(pt.X)
	}
	if target > 0 {
		xs.add(target)
	}
	if xs.empty() {
		xs.add(0)
		xs.add(1)
	}
	if ys.empty() {
		ys.add(0)
		ys.add(100)
	}
	xPad, yPad := xs.pad(), ys.pad()
	p.X.Min, p.X.Max = math.Max(0, xs.lo-xPad), xs.hi+xPad
	p.Y.Min, p.Y.Max = ys.lo-yPad, ys.hi+yPad
	if len(noAcc) > 0 {
		p.Y.Min = ys.lo - 3*yPad
		for i := range noAcc {
			noAcc[i].Y = ys.lo - 2*yPad
		}
	}

	if len(ok) > 0 {
		s, err := plotter.NewScatter(ok)
		if err != nil {
			return nil, fmt.Errorf("plot of %s: trials: %w", r.Run.ID, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: colourTrial, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
		p.Add(s)
		legend.Add(fmt.Sprintf("trials (%d ok)", len(ok)), s)
	}
	if len(noAcc) > 0 {
		s, err := plotter.NewScatter(noAcc)
		if err != nil {
			return nil, fmt.Errorf("plot of %s: failed and skipped trials: %w", r.Run.ID, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: colourNoAcc, Radius: vg.Points(2.5), Shape: draw.CrossGlyph{}}
		p.Add(s)
		legend.Add(fmt.Sprintf("failed or skipped (%d, no accuracy)", len(noAcc)), s)
	}
	if len(front) > 0 {
		l, s, err := plotter.NewLinePoints(front)
		if err != nil {
			return nil, fmt.Errorf("plot of %s: front: %w", r.Run.ID, err)
		}
		l.StepStyle = plotter.PostStep
		l.LineStyle = draw.LineStyle{Color: colourFront, Width: vg.Points(1.5)}
		s.GlyphStyle = draw.GlyphStyle{Color: colourFront, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
		p.Add(l, s)
		legend.Add(fmt.Sprintf("Pareto front (%d)", len(front)), l, s)
	}
	if b := r.Best; b != nil {
		s, err := plotter.NewScatter(plotter.XYs{{X: b.LatencyMs, Y: 100 * b.ValAccuracy}})
		if err != nil {
			return nil, fmt.Errorf("plot of %s: best: %w", r.Run.ID, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: colourBest, Radius: vg.Points(6), Shape: draw.RingGlyph{}}
		p.Add(s)
		legend.Add(fmt.Sprintf("best reward: trial %d", b.Seq), s)
	}
	if target > 0 {
		l, err := plotter.NewLine(plotter.XYs{{X: target, Y: p.Y.Min}, {X: target, Y: p.Y.Max}})
		if err != nil {
			return nil, fmt.Errorf("plot of %s: target: %w", r.Run.ID, err)
		}
		l.LineStyle = draw.LineStyle{Color: colourTarget, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(6), vg.Points(4)}}
		p.Add(l)
		legend.Add(fmt.Sprintf("target %.3g ms", target), l)
	}
	if len(base.XYs) > 0 {
		s, err := plotter.NewScatter(base.XYs)
		if err != nil {
			return nil, fmt.Errorf("plot of %s: baselines: %w", r.Run.ID, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: colourBaseline, Radius: vg.Points(4), Shape: draw.TriangleGlyph{}}
		p.Add(s)
		// Names right of their marker, or left of it in the right third of
		// the axes, where they could run off the plot.
		var right, left plotter.XYLabels
		for i, pt := range base.XYs {
			side := &right
			if pt.X > p.X.Min+2*(p.X.Max-p.X.Min)/3 {
				side = &left
			}
			side.XYs = append(side.XYs, pt)
			side.Labels = append(side.Labels, base.Labels[i])
		}
		for _, side := range []struct {
			names plotter.XYLabels
			align text.XAlignment
			dx    vg.Length
		}{{right, draw.XLeft, vg.Points(7)}, {left, draw.XRight, vg.Points(-7)}} {
			if len(side.names.XYs) == 0 {
				continue
			}
			labels, err := plotter.NewLabels(side.names)
			if err != nil {
				return nil, fmt.Errorf("plot of %s: baseline names: %w", r.Run.ID, err)
			}
			labels.Offset = vg.Point{X: side.dx, Y: vg.Points(-3)}
			for i := range labels.TextStyle {
				labels.TextStyle[i].Color = colourBaseline
				labels.TextStyle[i].Font.Size = vg.Points(9)
				labels.TextStyle[i].XAlign = side.align
			}
			p.Add(labels)
		}
		legend.Add("baselines", s)
	}
	return &Figure{Plot: p, Legend: legend}, nil
}

// niceTicks marks an axis every 1, 2 or 5 times a power of ten, labelled
// with as many decimals as that step needs, and halfway between unlabelled.
type niceTicks struct{}

// Ticks implements plot.Ticker.
func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	raw := (hi - lo) / 7
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{2, 5, 10} { // the nice step nearest raw, by ratio
		if math.Abs(math.Log(m*mag/raw)) < math.Abs(math.Log(step/raw)) {
			step = m * mag
		}
	}
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var ticks []plot.Tick
	for i := math.Ceil(lo / step * 2); i/2*step <= hi+step*1e-9; i++ {
		v := i / 2 * step
		t := plot.Tick{Value: v}
		if math.Mod(i, 2) == 0 {
			t.Label = strconv.FormatFloat(v, 'f', decimals, 64)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// span collects the range of a set of values.
type span struct{ lo, hi float64 }

func rangeOf() span           { return span{lo: math.Inf(1), hi: math.Inf(-1)} }
func (s *span) add(v float64) { s.lo, s.hi = math.Min(s.lo, v), math.Max(s.hi, v) }
func (s span) empty() bool    { return s.lo > s.hi }
func (s span) pad() float64   { return math.Max(0.06*(s.hi-s.lo), 0.02*math.Max(math.Abs(s.hi), 1)) }

// WriteSVG writes a figure as SVG, 10 x 6 inches, fonts named not
// embedded.
func WriteSVG(w io.Writer, f *Figure) error {
	c := vgsvg.New(plotWidth, plotHeight)
	f.Draw(draw.New(c))
	_, err := c.WriteTo(w)
	return err
}

// WritePNG writes a figure as PNG, 10 x 6 inches at 150 dots per inch, on
// white.
func WritePNG(w io.Writer, f *Figure) error {
	c := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI), vgimg.UseBackgroundColor(color.White))
	f.Draw(draw.New(c))
	_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}
