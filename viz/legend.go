package viz

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// legend is drawn as the last plotter of a chart, inside the data area, on
// a white box with a thin border so that no line runs through its text.
// (The plot's own legend has no box.)
type legend struct {
	entries   []legendEntry
	top, left bool
	style     text.Style
}

type legendEntry struct {
	name   string
	thumbs []plot.Thumbnailer
}

// Legend layout, in points.
const (
	thumbWidth = 22
	thumbGap   = 5
)

func newLegend() *legend {
	return &legend{style: text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, 10),
		Handler: plot.DefaultTextHandler,
		YAlign:  text.YCenter,
	}}
}

func (l *legend) add(name string, thumbs ...plot.Thumbnailer) {
	l.entries = append(l.entries, legendEntry{name: name, thumbs: thumbs})
}

// entryHeight is the height of one line of the legend.
func (l *legend) entryHeight() vg.Length {
	return l.style.FontExtents().Height * 1.15
}

// size returns the width and height of the legend's box.
func (l *legend) size() (w, h vg.Length) {
	var textW vg.Length
	for _, e := range l.entries {
		textW = max(textW, l.style.Width(e.name))
	}
	w = 2*legendMargin + thumbWidth + thumbGap + textW
	h = 2*legendMargin + vg.Length(len(l.entries))*l.entryHeight()
	return w, h
}

// Plot implements plot.Plotter.
func (l *legend) Plot(c draw.Canvas, _ *plot.Plot) {
	w, h := l.size()
	var r vg.Rectangle
	if l.left {
		r.Min.X = c.Min.X + legendInset
	} else {
		r.Min.X = c.Max.X - legendInset - w
	}
	if l.top {
		r.Min.Y = c.Max.Y - legendInset - h
	} else {
		r.Min.Y = c.Min.Y + legendInset
	}
	r.Max = vg.Point{X: r.Min.X + w, Y: r.Min.Y + h}
	c.SetColor(color.NRGBA{R: 255, G: 255, B: 255, A: 235})
	c.Fill(r.Path())
	c.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 190}, Width: vg.Points(0.6)})
	c.Stroke(r.Path())

	eh := l.entryHeight()
	x := r.Min.X + legendMargin
	for i, e := range l.entries {
		top := r.Max.Y - legendMargin - vg.Length(i)*eh
		icon := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x, Y: top - eh + 1},
			Max: vg.Point{X: x + thumbWidth, Y: top - 1},
		}}
		for _, t := range e.thumbs {
			t.Thumbnail(&icon)
		}
		c.FillText(l.style, vg.Point{X: x + thumbWidth + thumbGap, Y: top - eh/2}, e.name)
	}
}
