package rnn

import (
	"errors"
	"fmt"
	"math"

	"github.com/unroll-ml/unroll/data"
)

// Predictor predicts the next value of a series from the values just before it: an
// autoregressive model (AR, LinearAR), a latent autoregressive model (LatentAR) or a baseline
// (Persistence). Every forecast in this file is built from it.
type Predictor interface {
	// Window is the number of past values a prediction reads (tau for AR(tau)).
	Window() int
	// Predict maps n windows, row-major (n, Window()), to the n values that follow them.
	Predict(windows []float64) ([]float64, error)
}

// Persistence is the naive forecast x̂_t = x_{t-1}: tomorrow is like today. A model that does
// not beat it has learned nothing useful. Its k-step forecast is x̂_t = x_{t-k}.
type Persistence struct{}

// Window is 1: persistence reads the last value only.
func (Persistence) Window() int { return 1 }

// Predict returns each window's value.
func (Persistence) Predict(windows []float64) ([]float64, error) {
	if len(windows) == 0 {
		return nil, errors.New("persistence: no windows")
	}
	return append([]float64(nil), windows...), nil
}

// Scaled is a predictor trained on standardised values (data.Scaler) that reads and predicts
// values in the series' own units: each window is standardised, P predicts, and the
// prediction is mapped back with Scaler.Inverse.
type Scaled struct {
	P      Predictor
	Scaler data.Scaler
}

// Window is P's window.
func (s Scaled) Window() int { return s.P.Window() }

// Predict standardises the windows, predicts with P and undoes the standardisation.
func (s Scaled) Predict(windows []float64) ([]float64, error) {
	if s.P == nil {
		return nil, errors.New("scaled predictor: no predictor")
	}
	p, err := s.P.Predict(s.Scaler.Transform(windows))
	if err != nil {
		return nil, err
	}
	return s.Scaler.Inverse(p), nil
}

// Differenced forecasts a series through its changes: P predicts the next difference
// d_t = x_t - x_{t-1} from the last P.Window() differences, and the forecast is
//
//	x̂_t = x_{t-1} + d̂_t.
//
// A series with a trend (CO2) leaves the range of its training part, which a model of its
// levels cannot extrapolate to; its differences stay in range. Train P on Differences of the
// training part. A window of Differenced holds P.Window()+1 values.
type Differenced struct{ P Predictor }

// Window is one more than P's window.
func (d Differenced) Window() int { return d.P.Window() + 1 }

// Predict takes the differences of each window, predicts the next difference with P and adds
// it to the window's last value.
func (d Differenced) Predict(windows []float64) ([]float64, error) {
	if d.P == nil {
		return nil, errors.New("differenced predictor: no predictor")
	}
	w := d.Window()
	n, err := checkWindows("differenced predictor", windows, w)
	if err != nil {
		return nil, err
	}
	diffs := make([]float64, 0, n*(w-1))
	for i := 0; i < n; i++ {
		diffs = append(diffs, Differences(windows[i*w:(i+1)*w])...)
	}
	p, err := d.P.Predict(diffs)
	if err != nil {
		return nil, err
	}
	if len(p) != n {
		return nil, fmt.Errorf("differenced predictor: %d predictions for %d windows", len(p), n)
	}
	for i := range p {
		p[i] += windows[i*w+w-1]
	}
	return p, nil
}

// Differences returns the first differences x_t - x_{t-1} of values, one fewer than values.
func Differences(values []float64) []float64 {
	if len(values) < 2 {
		return nil
	}
	out := make([]float64, len(values)-1)
	for i := range out {
		out[i] = values[i+1] - values[i]
	}
	return out
}

// checkWindows returns the number of windows of width w in a row-major slice.
func checkWindows(what string, windows []float64, w int) (int, error) {
	if len(windows) == 0 {
		return 0, fmt.Errorf("%s: no windows", what)
	}
	if len(windows)%w != 0 {
		return 0, fmt.Errorf("%s: %d values do not make whole windows of %d", what, len(windows), w)
	}
	for i, v := range windows {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("%s: window value %d is %g", what, i, v)
		}
	}
	return len(windows) / w, nil
}

// OneStep returns the 1-step-ahead forecasts of values[from:]: the forecast of values[t] reads
// the observed values[t-w:t], w = p.Window(), so every forecast starts again from the truth.
// from must be at least w and below len(values).
func OneStep(p Predictor, values []float64, from int) ([]float64, error) {
	return KStep(p, values, from, 1)
}

