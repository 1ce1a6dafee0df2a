package nodes_test

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

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// cellCase describes one kind of cell for table tests.
type cellCase struct {
	name string
	opts []nodes.CellOption
	make func(ps *graph.Params, name string, in, hidden int, opts ...nodes.CellOption) (nodes.Cell, error)
}

func cellNewRNN(ps *graph.Params, name string, in, hidden int, opts ...nodes.CellOption) (nodes.Cell, error) {
	return nodes.NewRNNCell(ps, name, in, hidden, opts...)
}

func cellNewLSTM(ps *graph.Params, name string, in, hidden int, opts ...nodes.CellOption) (nodes.Cell, error) {
	return nodes.NewLSTMCell(ps, name, in, hidden, opts...)
}

func cellNewGRU(ps *graph.Params, name string, in, hidden int, opts ...nodes.CellOption) (nodes.Cell, error) {
	return nodes.NewGRUCell(ps, name, in, hidden, opts...)
}

var cellKinds = []cellCase{
	{"rnn_tanh", nil, cellNewRNN},
	{"rnn_relu", []nodes.CellOption{nodes.RNNReLU()}, cellNewRNN},
	{"lstm", nil, cellNewLSTM},
	{"lstm_forget1", []nodes.CellOption{nodes.ForgetBias(1)}, cellNewLSTM},
	{"gru", nil, cellNewGRU},
}

// cellRand returns a tensor of shape with values from U(-scale, scale).
func cellRand(r *rand.Rand, dt tensor.Dtype, scale float64, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * (2*r.Float64() - 1)
	}
	return graph.NewTensor(dt, shape, v)
}

// cellUnroll builds steps of cell from inputs x0.., h0 (and c0) and returns the final state
// as one node (H, or H and C side by side).
func cellUnroll(b *graph.Builder, cell nodes.Cell, batch, steps int) (*gorgonia.Node, error) {
	h0, err := b.Input("h0", batch, cell.HiddenSize())
	if err != nil {
		return nil, err
	}
	s := nodes.State{H: h0}
	if cell.HasCell() {
		if s.C, err = b.Input("c0", batch, cell.HiddenSize()); err != nil {
			return nil, err
		}
	}
	var hs []*gorgonia.Node
	for t := 0; t < steps; t++ {
		x, err := b.Input(fmt.Sprintf("x%d", t), batch, cell.InputSize())
		if err != nil {
			return nil, err
		}
		if s, err = cell.Step(b, x, s); err != nil {
			return nil, err
		}
		hs = append(hs, s.H)
	}
	if s.C != nil {
		hs = append(hs, s.C)
	}
	return gorgonia.Concat(1, hs...)
}

