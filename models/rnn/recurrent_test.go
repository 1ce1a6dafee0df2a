package rnn

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

type torchRecurrentCase struct {
	Batch, Steps, Input, Hidden, Layers int
	Lengths                             []int
	Weights                             map[string][]float64
	X, H0, C0                           []float64
	Full, Packed                        struct{ Out, HN, CN []float64 }
}

func (c *torchRecurrentCase) UnmarshalJSON(b []byte) error {
	type plain torchRecurrentCase
	var raw struct {
		plain
		Full, Packed map[string][]float64
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*c = torchRecurrentCase(raw.plain)
	c.Full.Out, c.Full.HN, c.Full.CN = raw.Full["out"], raw.Full["h_n"], raw.Full["c_n"]
	c.Packed.Out, c.Packed.HN, c.Packed.CN = raw.Packed["out"], raw.Packed["h_n"], raw.Packed["c_n"]
	return nil
}

// A two-layer bidirectional network loaded with the state_dict of PyTorch's nn.RNN, nn.LSTM
// and nn.GRU under PyTorch's own names gives PyTorch's outputs and final states, on full
// sequences and, with a mask, on sequences of different lengths (PyTorch's packed sequences).
// testdata/torch_recurrent.py made the values.
func TestRecurrentMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_recurrent.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases map[string]torchRecurrentCase }
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) != 3 {
		t.Fatalf("%d cases, want 3", len(ref.Cases))
	}
	for name, tc := range ref.Cases {
		kind, err := ParseKind(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, masked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/masked=%v", name, masked), func(t *testing.T) {
				ps := graph.NewParams(graph.Dtype(tensor.Float64))
				rec, err := NewRecurrent(ps, "rnn", kind, tc.Input, tc.Hidden, Layers(tc.Layers), Bidirectional())
				if err != nil {
					t.Fatal(err)
				}
				if len(ps.Names()) != len(tc.Weights) {
					t.Fatalf("%d parameters, PyTorch has %d", len(ps.Names()), len(tc.Weights))
				}
				for k, v := range tc.Weights {
					dst := ps.Value("rnn." + k)
					if dst == nil {
						t.Fatalf("no parameter rnn.%s", k)
					}
					if err := graph.CopyInto(dst, graph.NewTensor(tensor.Float64, dst.Shape().Clone(), v)); err != nil {
						t.Fatal(err)
					}
				}
				B, T, I, H := tc.Batch, tc.Steps, tc.Input, tc.Hidden
				b := graph.NewBuilder(ps, graph.Eval)
				feeds := graph.Feeds{}
				xs := make([]*gorgonia.Node, T)
				var masks []*gorgonia.Node
				for s := range xs {
					xs[s], _ = b.Input(stepName("x", s), B, I)
					v := make([]float64, B*I)
					for bi := 0; bi < B; bi++ {
						copy(v[bi*I:(bi+1)*I], tc.X[(bi*T+s)*I:(bi*T+s+1)*I])
					}
					feeds[stepName("x", s)] = graph.NewTensor(tensor.Float64, []int{B, I}, v)
					if masked {
						m, _ := b.Input(stepName("m", s), B, 1)
						masks = append(masks, m)
						mv := make([]float64, B)
						for bi, l := range tc.Lengths {
							if s < l {
								mv[bi] = 1
							}
						}
						feeds[stepName("m", s)] = graph.NewTensor(tensor.Float64, []int{B, 1}, mv)
					}
				}
				init := make([]nodes.State, tc.Layers*2)
				for k := range init {
					init[k].H, _ = b.Input(stepName("h0_", k), B, H)
					feeds[stepName("h0_", k)] = graph.NewTensor(tensor.Float64, []int{B, H}, tc.H0[k*B*H:(k+1)*B*H])
					if kind == LSTM {
						init[k].C, _ = b.Input(stepName("c0_", k), B, H)
						feeds[stepName("c0_", k)] = graph.NewTensor(tensor.Float64, []int{B, H}, tc.C0[k*B*H:(k+1)*B*H])
					}
				}
				u, err := rec.Forward(b, xs, init, masks)
				if err != nil {
					t.Fatal(err)
				}
				outs := map[string]*gorgonia.Node{}
				for s, o := range u.Outputs {
					outs[stepName("o", s)] = o
				}
				for k, st := range u.Final {
					outs[stepName("h", k)] = st.H
					if st.C != nil {
						outs[stepName("c", k)] = st.C
					}
				}
				prog, err := graph.Compile(b, outs)
				if err != nil {
					t.Fatal(err)
				}
				res, err := prog.Run(feeds)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.Full
				if masked {
					want = tc.Packed
				}
				worst := 0.0
				for s := 0; s < T; s++ {
					got := graph.Float64s(res[stepName("o", s)]) // (B, 2H)
					for bi := 0; bi < B; bi++ {
						for j := 0; j < 2*H; j++ {
							worst = math.Max(worst, math.Abs(got[bi*2*H+j]-want.Out[(bi*T+s)*2*H+j]))
						}
					}
				}
				for k := range u.Final {
					for i, v := range graph.Float64s(res[stepName("h", k)]) {
						worst = math.Max(worst, math.Abs(v-want.HN[k*B*H+i]))
					}
					if kind == LSTM {
						for i, v := range graph.Float64s(res[stepName("c", k)]) {
							worst = math.Max(worst, math.Abs(v-want.CN[k*B*H+i]))
						}
					}
				}
				if worst > 1e-12 {
					t.Fatalf("largest difference from PyTorch %.3g", worst)
				}
			})
		}
	}
}

