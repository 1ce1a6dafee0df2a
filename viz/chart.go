package viz

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette holds the line colours, given to series in order: ten hues that
// are easy to tell apart.
var palette = []color.RGBA{
	{R: 31, G: 119, B: 180, A: 255},  // blue
	{R: 255, G: 127, B: 14, A: 255},  // orange
	{R: 44, G: 160, B: 44, A: 255},   // green
	{R: 214, G: 39, B: 40, A: 255},   // red
	{R: 148, G: 103, B: 189, A: 255}, // purple
	{R: 140, G: 86, B: 75, A: 255},   // brown
	{R: 227, G: 119, B: 194, A: 255}, // pink
	{R: 127, G: 127, B: 127, A: 255}, // gray
	{R: 188, G: 189, B: 34, A: 255},  // olive
	{R: 23, G: 190, B: 207, A: 255},  // cyan
}

// colourOf returns the colour of the i-th series.
func colourOf(i int) color.Color { return palette[i%len(palette)] }

// Chart layout, in points (1/72 inch).
const (
	lineWidth    = 1.6 // data lines
	thinWidth    = 0.8 // lines of long, often noisy, series
	markRadius   = 2.4 // marks at the data points of short series
	legendInset  = 6   // gap between the legend and the axes
	legendMargin = 4   // white margin around the legend text
)

// Series lengths, in data points, that change how a series is drawn.
const (
	maxMarked = 30   // series with at most this many points get marks
	thinAbove = 300  // series with more points get thin lines
	maxDrawn  = 4000 // longer runs are thinned to about this many points
)

// curve is one series ready to draw: its finite points, split into runs at
// the points that had to be left out.
type curve struct {
	name  string
	runs  []plotter.XYs
	n     int     // number of points kept
	width float64 // line width in points; 0 sets it by n
}

// newCurve validates a series and keeps its drawable points. Points with a
// NaN or infinite coordinate are dropped and so, when logY is set, are points
// with y <= 0; the line breaks where points were dropped. label names the
// series in errors.
func newCurve(s Series, label string, logY bool) (curve, error) {
	if len(s.Y) == 0 {
		return curve{}, fmt.Errorf("series %s is empty", label)
	}
	if s.X != nil && len(s.X) != len(s.Y) {
		return curve{}, fmt.Errorf("series %s has %d x values and %d y values", label, len(s.X), len(s.Y))
	}
	c := curve{name: s.Name}
	var run plotter.XYs
	for i, y := range s.Y {
		x := float64(i + 1)
		if s.X != nil {
			x = s.X[i]
		}
		if !finite(x) || !finite(y) || (logY && y <= 0) {
			if len(run) > 0 {
				c.runs = append(c.runs, run)
				run = nil
			}
			continue
		}
		run = append(run, plotter.XY{X: x, Y: y})
		c.n++
	}
	if len(run) > 0 {
		c.runs = append(c.runs, run)
	}
	if c.n == 0 {
		if logY {
			return curve{}, fmt.Errorf("series %s has no finite positive values to show on a log scale", label)
		}
		return curve{}, fmt.Errorf("series %s has no finite values", label)
	}
	return c, nil
}

// seriesLabel names the i-th series in error messages.
func seriesLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("%d", i)
	}
	return fmt.Sprintf("%d (%q)", i, name)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// chart is a plot under construction with the project's styling.
type chart struct {
	p         *plot.Plot
	logY      bool
	legend    *legend
	gridAdded bool
	runs      []plotter.XYs // every drawn run, for placing the legend
}

// newChart returns an empty chart with a title, axis labels and readable
// font sizes.
func newChart(title, xLabel, yLabel string, logY bool) *chart {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(plot.DefaultFont, 13)
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(plot.DefaultFont, 11)
		a.Tick.Label.Font = font.From(plot.DefaultFont, 10)
		a.Tick.Marker = linTicks{}
		a.Padding = vg.Points(4)
		a.Min, a.Max = math.Inf(1), math.Inf(-1)
	}
	if logY {
		// A log axis is drawn as log10(y) on a linear axis with ticks
		// labelled by y: gonum's LogScale misplaces the axis label's
		// padding and panics on values <= 0.
		p.Y.Tick.Marker = log10Ticks{}
	}
	return &chart{p: p, logY: logY, legend: newLegend()}
}