// projTrainer returns a trainer, by SGD at rate lr, of the loss Σ y ⊙ proj on b's graph: a
// loss whose gradient with respect to y is proj.
func projTrainer(t *testing.T, b *graph.Builder, y, proj *gorgonia.Node, lr float64) *graph.Trainer {
	t.Helper()
	prod, err := gorgonia.HadamardProd(y, proj)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := gorgonia.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := graph.NewTrainer(b, loss, solvers.NewSGD(lr))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func cellFeeds(r *rand.Rand, dt tensor.Dtype, cell nodes.Cell, batch, steps int) graph.Feeds {
	f := graph.Feeds{"h0": cellRand(r, dt, 0.8, batch, cell.HiddenSize())}
	if cell.HasCell() {
		f["c0"] = cellRand(r, dt, 0.8, batch, cell.HiddenSize())
	}
	for t := 0; t < steps; t++ {
		f[fmt.Sprintf("x%d", t)] = cellRand(r, dt, 1, batch, cell.InputSize())
	}
	return f
}

func cellFeedNames(f graph.Feeds) []string {
	var out []string
	for n := range f {
		out = append(out, n)
	}
	return out
}

// Every cell's gradient, fused and primitive, with respect to its parameters, inputs and
// initial state, over three steps, against central finite differences in float64.
func TestCellGradCheck(t *testing.T) {
	const batch, in, hidden, steps = 3, 4, 5, 3
	for _, k := range cellKinds {
		for _, prim := range []bool{false, true} {
			name := k.name + map[bool]string{false: "/fused", true: "/primitive"}[prim]
			t.Run(name, func(t *testing.T) {
				ps := graph.NewParams(graph.Seed(7), graph.Dtype(tensor.Float64))
				opts := k.opts
				if prim {
					opts = append(append([]nodes.CellOption{}, opts...), nodes.PrimitiveOps())
				}
				cell, err := k.make(ps, "cell", in, hidden, opts...)
				if err != nil {
					t.Fatal(err)
				}
				feeds := cellFeeds(rand.New(rand.NewPCG(1, 2)), tensor.Float64, cell, batch, steps)
				rep, err := graph.GradCheck(ps, func(b *graph.Builder) (*gorgonia.Node, error) {
					return cellUnroll(b, cell, batch, steps)
				}, feeds, graph.WithRespectTo(cellFeedNames(feeds)...), graph.MaxPerTensor(0))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%d elements, worst %v", rep.Checked, rep.Worst)
			})
		}
	}
}

// The fused and the primitive cell compute the same values and gradients, in float32 and
// float64, also with 256 hidden units, where the primitive cell's gate blocks start 256
// columns apart (Gorgonia's Slice would merge them).
func TestFusedMatchesPrimitive(t *testing.T) {
	type size struct {
		hidden int
		dt     tensor.Dtype
	}
	sizes := []size{{7, tensor.Float64}, {7, tensor.Float32}, {256, tensor.Float64}}
	for _, k := range cellKinds {
		for _, sz := range sizes {
			hidden, dt := sz.hidden, sz.dt
			t.Run(fmt.Sprintf("%s/h%d/%v", k.name, hidden, dt), func(t *testing.T) {
				matchFusedPrimitive(t, dt, cellLossAndGrads(t, k, dt, hidden, false, cellFeeds),
					cellLossAndGrads(t, k, dt, hidden, true, cellFeeds))
			})
		}
	}
}

func TestCellErrors(t *testing.T) {
	ps := graph.NewParams()
	lstm, err := nodes.NewLSTMCell(ps, "enc", 8, 16, nodes.ParamSuffix("_l1"))
	if err != nil {
		t.Fatal(err)
	}
	gru, err := nodes.NewGRUCell(ps, "dec", 8, 16)
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(ps, graph.Train)
	x, _ := b.Input("x", 4, 8)
	xw, _ := b.Input("xw", 4, 5)
	x3, _ := b.Input("x3", 4, 8, 1)
	h, _ := b.Input("h", 4, 16)
	hb, _ := b.Input("hb", 3, 16)
	hw, _ := b.Input("hw", 4, 12)
	c, _ := b.Input("c", 4, 16)
	for _, tc := range []struct {
		name string
		cell nodes.Cell
		x    *gorgonia.Node
		s    nodes.State
		want string
	}{
		{"width", lstm, xw, nodes.State{H: h, C: c}, "enc_l1: expects 8 input features, input has 5"},
		{"rank", lstm, x3, nodes.State{H: h, C: c}, "enc_l1: input must be (batch, 8), has shape (4, 8, 1)"},
		{"nil input", gru, nil, nodes.State{H: h}, "dec: nil input"},
		{"no state", gru, x, nodes.State{}, "dec: the state has no hidden state H"},
		{"state batch", gru, x, nodes.State{H: hb}, "dec: hidden state must be (4, 16) (batch, hidden), has shape (3, 16)"},
		{"state width", gru, x, nodes.State{H: hw}, "dec: hidden state must be (4, 16) (batch, hidden), has shape (4, 12)"},
		{"no cell", lstm, x, nodes.State{H: h}, "enc_l1: an LSTM state needs a memory cell C"},
		{"cell shape", lstm, x, nodes.State{H: h, C: hw}, "enc_l1: memory cell must be (4, 16) (batch, hidden), has shape (4, 12)"},
		{"extra cell", gru, x, nodes.State{H: h, C: c}, "dec: gru cells have no memory cell C, the state has one"},
	} {
		_, err := tc.cell.Step(b, tc.x, tc.s)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got error %v, want %q", tc.name, err, tc.want)
		}
	}

	for _, tc := range []struct {
		name string
		make func() error
		want string
	}{
		{"sizes", func() error { _, err := nodes.NewRNNCell(ps, "r", 0, 4); return err }, "r: rnn_tanh cell sizes must be positive, got input 0, hidden 4"},
		{"relu on lstm", func() error { _, err := nodes.NewLSTMCell(ps, "l", 2, 4, nodes.RNNReLU()); return err }, "l: the ReLU nonlinearity applies to RNN cells only, not lstm"},
		{"forget on gru", func() error { _, err := nodes.NewGRUCell(ps, "g", 2, 4, nodes.ForgetBias(1)); return err }, "g: a forget-gate bias applies to LSTM cells only, not gru"},
		{"duplicate", func() error { _, err := nodes.NewGRUCell(ps, "dec", 8, 16); return err }, `dec: params: "dec.weight_ih" already exists`},
		{"slash", func() error { _, err := nodes.NewGRUCell(ps, "a/b", 8, 16); return err }, "a/b: parameter names must not contain '/'"},
	} {
		err := tc.make()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Parameter names and shapes are PyTorch's, and the initialisation is U(-1/√H, 1/√H).
func TestCellParams(t *testing.T) {
	ps := graph.NewParams()
	if _, err := nodes.NewLSTMCell(ps, "lstm", 3, 5, nodes.ParamSuffix("_l0_reverse"), nodes.ForgetBias(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.NewGRUCell(ps, "gru", 3, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.NewRNNCell(ps, "rnn", 3, 5); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{
		"lstm.weight_ih_l0_reverse": {20, 3}, "lstm.weight_hh_l0_reverse": {20, 5}, "lstm.bias_ih_l0_reverse": {20}, "lstm.bias_hh_l0_reverse": {20},
		"gru.weight_ih": {15, 3}, "gru.weight_hh": {15, 5}, "gru.bias_ih": {15}, "gru.bias_hh": {15},
		"rnn.weight_ih": {5, 3}, "rnn.weight_hh": {5, 5}, "rnn.bias_ih": {5}, "rnn.bias_hh": {5},
	}
	names := ps.Names()
	if len(names) != len(want) {
		t.Fatalf("parameters %v", names)
	}
	if got := strings.Join(names[:4], " "); got != "lstm.weight_ih_l0_reverse lstm.weight_hh_l0_reverse lstm.bias_ih_l0_reverse lstm.bias_hh_l0_reverse" {
		t.Errorf("order %s", got)
	}
	bound := 1 / math.Sqrt(5)
	for _, n := range names {
		v := ps.Value(n)
		if !v.Shape().Eq(tensor.Shape(want[n])) {
			t.Errorf("%s: shape %v, want %v", n, v.Shape(), want[n])
		}
		for i, x := range graph.Float64s(v) {
			forget := i >= 5 && i < 10 && strings.HasPrefix(n, "lstm.bias")
			switch {
			case forget && n == "lstm.bias_ih_l0_reverse":
				if x != 1 {
					t.Errorf("%s[%d] = %v, want forget bias 1", n, i, x)
				}
			case forget:
				if x != 0 {
					t.Errorf("%s[%d] = %v, want 0", n, i, x)
				}
			case math.Abs(x) > bound:
				t.Errorf("%s[%d] = %v outside ±%v", n, i, x, bound)
			}
		}
	}
}

// cellTorchCase is one case of testdata/torch_cells.json.
type cellTorchCase struct {
	Batch, Input, Hidden, Steps int
	Weights                     map[string][]float64
	X                           [][]float64
	H0, C0                      []float64
	H, C                        [][]float64
}

// The cells' forward values match PyTorch's nn.RNNCell, nn.LSTMCell and nn.GRUCell with the
// same weights (testdata/torch_cells.py made the values), fused and primitive, in float64 and
// float32.
func TestCellsMatchPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_cells.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases map[string]cellTorchCase }
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	makers := map[string]cellCase{}
	for _, k := range cellKinds {
		makers[k.name] = k
	}
	if len(ref.Cases) != 4 {
		t.Fatalf("%d reference cases, want 4", len(ref.Cases))
	}
	for name, tc := range ref.Cases {
		k, ok := makers[name]
		if !ok {
			t.Fatalf("no cell for reference case %q", name)
		}
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			for _, prim := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%v/primitive=%v", name, dt, prim), func(t *testing.T) {
					ps := graph.NewParams(graph.Dtype(dt))
					opts := k.opts
					if prim {
						opts = append(append([]nodes.CellOption{}, opts...), nodes.PrimitiveOps())
					}
					cell, err := k.make(ps, "cell", tc.Input, tc.Hidden, opts...)
					if err != nil {
						t.Fatal(err)
					}
					for w, v := range tc.Weights {
						dst := ps.Value("cell." + w)
						if dst == nil {
							t.Fatalf("no parameter cell.%s", w)
						}
						if err := graph.CopyInto(dst, graph.NewTensor(tensor.Float64, dst.Shape().Clone(), v)); err != nil {
							t.Fatal(err)
						}
					}
					b := graph.NewBuilder(ps, graph.Eval)
					if _, err := cellUnroll(b, cell, tc.Batch, tc.Steps); err != nil {
						t.Fatal(err)
					}
					// cellUnroll returns the states side by side: H_1..H_T (and C_T).
					feeds := graph.Feeds{"h0": graph.NewTensor(dt, []int{tc.Batch, tc.Hidden}, tc.H0)}
					if cell.HasCell() {
						feeds["c0"] = graph.NewTensor(dt, []int{tc.Batch, tc.Hidden}, tc.C0)
					}
					for i, x := range tc.X {
						feeds[fmt.Sprintf("x%d", i)] = graph.NewTensor(dt, []int{tc.Batch, tc.Input}, x)
					}
					got := cellRun(t, b, feeds)
					want := cellSideBySide(tc)
					tol := 1e-12
					if dt == tensor.Float32 {
						tol = 1e-5
					}
					if len(got) != len(want) {
						t.Fatalf("%d values, want %d", len(got), len(want))
					}
					for i := range want {
						if math.Abs(got[i]-want[i]) > tol {
							t.Fatalf("value %d: got %.9g, PyTorch %.9g", i, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

// cellRun compiles b with its last node as the output and runs it once.
func cellRun(t *testing.T, b *graph.Builder, feeds graph.Feeds) []float64 {
	t.Helper()
	nodes := b.Graph().AllNodes()
	return runOutput(t, b, nodes[len(nodes)-1], feeds)
}

// runOutput compiles b with the output y and returns y's values after one run.
func runOutput(t *testing.T, b *graph.Builder, y *gorgonia.Node, feeds graph.Feeds) []float64 {
	t.Helper()
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"y": y})
	if err != nil {
		t.Fatal(err)
	}
	out, err := prog.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return graph.Float64s(out["y"])
}

// cellSideBySide lays PyTorch's states out as cellUnroll does: each row holds H_1..H_T, then
// C_T.
func cellSideBySide(tc cellTorchCase) []float64 {
	var out []float64
	for b := 0; b < tc.Batch; b++ {
		for t := 0; t < tc.Steps; t++ {
			out = append(out, tc.H[t][b*tc.Hidden:(b+1)*tc.Hidden]...)
		}
		if len(tc.C) > 0 {
			out = append(out, tc.C[tc.Steps-1][b*tc.Hidden:(b+1)*tc.Hidden]...)
		}
	}
	return out
}
