package rnn

import (
	"errors"
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
)

// LatentAR is a latent autoregressive model (COURSE.md, point 9): instead of a fixed window of
// raw values it keeps a latent state h_t that summarises everything seen so far, updated by a
// recurrent cell (RNN, LSTM or GRU), and predicts the next value from it:
//
//	h_t = cell(x_t, h_{t-1}),   x̂_{t+1} = W_head h_t + b_head.
//
// The state has a fixed size however long the past is. Trained and run on windows of the last
// Window() values, read from a zero state, it is a Predictor like AR; a longer window lets the
// state see further back.
//
// It is a Net with one input and one output, read out from the last state and trained on the
// mean squared error: parameters "<name>.rnn.weight_ih_l0" (G·H, 1), "<name>.rnn.weight_hh_l0"
// (G·H, H), the biases, and "<name>.head.weight" (1, H), "<name>.head.bias" (1), where G is
// the number of gate blocks (1 for RNN, 4 for LSTM, 3 for GRU).
//
// It trains, predicts, evaluates and saves itself as AR does.
type LatentAR struct {
	name   string
	ps     *graph.Params
	window int
	net    *Net
	w      *windowTrainer
}

// NewLatentAR creates in ps a latent AR model of kind with hidden state width hidden that
// reads windows of window values. opts shape the recurrent network (Layers, Dropout,
// ForgetBias, ...); Embed, Masked, WithReadout and WithLoss do not apply.
func NewLatentAR(ps *graph.Params, name string, kind Kind, hidden, window int, opts ...Option) (*LatentAR, error) {
	switch {
	case ps == nil:
		return nil, fmt.Errorf("%s: nil params", name)
	case name == "":
		return nil, errors.New("latent ar: empty name")
	case window < 1:
		return nil, fmt.Errorf("%s: window of %d values, need at least 1", name, window)
	}
	all := append(append([]Option(nil), opts...), WithReadout(LastState), WithLoss(MSE))
	net, err := NewNet(ps, name, kind, 1, hidden, 1, all...)
	if err != nil {
		return nil, err
	}
	if net.Embeds() || net.Masked() {
		return nil, fmt.Errorf("%s: a latent AR model reads values: Embed and Masked do not apply", name)
	}
	m := &LatentAR{name: name, ps: ps, window: window, net: net}
	m.w = newWindowTrainer(name, ps, m)
	return m, nil
}

// Name is the model's name, the prefix of its parameters.
func (m *LatentAR) Name() string { return m.name }

// Window is the number of past values the model reads.
func (m *LatentAR) Window() int { return m.window }

// Net is the recurrent network with its head.
func (m *LatentAR) Net() *Net { return m.net }

// Params is the parameter set the model lives in.
func (m *LatentAR) Params() *graph.Params { return m.ps }

// Run is the model's training run: its solver, counters and history.
func (m *LatentAR) Run() *graph.Run { return &m.w.run }

// Fit trains the model on the windows of Window() values of a series and the value after
// each, as AR.Fit does (the same defaults), with full backpropagation through time over each
// window from a zero state.
func (m *LatentAR) Fit(series []float64, opts ...graph.FitOption) (*graph.History, error) {
	return m.w.fit(series, opts)
}

// TrainBatch makes one update on a batch of windows X (B, Window()) and targets Y (B, 1): the
// model's part of graph.Fit's loop.
func (m *LatentAR) TrainBatch(bt *data.SequenceBatch, cfg *graph.FitConfig) (graph.BatchStats, error) {
	return m.w.TrainBatch(bt, cfg)
}

// Validate scores a validation series ([]float64) with Evaluate.
func (m *LatentAR) Validate(set any) (graph.Metrics, error) { return m.w.Validate(set) }

// Evaluate returns the mean squared error of the model's one-step predictions of every window
// of a series.
func (m *LatentAR) Evaluate(series []float64) (graph.Metrics, error) { return m.w.evaluate(series) }

// Predict maps n windows, (n, Window()) row-major, to n predictions.
func (m *LatentAR) Predict(windows []float64) ([]float64, error) { return m.w.predict(windows) }

// latentSpec describes a latent AR model in its checkpoints.
type latentSpec struct {
	Model  string  `json:"model"`
	Name   string  `json:"name"`
	Window int     `json:"window"`
	Net    netSpec `json:"net"`
}

func (m *LatentAR) spec() any {
	return latentSpec{Model: "latent_ar", Name: m.name, Window: m.window, Net: m.net.spec()}
}

// SaveCheckpoint writes the parameters (of the whole parameter set), the random source, the
// training run and the model's description to path, atomically.
func (m *LatentAR) SaveCheckpoint(path string) error { return m.w.saveCheckpoint(path) }

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint for a model built alike; the
// next Fit on the same series continues the run exactly.
func (m *LatentAR) LoadCheckpoint(path string) error { return m.w.loadCheckpoint(path) }

// LoadWeights copies the parameters from a safetensors file, for prediction
// (graph.LoadWeights).
func (m *LatentAR) LoadWeights(path string) error { return graph.LoadWeights(path, m.ps) }

func (m *LatentAR) build(b *graph.Builder, batch int) (pred, loss *gorgonia.Node, err error) {
	seq, err := m.net.Build(b, batch, m.window, nil)
	if err != nil {
		return nil, nil, err
	}
	return seq.Pred, seq.Loss, nil // (B, 1), scalar
}

func (m *LatentAR) feeds(dt tensor.Dtype, x, y []float64, batch int) (graph.Feeds, error) {
	if y == nil {
		y = make([]float64, batch)
	}
	bt := &data.SequenceBatch{
		X: graph.NewTensor(tensor.Float64, []int{batch, m.window, 1}, x),
		Y: graph.NewTensor(tensor.Float64, []int{batch, 1}, y),
	}
	return m.net.Feeds(bt, 0, m.window)
}
