package rnn

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/unroll-ml/unroll/data"
)

// LinearAR is a linear autoregressive model fitted by least squares,
//
//	x̂_t = b + Σ_{i=1..τ} w_i x_{t-τ-1+i},
//
// the classical AR(τ) of statistics: the baseline a neural AR model should match or beat.
type LinearAR struct {
	// Weights[i] multiplies the i-th value of the window, oldest first (x_{t-τ} ... x_{t-1}).
	Weights []float64
	// Intercept is b.
	Intercept float64
}

// FitLinearAR fits a LinearAR of order tau to values by ordinary least squares over all the
// windows of values (data.Windows): it minimises Σ_t (x̂_t - x_t)² exactly, by a Householder
// QR factorisation. It needs at least tau+1 windows (tau+1 coefficients), so 2·tau+1 values.
func FitLinearAR(values []float64, tau int) (*LinearAR, error) {
	if tau < 1 {
		return nil, fmt.Errorf("least-squares ar: order tau = %d, need at least 1", tau)
	}
	if len(values) < 2*tau+1 {
		return nil, fmt.Errorf("least-squares ar(%d): %d values are too few: %d coefficients need at least %d windows, so %d values",
			tau, len(values), tau+1, tau+1, 2*tau+1)
	}
	x, y, err := data.Windows(values, tau)
	if err != nil {
		return nil, fmt.Errorf("least-squares ar(%d): %w", tau, err)
	}
	m, p := len(y), tau+1
	a := make([]float64, m*p) // (m, p): the window and a column of ones
	for i := 0; i < m; i++ {
		copy(a[i*p:], x[i*tau:(i+1)*tau])
		a[i*p+tau] = 1
	}
	coef, err := leastSquares(a, m, p, append([]float64(nil), y...))
	if err != nil {
		return nil, fmt.Errorf("least-squares ar(%d): %w", tau, err)
	}
	return &LinearAR{Weights: coef[:tau], Intercept: coef[tau]}, nil
}

// Window is the order tau.
func (l *LinearAR) Window() int { return len(l.Weights) }

// Predict maps windows (n, tau) to n predictions.
func (l *LinearAR) Predict(windows []float64) ([]float64, error) {
	w := len(l.Weights)
	if w == 0 {
		return nil, errors.New("least-squares ar: no weights")
	}
	n, err := checkWindows("least-squares ar", windows, w)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	for i := range out {
		s := l.Intercept
		for j, c := range l.Weights {
			s += c * windows[i*w+j]
		}
		out[i] = s
	}
	return out, nil
}

// String shows the fitted equation.
func (l *LinearAR) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "x̂_t = %.4g", l.Intercept)
	tau := len(l.Weights)
	for i, c := range l.Weights {
		fmt.Fprintf(&sb, " %+.4g·x_{t-%d}", c, tau-i)
	}
	return sb.String()
}

// leastSquares solves min ‖A c - y‖ for A (m, p) row-major, m >= p, by Householder QR. It
// overwrites a and y. A rank-deficient A (a constant series, for instance) is an error.
func leastSquares(a []float64, m, p int, y []float64) ([]float64, error) {
	var scale float64
	for _, v := range a {
		scale = max(scale, math.Abs(v))
	}
	for j := 0; j < p; j++ {
		// The reflection that maps column j below the diagonal onto e_j.
		var norm float64
		for i := j; i < m; i++ {
			norm = math.Hypot(norm, a[i*p+j])
		}
		if norm <= 1e-12*scale*math.Sqrt(float64(m)) || norm == 0 {
			return nil, fmt.Errorf("the windows are linearly dependent (column %d); is the series constant?", j)
		}
		alpha := -math.Copysign(norm, a[j*p+j])
		v := make([]float64, m-j)
		for i := j; i < m; i++ {
			v[i-j] = a[i*p+j]
		}
		v[0] -= alpha
		var vv float64
		for _, e := range v {
			vv += e * e
		}
		// Apply H = I - 2 v vᵀ / (vᵀ v) to the remaining columns and to y.
		for k := j; k < p; k++ {
			var dot float64
			for i := j; i < m; i++ {
				dot += v[i-j] * a[i*p+k]
			}
			f := 2 * dot / vv
			for i := j; i < m; i++ {
				a[i*p+k] -= f * v[i-j]
			}
		}
		var dot float64
		for i := j; i < m; i++ {
			dot += v[i-j] * y[i]
		}
		f := 2 * dot / vv
		for i := j; i < m; i++ {
			y[i] -= f * v[i-j]
		}
	}
	// Back-substitute R c = (Qᵀ y)[:p].
	c := make([]float64, p)
	for j := p - 1; j >= 0; j-- {
		s := y[j]
		for k := j + 1; k < p; k++ {
			s -= a[j*p+k] * c[k]
		}
		c[j] = s / a[j*p+j]
	}
	return c, nil
}
