package nodes

import (
	"fmt"
	"reflect"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// This file is how unroll's layers describe themselves to an ONNX writer (package onnx): the
// writer implements ONNXGraph, a layer implements Exporter and adds the ONNX operators that
// compute its Forward in evaluation mode. Nothing here knows the protobuf format, and package
// onnx knows nothing of the layers' insides.

// ONNXBatch marks the batch axis in an ONNXValue's shape: it is dynamic in the written file,
// so one file runs any batch size.
const ONNXBatch = -1

// ONNXValue is a tensor of an ONNX graph being written: its name in the graph, its element
// type (tensor.Float32, or tensor.Int64 for ids) and its shape, with ONNXBatch for the batch
// axis, e.g. (ONNXBatch, 1, 28, 28) for images.
type ONNXValue struct {
	Name  string
	Dtype tensor.Dtype
	Shape []int
}

// ONNXAttr is an attribute of an ONNX node. Value is an int or int64 (INT), a float32 or
// float64 (FLOAT), a string (STRING), or a slice of one of them (INTS, FLOATS, STRINGS).
type ONNXAttr struct {
	Name  string
	Value any
}

// ONNXGraph is an ONNX graph being written, as a layer sees it; package onnx implements it.
type ONNXGraph interface {
	// ParamValue returns the value of the model's parameter or buffer called name.
	ParamValue(name string) (*tensor.Dense, error)
	// Param adds the model's parameter or buffer called name to the graph as an initializer,
	// once, and returns its name in the graph (name itself unless that was taken).
	Param(name string) (string, error)
	// Constant adds t (float32; float64 is written as float32; int64) as an initializer with a
	// fresh name made from name and returns that name.
	Constant(name string, t *tensor.Dense) (string, error)
	// Node adds a node of the ONNX operator opType (default domain) reading inputs ("" leaves
	// an optional input out) and returns the names of its outputs: fresh names made from
	// outputs.
	Node(opType string, inputs, outputs []string, attrs ...ONNXAttr) ([]string, error)
}

// Exporter is a layer that writes itself into an ONNX graph: ExportONNX adds the operators that
// compute the layer's evaluation-mode Forward of x and returns their result, or an error naming
// the layer. A model exports by calling it on each of its layers in turn, each reading the
// previous one's output (package onnx's Model.Layers does this); a custom layer exports by
// implementing it.
type Exporter interface {
	ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error)
}

// onnxNodes adds a node and returns the names of its outputs.
func onnxNodes(g ONNXGraph, op string, inputs, outs []string, attrs ...ONNXAttr) ([]string, error) {
	names, err := g.Node(op, inputs, outs, attrs...)
	if err == nil && len(names) != len(outs) {
		err = fmt.Errorf("%s node %s: the graph returned %d output names for %d outputs", op, outs[0], len(names), len(outs))
	}
	return names, err
}

// onnxNode adds a node with one output named out and returns its name.
func onnxNode(g ONNXGraph, op string, inputs []string, out string, attrs ...ONNXAttr) (string, error) {
	names, err := onnxNodes(g, op, inputs, []string{out}, attrs...)
	if err != nil {
		return "", err
	}
	return names[0], nil
}

// onnxInts adds an int64 constant.
func onnxInts(g ONNXGraph, name string, v ...int64) (string, error) {
	return g.Constant(name, tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v)))
}

// checkONNXInput checks that x is a float tensor of rank rank (any rank when rank is 0).
func checkONNXInput(layer string, x ONNXValue, rank int) error {
	switch {
	case x.Name == "":
		return fmt.Errorf("%s: onnx input has no name", layer)
	case x.Dtype != tensor.Float32:
		return fmt.Errorf("%s: onnx input %s is %v, need float32", layer, x.Name, x.Dtype)
	case rank > 0 && len(x.Shape) != rank:
		return fmt.Errorf("%s: onnx input %s must have %d axes, has shape %v", layer, x.Name, rank, x.Shape)
	case rank == 0 && len(x.Shape) == 0:
		return fmt.Errorf("%s: onnx input %s has no shape", layer, x.Name)
	}
	return nil
}

// onnxResult is the float32 value y of shape shape, or the error.
func onnxResult(y string, shape []int, err error) (ONNXValue, error) {
	if err != nil {
		return ONNXValue{}, err
	}
	return ONNXValue{Name: y, Dtype: tensor.Float32, Shape: shape}, nil
}

