package rnn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// The probe's norms equal those of finite differences of the last step's loss with respect to
// the hidden state k steps back: the state at T-k is computed, then fed as the initial state of
// a k-step graph and perturbed (the LSTM's memory cell held fixed).
func TestGradientFlowMatchesFiniteDifferences(t *testing.T) {
	const batch, steps = 3, 7
	for _, kind := range Kinds() {
		for _, readout := range []Readout{LastState, EveryStep} {
			t.Run(kind.String()+"/"+readout.String(), func(t *testing.T) {
				ps := graph.NewParams(graph.Seed(31), graph.Dtype(tensor.Float64))
				loss := MSE
				if readout == EveryStep {
					loss = CrossEntropy
				}
				net, err := NewNet(ps, "p", kind, 2, 4, 3, WithReadout(readout), WithLoss(loss), Layers(2))
				if err != nil {
					t.Fatal(err)
				}
				bt := randBatch(rand.New(rand.NewPCG(3, 1)), net, batch, steps, nil)
				flow, err := GradientFlow(net, &data.SequenceSet{X: bt.X, Y: bt.Y})
				if err != nil {
					t.Fatal(err)
				}
				if len(flow) != steps {
					t.Fatalf("%d norms, want %d", len(flow), steps)
				}
				states := statesAt(t, net, bt)
				for _, k := range []int{1, 3, steps} {
					num := probeFD(t, net, bt, states[steps-k], k)
					if math.Abs(num-flow[k-1]) > 1e-7*(1+num) {
						t.Errorf("k = %d: probe %.10g, finite differences %.10g", k, flow[k-1], num)
					}
				}
				t.Logf("flow %.3g", flow)
			})
		}
	}
}

// statesAt runs net over the batch from zero state and returns every layer's state after
// each step t = 0..T (index t: the state after t steps), as feeds of the trainer's names.
func statesAt(t *testing.T, net *Net, bt *data.SequenceBatch) []graph.Feeds {
	t.Helper()
	B, T := bt.Size(), bt.Steps()
	b := graph.NewBuilder(net.Params(), graph.Eval)
	seq, err := net.Build(b, B, T, nil)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]*gorgonia.Node{}
	for i := range net.Cells() {
		for s := 0; s < T; s++ {
			st := seq.Unrolled.States[i][s]
			outs[stepName(StateName(false, i, false)+"@", s+1)] = st.H
			if st.C != nil {
				outs[stepName(StateName(true, i, false)+"@", s+1)] = st.C
			}
		}
	}
	prog, err := graph.Compile(b, outs)
	if err != nil {
		t.Fatal(err)
	}
	f, err := net.Feeds(bt, 0, T)
	if err != nil {
		t.Fatal(err)
	}
	res, err := prog.Run(f)
	if err != nil {
		t.Fatal(err)
	}
	all := []graph.Feeds{zeroState(net, B)}
	for s := 1; s <= T; s++ {
		fs := graph.Feeds{}
		for i, c := range net.Cells() {
			fs[StateName(false, i, false)] = res[stepName(StateName(false, i, false)+"@", s)]
			if c.HasCell() {
				fs[StateName(true, i, false)] = res[stepName(StateName(true, i, false)+"@", s)]
			}
		}
		all = append(all, fs)
	}
	return all
}

// probeFD is the mean per-sequence norm of the finite-difference gradient of the last step's
// loss with respect to the top layer's hidden state fed as the initial state of the last k
// steps.
func probeFD(t *testing.T, net *Net, bt *data.SequenceBatch, init graph.Feeds, k int) float64 {
	t.Helper()
	B, T := bt.Size(), bt.Steps()
	loss := lossProgram(t, net, B, k)
	f, err := net.feeds(bt, T-k, k, func(s int) bool { return s == T-1 })
	if err != nil {
		t.Fatal(err)
	}
	f = merge(f)
	for name, v := range init {
		f[name] = v.Clone().(*tensor.Dense)
	}
	top := StateName(false, net.Recurrent().Layers()-1, false)
	h := f[top].Data().([]float64)
	H := net.Recurrent().HiddenSize()
	const eps = 1e-5
	mean := 0.0
	for b := 0; b < B; b++ {
		sq := 0.0
		for j := 0; j < H; j++ {
			i := b*H + j
			x0 := h[i]
			h[i] = x0 + eps
			lp := loss(f)
			h[i] = x0 - eps
			lm := loss(f)
			h[i] = x0
			g := float64(B) * (lp - lm) / (2 * eps)
			sq += g * g
		}
		mean += math.Sqrt(sq) / float64(B)
	}
	return mean
}

var _ = nodes.State{}
