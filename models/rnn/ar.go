package rnn

import (
	"errors"
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
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
//
// Fit trains it on a series, Predict maps windows to predictions (it is a Predictor: see
// OneStep and KStep for forecasts), Evaluate scores a series, and SaveCheckpoint,
// LoadCheckpoint and LoadWeights save and load it.
type AR struct {
	name   string
	ps     *graph.Params
	tau    int
	widths []int
	hidden []*nodes.Dense
	out    *nodes.Dense
	w      *windowTrainer
}

// NewAR creates an AR(tau) model in ps with hidden layers of the given widths (d2l's MLP has
// one of 10); with none the model is linear.
func NewAR(ps *graph.Params, name string, tau int, hidden []int) (*AR, error) {
	switch {
	case ps == nil:
		return nil, fmt.Errorf("%s: nil params", name)
	case name == "":
		return nil, errors.New("ar: empty name")
	case tau < 1:
		return nil, fmt.Errorf("%s: order tau = %d, need at least 1", name, tau)
	}
	m := &AR{name: name, ps: ps, tau: tau, widths: slices.Clone(hidden)}
	in := tau
	for i, h := range hidden {
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
	m.w = newWindowTrainer(name, ps, m)
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

// Run is the model's training run: its solver, counters and history.
func (m *AR) Run() *graph.Run { return &m.w.run }

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

// Fit trains the model on the windows of a series (data.Windows: every run of tau values and
// the value after it) with graph.Fit, the training loop every model of unroll uses, by
// minibatch gradient descent on the mean squared error, and returns the history of every
// completed epoch across calls and resumes. Batches hold graph.Batch windows (default 16;
// the last batch of an epoch holds what is left), in a new random order each epoch drawn from
// the parameters' random source. The solver is graph.Solver's, or the one of an earlier Fit,
// or Adam with a learning rate of 0.01. graph.Validation takes a series ([]float64). A second
// call on the same series continues where the first stopped.
func (m *AR) Fit(series []float64, opts ...graph.FitOption) (*graph.History, error) {
	return m.w.fit(series, opts)
}

// TrainBatch makes one update on a batch of windows X (B, tau) and targets Y (B, 1): the
// model's part of graph.Fit's loop.
func (m *AR) TrainBatch(bt *data.SequenceBatch, cfg *graph.FitConfig) (graph.BatchStats, error) {
	return m.w.TrainBatch(bt, cfg)
}

// Validate scores a validation series ([]float64) with Evaluate.
func (m *AR) Validate(set any) (graph.Metrics, error) { return m.w.Validate(set) }

// Evaluate returns the mean squared error of the model's one-step predictions of every window
// of a series.
func (m *AR) Evaluate(series []float64) (graph.Metrics, error) { return m.w.evaluate(series) }

// Predict maps n windows, (n, tau) row-major, to n predictions.
func (m *AR) Predict(windows []float64) ([]float64, error) { return m.w.predict(windows) }

// arSpec describes an AR model in its checkpoints.
type arSpec struct {
	Model  string `json:"model"`
	Name   string `json:"name"`
	Tau    int    `json:"tau"`
	Hidden []int  `json:"hidden"`
}

func (m *AR) spec() any { return arSpec{Model: "ar", Name: m.name, Tau: m.tau, Hidden: m.widths} }

// SaveCheckpoint writes the parameters (of the whole parameter set), the random source, the
// training run and the model's description to path, atomically.
func (m *AR) SaveCheckpoint(path string) error { return m.w.saveCheckpoint(path) }

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint for a model built alike; the
// next Fit on the same series continues the run exactly.
func (m *AR) LoadCheckpoint(path string) error { return m.w.loadCheckpoint(path) }

// LoadWeights copies the parameters from a safetensors file, for prediction
// (graph.LoadWeights).
func (m *AR) LoadWeights(path string) error { return graph.LoadWeights(path, m.ps) }

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