// onnxLayer adds the node op named layer reading x and the parameters params; errors name the
// layer.
func onnxLayer(g ONNXGraph, layer, op, x string, params []string, attrs ...ONNXAttr) (string, error) {
	inputs := []string{x}
	for _, n := range params {
		p, err := g.Param(n)
		if err != nil {
			return "", fmt.Errorf("%s: %w", layer, err)
		}
		inputs = append(inputs, p)
	}
	y, err := onnxNode(g, op, inputs, layer, attrs...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", layer, err)
	}
	return y, nil
}

// weightAndBias lists a layer's parameters, "<name>.weight" and, with bias, "<name>.bias".
func weightAndBias(name string, bias bool) []string {
	if bias {
		return []string{name + ".weight", name + ".bias"}
	}
	return []string{name + ".weight"}
}

// ExportONNX writes the layer as one Gemm node, y = x Wᵀ + b (transB = 1).
func (d *Dense) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if err := checkONNXInput(d.name, x, 2); err != nil {
		return ONNXValue{}, err
	}
	if x.Shape[1] != d.in {
		return ONNXValue{}, fmt.Errorf("%s: expects %d input features, input has %d", d.name, d.in, x.Shape[1])
	}
	y, err := onnxLayer(g, d.name, "Gemm", x.Name, weightAndBias(d.name, d.bias), ONNXAttr{"transB", 1})
	return onnxResult(y, []int{x.Shape[0], d.out}, err)
}

// windowAttrs are the ONNX attributes of a sliding window: kernel_shape, strides, pads (begins
// then ends) and, when withDilation, dilations; a 1-D window has the width axis only.
func windowAttrs(w window, dims int, withDilation bool) []ONNXAttr {
	k, s, p, d := []int{w.kh, w.kw}, []int{w.sh, w.sw}, []int{w.pt, w.pl, w.pb, w.pr}, []int{w.dh, w.dw}
	if dims == 1 {
		k, s, p, d = k[1:], s[1:], []int{w.pl, w.pr}, d[1:]
	}
	attrs := []ONNXAttr{{"kernel_shape", k}, {"strides", s}, {"pads", p}}
	if withDilation {
		attrs = append(attrs, ONNXAttr{"dilations", d})
	}
	return attrs
}

// ExportONNX writes the convolution as a Conv node with its kernel, strides, padding per side
// (SamePadding resolved for x's size) and dilation, followed by a Relu node with FusedReLU.
func (c *conv) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if err := checkONNXInput(c.name, x, c.dims+2); err != nil {
		return ONNXValue{}, err
	}
	win, shape, err := c.geometry(x.Shape)
	if err != nil {
		return ONNXValue{}, err
	}
	attrs := append(windowAttrs(win, c.dims, true), ONNXAttr{"group", 1})
	y, err := onnxLayer(g, c.name, "Conv", x.Name, weightAndBias(c.name, c.bias), attrs...)
	if err == nil && c.relu {
		y, err = onnxLayer(g, c.name+".relu", "Relu", y, nil)
	}
	return onnxResult(y, shape, err)
}

// ExportONNX writes the pooling as a MaxPool node (with its dilation) or an AveragePool node
// (count_include_pad unless ExcludePadding), padding per side, floor rounding.
func (p *pool) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if err := checkONNXInput(p.name, x, p.dims+2); err != nil {
		return ONNXValue{}, err
	}
	win, shape, err := p.geometry(x.Shape)
	if err != nil {
		return ONNXValue{}, err
	}
	op, attrs := "MaxPool", windowAttrs(win, p.dims, true)
	if p.kind == avgPool {
		include := map[bool]int{false: 1, true: 0}[p.excludePad]
		op, attrs = "AveragePool", append(windowAttrs(win, p.dims, false), ONNXAttr{"count_include_pad", include})
	}
	y, err := onnxLayer(g, p.name, op, x.Name, nil, attrs...)
	return onnxResult(y, shape, err)
}

