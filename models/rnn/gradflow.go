package rnn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// GradientFlow measures how far back through time the gradient of a net's last loss reaches.
// It unrolls net over the T steps of the sequences of a set (in evaluation mode, from zero
// state, all of them in one batch), takes the loss ℓ_T of the last step (the EveryStep loss of
// step T alone, or the LastState loss) and returns, for k = 1..T, the mean over the sequences
// of the per-sequence norm
//
//	‖∂ℓ_T / ∂h_{T-k}‖
//
// where h_t is the hidden state of the top layer (forward direction) after step t, h_0 the
// initial state. flow[k-1] is the norm k steps back. By the chain rule
// ∂ℓ_T/∂h_{T-k} = ∂ℓ_T/∂h_T · Π_{s=T-k+1..T} ∂h_s/∂h_{s-1}: a product of k step Jacobians,
// which shrinks geometrically when they are contractions (the vanishing gradient of a plain
// RNN) and can stay near 1 along a gated cell's memory path (an LSTM's forget gate near 1, a
// GRU's update gate near 1). For an LSTM, h_t is the hidden state only: the gradient reaching
// it comes through the gates of the next step, and the memory cell c_t is a separate node.
//
// The hidden states are nodes of the unrolled graph, so the probe differentiates ℓ_T with
// respect to them with Gorgonia's symbolic Grad, in a graph of its own built for the probe,
// where a zero input is added to each hidden state (Gorgonia differentiates only with respect
// to inputs); nothing is trained.
func GradientFlow(net *Net, set *data.SequenceSet) ([]float64, error) {
	if net == nil {
		return nil, fmt.Errorf("gradient flow: nil net")
	}
	l := net.label()
	if net.Readout() == MeanPool {
		return nil, fmt.Errorf("%s: gradient flow needs a loss at the last step (an every-step or last-state readout), the net has a mean-pool readout", l)
	}
	if err := net.checkSet(set, "probe set", true); err != nil {
		return nil, err
	}
	bt := &data.SequenceBatch{X: set.X, Y: set.Y, Mask: set.Mask}
	B, T := bt.Size(), bt.Steps()
	b := graph.NewBuilder(net.ps, graph.Eval)
	// Gorgonia differentiates only with respect to input nodes: the probe adds a zero input
	// δ_t to the top layer's hidden state h_t, and ∂ℓ_T/∂δ_t = ∂ℓ_T/∂h_t.
	top := net.rec.Layers() - 1
	H := net.rec.HiddenSize()
	deltas := make([]*gorgonia.Node, T+1) // deltas[t] is added to h_t, t = 0..T
	hook := func(layer, d, t int, s nodes.State) (nodes.State, error) {
		if layer != top || d != 0 {
			return s, nil
		}
		delta, err := b.Input(stepName("probe.dh", t+1), B, H)
		if err != nil {
			return s, err
		}
		deltas[t+1] = delta
		if s.H, err = gorgonia.Add(s.H, delta); err != nil {
			return s, err
		}
		return s, nil
	}
	seq, err := net.build(b, B, T, nil, hook)
	if err != nil {
		return nil, err
	}
	grads, err := gorgonia.Grad(seq.Loss, deltas...)
	if err != nil {
		return nil, fmt.Errorf("%s: gradient flow: %w", l, err)
	}
	outs := map[string]*gorgonia.Node{}
	for t, g := range grads {
		outs[stepName("dh", t)] = g
	}
	prog, err := graph.Compile(b, outs)
	if err != nil {
		return nil, fmt.Errorf("%s: gradient flow: %w", l, err)
	}
	defer prog.Close()
	feeds, err := net.feeds(bt, 0, T, func(s int) bool { return s == T-1 })
	if err != nil {
		return nil, err
	}
	for t := range deltas {
		feeds[stepName("probe.dh", t)] = graph.NewTensor(net.dtype, []int{B, H}, nil)
	}
	res, err := prog.Run(feeds)
	if err != nil {
		return nil, fmt.Errorf("%s: gradient flow: %w", l, err)
	}
	flow := make([]float64, T)
	for k := 1; k <= T; k++ {
		g := graph.Float64s(res[stepName("dh", T-k)]) // (B, H)
		// The loss is a mean over the batch: sequence b's own gradient is B times its row.
		sum := 0.0
		for bi := 0; bi < B; bi++ {
			sq := 0.0
			for _, v := range g[bi*H : (bi+1)*H] {
				sq += v * v
			}
			sum += float64(B) * math.Sqrt(sq)
		}
		flow[k-1] = sum / float64(B)
	}
	return flow, nil
}
