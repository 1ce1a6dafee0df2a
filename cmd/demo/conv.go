package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/viz"
)

func init() {
	register(command{
		name:    "conv",
		summary: "convolution arithmetic: output sizes on an MNIST digit, and backpropagation through a 1-D convolution",
		run:     runConv,
	})
}

// convResult is what demo conv prints with -json.
type convResult struct {
	Image    int          `json:"image"` // index in the MNIST test set
	Label    int          `json:"label"`
	Shapes   []convShape  `json:"shapes"`
	Backprop convBackprop `json:"backprop"`
	Figures  []string     `json:"figures,omitempty"`
	Seconds  float64      `json:"seconds"`

	pixels []float64 // the digit, h x w values in [0, 1]
	h, w   int
	maps   []float64 // the feature maps of the classic kernels, 4 x h x w
}

// convShape is one convolution of the digit: its settings and the output shape the graph gave,
// beside the one ConvOutputSize predicts.
type convShape struct {
	Setting   string `json:"setting"`
	Input     []int  `json:"input"`
	Kernels   int    `json:"kernels"`
	Kernel    []int  `json:"kernel"`   // (height, width)
	Stride    []int  `json:"stride"`   // (height, width)
	Padding   []int  `json:"padding"`  // (top, bottom, left, right)
	Dilation  []int  `json:"dilation"` // (height, width)
	Output    []int  `json:"output"`
	Predicted []int  `json:"predicted"` // (H_out, W_out) by the formula
}

// convBackprop is the 1-D backpropagation example: the graph's gradients beside the formulas.
type convBackprop struct {
	X          []float64 `json:"x"`
	W          []float64 `json:"w"`
	DOut       []float64 `json:"dout"`
	Out        []float64 `json:"out"`
	DXGraph    []float64 `json:"dx_graph"`
	DXFormula  []float64 `json:"dx_formula"` // full correlation of the padded dO with the flipped W
	DWGraph    []float64 `json:"dw_graph"`
	DWFormula  []float64 `json:"dw_formula"` // correlation of X with dO
	DX3Formula string    `json:"dx3_formula,omitempty"`
}

// convFlags are demo conv's flags.
type convFlags struct {
	*common
	image      int
	x, w, dout []float64
}

func runConv(args []string, stdout, stderr io.Writer) error {
	f, err := convParse(args, stderr)
	if err != nil {
		return err
	}
	res, err := convRun(f)
	if err != nil {
		return err
	}
	return convReport(f, res, stdout)
}

// convParse reads and checks demo conv's flags.
func convParse(args []string, stderr io.Writer) (*convFlags, error) {
	fs, c := newFlags("conv", stderr)
	f := &convFlags{common: c}
	var xs, ws, dos string
	fs.IntVar(&f.image, "image", 0, "index of the MNIST test image to convolve")
	fs.StringVar(&xs, "x", "1,2,3,4,5", "1-D example: the input X, comma-separated")
	fs.StringVar(&ws, "w", "1,2,3", "1-D example: the kernel W")
	fs.StringVar(&dos, "dout", "1,10,100", "1-D example: the upstream gradient dO, len(x)-len(w)+1 values")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var err error
	if f.x, err = convFloats("-x", xs); err != nil {
		return nil, err
	}
	if f.w, err = convFloats("-w", ws); err != nil {
		return nil, err
	}
	if f.dout, err = convFloats("-dout", dos); err != nil {
		return nil, err
	}
	if len(f.w) > len(f.x) {
		return nil, usagef("-w has %d values, more than the %d of -x", len(f.w), len(f.x))
	}
	if n := len(f.x) - len(f.w) + 1; len(f.dout) != n {
		return nil, usagef("-dout has %d values; the output of %d inputs and a kernel of %d has %d", len(f.dout), len(f.x), len(f.w), n)
	}
	return f, nil
}

