package rnn

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// AR is an autoregressive model of order tau: it predicts the next value of a series from the
// last tau values only, whatever came before (COURSE.md, point 8),
//
//	x̂_t = f(x_{t-τ}, ..., x_{t-1}),
//
// where f is a multilayer perceptron, f(u) = W_L φ(... φ(W_1 u + b_1) ...) + b_L with φ = ReLU,
// or, without hidden layers, the linear model x̂_t = w·u + b. The input is the window
// u = (x_{t-τ}, ..., x_{t-1}), shape (B, τ); the output is (B, 1).
//
// Parameters, for a model called name with hidden widths h_1, ..., h_{L-1}: "<name>.fc1.weight"
// (h_1, τ), "<name>.fc1.bias", ..., "<name>.out.weight" (1, h_{L-1}) and "<name>.out.bias",
// initialised as PyTorch initialises nn.Linear.
type AR struct {
	name   string
	ps     *graph.Params
	tau    int
	hidden []*nodes.Dense
	out    *nodes.Dense
	cache  predictCache
}

// AROption configures NewAR.
type AROption func(*arConfig)

type arConfig struct{ hidden []int }

// ARHidden sets the widths of the hidden layers (default one layer of 10, as d2l's MLP); with
// no widths the model is linear.
func ARHidden(widths ...int) AROption {
	return func(c *arConfig) { c.hidden = append([]int(nil), widths...) }
}

// NewAR creates an AR(tau) model in ps.
func NewAR(ps *graph.Params, name string, tau int, opts ...AROption) (*AR, error) {
	cfg := arConfig{hidden: []int{10}}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case ps == nil:
		return nil, fmt.Errorf("%s: nil params", name)
	case name == "":
		return nil, errors.New("ar: empty name")
	case tau < 1:
		return nil, fmt.Errorf("%s: order tau = %d, need at least 1", name, tau)
	}
	m := &AR{name: name, ps: ps, tau: tau}
	in := tau
	for i, h := range cfg.hidden {
		if h < 1 {
			return nil, fmt.Errorf("%s: hidden layer %d has width %d, need at least 1", name, i+1, h)
		}
		d, err := nodes.NewDense(ps, fmt.Sprintf("%s.fc%d", name, i+1), in, h)
		if err != nil {
			return nil, err
		}
		m.hidden = append(m.hidden, d)
		in = h
	}
	out, err := nodes.NewDense(ps, name+".out", in, 1)
	if err != nil {
		return nil, err
	}
	m.out = out
	return m, nil
}

// Name is the model's name, the prefix of its parameters.
func (m *AR) Name() string { return m.name }

// Tau is the order: the number of past values the model reads.
func (m *AR) Tau() int { return m.tau }

// Window is Tau (the Predictor interface).
func (m *AR) Window() int { return m.tau }

// Params is the parameter set the model lives in.
func (m *AR) Params() *graph.Params { return m.ps }

// Forward maps windows x, (B, tau), to predictions (B, 1).
func (m *AR) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil || x.Dims() != 2 || x.Shape()[1] != m.tau {
		var s tensor.Shape
		if x != nil {
			s = x.Shape()
		}
		return nil, fmt.Errorf("%s: input must be windows (batch, %d), has shape %v", m.name, m.tau, s)
	}
	h := x
	var err error
	for _, d := range m.hidden {
		if h, err = d.Forward(b, h); err != nil { // (B, h_i)
			return nil, err
		}
		if h, err = (nodes.ReLU{}).Forward(b, h); err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
	}
	return m.out.Forward(b, h) // (B, 1)
}

// Fit trains the model on windows x, (N, tau) row-major, and targets y (N), as data.Windows
// returns them, by minibatch gradient descent on the mean squared error (see FitOption for
// the defaults). Minibatches are drawn in a fresh random order each epoch from the model's
// random source.
func (m *AR) Fit(x, y []float64, opts ...FitOption) (*FitResult, error) {
	return fitRegressor(m.ps, m, m.name, x, y, opts)
}

