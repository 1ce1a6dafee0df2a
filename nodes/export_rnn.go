package nodes

import (
	"fmt"
	"reflect"
	"slices"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// ONNXRecurrent is what ExportRecurrentONNX wrote for a stack of L recurrent layers of D
// directions and hidden width H.
type ONNXRecurrent struct {
	// Y is the top layer's output at every step, batch-major (B, T, D·H), the directions side
	// by side, forward first (models/rnn's Outputs, stacked along the time axis).
	Y ONNXValue
	// H and C are the final states, (L·D, B, H) in PyTorch's h_n order, index l·D + d; C is
	// written for LSTM cells only.
	H, C ONNXValue
}

// ExportRecurrentONNX writes L stacked recurrent layers unrolled over the time axis of x
// (B, T, In) as L ONNX LSTM, GRU or RNN nodes, one per layer; T may be ONNXSteps, a time axis
// of any length. cells[l] holds layer l's cell
// and, for a bidirectional layer, its backward cell (models/rnn's Recurrent.Cells in rows of
// Directions); layer l+1 reads layer l's outputs. h0 and c0 are the initial states, (L·D, B, H)
// as PyTorch orders them, or ONNXValues without a name for zero states (c0 is for LSTM only).
//
// ONNX orders the gate blocks of the weights differently, so the blocks are permuted: LSTM
// i, o, f, c from PyTorch's i, f, g, o, and GRU z, r, h from r, z, n, with
// linear_before_reset = 1 for PyTorch's candidate n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).
// A bidirectional layer is one node with direction "bidirectional" and both cells' weights
// stacked. The nodes run sequence-major (T, B, ·), ONNX's default layout (ONNX Runtime's CPU
// kernels refuse layout = 1), with Transpose nodes around them.
func ExportRecurrentONNX(g ONNXGraph, cells [][]Cell, x, h0, c0 ONNXValue) (ONNXRecurrent, error) {
	r, err := planONNXRecurrent(cells, x, h0, c0)
	if err != nil {
		return ONNXRecurrent{}, err
	}
	y, err := onnxNode(g, "Transpose", []string{x.Name}, r.name+".time_major", ONNXAttr{"perm", []int{1, 0, 2}}) // (T, B, In)
	var hs, cs []string
	for l := 0; l < len(cells) && err == nil; l++ {
		if l > 0 { // the previous layer's Y (T, D, B, H) -> (T, B, D·H)
			y, err = relayout(g, y, r.label(l-1)+".next", 0, 2, 1, 3)
		}
		var ys []string
		if err == nil {
			ys, err = r.layer(g, l, y, h0.Name, c0.Name)
		}
		if err == nil {
			y, hs, cs = ys[0], append(hs, ys[1]), append(cs, ys[2:]...)
		}
	}
	if err == nil { // (T, D, B, H) -> (B, T, D·H)
		y, err = relayout(g, y, r.name+".y", 2, 0, 1, 3)
	}
	var out ONNXRecurrent
	states := []int{len(cells) * r.dirs, x.Shape[0], r.hidden}
	if err == nil {
		out.Y = ONNXValue{Name: y, Dtype: tensor.Float32, Shape: []int{x.Shape[0], x.Shape[1], r.dirs * r.hidden}}
		out.H, err = concatStates(g, hs, r.name+".h_n", states)
	}
	if err == nil && len(cs) > 0 {
		out.C, err = concatStates(g, cs, r.name+".c_n", states)
	}
	if err != nil {
		return ONNXRecurrent{}, fmt.Errorf("%s: %w", r.name, err)
	}
	return out, nil
}

// onnxRNN is a checked stack of recurrent layers to write.
type onnxRNN struct {
	name         string // the cells' name, "lstm"
	op           string // LSTM, GRU or RNN
	kind         ops.CellKind
	order        []int // ONNX's gate block k is unroll's block order[k]
	cells        [][]*cellBase
	dirs, hidden int
}

// onnxCell gives the export the cell's sizes, kind and parameter names; every cell of this
// package embeds cellBase.
func (c *cellBase) onnxCell() *cellBase { return c }

func cellBaseOf(c Cell) *cellBase {
	if cb, ok := c.(interface{ onnxCell() *cellBase }); ok && !reflect.ValueOf(c).IsNil() {
		return cb.onnxCell()
	}
	return nil
}

// planONNXRecurrent checks the cells, their sizes and the inputs' shapes.
func planONNXRecurrent(cells [][]Cell, x, h0, c0 ONNXValue) (onnxRNN, error) {
	var r onnxRNN
	if len(cells) == 0 || len(cells[0]) == 0 {
		return r, fmt.Errorf("recurrent export: no cells")
	}
	first := cellBaseOf(cells[0][0])
	if first == nil {
		return r, fmt.Errorf("recurrent export: cell %T has no ONNX export rule", cells[0][0])
	}
	r = onnxRNN{name: first.name, kind: first.kind, dirs: len(cells[0]), hidden: first.hidden}
	r.op, r.order = map[ops.CellKind]string{ops.LSTM: "LSTM", ops.GRU: "GRU"}[r.kind], []int{0}
	switch r.kind {
	case ops.LSTM:
		r.order = []int{0, 3, 1, 2}
	case ops.GRU:
		r.order = []int{1, 0, 2}
	default:
		r.op = "RNN"
	}
	if r.dirs > 2 {
		return r, fmt.Errorf("%s: layer 0 has %d cells, need 1 or 2 (bidirectional)", r.name, r.dirs)
	}
	if err := checkONNXInput(r.name, x, 3); err != nil {
		return r, err
	}
	for l, row := range cells {
		if len(row) != r.dirs {
			return r, fmt.Errorf("%s: layer %d has %d cells, layer 0 has %d", r.name, l, len(row), r.dirs)
		}
		in := x.Shape[2]
		if l > 0 {
			in = r.dirs * r.hidden
		}
		var bases []*cellBase
		for d, c := range row {
			cb := cellBaseOf(c)
			switch {
			case cb == nil:
				return r, fmt.Errorf("%s: layer %d cell %d: %T has no ONNX export rule", r.name, l, d, c)
			case cb.kind != r.kind:
				return r, fmt.Errorf("%s: layer %d cell %d is %v, layer 0 is %v", cb.label(), l, d, cb.kind, r.kind)
			case cb.hidden != r.hidden:
				return r, fmt.Errorf("%s: hidden size %d, layer 0 has %d", cb.label(), cb.hidden, r.hidden)
			case cb.in != in:
				return r, fmt.Errorf("%s: expects %d input features, its input has %d", cb.label(), cb.in, in)
			}
			bases = append(bases, cb)
		}
		r.cells = append(r.cells, bases)
	}
	return r, r.checkStates(h0, c0, x.Shape[0])
}

// checkStates checks the initial states' shapes, (L·D, B, H).
func (r onnxRNN) checkStates(h0, c0 ONNXValue, batch int) error {
	if c0.Name != "" && r.kind != ops.LSTM {
		return fmt.Errorf("%s: %v cells have no memory cell, c0 %s given", r.name, r.kind, c0.Name)
	}
	want := []int{len(r.cells) * r.dirs, batch, r.hidden}
	for _, s := range []ONNXValue{h0, c0} {
		if s.Name == "" {
			continue
		}
		if err := checkONNXInput(r.name, s, 3); err != nil {
			return err
		}
		if !slices.Equal(s.Shape, want) {
			return fmt.Errorf("%s: initial state %s must be %v (layers·directions, batch, hidden), has shape %v", r.name, s.Name, want, s.Shape)
		}
	}
	return nil
}

// label names layer l: "lstm_l0".
func (r onnxRNN) label(l int) string { return r.cells[l][0].label() }

// layer writes layer l reading in (T, B, In) and returns its outputs: Y (T, D, B, H), Y_h
// (D, B, H) and, for LSTM, Y_c.
func (r onnxRNN) layer(g ONNXGraph, l int, in, h0, c0 string) ([]string, error) {
	lab := r.label(l)
	w, err := r.weights(g, l)
	if err != nil {
		return nil, err
	}
	inputs := append([]string{in}, append(w, "", "", "")...) // X, W, R, B, sequence_lens, initial_h, initial_c
	for i, s := range []string{h0, c0} {
		if s != "" {
			if inputs[5+i], err = r.stateOf(g, s, l); err != nil {
				return nil, fmt.Errorf("%s: %w", lab, err)
			}
		}
	}
	for inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	dir := map[int]string{1: "forward", 2: "bidirectional"}[r.dirs]
	attrs := []ONNXAttr{{"hidden_size", r.hidden}, {"direction", dir}}
	switch r.kind {
	case ops.GRU:
		attrs = append(attrs, ONNXAttr{"linear_before_reset", 1})
	case ops.RNNTanh, ops.RNNReLU:
		act := map[ops.CellKind]string{ops.RNNTanh: "Tanh", ops.RNNReLU: "Relu"}[r.kind]
		attrs = append(attrs, ONNXAttr{"activations", []string{act, act}[:r.dirs]})
	}
	outs := []string{lab + ".Y", lab + ".Y_h", lab + ".Y_c"}[:map[bool]int{false: 2, true: 3}[r.kind == ops.LSTM]]
	ys, err := onnxNodes(g, r.op, inputs, outs, attrs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", lab, err)
	}
	return ys, nil
}

// weights adds layer l's weights in ONNX's layout and gate order and returns their names:
// W (D, G·H, In), R (D, G·H, H) and B (D, 2·G·H), the input biases then the recurrent ones.
func (r onnxRNN) weights(g ONNXGraph, l int) ([]string, error) {
	lab, gh, in, d := r.label(l), len(r.order)*r.hidden, r.cells[l][0].in, len(r.cells[l])
	var ws, rs, bs []float64
	for _, cb := range r.cells[l] {
		var vals [4][]float64
		shapes := [4]tensor.Shape{{gh, in}, {gh, r.hidden}, {gh}, {gh}}
		for i, name := range cb.ParamNames() {
			t, err := g.ParamValue(name)
			if err == nil && !t.Shape().Eq(shapes[i]) {
				err = fmt.Errorf("parameter %s has shape %v, want %v", name, t.Shape(), shapes[i])
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cb.label(), err)
			}
			vals[i] = graph.Float64s(t)
		}
		ws = append(ws, r.reorder(vals[0], in)...)
		rs = append(rs, r.reorder(vals[1], r.hidden)...)
		bs = append(append(bs, r.reorder(vals[2], 1)...), r.reorder(vals[3], 1)...)
	}
	names := make([]string, 3)
	for i, c := range []struct {
		part  string
		shape []int
		v     []float64
	}{{".W", []int{d, gh, in}, ws}, {".R", []int{d, gh, r.hidden}, rs}, {".B", []int{d, 2 * gh}, bs}} {
		var err error
		if names[i], err = g.Constant(lab+c.part, graph.NewTensor(tensor.Float32, c.shape, c.v)); err != nil {
			return nil, fmt.Errorf("%s: %w", lab, err)
		}
	}
	return names, nil
}

