package results

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
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
// to the right of the axes so that it never hides a point, and the marks
// a reader can point at.
type Figure struct {
	Plot   *plot.Plot
	Legend plot.Legend
	// Marks are points of the plot with a description: WriteSVG draws each
	// as an invisible circle over the point holding a <title>, which
	// browsers show as the point's tooltip.
	Marks []Mark
}

// Mark is a point of a figure, in data coordinates as plotted, and the
// text that describes it.
type Mark struct {
	X, Y  float64
	Title string
}

// Draw draws the figure on c: the axes on the left, the legend to their
// right, level with the top of the data.
func (f *Figure) Draw(c draw.Canvas) {
	axes, legend := f.layout(c)
	f.Plot.Draw(axes)
	f.Legend.Draw(legend)
}

// layout splits c into the canvas of the axes and that of the legend.
func (f *Figure) layout(c draw.Canvas) (axes, legend draw.Canvas) {
	gap := vg.Points(10)
	c = draw.Crop(c, gap/2, 0, gap/2, -gap/2) // a margin, for the title
	legendWidth := f.Legend.Rectangle(c).Size().X + 2*gap
	titleHeight := f.Plot.Title.TextStyle.Height(f.Plot.Title.Text) + f.Plot.Title.Padding
	return draw.Crop(c, 0, -legendWidth, 0, 0), draw.Crop(c, c.Size().X-legendWidth+gap, 0, 0, -titleHeight-gap)
}

// markPoints returns where Draw on c puts each mark, in c's coordinates
// (origin bottom left).
func (f *Figure) markPoints(c draw.Canvas) []vg.Point {
	axes, _ := f.layout(c)
	data := f.Plot.DataCanvas(axes)
	x, y := f.Plot.Transforms(&data)
	pts := make([]vg.Point, len(f.Marks))
	for i, m := range f.Marks {
		pts[i] = vg.Point{X: x(m.X), Y: y(m.Y)}
	}
	return pts
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
	var okRows, noAccRows []Row
	for _, t := range r.Trials {
		if t.Status == TrialOK {
			ok = append(ok, plotter.XY{X: t.LatencyMs, Y: 100 * t.ValAccuracy})
			okRows = append(okRows, t)
		} else {
			noAcc = append(noAcc, plotter.XY{X: t.LatencyMs})
			noAccRows = append(noAccRows, t)
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
		legend.Add("baselines", s)
		names, err := baselineNames(p, legend, base, slices.Concat(ok, noAcc))
		if err != nil {
			return nil, fmt.Errorf("plot of %s: baseline names: %w", r.Run.ID, err)
		}
		p.Add(names...)
	}

	fig := &Figure{Plot: p, Legend: legend}
	for i, t := range okRows {
		fig.Marks = append(fig.Marks, Mark{X: ok[i].X, Y: ok[i].Y, Title: r.trialTitle(t)})
	}
	for i, t := range noAccRows {
		fig.Marks = append(fig.Marks, Mark{X: noAcc[i].X, Y: noAcc[i].Y, Title: r.trialTitle(t)})
	}
	for i, b := range r.Baselines {
		fig.Marks = append(fig.Marks, Mark{X: base.XYs[i].X, Y: base.XYs[i].Y, Title: baselineTitle(b)})
	}
	return fig, nil
}

// trialTitle describes a trial's point: its number and standing, its arch
// string, then its figures.
func (r *Report) trialTitle(t Row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "trial %d", t.Seq)
	switch {
	case t.Status != TrialOK:
		fmt.Fprintf(&b, ", %s: %s", t.Status, t.Reason)
	case r.Best != nil && t.Seq == r.Best.Seq && t.OnFront:
		b.WriteString(", best reward, on the Pareto front")
	case r.Best != nil && t.Seq == r.Best.Seq:
		b.WriteString(", best reward")
	case t.OnFront:
		b.WriteString(", on the Pareto front")
	}
	fmt.Fprintf(&b, "\n%s\nlatency %.3f ms (%s)", t.Arch, t.LatencyMs, t.LatencySource)
	if t.Status == TrialOK {
		fmt.Fprintf(&b, ", validation accuracy %.2f%%", 100*t.ValAccuracy)
		if t.TestAccuracy != nil {
			fmt.Fprintf(&b, ", test accuracy %.2f%%", 100**t.TestAccuracy)
		}
		fmt.Fprintf(&b, ", reward %.4f", t.Reward)
	}
	return b.String()
}

// baselineTitle describes a baseline's point.
func baselineTitle(b Baseline) string {
	s := fmt.Sprintf("baseline %s\nlatency %.3f ms, validation accuracy %.2f%%", b.Name, b.LatencyMs, 100*b.Accuracy)
	if b.TestAccuracy != nil {
		s += fmt.Sprintf(", test accuracy %.2f%%", 100**b.TestAccuracy)
	}
	if b.Arch != "" {
		s += "\n" + b.Arch
	}
	return s
}

