package viz

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// linTicks marks a linear axis with about five labelled ticks at round
// values (1, 2 or 5 times a power of ten apart) and unlabelled ticks between.
// With integer set, as for epochs, steps and time indices, ticks fall on
// whole numbers only.
type linTicks struct{ integer bool }

// Ticks implements plot.Ticker.
func (lt linTicks) Ticks(vmin, vmax float64) []plot.Tick {
	if !finite(vmin) || !finite(vmax) || vmax <= vmin {
		return nil
	}
	raw := (vmax - vmin) / 5
	if !finite(raw) || raw <= 0 {
		return nil
	}
	mag := math.Pow10(int(math.Floor(math.Log10(raw))))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	minor := step / 5
	if step == 2*mag {
		minor = step / 4
	}
	if lt.integer {
		step, minor = math.Max(step, 1), math.Max(minor, 1)
	}
	// Digits after the point that the step needs; very large or small
	// values go in exponent form.
	prec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	format := func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	if step >= 1e6 || step < 1e-4 {
		format = func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
	}
	var ticks []plot.Tick
	first := math.Ceil(vmin/minor-1e-9) * minor
	for i := 0; i < 1000; i++ {
		v := first + float64(i)*minor
		if !finite(v) || v > vmax+minor*1e-9 {
			break
		}
		t := plot.Tick{Value: v}
		if k := v / step; math.Abs(k-math.Round(k)) < 1e-6 {
			v = math.Round(k) * step
			t.Value = v
			if math.Abs(v) < step*1e-6 {
				v, t.Value = 0, 0
			}
			t.Label = format(v)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// log10Ticks marks an axis that shows log10(y) with the ticks of logTicks
// for y.
type log10Ticks struct{}

// Ticks implements plot.Ticker.
func (log10Ticks) Ticks(lo, hi float64) []plot.Tick {
	ticks := logTicks{}.Ticks(math.Pow(10, lo), math.Pow(10, hi))
	for i := range ticks {
		ticks[i].Value = math.Log10(ticks[i].Value)
	}
	return ticks
}

// logTicks marks a log axis: labelled ticks at powers of ten, at most about
// six of them however many decades the data spans, with unlabelled ticks
// between; over three decades or fewer it also labels 2, 3 and 5 or 2 and 5
// times a power of ten while the labels stay few, and on a range too narrow
// for two such labels it falls back to evenly spaced ticks, so that every
// log axis carries at least two numbers.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(vmin, vmax float64) []plot.Tick {
	if !(vmin > 0) || !(vmax > 0) || !finite(vmin) || !finite(vmax) {
		return nil
	}
	lo := int(math.Floor(math.Log10(vmin)))
	hi := int(math.Ceil(math.Log10(vmax)))
	if hi == lo {
		hi++
	}
	decades := hi - lo
	step := (decades + 5) / 6
	inRange := func(v float64) bool { return v >= vmin*(1-1e-9) && v <= vmax*(1+1e-9) }
	var ticks []plot.Tick
	labelled := 0
	for d := lo; d <= hi; d++ {
		v := math.Pow10(d)
		if (d-lo)%step == 0 {
			ticks = append(ticks, plot.Tick{Value: v, Label: formatTick(v)})
			if inRange(v) {
				labelled++
			}
		} else {
			ticks = append(ticks, plot.Tick{Value: v})
		}
	}
	if decades > 3 {
		return inside(ticks, vmin, vmax)
	}
	// Few decades: add the multiples 2..9 of each power, labelling 2, 3 and
	// 5 times a power, or only 2 and 5, when that leaves at most seven
	// labels on the axis.
	const maxLabels = 7
	labelMults := map[int]bool{}
	for _, set := range []map[int]bool{{2: true, 3: true, 5: true}, {2: true, 5: true}} {
		n := labelled
		for d := lo; d < hi; d++ {
			for m := range set {
				if inRange(float64(m) * math.Pow10(d)) {
					n++
				}
			}
		}
		if n <= maxLabels {
			labelMults = set
			break
		}
	}
	for d := lo; d < hi; d++ {
		for m := 2; m <= 9; m++ {
			v := float64(m) * math.Pow10(d)
			t := plot.Tick{Value: v}
			if labelMults[m] {
				t.Label = formatTick(v)
				if inRange(v) {
					labelled++
				}
			}
			ticks = append(ticks, t)
		}
	}
	if labelled < 2 {
		// A range narrower than 1..2 times a power of ten: evenly spaced
		// ticks read best.
		return linTicks{}.Ticks(vmin, vmax)
	}
	return inside(ticks, vmin, vmax)
}

// inside keeps the ticks within [min, max]: the plot sets aside room for
// every label it is given, even one outside the axis.
func inside(ticks []plot.Tick, vmin, vmax float64) []plot.Tick {
	var in []plot.Tick
	for _, t := range ticks {
		if t.Value >= vmin*(1-1e-9) && t.Value <= vmax*(1+1e-9) {
			in = append(in, t)
		}
	}
	return in
}

// formatTick writes a tick value briefly: 0.01, 500, 1e-06.
func formatTick(v float64) string {
	return strconv.FormatFloat(v, 'g', 3, 64)
}