// addCurve draws c as a line in colour clr, with point marks when it is
// short and a thinner line when it is long, and gives it a legend entry
// when it has a name.
func (ch *chart) addCurve(c curve, clr color.Color) error {
	ch.addGrid()
	width := c.width
	switch {
	case width > 0:
	case c.n > thinAbove:
		width = thinWidth
	default:
		width = lineWidth
	}
	style := draw.LineStyle{Color: clr, Width: vg.Points(width)}
	marked := c.n <= maxMarked
	glyph := draw.GlyphStyle{Color: clr, Radius: vg.Points(markRadius), Shape: draw.CircleGlyph{}}
	var thumbs []plot.Thumbnailer
	for _, run := range c.runs {
		if ch.logY {
			run = slices.Clone(run)
			for i := range run {
				run[i].Y = math.Log10(run[i].Y)
			}
		}
		run = thin(run, maxDrawn)
		l := &polyline{xys: run, style: style}
		ch.p.Add(l)
		if thumbs == nil {
			thumbs = append(thumbs, l)
		}
		if marked {
			s, err := plotter.NewScatter(run)
			if err != nil {
				return err
			}
			s.GlyphStyle = glyph
			ch.p.Add(s)
			if len(thumbs) == 1 {
				thumbs = append(thumbs, s)
			}
		}
		ch.runs = append(ch.runs, run)
	}
	if c.name != "" {
		ch.legend.add(c.name, thumbs...)
	}
	return nil
}

// finish pads the y range and places the legend in the corner of a w x h
// chart where it covers the fewest data points.
func (ch *chart) finish(w, h vg.Length) {
	ch.addGrid()
	ch.padY()
	if ch.integerX() {
		ch.p.X.Tick.Marker = linTicks{integer: true}
	}
	if len(ch.legend.entries) == 0 {
		return
	}
	lw, lh := ch.legend.size()
	// The data area is the chart less the title, the axes and their labels.
	areaW := max(w-vg.Points(70), vg.Points(10))
	areaH := max(h-vg.Points(75), vg.Points(10))
	fw := math.Min(float64((lw+legendInset)/areaW), 1)
	fh := math.Min(float64((lh+legendInset)/areaH), 1)

	// Corners in order of preference: top right, top left, bottom right,
	// bottom left.
	type corner struct{ top, left bool }
	corners := []corner{{true, false}, {true, true}, {false, false}, {false, true}}
	best, bestCount := corners[0], math.MaxInt
	for _, cn := range corners {
		x0, x1 := 1-fw, 1.0
		if cn.left {
			x0, x1 = 0, fw
		}
		y0, y1 := 1-fh, 1.0
		if !cn.top {
			y0, y1 = 0, fh
		}
		if n := ch.countIn(x0, x1, y0, y1); n < bestCount {
			best, bestCount = cn, n
		}
	}
	ch.legend.top, ch.legend.left = best.top, best.left
	ch.p.Add(ch.legend)
}

// polyline draws a line through its points. Unlike plotter.Line it strokes
// a long line in short pieces: the rasterizer behind PNG output slows down
// with the square of the crossings within one stroke, and a noisy loss curve
// of a few thousand steps, stroked whole, takes tens of seconds.
type polyline struct {
	xys   plotter.XYs
	style draw.LineStyle
}

// strokePiece is the number of segments stroked at once.
const strokePiece = 32

// Plot implements plot.Plotter.
func (l *polyline) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	ps := make([]vg.Point, len(l.xys))
	for i, pt := range l.xys {
		ps[i] = vg.Point{X: trX(pt.X), Y: trY(pt.Y)}
	}
	for _, line := range c.ClipLinesXY(ps) {
		for start := 0; start < len(line)-1; start += strokePiece {
			end := min(start+strokePiece+1, len(line))
			c.StrokeLines(l.style, line[start:end])
		}
	}
}

// DataRange implements plot.DataRanger.
func (l *polyline) DataRange() (xmin, xmax, ymin, ymax float64) {
	return plotter.XYRange(l.xys)
}