// Predict maps n windows, (n, tau) row-major, to n predictions.
func (m *AR) Predict(windows []float64) ([]float64, error) {
	return predictRegressor(m.ps, m, m.name, &m.cache, windows)
}

func (m *AR) build(b *graph.Builder, batch int) (pred, loss *gorgonia.Node, err error) {
	x, err := b.Input("x", batch, m.tau)
	if err != nil {
		return nil, nil, err
	}
	y, err := b.Input("y", batch, 1)
	if err != nil {
		return nil, nil, err
	}
	if pred, err = m.Forward(b, x); err != nil {
		return nil, nil, err
	}
	loss, err = mseLoss(b, m.name, pred, y)
	return pred, loss, err
}

func (m *AR) feeds(dt tensor.Dtype, x, y []float64, batch int) (graph.Feeds, error) {
	if y == nil {
		y = make([]float64, batch)
	}
	return graph.Feeds{
		"x": graph.NewTensor(dt, []int{batch, m.tau}, x),
		"y": graph.NewTensor(dt, []int{batch, 1}, y),
	}, nil
}

// mseLoss is the mean squared error mean((pred - y)²) of two (B, 1) nodes.
func mseLoss(b *graph.Builder, name string, pred, y *gorgonia.Node) (*gorgonia.Node, error) {
	loss, err := nodes.MSE(b, pred, y)
	if err != nil {
		return nil, fmt.Errorf("%s: loss: %w", name, err)
	}
	return loss, nil
}

// regressor is a model that maps windows (B, w) to predictions (B, 1) in a graph: AR and
// LatentAR. fitRegressor and predictRegressor train and run it.
type regressor interface {
	Window() int
	// build declares the inputs of a graph for batch windows and returns the predictions
	// (batch, 1) and the mean squared error against the targets.
	build(b *graph.Builder, batch int) (pred, loss *gorgonia.Node, err error)
	// feeds fills those inputs from batch windows x, row-major (batch, w), and targets y
	// (nil when predicting).
	feeds(dt tensor.Dtype, x, y []float64, batch int) (graph.Feeds, error)
}

// FitOption configures the training of a regressor (AR.Fit, LatentAR.Fit).
type FitOption func(*fitConfig)

type fitConfig struct {
	epochs  int
	batch   int
	solver  solvers.Solver
	clip    float64
	onEpoch func(epoch int, loss float64)
}

// FitEpochs sets the number of passes over the windows (default 20).
func FitEpochs(n int) FitOption { return func(c *fitConfig) { c.epochs = n } }

// FitBatchSize sets the minibatch size (default 16); the last minibatch of an epoch holds what
// is left.
func FitBatchSize(n int) FitOption { return func(c *fitConfig) { c.batch = n } }

// FitSolver sets the solver (default Adam with learning rate 0.01).
func FitSolver(s solvers.Solver) FitOption { return func(c *fitConfig) { c.solver = s } }

// FitClipNorm clips the gradients to global norm max (default 0, no clipping).
func FitClipNorm(max float64) FitOption { return func(c *fitConfig) { c.clip = max } }

// FitOnEpoch calls f after every epoch with the epoch (from 1) and its mean training loss.
func FitOnEpoch(f func(epoch int, loss float64)) FitOption {
	return func(c *fitConfig) { c.onEpoch = f }
}

// FitResult is what training measured.
type FitResult struct {
	// Loss is the mean training loss (mean squared error on the values as given) of each epoch.
	Loss []float64
	// Steps is the number of solver updates.
	Steps int
}

