package viz

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// cellOrder is the legend order of the usual cell names in GradientFlow;
// other names follow in sorted order.
var cellOrder = []string{"rnn", "lstm", "gru"}

// GradientFlow draws, on a log scale, the norm of the gradient of the last
// step's loss with respect to an earlier hidden state, ||dL_T/dH_{T-k}||,
// against k = 1..T, one line per cell, and writes it to path (.png or .svg).
// curves maps a cell name to its norms, curves[name][k-1] being the norm k
// steps back; curves may have different lengths. The legend lists rnn, lstm
// and gru first (in that order, matched without regard to case), then the
// other names sorted. An empty title gets a default one. It is the picture
// of the gradient-flow probe (models/rnn) and of the demo that compares
// cells: a plain RNN's line falls steeply, LSTM and GRU lines stay flat
// longer.
//
// A norm of zero or below cannot go on a log axis: such values are drawn at
// a floor one decade below the smallest positive norm of the whole plot, so
// a gradient that vanished to exactly zero shows as a line along the bottom
// rather than disappearing. NaN and infinite values are left out and the
// line breaks there.
//
// GradientFlow returns an error when the extension is neither .png nor .svg,
// curves is empty, a curve is empty or has no finite value, no curve has a
// positive value, or the file cannot be written.
func GradientFlow(path string, curves map[string][]float64, title string) error {
	const kind = "gradient flow"
	format, err := formatOf(path)
	if err != nil {
		return plotError(kind, path, "%w", err)
	}
	if len(curves) == 0 {
		return plotError(kind, path, "no curves to plot")
	}
	names := cellNames(curves)
	floor := math.Inf(1)
	for _, name := range names {
		ys := curves[name]
		if len(ys) == 0 {
			return plotError(kind, path, "curve %q is empty", name)
		}
		nFinite := 0
		for _, y := range ys {
			if finite(y) {
				nFinite++
				if y > 0 {
					floor = math.Min(floor, y)
				}
			}
		}
		if nFinite == 0 {
			return plotError(kind, path, "curve %q has no finite values", name)
		}
	}
	if math.IsInf(floor, 1) {
		return plotError(kind, path, "no curve has a positive value to show on a log scale")
	}
	floor /= 10

	if title == "" {
		title = "Gradient flow back through time"
	}
	ch := newChart(title, "k (steps back from the last step T)", "‖∂L_T / ∂H_(T−k)‖", true)
	for i, name := range names {
		ys := make([]float64, len(curves[name]))
		for k, y := range curves[name] {
			if finite(y) && y <= 0 {
				y = floor
			}
			ys[k] = y
		}
		c, err := newCurve(Series{Name: name, Y: ys}, fmt.Sprintf("%q", name), true)
		if err != nil {
			return plotError(kind, path, "%w", err)
		}
		if err := ch.addCurve(c, colourOf(i)); err != nil {
			return plotError(kind, path, "curve %q: %w", name, err)
		}
	}
	w, h, _ := chartSize(0, 0)
	ch.finish(w, h)
	if err := savePlot(ch.p, w, h, format, path); err != nil {
		return plotError(kind, path, "%w", err)
	}
	return nil
}

// cellNames returns the keys of curves in legend order: the names of
// cellOrder first, then the rest sorted.
func cellNames(curves map[string][]float64) []string {
	var known, rest []string
	for name := range curves {
		if slices.Contains(cellOrder, strings.ToLower(name)) {
			known = append(known, name)
		} else {
			rest = append(rest, name)
		}
	}
	slices.SortFunc(known, func(a, b string) int {
		ia := slices.Index(cellOrder, strings.ToLower(a))
		ib := slices.Index(cellOrder, strings.ToLower(b))
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	slices.Sort(rest)
	return append(known, rest...)
}