// reorder permutes the gate blocks (H rows of cols values each) of v into ONNX's order.
func (r onnxRNN) reorder(v []float64, cols int) []float64 {
	n := r.hidden * cols
	out := make([]float64, 0, len(v))
	for _, k := range r.order {
		out = append(out, v[k*n:(k+1)*n]...)
	}
	return out
}

// stateOf returns layer l's part of a (L·D, B, H) state: the state itself for one layer, a
// Slice of rows l·D to (l+1)·D otherwise.
func (r onnxRNN) stateOf(g ONNXGraph, s string, l int) (string, error) {
	if len(r.cells) == 1 {
		return s, nil
	}
	name, d := s+"."+r.label(l), int64(r.dirs)
	ins := []string{s}
	for i, v := range []int64{int64(l) * d, int64(l+1) * d, 0} {
		c, err := onnxInts(g, name+[]string{".starts", ".ends", ".axes"}[i], v)
		if err != nil {
			return "", err
		}
		ins = append(ins, c)
	}
	return onnxNode(g, "Slice", ins, name)
}

// relayout transposes a (T, D, B, H) output by perm and merges its last two axes, D and H.
func relayout(g ONNXGraph, y, name string, perm ...int) (string, error) {
	t, err := onnxNode(g, "Transpose", []string{y}, name+".transpose", ONNXAttr{"perm", perm})
	if err != nil {
		return "", err
	}
	shape, err := onnxInts(g, name+".shape", 0, 0, -1)
	if err != nil {
		return "", err
	}
	return onnxNode(g, "Reshape", []string{t, shape}, name)
}

// concatStates joins the layers' final states along axis 0.
func concatStates(g ONNXGraph, xs []string, name string, shape []int) (ONNXValue, error) {
	y := xs[0]
	var err error
	if len(xs) > 1 {
		y, err = onnxNode(g, "Concat", xs, name, ONNXAttr{"axis", 0})
	}
	return onnxResult(y, shape, err)
}