// convRun convolves the MNIST digit under several settings and runs the 1-D example.
func convRun(f *convFlags) (*convResult, error) {
	start := time.Now()
	_, test, err := builtin.MNIST()
	if err != nil {
		return nil, err
	}
	if f.image < 0 || f.image >= test.Len() {
		return nil, usagef("-image %d: the MNIST test set has images 0 to %d", f.image, test.Len()-1)
	}
	res := &convResult{Image: f.image, Label: test.Labels[f.image], pixels: make([]float64, test.H*test.W), h: test.H, w: test.W}
	for i, p := range test.Image(f.image) {
		res.pixels[i] = float64(p) / 255
	}
	if err := convShapes(res, f.seed); err != nil {
		return nil, err
	}
	if res.Backprop, err = convBackprop1D(f.x, f.w, f.dout); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// convReport writes the figure and prints the result: one JSON object with -json, text
// otherwise.
func convReport(f *convFlags, res *convResult, stdout io.Writer) error {
	if f.out != "" {
		var err error
		if res.Figures, err = writeConvFigures(f.out, res.pixels, res.h, res.w, res.maps); err != nil {
			return err
		}
	}
	if f.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	printConv(stdout, res)
	return nil
}

func convFloats(flag, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, usagef("%s %q: %q is not a number", flag, s, f)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, usagef("%s %q: %q is not a finite number", flag, s, f)
		}
		out = append(out, v)
	}
	return out, nil
}

// convKernels are four hand-made 3x3 kernels whose feature maps are easy to read.
var convKernels = []struct {
	name   string
	values []float64
}{
	{"vertical edges", []float64{-1, 0, 1, -2, 0, 2, -1, 0, 1}},
	{"horizontal edges", []float64{-1, -2, -1, 0, 0, 0, 1, 2, 1}},
	{"blur", []float64{1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9}},
	{"identity", []float64{0, 0, 0, 0, 1, 0, 0, 0, 0}},
}

// convSetting is one convolution of the digit: its layer's settings, and the geometry they
// stand for, which the output size formula takes.
type convSetting struct {
	name       string
	in, out, k int
	opts       []nodes.ConvOption
	kernel     []int // rectangular kernel, else k x k
	stride     []int
	pad        []int // top, bottom, left, right (nil with same)
	dilation   []int
	same       bool
}

// convSettings are the convolutions of the digit, each in a Conv2D layer of its own.
func convSettings() []convSetting {
	one, none := []int{1, 1}, []int{0, 0, 0, 0}
	return []convSetting{
		{name: "3x3 kernel, stride 1, no padding", in: 1, out: 4, k: 3, stride: one, pad: none, dilation: one},
		{name: "padding 1", in: 1, out: 4, k: 3, opts: []nodes.ConvOption{nodes.Padding(1)}, stride: one, pad: []int{1, 1, 1, 1}, dilation: one},
		{name: "stride 2, padding 1", in: 1, out: 4, k: 3, opts: []nodes.ConvOption{nodes.Stride(2), nodes.Padding(1)}, stride: []int{2, 2}, pad: []int{1, 1, 1, 1}, dilation: one},
		{name: "dilation 2", in: 1, out: 4, k: 3, opts: []nodes.ConvOption{nodes.Dilation(2)}, stride: one, pad: none, dilation: []int{2, 2}},
		{name: "4x4 kernel, same padding", in: 1, out: 4, k: 4, opts: []nodes.ConvOption{nodes.SamePadding()}, stride: one, dilation: one, same: true},
		{name: "5x3 kernel, stride (2, 1), padding (0, 1, 2, 0)", in: 1, out: 4, k: 5,
			opts:   []nodes.ConvOption{nodes.KernelSize(5, 3), nodes.Stride(2, 1), nodes.Padding(0, 1, 2, 0)},
			kernel: []int{5, 3}, stride: []int{2, 1}, pad: []int{0, 1, 2, 0}, dilation: one},
		{name: "3 input channels, 16 kernels", in: 3, out: 16, k: 3, stride: one, pad: none, dilation: one},
	}
}

// convShapes convolves the digit under every setting with real Conv2D layers and records each
// output shape beside ConvOutputSize's prediction, and the feature maps of the classic kernels
// with padding 1 (same size as the digit), for the figure.
func convShapes(res *convResult, seed uint64) error {
	for i, s := range convSettings() {
		y, err := convDigit(s, fmt.Sprintf("conv%d", i+1), res.pixels, res.h, res.w, seed)
		if err != nil {
			return err
		}
		kernel := s.kernel
		if kernel == nil {
			kernel = []int{s.k, s.k}
		}
		pad := s.pad
		if s.same {
			pad = convSamePadding(res.h, res.w, kernel, s.stride, s.dilation)
		}
		ho, err := nodes.ConvOutputSize(res.h, kernel[0], s.stride[0], pad[0], pad[1], s.dilation[0])
		if err != nil {
			return err
		}
		wo, err := nodes.ConvOutputSize(res.w, kernel[1], s.stride[1], pad[2], pad[3], s.dilation[1])
		if err != nil {
			return err
		}
		res.Shapes = append(res.Shapes, convShape{Setting: s.name, Input: []int{1, s.in, res.h, res.w}, Kernels: s.out, Kernel: kernel,
			Stride: s.stride, Padding: pad, Dilation: s.dilation, Output: y.Shape().Clone(), Predicted: []int{ho, wo}})
		if s.name == "padding 1" {
			res.maps = graph.Float64s(y)
		}
	}
	return nil
}