// KStep returns the k-step-ahead forecasts of values[from:], as d2l defines them: the forecast
// of values[t] knows the observed values up to t-k only (the forecast origin o = t-k+1 is the
// first unknown step); the model predicts x̂_o from the last w observed values, then x̂_{o+1}
// from a window that ends with x̂_o, and so on, feeding its own predictions back k times. Errors
// compound, so k-step forecasts are worse than 1-step ones, and more so as k grows. KStep with
// k = 1 is OneStep. The origins must leave a full window: from-k+1 >= w.
func KStep(p Predictor, values []float64, from, k int) ([]float64, error) {
	if p == nil {
		return nil, errors.New("k-step forecast: no predictor")
	}
	w := p.Window()
	switch {
	case k < 1:
		return nil, fmt.Errorf("k-step forecast: k = %d, need at least 1", k)
	case w < 1:
		return nil, fmt.Errorf("k-step forecast: the predictor's window is %d", w)
	case from >= len(values) || from < 0:
		return nil, fmt.Errorf("k-step forecast: start %d outside the series of %d values", from, len(values))
	case from-k+1 < w:
		return nil, fmt.Errorf("k-step forecast: %d-step forecasts from step %d need %d earlier values, the series has %d before it (window %d)",
			k, from, w+k-1, from, w)
	}
	if i := firstNonFinite(values); i >= 0 {
		return nil, fmt.Errorf("k-step forecast: value %d is %g", i, values[i])
	}
	n := len(values) - from
	// buf[i] holds the w observed values before origin o_i = from+i-k+1, then the predictions.
	buf := make([][]float64, n)
	for i := range buf {
		o := from + i - k + 1
		buf[i] = make([]float64, w, w+k)
		copy(buf[i], values[o-w:o])
	}
	windows := make([]float64, n*w)
	for s := 0; s < k; s++ {
		for i := range buf {
			copy(windows[i*w:(i+1)*w], buf[i][s:s+w])
		}
		pred, err := p.Predict(windows)
		if err != nil {
			return nil, fmt.Errorf("k-step forecast: step %d of %d: %w", s+1, k, err)
		}
		if len(pred) != n {
			return nil, fmt.Errorf("k-step forecast: the predictor returned %d values for %d windows", len(pred), n)
		}
		for i := range buf {
			buf[i] = append(buf[i], pred[i])
		}
	}
	out := make([]float64, n)
	for i := range buf {
		out[i] = buf[i][w+k-1]
	}
	return out, nil
}

// Rollout continues a series beyond its end: it predicts steps values, each from a window
// made of the last values of history followed by the predictions so far. It is the
// free-running forecast that d2l shows drifting away from the data after a few steps.
func Rollout(p Predictor, history []float64, steps int) ([]float64, error) {
	if p == nil {
		return nil, errors.New("rollout: no predictor")
	}
	w := p.Window()
	switch {
	case steps < 1:
		return nil, fmt.Errorf("rollout: %d steps, need at least 1", steps)
	case len(history) < w:
		return nil, fmt.Errorf("rollout: %d values of history are too few for a window of %d", len(history), w)
	}
	buf := append([]float64(nil), history[len(history)-w:]...)
	for s := 0; s < steps; s++ {
		pred, err := p.Predict(buf[s : s+w])
		if err != nil {
			return nil, fmt.Errorf("rollout: step %d: %w", s+1, err)
		}
		if len(pred) != 1 {
			return nil, fmt.Errorf("rollout: the predictor returned %d values for one window", len(pred))
		}
		buf = append(buf, pred[0])
	}
	return buf[w:], nil
}

// RMSE is the root mean squared error sqrt(Σ (pred_i - target_i)² / n).
func RMSE(pred, target []float64) (float64, error) {
	if len(pred) != len(target) {
		return 0, fmt.Errorf("rmse: %d predictions for %d targets", len(pred), len(target))
	}
	if len(pred) == 0 {
		return 0, errors.New("rmse: no values")
	}
	var ss float64
	for i := range pred {
		d := pred[i] - target[i]
		ss += d * d
	}
	r := math.Sqrt(ss / float64(len(pred)))
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, fmt.Errorf("rmse: not finite (%v)", r)
	}
	return r, nil
}

func firstNonFinite(values []float64) int {
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return i
		}
	}
	return -1
}