func fitRegressor(ps *graph.Params, r regressor, name string, x, y []float64, opts []FitOption) (*FitResult, error) {
	cfg := fitConfig{epochs: 20, batch: 16}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.solver == nil {
		cfg.solver = solvers.NewAdam(0.01)
	}
	w := r.Window()
	switch {
	case cfg.epochs < 1:
		return nil, fmt.Errorf("%s: fit: %d epochs, need at least 1", name, cfg.epochs)
	case cfg.batch < 1:
		return nil, fmt.Errorf("%s: fit: batch size %d, need at least 1", name, cfg.batch)
	case len(y) == 0:
		return nil, fmt.Errorf("%s: fit: no training windows (too few values for a window of %d and a target)", name, w)
	case len(x) != len(y)*w:
		return nil, fmt.Errorf("%s: fit: %d window values for %d targets, want %d (windows of %d)", name, len(x), len(y), len(y)*w, w)
	}
	if i := firstNonFinite(x); i >= 0 {
		return nil, fmt.Errorf("%s: fit: window value %d is %g", name, i, x[i])
	}
	if i := firstNonFinite(y); i >= 0 {
		return nil, fmt.Errorf("%s: fit: target %d is %g", name, i, y[i])
	}
	n := len(y)
	batch := min(cfg.batch, n)
	// One trainer for full minibatches and one for the rest; they share the solver, which
	// keys its state by parameter name.
	trainers := map[int]*graph.Trainer{}
	trainer := func(size int) (*graph.Trainer, error) {
		if t, ok := trainers[size]; ok {
			return t, nil
		}
		b := graph.NewBuilder(ps, graph.Train)
		_, loss, err := r.build(b, size)
		if err != nil {
			return nil, err
		}
		var topts []graph.TrainOption
		if cfg.clip > 0 {
			topts = append(topts, graph.ClipNorm(cfg.clip))
		}
		t, err := graph.NewTrainer(b, loss, cfg.solver, topts...)
		if err != nil {
			return nil, fmt.Errorf("%s: fit: %w", name, err)
		}
		trainers[size] = t
		return t, nil
	}
	defer func() {
		for _, t := range trainers {
			t.Program().Close()
		}
	}()
	res := &FitResult{}
	xb := make([]float64, batch*w)
	yb := make([]float64, batch)
	for epoch := 1; epoch <= cfg.epochs; epoch++ {
		order := ps.Rand().Perm(n)
		var sum float64
		for start := 0; start < n; start += batch {
			size := min(batch, n-start)
			for i, j := range order[start : start+size] {
				copy(xb[i*w:(i+1)*w], x[j*w:(j+1)*w])
				yb[i] = y[j]
			}
			t, err := trainer(size)
			if err != nil {
				return nil, err
			}
			f, err := r.feeds(ps.Dtype(), xb[:size*w], yb[:size], size)
			if err != nil {
				return nil, err
			}
			st, err := t.Step(f)
			if err != nil {
				return nil, fmt.Errorf("%s: fit: epoch %d: %w", name, epoch, err)
			}
			sum += st.Loss * float64(size)
			res.Steps++
		}
		res.Loss = append(res.Loss, sum/float64(n))
		if cfg.onEpoch != nil {
			cfg.onEpoch(epoch, sum/float64(n))
		}
	}
	return res, nil
}

// predictChunk is the largest batch a prediction graph is built for.
const predictChunk = 256

// predictCache holds a model's compiled prediction graphs, by batch size.
type predictCache struct{ progs map[int]*graph.Program }

func predictRegressor(ps *graph.Params, r regressor, name string, c *predictCache, windows []float64) ([]float64, error) {
	w := r.Window()
	n, err := checkWindows(name, windows, w)
	if err != nil {
		return nil, err
	}
	out := make([]float64, 0, n)
	for start := 0; start < n; start += predictChunk {
		size := min(predictChunk, n-start)
		prog, ok := c.progs[size]
		if !ok {
			b := graph.NewBuilder(ps, graph.Eval)
			pred, _, err := r.build(b, size)
			if err != nil {
				return nil, err
			}
			if prog, err = graph.Compile(b, map[string]*gorgonia.Node{"pred": pred}); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if c.progs == nil {
				c.progs = map[int]*graph.Program{}
			}
			c.progs[size] = prog
		}
		f, err := r.feeds(ps.Dtype(), windows[start*w:(start+size)*w], nil, size)
		if err != nil {
			return nil, err
		}
		res, err := prog.Run(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, graph.Float64s(res["pred"])...)
	}
	return out, nil
}

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