// convDigit runs the digit (h x w, in every input channel) through a Conv2D layer of setting s
// in float64 and returns its output. A 3x3 kernel on one channel takes the classic kernels, so
// that the maps can be read.
func convDigit(s convSetting, name string, pixels []float64, h, w int, seed uint64) (_ *tensor.Dense, err error) {
	ps := graph.NewParams(graph.Seed(seed), graph.Dtype(tensor.Float64))
	conv, err := nodes.NewConv2D(ps, name, s.in, s.out, s.k, s.opts...)
	if err != nil {
		return nil, err
	}
	if s.in == 1 && s.k == 3 && s.kernel == nil {
		var vals []float64
		for _, k := range convKernels {
			vals = append(vals, k.values...)
		}
		if err := graph.CopyInto(ps.Value(name+".weight"), graph.NewTensor(tensor.Float64, []int{4, 1, 3, 3}, vals)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := graph.CopyInto(ps.Value(name+".bias"), graph.NewTensor(tensor.Float64, []int{4}, nil)); err != nil { // no bias
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	image := make([]float64, 0, s.in*h*w)
	for c := 0; c < s.in; c++ {
		image = append(image, pixels...)
	}
	in := []int{1, s.in, h, w}
	b := graph.NewBuilder(ps, graph.Eval)
	x, err := b.Input("x", in...)
	if err != nil {
		return nil, err
	}
	y, err := conv.Forward(b, x)
	if err != nil {
		return nil, err
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"y": y})
	if err != nil {
		return nil, err
	}
	defer closeProgram(prog, &err)
	out, err := prog.Run(graph.Feeds{"x": graph.NewTensor(tensor.Float64, in, image)})
	if err != nil {
		return nil, err
	}
	return out["y"], nil
}

// convSamePadding is the padding SamePadding chooses: a total of max((out-1)·stride + span - in, 0)
// with out = ceil(in/stride), the odd element after.
func convSamePadding(h, w int, kernel, stride, dilation []int) []int {
	one := func(in, k, s, d int) (int, int) {
		out := (in + s - 1) / s
		total := max((out-1)*s+d*(k-1)+1-in, 0)
		return total / 2, total - total/2
	}
	t, b := one(h, kernel[0], stride[0], dilation[0])
	l, r := one(w, kernel[1], stride[1], dilation[1])
	return []int{t, b, l, r}
}

// closeProgram closes prog and keeps its error in *err unless *err already holds one.
func closeProgram(prog *graph.Program, err *error) {
	if cerr := prog.Close(); *err == nil && cerr != nil {
		*err = cerr
	}
}

// convBackprop1D runs the course's 1-D example through a Conv1D graph in float64: O = X ⋆ W, a
// loss whose gradient with respect to O is dO, and the graph's dX and dW, beside the formulas.
func convBackprop1D(xs, ws, dos []float64) (convBackprop, error) {
	r := convBackprop{X: xs, W: ws, DOut: dos}
	var err error
	if r.Out, r.DXGraph, r.DWGraph, err = convGraph1D(xs, ws, dos); err != nil {
		return r, err
	}
	k := len(ws)
	r.DXFormula = convFullCorrelation(dos, ws)
	r.DWFormula = make([]float64, k)
	for j := range r.DWFormula {
		for i, d := range dos {
			r.DWFormula[j] += xs[i+j] * d
		}
	}
	for _, v := range [][]float64{r.Out, r.DXGraph, r.DWGraph, r.DXFormula, r.DWFormula} {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return r, usagef("-x, -w and -dout give %v: the products overflow float64, use smaller values", x)
			}
		}
	}
	if len(xs) >= 3 && k == 3 && len(dos) >= 3 {
		r.DX3Formula = fmt.Sprintf("W3·dO1 + W2·dO2 + W1·dO3 = %s·%s + %s·%s + %s·%s = %s",
			convNum(ws[2]), convNum(dos[0]), convNum(ws[1]), convNum(dos[1]), convNum(ws[0]), convNum(dos[2]), convNum(ws[2]*dos[0]+ws[1]*dos[1]+ws[0]*dos[2]))
	}
	return r, nil
}

