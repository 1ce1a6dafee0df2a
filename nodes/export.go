package nodes

import (
	"fmt"
	"slices"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/nodes/internal/ops"
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

// ExportONNX writes the layer as one Gemm node, y = x Wᵀ + b (transB = 1). An input of three
// axes (B, T, in), a sequence whose every step the layer reads (a recurrent model's head), is
// written as a MatMul with Wᵀ and an Add of b, giving (B, T, out).
func (d *Dense) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if err := checkONNXInput(d.name, x, 0); err != nil {
		return ONNXValue{}, err
	}
	if r := len(x.Shape); r != 2 && r != 3 {
		return ONNXValue{}, fmt.Errorf("%s: onnx input %s must be (batch, %d) or (batch, steps, %d), has shape %v", d.name, x.Name, d.in, d.in, x.Shape)
	}
	if in := x.Shape[len(x.Shape)-1]; in != d.in {
		return ONNXValue{}, fmt.Errorf("%s: expects %d input features, input has %d", d.name, d.in, in)
	}
	if len(x.Shape) == 3 {
		return d.exportDenseSteps(g, x)
	}
	y, err := onnxLayer(g, d.name, "Gemm", x.Name, weightAndBias(d.name, d.bias), ONNXAttr{"transB", 1})
	return onnxResult(y, []int{x.Shape[0], d.out}, err)
}

// windowAttrs are the ONNX attributes of a sliding window: kernel_shape, strides, pads (begins
// then ends) and, when withDilation, dilations; a 1-D window has the width axis only.
func windowAttrs(w ops.Window, dims int, withDilation bool) []ONNXAttr {
	k, s, p, d := []int{w.KH, w.KW}, []int{w.SH, w.SW}, []int{w.PT, w.PL, w.PB, w.PR}, []int{w.DH, w.DW}
	if dims == 1 {
		k, s, p, d = k[1:], s[1:], []int{w.PL, w.PR}, d[1:]
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
	if p.kind == ops.AvgPool {
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

// exportActivation writes an elementwise activation or a softmax over the last axis as one
// node of the ONNX operator op.
func exportActivation(g ONNXGraph, x ONNXValue, op, name string, attrs ...ONNXAttr) (ONNXValue, error) {
	if err := checkONNXInput(name, x, 0); err != nil {
		return ONNXValue{}, err
	}
	y, err := onnxNode(g, op, []string{x.Name}, name, attrs...)
	if err != nil {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return onnxResult(y, x.Shape, err)
}

// ExportONNX writes a Relu node.
func (ReLU) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	return exportActivation(g, x, "Relu", "relu")
}

// ExportONNX writes a Tanh node.
func (Tanh) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	return exportActivation(g, x, "Tanh", "tanh")
}

// ExportONNX writes a Sigmoid node.
func (Sigmoid) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	return exportActivation(g, x, "Sigmoid", "sigmoid")
}

// ExportONNX writes a LeakyRelu node with alpha = Slope.
func (l LeakyReLU) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	return exportActivation(g, x, "LeakyRelu", "leakyrelu", ONNXAttr{"alpha", l.Slope})
}

// ExportONNX writes a Softmax node over the last axis.
func (Softmax) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	return exportActivation(g, x, "Softmax", "softmax", ONNXAttr{"axis", -1})
}

// ExportONNX writes a LogSoftmax node over the last axis.
func (LogSoftmax) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	return exportActivation(g, x, "LogSoftmax", "logsoftmax", ONNXAttr{"axis", -1})
}

// ExportONNX writes a Flatten node (axis 1): (B, d1, d2, ...) to (B, d1·d2·...).
func (Flatten) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if err := checkONNXInput("flatten", x, 0); err != nil {
		return ONNXValue{}, err
	}
	n := 1
	for _, d := range x.Shape[1:] {
		n *= d
	}
	y, err := onnxLayer(g, "flatten", "Flatten", x.Name, nil, ONNXAttr{"axis", 1})
	return onnxResult(y, []int{x.Shape[0], n}, err)
}

// ExportONNX writes the reshape when it keeps the batch axis first (see exportReshape).
func (r reshapeLayer) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if err := checkONNXInput("reshape", x, 0); err != nil {
		return ONNXValue{}, err
	}
	shapeAt := func(batch int) ([]int, error) {
		in := slices.Clone(x.Shape)
		for i, d := range in {
			if d == ONNXBatch {
				in[i] = batch
			}
		}
		return resolveShape(in, r.shape)
	}
	to2, err := shapeAt(2)
	if err != nil {
		return ONNXValue{}, fmt.Errorf("reshape: %w", err)
	}
	to3, err := shapeAt(3)
	if err != nil {
		return ONNXValue{}, fmt.Errorf("reshape: %w", err)
	}
	return exportReshape(g, x, to2, to3)
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

// ExportONNX writes the model's layers in order, each reading the previous one's output; a
// layer without an export rule is an error naming it.
func (s *Sequential) ExportONNX(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	if s.err != nil {
		return ONNXValue{}, s.err
	}
	for i, l := range s.layers {
		ex, ok := l.(Exporter)
		if !ok {
			return ONNXValue{}, fmt.Errorf("%s: layer %d (%T) has no ONNX export rule (a custom layer exports by implementing nodes.Exporter)", s.label(), i, l)
		}
		var err error
		if x, err = ex.ExportONNX(g, x); err != nil {
			return ONNXValue{}, fmt.Errorf("%s: %w", s.label(), err)
		}
	}
	return x, nil
}