// Padded steps change neither the loss nor the gradients: changing the inputs and targets at
// padded steps leaves both exactly as they were, and a padded sequence gets the final state of
// the same sequence unpadded.
func TestMaskedPaddingChangesNothing(t *testing.T) {
	const batch, steps = 3, 6
	lengths := []int{6, 2, 4}
	for _, kind := range Kinds() {
		t.Run(kind.String(), func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(9), graph.Dtype(tensor.Float64))
			net, err := NewNet(ps, "", kind, 2, 3, 2, Layers(2), Masked())
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(4, 4))
			bt := randBatch(r, net, batch, steps, lengths)
			tr := newSegments(net, false)
			g1, err := tr.gradients(bt, steps)
			if err != nil {
				t.Fatal(err)
			}
			bt2 := &data.SequenceBatch{X: bt.X.Clone().(*tensor.Dense), Y: bt.Y.Clone().(*tensor.Dense), Mask: bt.Mask}
			x, y := bt2.X.Data().([]float64), bt2.Y.Data().([]float64)
			for b, l := range lengths {
				for s := l; s < steps; s++ {
					x[(b*steps+s)*2] += 3
					y[b*steps+s] = float64(1 - int(y[b*steps+s]))
				}
			}
			g2, err := tr.gradients(bt2, steps)
			if err != nil {
				t.Fatal(err)
			}
			if g1[0].Loss != g2[0].Loss {
				t.Errorf("loss %v, with other padding %v", g1[0].Loss, g2[0].Loss)
			}
			for name, g := range g1[0].Grads {
				if d := maxAbsDiff(g, g2[0].Grads[name]); d != 0 {
					t.Errorf("%s: gradient changes by %g with other padding", name, d)
				}
			}

			// Sequence 1 (length 2) alone, unpadded: its final states equal the padded ones.
			final := func(bt *data.SequenceBatch, b, k int) []float64 {
				bb := graph.NewBuilder(ps, graph.Eval)
				seq, err := net.Build(bb, bt.Size(), k, nil)
				if err != nil {
					t.Fatal(err)
				}
				outs := map[string]*gorgonia.Node{}
				for i, st := range seq.Unrolled.Final {
					outs[stepName("h", i)] = st.H
				}
				prog, err := graph.Compile(bb, outs)
				if err != nil {
					t.Fatal(err)
				}
				f, err := net.Feeds(bt, 0, k)
				if err != nil {
					t.Fatal(err)
				}
				res, err := prog.Run(f)
				if err != nil {
					t.Fatal(err)
				}
				var v []float64
				for i := range seq.Unrolled.Final {
					h := graph.Float64s(res[stepName("h", i)])
					v = append(v, h[b*3:(b+1)*3]...)
				}
				return v
			}
			short := &data.SequenceBatch{
				X:    graph.NewTensor(tensor.Float64, []int{1, 2, 2}, x[1*steps*2:1*steps*2+4]),
				Y:    graph.NewTensor(tensor.Float64, []int{1, 2}, y[1*steps:1*steps+2]),
				Mask: graph.NewTensor(tensor.Float64, []int{1, 2}, []float64{1, 1}),
			}
			a, want := final(bt2, 1, steps), final(short, 0, 2)
			for i := range want {
				if math.Abs(a[i]-want[i]) > 1e-15 {
					t.Fatalf("final state of the padded sequence %v, unpadded %v", a, want)
				}
			}
		})
	}
}

