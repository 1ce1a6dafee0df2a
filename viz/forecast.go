package viz

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ForecastPlot describes a time series with forecasts of it.
type ForecastPlot struct {
	Title, XLabel, YLabel string
	// Observed is the series itself, drawn as a thin dark gray line; an
	// empty Name reads "observed".
	Observed Series
	// Forecasts are any number of predictions (1-step, k-step, ...), each
	// over its own x range, drawn in colour over the observed line. As in
	// Series, a nil X means 1, 2, ..., len(Y): give X whenever a forecast
	// does not start at the first time step.
	Forecasts []Series
	// ShowTest marks the test part: a shaded band from TestStart to the
	// right end of the chart, edged by a dashed vertical line.
	ShowTest  bool
	TestStart float64
	// Width and Height are the size in inches; zero means DefaultWidth by
	// DefaultHeight.
	Width, Height float64
}

// observedColour is the colour of the observed series.
var observedColour = color.Gray{Y: 70}

// Forecast draws f, the observed series with forecasts over it and
// optionally the start of the test part marked, and writes it to path (.png
// or .svg). It is the picture of the autoregressive and latent
// autoregressive models (models/rnn) and of the forecasting demo: how far
// 1-step predictions track the data and how k-step predictions drift.
//
// Forecast returns an error when the extension is neither .png nor .svg,
// the observed series or a forecast is empty, has X and Y of different
// lengths or has no finite value, TestStart is not finite while ShowTest is
// set, or the file cannot be written.
func Forecast(path string, f ForecastPlot) error {
	const kind = "forecast"
	format, err := formatOf(path)
	if err != nil {
		return plotError(kind, path, "%w", err)
	}
	w, h, err := chartSize(f.Width, f.Height)
	if err != nil {
		return plotError(kind, path, "%w", err)
	}
	obs := f.Observed
	if obs.Name == "" {
		obs.Name = "observed"
	}
	oc, err := newCurve(obs, fmt.Sprintf("%q (observed)", obs.Name), false)
	if err != nil {
		return plotError(kind, path, "%w", err)
	}
	fcs := make([]curve, len(f.Forecasts))
	for i, s := range f.Forecasts {
		c, err := newCurve(s, "forecast "+seriesLabel(i, s.Name), false)
		if err != nil {
			return plotError(kind, path, "%w", err)
		}
		fcs[i] = c
	}
	if f.ShowTest && !finite(f.TestStart) {
		return plotError(kind, path, "test start %v is not a finite number", f.TestStart)
	}

	ch := newChart(f.Title, f.XLabel, f.YLabel, false)
	if f.ShowTest {
		band := testBand{start: f.TestStart}
		ch.p.Add(band)
		ch.legend.add("test part", band)
	}
	// The observed line is thin so that the forecasts over it, drawn at
	// full width whatever their length, stay visible.
	oc.width = thinWidth
	if err := ch.addCurve(oc, observedColour); err != nil {
		return plotError(kind, path, "observed: %w", err)
	}
	for i, c := range fcs {
		c.width = lineWidth
		if err := ch.addCurve(c, colourOf(i)); err != nil {
			return plotError(kind, path, "forecast %s: %w", seriesLabel(i, c.name), err)
		}
	}
	ch.finish(w, h)
	if err := savePlot(ch.p, w, h, format, path); err != nil {
		return plotError(kind, path, "%w", err)
	}
	return nil
}

// testBand shades the data area from x = start to its right edge and draws
// a dashed line at start.
type testBand struct{ start float64 }

var (
	bandFill = color.RGBA{R: 225, G: 232, B: 245, A: 255}
	bandEdge = draw.LineStyle{
		Color:  color.Gray{Y: 110},
		Width:  vg.Points(1),
		Dashes: []vg.Length{vg.Points(4), vg.Points(3)},
	}
)

// Plot implements plot.Plotter.
func (b testBand) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(b.start)
	if x > c.Max.X {
		return
	}
	x = max(x, c.Min.X)
	r := vg.Rectangle{Min: vg.Point{X: x, Y: c.Min.Y}, Max: c.Max}
	c.SetColor(bandFill)
	c.Fill(r.Path())
	c.StrokeLine2(bandEdge, x, c.Min.Y, x, c.Max.Y)
}

// DataRange implements plot.DataRanger: the band widens the x range to
// include its start and leaves the y range alone.
func (b testBand) DataRange() (xmin, xmax, ymin, ymax float64) {
	return b.start, b.start, math.Inf(1), math.Inf(-1)
}

// Thumbnail implements plot.Thumbnailer.
func (b testBand) Thumbnail(c *draw.Canvas) {
	c.SetColor(bandFill)
	c.Fill(c.Rectangle.Path())
	c.StrokeLine2(bandEdge, c.Min.X, c.Min.Y, c.Min.X, c.Max.Y)
}