// ExportONNX writes the layer as GlobalAveragePool, (B, C, 1, 1), then Flatten to (B, C).
func (gp *GlobalAvgPool2D) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if err := checkONNXInput(gp.name, x, 4); err != nil {
		return ONNXValue{}, err
	}
	y, err := onnxLayer(g, gp.name+".pool", "GlobalAveragePool", x.Name, nil)
	if err == nil {
		y, err = onnxLayer(g, gp.name, "Flatten", y, nil, ONNXAttr{"axis", 1})
	}
	return onnxResult(y, []int{x.Shape[0], x.Shape[1]}, err)
}

// ExportONNX writes the evaluation form, a BatchNormalization node with the running
// statistics: y = γ (x - running_mean) / sqrt(running_var + ε) + β.
func (bn *batchNorm) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if err := checkONNXInput(bn.name, x, 0); err != nil {
		return ONNXValue{}, err
	}
	s := x.Shape
	switch {
	case bn.dims == 2 && len(s) != 4:
		return ONNXValue{}, fmt.Errorf("%s: input must be (batch, channels, height, width), has shape %v", bn.name, s)
	case bn.dims == 1 && len(s) != 2 && len(s) != 3:
		return ONNXValue{}, fmt.Errorf("%s: input must be (batch, channels) or (batch, channels, length), has shape %v", bn.name, s)
	case s[1] != bn.channels:
		return ONNXValue{}, fmt.Errorf("%s: expects %d channels, input has %d", bn.name, bn.channels, s[1])
	}
	params := []string{bn.name + ".weight", bn.name + ".bias", bn.name + ".running_mean", bn.name + ".running_var"}
	y, err := onnxLayer(g, bn.name, "BatchNormalization", x.Name, params, ONNXAttr{"epsilon", bn.eps})
	return onnxResult(y, s, err)
}

// ExportONNX writes dropout in evaluation mode, the identity: an Identity node.
func (d *Dropout) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if err := checkONNXInput(d.name, x, 0); err != nil {
		return ONNXValue{}, err
	}
	y, err := onnxLayer(g, d.name, "Identity", x.Name, nil)
	return onnxResult(y, x.Shape, err)
}

// ExportONNX writes the lookup as a Gather of the weight's rows. The ids may be int64 (what
// ONNX Runtime users feed) or float32 (as unroll's graphs hold them), which a Cast turns into
// int64.
func (e *Embedding) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if x.Name == "" || len(x.Shape) == 0 {
		return ONNXValue{}, fmt.Errorf("%s: onnx ids %q must be named and have at least one axis, have shape %v", e.name, x.Name, x.Shape)
	}
	ids := x.Name
	var err error
	switch x.Dtype {
	case tensor.Int64:
	case tensor.Float32:
		ids, err = onnxNode(g, "Cast", []string{x.Name}, e.name+".ids", ONNXAttr{"to", 7}) // INT64
	default:
		return ONNXValue{}, fmt.Errorf("%s: onnx ids %s are %v, need int64 or float32", e.name, x.Name, x.Dtype)
	}
	var w, y string
	if err == nil {
		w, err = g.Param(e.name + ".weight")
	}
	if err == nil {
		y, err = onnxNode(g, "Gather", []string{w, ids}, e.name, ONNXAttr{"axis", 0})
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", e.name, err)
	}
	return onnxResult(y, append(slices.Clone(x.Shape), e.dim), err)
}

// ExportONNX writes a Func made of one of unroll's operations: the activations (Relu,
// LeakyRelu, Tanh, Sigmoid), Softmax and LogSoftmax over the last axis, and Flatten and
// Reshape when they keep the batch axis. A Func has no fields to read, so ExportONNX builds f
// on a throwaway graph for x's shape at two batch sizes and reads the operation it added; a
// Func that adds more than one node, or one without an export rule, is an error.
func (f Func) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if f == nil {
		return ONNXValue{}, fmt.Errorf("func: nil layer")
	}
	if err := checkONNXInput("func", x, 0); err != nil {
		return ONNXValue{}, err
	}
	op2, to2, err := f.probe(x.Shape, 2)
	if err != nil {
		return ONNXValue{}, err
	}
	_, to3, err := f.probe(x.Shape, 3)
	if err != nil {
		return ONNXValue{}, err
	}
	var op, name string
	var attrs []ONNXAttr
	switch o := op2.(type) {
	case nil: // f returned its input
		op, name = "Identity", x.Name+".identity"
	case activationOp:
		op = map[actKind]string{actReLU: "Relu", actLeakyReLU: "LeakyRelu", actTanh: "Tanh", actSigmoid: "Sigmoid"}[o.kind]
		name = o.kind.String()
		if o.kind == actLeakyReLU {
			attrs = append(attrs, ONNXAttr{"alpha", o.slope})
		}
	case softmaxOp:
		op, name = map[bool]string{false: "Softmax", true: "LogSoftmax"}[o.log], o.String()
		attrs = append(attrs, ONNXAttr{"axis", -1})
	case reshapeOp:
		return exportReshape(g, x, to2, to3)
	default:
		return ONNXValue{}, fmt.Errorf("func: no ONNX export rule for operation %v (a custom layer exports by implementing nodes.Exporter)", op2)
	}
	y, err := onnxNode(g, op, []string{x.Name}, name, attrs...)
	if err != nil {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return onnxResult(y, x.Shape, err)
}