// baselineNames returns the plotters of the baselines' names. A name goes
// right of its marker (left of it in the right third of the axes, where it
// could run off the plot), else where it crosses the fewest of the points,
// the baseline markers and the names placed before it: on the other side,
// or a line or two up or down. p must hold the rest of the plot and legend
// the whole legend, so that the names are placed where they will be drawn.
func baselineNames(p *plot.Plot, legend plot.Legend, base plotter.XYLabels, points plotter.XYs) ([]plot.Plotter, error) {
	style := text.Style{Color: colourBaseline, Font: font.From(plotter.DefaultFont, vg.Points(9)), Handler: plot.DefaultTextHandler}
	gap, drop := vg.Points(7), vg.Points(-3) // from the marker to the name
	axes, _ := (&Figure{Plot: p, Legend: legend}).layout(draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: plotWidth, Y: plotHeight}}})
	data := p.DataCanvas(axes)
	toX, toY := p.Transforms(&data)
	yPerPoint := (p.Y.Max - p.Y.Min) / float64(toY(p.Y.Max)-toY(p.Y.Min))

	var taken []vg.Rectangle // what a name should not cross
	for _, pts := range []plotter.XYs{points, base.XYs} {
		for _, pt := range pts {
			c, r := vg.Point{X: toX(pt.X), Y: toY(pt.Y)}, vg.Points(4)
			taken = append(taken, vg.Rectangle{Min: vg.Point{X: c.X - r, Y: c.Y - r}, Max: vg.Point{X: c.X + r, Y: c.Y + r}})
		}
	}
	var right, left plotter.XYLabels
	for i, pt := range base.XYs {
		name := base.Labels[i]
		w, h := style.Width(name), style.Height(name)
		at := vg.Point{X: toX(pt.X), Y: toY(pt.Y) + drop}
		preferRight := pt.X <= p.X.Min+2*(p.X.Max-p.X.Min)/3
		bestScore, bestRight, bestShift := -1, preferRight, vg.Length(0)
		for _, lines := range []vg.Length{0, 1, -1, 2, -2} {
			for _, onRight := range []bool{preferRight, !preferRight} {
				box := vg.Rectangle{Min: vg.Point{X: at.X - gap - w, Y: at.Y + lines*h}}
				if onRight {
					box.Min.X = at.X + gap
				}
				box.Max = vg.Point{X: box.Min.X + w, Y: box.Min.Y + h}
				if box.Min.X < data.Min.X || box.Max.X > data.Max.X || box.Min.Y < data.Min.Y || box.Max.Y > data.Max.Y {
					continue
				}
				score := 0
				for _, t := range taken {
					if overlap(t, box) {
						score++
					}
				}
				if bestScore < 0 || score < bestScore {
					bestScore, bestRight, bestShift = score, onRight, lines*h
				}
			}
		}
		box := vg.Rectangle{Min: vg.Point{X: at.X - gap - w, Y: at.Y + bestShift}}
		side := &left
		if bestRight {
			box.Min.X, side = at.X+gap, &right
		}
		box.Max = vg.Point{X: box.Min.X + w, Y: box.Min.Y + h}
		taken = append(taken, box)
		side.XYs = append(side.XYs, plotter.XY{X: pt.X, Y: pt.Y + float64(bestShift)*yPerPoint})
		side.Labels = append(side.Labels, name)
	}
	var out []plot.Plotter
	for _, side := range []struct {
		names plotter.XYLabels
		align text.XAlignment
		dx    vg.Length
	}{{right, draw.XLeft, gap}, {left, draw.XRight, -gap}} {
		if len(side.names.XYs) == 0 {
			continue
		}
		labels, err := plotter.NewLabels(side.names)
		if err != nil {
			return nil, err
		}
		labels.Offset = vg.Point{X: side.dx, Y: drop}
		for i := range labels.TextStyle {
			labels.TextStyle[i] = style
			labels.TextStyle[i].XAlign = side.align
		}
		out = append(out, labels)
	}
	return out, nil
}

// overlap reports whether two rectangles share more than an edge.
func overlap(a, b vg.Rectangle) bool {
	return a.Min.X < b.Max.X && b.Min.X < a.Max.X && a.Min.Y < b.Max.Y && b.Min.Y < a.Max.Y
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
// embedded. Its marks follow the drawing, in a group of class "marks": a
// transparent circle over each point holding a <title> with the mark's
// text, the tooltip browsers show when the pointer rests on the point.
func WriteSVG(w io.Writer, f *Figure) error {
	c := vgsvg.New(plotWidth, plotHeight)
	dc := draw.New(c)
	f.Draw(dc)
	var svg bytes.Buffer
	if _, err := c.WriteTo(&svg); err != nil {
		return err
	}
	doc := svg.Bytes()
	if len(f.Marks) > 0 {
		end := bytes.LastIndex(doc, []byte("</svg>"))
		if end < 0 {
			return fmt.Errorf("svg of %q has no </svg>", f.Plot.Title.Text)
		}
		var marks bytes.Buffer
		marks.WriteString(`<g class="marks" fill="#000" fill-opacity="0" stroke="none">` + "\n")
		for i, pt := range f.markPoints(dc) {
			// vgsvg's user unit is the point, with y down from the top.
			fmt.Fprintf(&marks, `<circle cx="%.2f" cy="%.2f" r="%.1f"><title>`, pt.X.Points(), (plotHeight - pt.Y).Points(), markRadius.Points())
			if err := xml.EscapeText(&marks, []byte(f.Marks[i].Title)); err != nil {
				return err
			}
			marks.WriteString("</title></circle>\n")
		}
		marks.WriteString("</g>\n")
		doc = slices.Concat(doc[:end], marks.Bytes(), doc[end:])
	}
	_, err := w.Write(doc)
	return err
}

// markRadius is the radius of the circle a mark's tooltip answers in: a
// little more than the largest glyph, so that a point is easy to hit.
const markRadius = vg.Length(6)

// WritePNG writes a figure as PNG, 10 x 6 inches at 150 dots per inch, on
// white.
func WritePNG(w io.Writer, f *Figure) error {
	c := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI), vgimg.UseBackgroundColor(color.White))
	f.Draw(draw.New(c))
	_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}
