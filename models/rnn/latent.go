package rnn

import (
	"errors"
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

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
type LatentAR struct {
	name   string
	ps     *graph.Params
	window int
	net    *Net
	cache  predictCache
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
	return &LatentAR{name: name, ps: ps, window: window, net: net}, nil
}

// Name is the model's name, the prefix of its parameters.
func (m *LatentAR) Name() string { return m.name }

// Window is the number of past values the model reads.
func (m *LatentAR) Window() int { return m.window }

// Net is the recurrent network with its head.
func (m *LatentAR) Net() *Net { return m.net }

// Params is the parameter set the model lives in.
func (m *LatentAR) Params() *graph.Params { return m.ps }

// Fit trains the model on windows x, (N, Window()) row-major, and targets y (N), as
// data.Windows returns them, by minibatch gradient descent on the mean squared error with full
// backpropagation through time over each window (see FitOption for the defaults).
func (m *LatentAR) Fit(x, y []float64, opts ...FitOption) (*FitResult, error) {
	return fitRegressor(m.ps, m, m.name, x, y, opts)
}

// Predict maps n windows, (n, Window()) row-major, to n predictions.
func (m *LatentAR) Predict(windows []float64) ([]float64, error) {
	return predictRegressor(m.ps, m, m.name, &m.cache, windows)
}

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
	bt := &Batch{
		X: graph.NewTensor(tensor.Float64, []int{batch, m.window, 1}, x),
		Y: graph.NewTensor(tensor.Float64, []int{batch, 1}, y),
	}
	return m.net.Feeds(bt, 0, m.window)
}