// convGraph1D computes O = X ⋆ W with a Conv1D layer of kernel ws and, by Gorgonia's symbolic
// differentiation of the loss Σ O·dO (whose gradient with respect to O is dO), dX and dW.
func convGraph1D(xs, ws, dos []float64) (out, dx, dw []float64, err error) {
	n, k := len(xs), len(ws)
	ps := graph.NewParams(graph.Dtype(tensor.Float64))
	conv, err := nodes.NewConv1D(ps, "conv", 1, 1, k, nodes.NoBias())
	if err != nil {
		return nil, nil, nil, err
	}
	if err := graph.CopyInto(ps.Value("conv.weight"), graph.NewTensor(tensor.Float64, []int{1, 1, k}, ws)); err != nil {
		return nil, nil, nil, fmt.Errorf("conv.weight: %w", err)
	}
	b := graph.NewBuilder(ps, graph.Train)
	x, err := b.Input("x", 1, 1, n) // (B, C, L)
	if err != nil {
		return nil, nil, nil, err
	}
	dO, err := b.Input("dO", 1, 1, len(dos)) // the upstream gradient
	if err != nil {
		return nil, nil, nil, err
	}
	o, err := conv.Forward(b, x)
	if err != nil {
		return nil, nil, nil, err
	}
	prod, err := gorgonia.HadamardProd(o, dO)
	if err != nil {
		return nil, nil, nil, err
	}
	loss, err := gorgonia.Sum(prod)
	if err != nil {
		return nil, nil, nil, err
	}
	wn, err := b.Param("conv.weight")
	if err != nil {
		return nil, nil, nil, err
	}
	grads, err := gorgonia.Grad(loss, x, wn)
	if err != nil {
		return nil, nil, nil, err
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"O": o, "dX": grads[0], "dW": grads[1]})
	if err != nil {
		return nil, nil, nil, err
	}
	defer closeProgram(prog, &err)
	vals, err := prog.Run(graph.Feeds{"x": graph.NewTensor(tensor.Float64, []int{1, 1, n}, xs), "dO": graph.NewTensor(tensor.Float64, []int{1, 1, len(dos)}, dos)})
	if err != nil {
		return nil, nil, nil, err
	}
	return graph.Float64s(vals["O"]), graph.Float64s(vals["dX"]), graph.Float64s(vals["dW"]), nil
}

// convPaddedFlipped returns dO padded by k-1 zeros on each side and W flipped.
func convPaddedFlipped(dos, ws []float64) ([]float64, []float64) {
	k := len(ws)
	padded := make([]float64, len(dos)+2*(k-1))
	copy(padded[k-1:], dos)
	flipped := make([]float64, k)
	for i, v := range ws {
		flipped[k-1-i] = v
	}
	return padded, flipped
}

// convFullCorrelation is the "full" correlation of dO with the flipped kernel: the input gradient.
func convFullCorrelation(dos, ws []float64) []float64 {
	padded, flipped := convPaddedFlipped(dos, ws)
	out := make([]float64, len(padded)-len(flipped)+1)
	for j := range out {
		for m, f := range flipped {
			out[j] += padded[j+m] * f
		}
	}
	return out
}

func convNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func convNums(vs []float64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = convNum(v)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func convShapeOf(s []int) string { return fmt.Sprint(tensor.Shape(s)) }

// printConv prints the shapes of the digit's convolutions and the 1-D backpropagation.
func printConv(w io.Writer, r *convResult) {
	fmt.Fprintf(w, "Convolving MNIST test image %d (a %d), shape %s\n", r.Image, r.Label, convShapeOf(r.Shapes[0].Input))
	fmt.Fprintln(w, "  H_out = floor((H + pad_top + pad_bottom - dilation·(k-1) - 1) / stride) + 1, likewise W_out")
	fmt.Fprintln(w)
	for _, s := range r.Shapes {
		fmt.Fprintf(w, "  %-48s %-16s", s.Setting+":", convShapeOf(s.Output))
		fmt.Fprintf(w, " H_out = (%d + %d + %d - %d·%d - 1)/%d + 1 = %d\n",
			s.Input[2], s.Padding[0], s.Padding[1], s.Dilation[0], s.Kernel[0]-1, s.Stride[0], s.Predicted[0])
		if s.Kernel[0] != s.Kernel[1] || s.Stride[0] != s.Stride[1] || s.Dilation[0] != s.Dilation[1] ||
			s.Padding[0] != s.Padding[2] || s.Padding[1] != s.Padding[3] {
			fmt.Fprintf(w, "  %-65s W_out = (%d + %d + %d - %d·%d - 1)/%d + 1 = %d\n", "",
				s.Input[3], s.Padding[2], s.Padding[3], s.Dilation[1], s.Kernel[1]-1, s.Stride[1], s.Predicted[1])
		}
	}
	fmt.Fprintln(w, "  (each kernel has as many channels as the input; each of the kernels makes one output channel)")
	printConvBackprop(w, &r.Backprop)
	for _, f := range r.Figures {
		fmt.Fprintf(w, "wrote %s\n", f)
	}
	fmt.Fprintf(w, "(%.2f s)\n", r.Seconds)
}

// printConvBackprop prints the 1-D example: the outputs, and each gradient from the graph and
// by its formula.
func printConvBackprop(w io.Writer, b *convBackprop) {
	k := len(b.W)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Backpropagation through a 1-D convolution: %d inputs, a kernel of %d, %d - %d + 1 = %d outputs\n",
		len(b.X), k, len(b.X), k, len(b.Out))
	fmt.Fprintf(w, "  X = %s   W = %s   dO = %s (the gradient arriving at O)\n", convNums(b.X), convNums(b.W), convNums(b.DOut))
	for i, o := range b.Out {
		var terms, vals []string
		for j := 0; j < k; j++ {
			terms = append(terms, fmt.Sprintf("W%d·X%d", j+1, i+j+1))
			vals = append(vals, convNum(b.W[j])+"·"+convNum(b.X[i+j]))
		}
		fmt.Fprintf(w, "  O%d = %s = %s = %s\n", i+1, strings.Join(terms, " + "), strings.Join(vals, " + "), convNum(o))
	}
	fmt.Fprintf(w, "  dX from the graph:          %s\n", convNums(b.DXGraph))
	if b.DX3Formula != "" {
		fmt.Fprintf(w, "  X3 reaches O1 through W3, O2 through W2, O3 through W1, so dX3 = %s (graph: %s)\n", b.DX3Formula, convNum(b.DXGraph[2]))
	}
	padded, flipped := convPaddedFlipped(b.DOut, b.W)
	fmt.Fprintf(w, "  dX is the full correlation of dO padded by %d, %s, with the flipped kernel %s:\n", k-1, convNums(padded), convNums(flipped))
	for j, v := range b.DXFormula {
		var terms []string
		for m, f := range flipped {
			terms = append(terms, convNum(padded[j+m])+"·"+convNum(f))
		}
		fmt.Fprintf(w, "    dX%d = %s = %s\n", j+1, strings.Join(terms, " + "), convNum(v))
	}
	fmt.Fprintf(w, "  dW from the graph:          %s\n", convNums(b.DWGraph))
	fmt.Fprintln(w, "  dW is the correlation of X with dO:")
	for j, v := range b.DWFormula {
		var terms []string
		for i, d := range b.DOut {
			terms = append(terms, convNum(b.X[i+j])+"·"+convNum(d))
		}
		fmt.Fprintf(w, "    dW%d = %s = %s\n", j+1, strings.Join(terms, " + "), convNum(v))
	}
}

// writeConvFigures draws the digit beside its four feature maps under the classic kernels.
func writeConvFigures(dir string, pixels []float64, h, w int, maps []float64) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "conv-feature-maps.png")
	titles := []string{"input"}
	for _, k := range convKernels {
		titles = append(titles, k.name)
	}
	g := viz.Grid{
		Title:  "a digit and its feature maps (3x3 kernels, padding 1)",
		Images: append(append([]float64(nil), pixels...), maps...),
		N:      1 + len(convKernels), H: h, W: w, Cols: 1 + len(convKernels),
		Titles: titles,
	}
	if err := viz.ImageGrid(path, g); err != nil {
		return nil, err
	}
	return []string{path}, nil
}