// probe builds f on a new graph for an input of shape, its ONNXBatch axes set to batch, and
// returns the one operation f added (nil when f returned its input) and its output shape.
func (f Func) probe(shape []int, batch int) (gorgonia.Op, []int, error) {
	in := append([]int(nil), shape...)
	for i, d := range in {
		if d == ONNXBatch {
			in[i] = batch
		}
	}
	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	x, err := b.Input("x", in...)
	if err != nil {
		return nil, nil, fmt.Errorf("func: %w", err)
	}
	y, err := f(b, x)
	switch {
	case err != nil:
		return nil, nil, err
	case y == x:
		return nil, in, nil
	case y == nil || len(b.Graph().AllNodes()) != 2:
		return nil, nil, fmt.Errorf("func: no ONNX export rule for a function that adds %d nodes (a custom layer exports by implementing nodes.Exporter)", len(b.Graph().AllNodes())-1)
	}
	return y.Op(), y.Shape(), nil
}

// exportReshape writes a reshape that keeps the batch axis first: Flatten to two axes, or a
// Reshape whose target shape copies the batch size (0). to2 and to3 are the shapes the reshape
// gave for batch sizes 2 and 3.
func exportReshape(g ONNXGraph, x ONNXValue, to2, to3 []int) (ONNXValue, error) {
	if len(to2) < 2 || x.Shape[0] != ONNXBatch || to2[0] != 2 || to3[0] != 3 || !slices.Equal(to2[1:], to3[1:]) {
		return ONNXValue{}, fmt.Errorf("reshape: from %v to %v does not keep the batch axis first, so it cannot be written for any batch size", x.Shape, to2)
	}
	out := append([]int{ONNXBatch}, to2[1:]...)
	if len(out) == 2 {
		y, err := onnxLayer(g, "flatten", "Flatten", x.Name, nil, ONNXAttr{"axis", 1})
		return onnxResult(y, out, err)
	}
	shape := []int64{0}
	for _, d := range to2[1:] {
		shape = append(shape, int64(d))
	}
	c, err := onnxInts(g, "reshape.shape", shape...)
	var y string
	if err == nil {
		y, err = onnxNode(g, "Reshape", []string{x.Name, c}, "reshape")
	}
	if err != nil {
		err = fmt.Errorf("reshape: %w", err)
	}
	return onnxResult(y, out, err)
}

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
// (B, T, In) as L ONNX LSTM, GRU or RNN nodes, one per layer. cells[l] holds layer l's cell
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
	kind         cellKind
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
	r.op, r.order = map[cellKind]string{cellLSTM: "LSTM", cellGRU: "GRU"}[r.kind], []int{0}
	switch r.kind {
	case cellLSTM:
		r.order = []int{0, 3, 1, 2}
	case cellGRU:
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
	if c0.Name != "" && r.kind != cellLSTM {
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
	case cellGRU:
		attrs = append(attrs, ONNXAttr{"linear_before_reset", 1})
	case cellRNNTanh, cellRNNReLU:
		act := map[cellKind]string{cellRNNTanh: "Tanh", cellRNNReLU: "Relu"}[r.kind]
		attrs = append(attrs, ONNXAttr{"activations", []string{act, act}[:r.dirs]})
	}
	outs := []string{lab + ".Y", lab + ".Y_h", lab + ".Y_c"}[:map[bool]int{false: 2, true: 3}[r.kind == cellLSTM]]
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
