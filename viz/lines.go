package viz

// Series is one named line of a chart.
type Series struct {
	// Name labels the line in the legend; a series without a name has no
	// legend entry.
	Name string
	// X holds the x coordinates; nil means 1, 2, ..., len(Y) (epochs or
	// steps counted from one). When set it must be as long as Y.
	X []float64
	// Y holds the values. NaN and infinite values are left out and the line
	// breaks there, so a diverged run still shows its finite part.
	Y []float64
}

// LinePlot describes a chart of one or more lines.
type LinePlot struct {
	Title, XLabel, YLabel string
	// LogY puts the y axis on a log scale; values <= 0 are then left out
	// like NaN.
	LogY bool
	// Series are drawn in order, each in its own colour; series of at most
	// 30 points also get a mark at each point.
	Series []Series
	// Width and Height are the size in inches; zero means DefaultWidth by
	// DefaultHeight.
	Width, Height float64
}

// Lines draws p as a line chart with a legend and writes it to path, as PNG
// or SVG by the extension of path (.png, .svg). It is the chart for training
// and test loss and accuracy per epoch and for loss per step.
//
// Lines returns an error, naming the file and the series, when the
// extension is neither .png nor .svg, there are no series, a series is
// empty, has X and Y of different lengths or has no finite value (no finite
// positive value with LogY), or the file cannot be written. The file is
// written atomically: a temporary file in the same directory is renamed
// over path.
func Lines(path string, p LinePlot) error {
	const kind = "lines"
	format, err := formatOf(path)
	if err != nil {
		return plotError(kind, path, "%w", err)
	}
	w, h, err := chartSize(p.Width, p.Height)
	if err != nil {
		return plotError(kind, path, "%w", err)
	}
	if len(p.Series) == 0 {
		return plotError(kind, path, "no series to plot")
	}
	curves := make([]curve, len(p.Series))
	for i, s := range p.Series {
		c, err := newCurve(s, seriesLabel(i, s.Name), p.LogY)
		if err != nil {
			return plotError(kind, path, "%w", err)
		}
		curves[i] = c
	}
	ch := newChart(p.Title, p.XLabel, p.YLabel, p.LogY)
	for i, c := range curves {
		if err := ch.addCurve(c, colourOf(i)); err != nil {
			return plotError(kind, path, "series %s: %w", seriesLabel(i, c.name), err)
		}
	}
	ch.finish(w, h)
	if err := savePlot(ch.p, w, h, format, path); err != nil {
		return plotError(kind, path, "%w", err)
	}
	return nil
}
