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

func runConv(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("conv", stderr)
	var xs, ws, dos string
	var image int
	fs.IntVar(&image, "image", 0, "index of the MNIST test image to convolve")
	fs.StringVar(&xs, "x", "1,2,3,4,5", "1-D example: the input X, comma-separated")
	fs.StringVar(&ws, "w", "1,2,3", "1-D example: the kernel W")
	fs.StringVar(&dos, "dout", "1,10,100", "1-D example: the upstream gradient dO, len(x)-len(w)+1 values")
	if err := parse(fs, args); err != nil {
		return err
	}
	x, err := convFloats("-x", xs)
	if err != nil {
		return err
	}
	w, err := convFloats("-w", ws)
	if err != nil {
		return err
	}
	dout, err := convFloats("-dout", dos)
	if err != nil {
		return err
	}
	if len(w) > len(x) {
		return usagef("-w has %d values, more than the %d of -x", len(w), len(x))
	}
	if n := len(x) - len(w) + 1; len(dout) != n {
		return usagef("-dout has %d values; the output of %d inputs and a kernel of %d has %d", len(dout), len(x), len(w), n)
	}
	start := time.Now()
	_, test, err := builtin.MNIST()
	if err != nil {
		return err
	}
	if image < 0 || image >= test.Len() {
		return usagef("-image %d: the MNIST test set has images 0 to %d", image, test.Len()-1)
	}
	res := convResult{Image: image, Label: test.Labels[image]}
	pixels := make([]float64, test.H*test.W)
	for i, p := range test.Image(image) {
		pixels[i] = float64(p) / 255
	}
	maps, err := convShapes(&res, pixels, test.H, test.W, c.seed)
	if err != nil {
		return err
	}
	if res.Backprop, err = convBackprop1D(x, w, dout); err != nil {
		return err
	}
	if c.out != "" {
		if res.Figures, err = writeConvFigures(c.out, pixels, test.H, test.W, maps); err != nil {
			return err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if c.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	printConv(stdout, &res)
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

// convShapes convolves the digit (h x w) under several settings with real Conv2D layers and
// records each output shape beside ConvOutputSize's prediction. It returns the feature maps of
// the classic kernels with padding 1 (same size as the digit), for the figure.
func convShapes(res *convResult, pixels []float64, h, w int, seed uint64) ([]float64, error) {
	type setting struct {
		name       string
		in, out, k int
		opts       []nodes.ConvOption
		kernel     []int // rectangular kernel, else k x k
		stride     []int
		pad        []int // top, bottom, left, right (nil with same)
		dilation   []int
		same       bool
	}
	settings := []setting{
		{name: "3x3 kernel, stride 1, no padding", in: 1, out: 4, k: 3, stride: []int{1, 1}, pad: []int{0, 0, 0, 0}, dilation: []int{1, 1}},
		{name: "padding 1", in: 1, out: 4, k: 3, opts: []nodes.ConvOption{nodes.Padding(1)}, stride: []int{1, 1}, pad: []int{1, 1, 1, 1}, dilation: []int{1, 1}},
		{name: "stride 2, padding 1", in: 1, out: 4, k: 3, opts: []nodes.ConvOption{nodes.Stride(2), nodes.Padding(1)}, stride: []int{2, 2}, pad: []int{1, 1, 1, 1}, dilation: []int{1, 1}},
		{name: "dilation 2", in: 1, out: 4, k: 3, opts: []nodes.ConvOption{nodes.Dilation(2)}, stride: []int{1, 1}, pad: []int{0, 0, 0, 0}, dilation: []int{2, 2}},
		{name: "4x4 kernel, same padding", in: 1, out: 4, k: 4, opts: []nodes.ConvOption{nodes.SamePadding()}, stride: []int{1, 1}, dilation: []int{1, 1}, same: true},
		{name: "5x3 kernel, stride (2, 1), padding (0, 1, 2, 0)", in: 1, out: 4, k: 5,
			opts:   []nodes.ConvOption{nodes.KernelSize(5, 3), nodes.Stride(2, 1), nodes.Padding(0, 1, 2, 0)},
			kernel: []int{5, 3}, stride: []int{2, 1}, pad: []int{0, 1, 2, 0}, dilation: []int{1, 1}},
		{name: "3 input channels, 16 kernels", in: 3, out: 16, k: 3, stride: []int{1, 1}, pad: []int{0, 0, 0, 0}, dilation: []int{1, 1}},
	}
	var maps []float64
	for i, s := range settings {
		ps := graph.NewParams(graph.Seed(seed), graph.Dtype(tensor.Float64))
		name := fmt.Sprintf("conv%d", i+1)
		conv, err := nodes.NewConv2D(ps, name, s.in, s.out, s.k, s.opts...)
		if err != nil {
			return nil, err
		}
		if s.in == 1 && s.k == 3 && s.kernel == nil {
			// The classic kernels, so that the maps can be read; no bias.
			var vals []float64
			for _, k := range convKernels {
				vals = append(vals, k.values...)
			}
			_ = graph.CopyInto(ps.Value(name+".weight"), graph.NewTensor(tensor.Float64, []int{4, 1, 3, 3}, vals))
			_ = graph.CopyInto(ps.Value(name+".bias"), graph.NewTensor(tensor.Float64, []int{4}, nil))
		}
		image := make([]float64, 0, s.in*h*w) // the digit in every input channel
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
		out, err := prog.Run(graph.Feeds{"x": graph.NewTensor(tensor.Float64, in, image)})
		prog.Close()
		if err != nil {
			return nil, err
		}
		kernel := s.kernel
		if kernel == nil {
			kernel = []int{s.k, s.k}
		}
		pad := s.pad
		if s.same {
			pad = convSamePadding(h, w, kernel, s.stride, s.dilation)
		}
		ho, err := nodes.ConvOutputSize(h, kernel[0], s.stride[0], pad[0], pad[1], s.dilation[0])
		if err != nil {
			return nil, err
		}
		wo, err := nodes.ConvOutputSize(w, kernel[1], s.stride[1], pad[2], pad[3], s.dilation[1])
		if err != nil {
			return nil, err
		}
		res.Shapes = append(res.Shapes, convShape{Setting: s.name, Input: in, Kernels: s.out, Kernel: kernel,
			Stride: s.stride, Padding: pad, Dilation: s.dilation, Output: out["y"].Shape().Clone(), Predicted: []int{ho, wo}})
		if s.name == "padding 1" {
			maps = graph.Float64s(out["y"])
		}
	}
	return maps, nil
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

// convBackprop1D runs the course's 1-D example through a Conv1D graph in float64: O = X ⋆ W, a
// loss whose gradient with respect to O is dO, and the graph's dX and dW, beside the formulas.
func convBackprop1D(xs, ws, dos []float64) (convBackprop, error) {
	r := convBackprop{X: xs, W: ws, DOut: dos}
	n, k := len(xs), len(ws)
	ps := graph.NewParams(graph.Dtype(tensor.Float64))
	conv, err := nodes.NewConv1D(ps, "conv", 1, 1, k, nodes.NoBias())
	if err != nil {
		return r, err
	}
	_ = graph.CopyInto(ps.Value("conv.weight"), graph.NewTensor(tensor.Float64, []int{1, 1, k}, ws))
	b := graph.NewBuilder(ps, graph.Train)
	x, _ := b.Input("x", 1, 1, n)          // (B, C, L)
	dO, _ := b.Input("dO", 1, 1, len(dos)) // the upstream gradient
	o, err := conv.Forward(b, x)
	if err != nil {
		return r, err
	}
	prod, err := gorgonia.HadamardProd(o, dO)
	if err != nil {
		return r, err
	}
	loss, err := gorgonia.Sum(prod) // Σ O·dO: its gradient with respect to O is dO
	if err != nil {
		return r, err
	}
	wn, err := b.Param("conv.weight")
	if err != nil {
		return r, err
	}
	grads, err := gorgonia.Grad(loss, x, wn)
	if err != nil {
		return r, err
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"O": o, "dX": grads[0], "dW": grads[1]})
	if err != nil {
		return r, err
	}
	defer prog.Close()
	out, err := prog.Run(graph.Feeds{
		"x":  graph.NewTensor(tensor.Float64, []int{1, 1, n}, xs),
		"dO": graph.NewTensor(tensor.Float64, []int{1, 1, len(dos)}, dos),
	})
	if err != nil {
		return r, err
	}
	r.Out = graph.Float64s(out["O"])
	r.DXGraph = graph.Float64s(out["dX"])
	r.DWGraph = graph.Float64s(out["dW"])
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
	if n >= 3 && k == 3 && len(dos) >= 3 {
		r.DX3Formula = fmt.Sprintf("W3·dO1 + W2·dO2 + W1·dO3 = %s·%s + %s·%s + %s·%s = %s",
			convNum(ws[2]), convNum(dos[0]), convNum(ws[1]), convNum(dos[1]), convNum(ws[0]), convNum(dos[2]), convNum(ws[2]*dos[0]+ws[1]*dos[1]+ws[0]*dos[2]))
	}
	return r, nil
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

	b := r.Backprop
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
	for _, f := range r.Figures {
		fmt.Fprintf(w, "wrote %s\n", f)
	}
	fmt.Fprintf(w, "(%.2f s)\n", r.Seconds)
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