func TestRecurrentErrors(t *testing.T) {
	ps := graph.NewParams()
	rec, err := NewRecurrent(ps, "enc", LSTM, 4, 8, Layers(2))
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(ps, graph.Eval)
	x, _ := b.Input("x", 3, 4)
	x5, _ := b.Input("x5", 3, 5)
	x2, _ := b.Input("x2", 2, 4)
	h, _ := b.Input("h", 3, 8)
	hw, _ := b.Input("hw", 3, 7)
	m, _ := b.Input("m", 3)
	mw, _ := b.Input("mw", 2)
	good := []nodes.State{{H: h, C: h}, {H: h, C: h}}
	for _, tc := range []struct {
		name string
		xs   []*gorgonia.Node
		init []nodes.State
		mask []*gorgonia.Node
		want string
	}{
		{"empty", nil, nil, nil, "enc: empty sequence: no time steps to unroll"},
		{"width", []*gorgonia.Node{x, x5}, nil, nil, "enc: expects 4 input features, step 1 input has 5"},
		{"batch", []*gorgonia.Node{x, x2}, nil, nil, "enc: step 1 input has batch size 2, step 0 has 3"},
		{"states", []*gorgonia.Node{x}, good[:1], nil, "enc: 1 initial states, want 2: one per layer and direction"},
		{"state shape", []*gorgonia.Node{x}, []nodes.State{{H: h, C: h}, {H: hw, C: h}}, nil, "enc: step 0: enc_l1: hidden state must be (3, 8) (batch, hidden), has shape (3, 7)"},
		{"mask steps", []*gorgonia.Node{x, x}, nil, []*gorgonia.Node{m}, "enc: mask has 1 steps, the sequence 2"},
		{"mask shape", []*gorgonia.Node{x}, nil, []*gorgonia.Node{mw}, "enc: step 0: mask must be (3) or (3, 1), has shape (2)"},
	} {
		_, err := rec.Forward(b, tc.xs, tc.init, tc.mask)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"layers", func() error { _, err := NewRecurrent(ps, "a", GRU, 2, 2, Layers(0)); return err }(), "a: 0 layers, need at least 1"},
		{"net option", func() error { _, err := NewRecurrent(ps, "a", GRU, 2, 2, Masked()); return err }(), "a: option Masked applies to a Net only"},
		{"relu", func() error { _, err := NewRecurrent(ps, "a", GRU, 2, 2, ReLU()); return err }(), "a: the ReLU nonlinearity applies to RNN cells only, not gru"},
		{"dropout", func() error { _, err := NewRecurrent(ps, "a", GRU, 2, 2, Dropout(1)); return err }(), "a: a.dropout: dropout probability must be in [0, 1), got 1"},
		{"kind", func() error { _, err := ParseKind("transformer"); return err }(), `unknown recurrent cell "transformer" (rnn, lstm or gru)`},
	} {
		if tc.err == nil || !strings.HasPrefix(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, tc.err, tc.want)
		}
	}
}