// Thumbnail implements plot.Thumbnailer.
func (l *polyline) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(l.style, c.Min.X, y, c.Max.X, y)
}

// thin returns run unchanged when it has at most about max points, and
// otherwise a subset of about max points that draws the same picture: run is
// cut into max/2 consecutive slices and each gives its lowest and its highest
// point, in their order, so that the outline of a noisy curve survives. The
// first and last points are always kept.
func thin(run plotter.XYs, max int) plotter.XYs {
	if len(run) <= max {
		return run
	}
	buckets := max / 2
	out := plotter.XYs{run[0]}
	for b := range buckets {
		lo, hi := b*len(run)/buckets, (b+1)*len(run)/buckets
		imin, imax := lo, lo
		for i := lo; i < hi; i++ {
			if run[i].Y < run[imin].Y {
				imin = i
			}
			if run[i].Y > run[imax].Y {
				imax = i
			}
		}
		if imin > imax {
			imin, imax = imax, imin
		}
		out = append(out, run[imin])
		if imax != imin {
			out = append(out, run[imax])
		}
	}
	return append(out, run[len(run)-1])
}

// integerX reports whether every x coordinate is a whole number.
func (ch *chart) integerX() bool {
	for _, run := range ch.runs {
		for _, pt := range run {
			if pt.X != math.Trunc(pt.X) {
				return false
			}
		}
	}
	return true
}

// addGrid adds the grid lines, once: after any background (the test band of
// a forecast) and before the data.
func (ch *chart) addGrid() {
	if ch.gridAdded {
		return
	}
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 225}
	g.Horizontal.Color = color.Gray{Y: 225}
	ch.p.Add(g)
	ch.gridAdded = true
}

// padY widens the y range by a few percent on each side so that no line
// runs along the frame. A range that starts at zero or above stays there.
func (ch *chart) padY() {
	const frac = 0.04
	lo, hi := ch.p.Y.Min, ch.p.Y.Max
	if !finite(lo) || !finite(hi) || hi < lo {
		return
	}
	if hi == lo {
		// One value: centre it in a range of its own.
		d := math.Max(math.Abs(lo)/2, 1)
		if ch.logY {
			d = math.Log10(2)
		}
		ch.p.Y.Min, ch.p.Y.Max = lo-d, hi+d
		return
	}
	d := frac * (hi - lo)
	ch.p.Y.Min, ch.p.Y.Max = lo-d, hi+d
	if !ch.logY && lo >= 0 && lo-d < 0 {
		ch.p.Y.Min = 0
	}
}

// countIn counts the data points, and samples along the lines between them,
// that fall in the box [x0, x1] x [y0, y1] of the data area, in coordinates
// scaled to [0, 1] on both axes.
func (ch *chart) countIn(x0, x1, y0, y1 float64) int {
	p := ch.p
	xmin, xmax := p.X.Min, p.X.Max
	ymin, ymax := p.Y.Min, p.Y.Max
	ny := func(y float64) float64 {
		if ymax <= ymin {
			return 0.5
		}
		return (y - ymin) / (ymax - ymin)
	}
	nx := func(x float64) float64 {
		if xmax <= xmin {
			return 0.5
		}
		return (x - xmin) / (xmax - xmin)
	}
	in := func(x, y float64) bool { return x >= x0 && x <= x1 && y >= y0 && y <= y1 }
	total := 0
	for _, run := range ch.runs {
		total += len(run)
	}
	// Long series are dense enough without samples between their points.
	sample := total <= 5000
	n := 0
	for _, run := range ch.runs {
		for i, pt := range run {
			x, y := nx(pt.X), ny(pt.Y)
			if in(x, y) {
				n++
			}
			if i == 0 || !sample {
				continue
			}
			// Sample the segment from the previous point so that a line
			// crossing the box counts even when its points lie outside.
			px, py := nx(run[i-1].X), ny(run[i-1].Y)
			steps := min(int(math.Hypot(x-px, y-py)/0.01), 200)
			for k := 1; k < steps; k++ {
				t := float64(k) / float64(steps)
				if in(px+t*(x-px), py+t*(y-py)) {
					n++
				}
			}
		}
	}
	return n
}
