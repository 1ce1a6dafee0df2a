package nodes_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// naiveConv is the definition of a 2-D convolution, written as directly as possible:
// x (N, C, H, W), w (O, C, kh, kw), bias (O) or nil; s stride, p padding (top, bottom, left,
// right), d dilation.
func naiveConv(x []float64, xs []int, w []float64, ws []int, bias []float64, s [2]int, p [4]int, d [2]int) ([]float64, []int) {
	n, c, h, wd := xs[0], xs[1], xs[2], xs[3]
	o, kh, kw := ws[0], ws[2], ws[3]
	ho := (h+p[0]+p[1]-d[0]*(kh-1)-1)/s[0] + 1
	wo := (wd+p[2]+p[3]-d[1]*(kw-1)-1)/s[1] + 1
	y := make([]float64, n*o*ho*wo)
	for b := 0; b < n; b++ {
		for oc := 0; oc < o; oc++ {
			for i := 0; i < ho; i++ {
				for j := 0; j < wo; j++ {
					var sum float64
					if bias != nil {
						sum = bias[oc]
					}
					for ic := 0; ic < c; ic++ {
						for ki := 0; ki < kh; ki++ {
							for kj := 0; kj < kw; kj++ {
								u := i*s[0] - p[0] + ki*d[0]
								v := j*s[1] - p[2] + kj*d[1]
								if u < 0 || u >= h || v < 0 || v >= wd {
									continue
								}
								sum += w[((oc*c+ic)*kh+ki)*kw+kj] * x[((b*c+ic)*h+u)*wd+v]
							}
						}
					}
					y[((b*o+oc)*ho+i)*wo+j] = sum
				}
			}
		}
	}
	return y, []int{n, o, ho, wo}
}

// convCase is one geometry of a convolution under test.
type convCase struct {
	name   string
	in     []int // input shape
	out, k int   // output channels, kernel size
	opts   []nodes.ConvOption
	// the geometry naiveConv needs
	kh, kw int
	s      [2]int
	p      [4]int
	d      [2]int
	bias   bool
}

var conv2DCases = []convCase{
	{name: "plain", in: []int{2, 3, 7, 6}, out: 4, k: 3, kh: 3, kw: 3, s: [2]int{1, 1}, d: [2]int{1, 1}, bias: true},
	{name: "stride 2 pad 1", in: []int{2, 3, 7, 6}, out: 4, k: 3, opts: []nodes.ConvOption{nodes.Stride(2), nodes.Padding(1)},
		kh: 3, kw: 3, s: [2]int{2, 2}, p: [4]int{1, 1, 1, 1}, d: [2]int{1, 1}, bias: true},
	{name: "asymmetric padding", in: []int{2, 2, 5, 6}, out: 3, k: 3, opts: []nodes.ConvOption{nodes.Padding(0, 1, 2, 0)},
		kh: 3, kw: 3, s: [2]int{1, 1}, p: [4]int{0, 1, 2, 0}, d: [2]int{1, 1}, bias: true},
	{name: "dilation 2", in: []int{2, 2, 7, 7}, out: 3, k: 3, opts: []nodes.ConvOption{nodes.Dilation(2), nodes.Padding(2)},
		kh: 3, kw: 3, s: [2]int{1, 1}, p: [4]int{2, 2, 2, 2}, d: [2]int{2, 2}, bias: true},
	{name: "same, even kernel", in: []int{2, 2, 5, 6}, out: 3, k: 4, opts: []nodes.ConvOption{nodes.SamePadding()},
		kh: 4, kw: 4, s: [2]int{1, 1}, p: [4]int{1, 2, 1, 2}, d: [2]int{1, 1}, bias: true},
	{name: "same, stride 2", in: []int{2, 2, 7, 6}, out: 3, k: 3, opts: []nodes.ConvOption{nodes.SamePadding(), nodes.Stride(2)},
		kh: 3, kw: 3, s: [2]int{2, 2}, p: [4]int{1, 1, 0, 1}, d: [2]int{1, 1}, bias: true},
	{name: "rectangular, mixed stride and dilation, no bias", in: []int{2, 3, 8, 9}, out: 2, k: 1,
		opts: []nodes.ConvOption{nodes.KernelSize(2, 3), nodes.Stride(2, 1), nodes.Dilation(1, 2), nodes.Padding(1, 0), nodes.NoBias()},
		kh:   2, kw: 3, s: [2]int{2, 1}, p: [4]int{1, 1, 0, 0}, d: [2]int{1, 2}},
	{name: "stride 3 leaves rows out", in: []int{1, 2, 8, 8}, out: 2, k: 3, opts: []nodes.ConvOption{nodes.Stride(3)},
		kh: 3, kw: 3, s: [2]int{3, 3}, d: [2]int{1, 1}, bias: true},
	{name: "pointwise", in: []int{2, 3, 4, 5}, out: 4, k: 1, kh: 1, kw: 1, s: [2]int{1, 1}, d: [2]int{1, 1}, bias: true},
}

func TestConv2DForwardMatchesDefinition(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, c := range conv2DCases {
			ps := graph.NewParams(graph.Dtype(dt), graph.Seed(3))
			conv, err := nodes.NewConv2D(ps, "conv", c.in[1], c.out, c.k, c.opts...)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			x := randTensor(r, dt, c.in...)
			b := graph.NewBuilder(ps, graph.Eval)
			xn, _ := b.Input("x", c.in...)
			y, err := conv.Forward(b, xn)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got := run(t, b, map[string]*gorgonia.Node{"y": y}, graph.Feeds{"x": x})["y"]
			var bias []float64
			if c.bias {
				bias = graph.Float64s(ps.Value("conv.bias"))
			}
			want, shape := naiveConv(graph.Float64s(x), c.in, graph.Float64s(ps.Value("conv.weight")),
				[]int{c.out, c.in[1], c.kh, c.kw}, bias, c.s, c.p, c.d)
			if !got.Shape().Eq(tensor.Shape(shape)) {
				t.Errorf("%v %s: shape %v, want %v", dt, c.name, got.Shape(), shape)
				continue
			}
			if i := closeTo(graph.Float64s(got), want, 1e-5); i >= 0 {
				t.Errorf("%v %s: y[%d] = %v, want %v", dt, c.name, i, graph.Float64s(got)[i], want[i])
			}
			if os, err := conv.OutputShape(c.in); err != nil || !tensor.Shape(os).Eq(tensor.Shape(shape)) {
				t.Errorf("%s: OutputShape %v, %v; want %v", c.name, os, err, shape)
			}
		}
	}
}

func TestConv2DGradients(t *testing.T) {
	for _, c := range conv2DCases {
		ps := graph.NewParams(graph.Seed(5))
		conv, err := nodes.NewConv2D(ps, "conv", c.in[1], c.out, c.k, c.opts...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r := rand.New(rand.NewPCG(7, 8))
		build := func(b *graph.Builder) (*gorgonia.Node, error) {
			x, err := b.Input("x", c.in...)
			if err != nil {
				return nil, err
			}
			return conv.Forward(b, x)
		}
		checkGrad(t, c.name, ps, build, graph.Feeds{"x": randTensor(r, tensor.Float64, c.in...)}, graph.WithRespectTo("x"))
	}
}

func TestConv1D(t *testing.T) {
	cases := []struct {
		name   string
		in     []int
		k      int
		opts   []nodes.ConvOption
		s, d   int
		pl, pr int
	}{
		{name: "plain", in: []int{2, 3, 9}, k: 3, s: 1, d: 1},
		{name: "stride 2, padding (1, 2), dilation 2", in: []int{2, 3, 9}, k: 3,
			opts: []nodes.ConvOption{nodes.Stride(2), nodes.Padding(1, 2), nodes.Dilation(2)}, s: 2, d: 2, pl: 1, pr: 2},
		{name: "same", in: []int{2, 2, 8}, k: 4, opts: []nodes.ConvOption{nodes.SamePadding()}, s: 1, d: 1, pl: 1, pr: 2},
	}
	for _, c := range cases {
		ps := graph.NewParams(graph.Dtype(tensor.Float64), graph.Seed(9))
		conv, err := nodes.NewConv1D(ps, "conv", c.in[1], 4, c.k, c.opts...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := ps.Value("conv.weight").Shape(); !got.Eq(tensor.Shape{4, c.in[1], c.k}) {
			t.Errorf("%s: weight shape %v", c.name, got)
		}
		r := rand.New(rand.NewPCG(1, 1))
		x := randTensor(r, tensor.Float64, c.in...)
		build := func(b *graph.Builder) (*gorgonia.Node, error) {
			xn, err := b.Input("x", c.in...)
			if err != nil {
				return nil, err
			}
			return conv.Forward(b, xn)
		}
		b := graph.NewBuilder(ps, graph.Eval)
		y, err := build(b)
		if err != nil {
			t.Fatal(err)
		}
		got := run(t, b, map[string]*gorgonia.Node{"y": y}, graph.Feeds{"x": x})["y"]
		// A 1-D convolution is a 2-D one of height 1.
		want, shape := naiveConv(graph.Float64s(x), []int{c.in[0], c.in[1], 1, c.in[2]},
			graph.Float64s(ps.Value("conv.weight")), []int{4, c.in[1], 1, c.k}, graph.Float64s(ps.Value("conv.bias")),
			[2]int{1, c.s}, [4]int{0, 0, c.pl, c.pr}, [2]int{1, c.d})
		if !got.Shape().Eq(tensor.Shape{shape[0], shape[1], shape[3]}) {
			t.Errorf("%s: shape %v, want %v", c.name, got.Shape(), shape)
		} else if i := closeTo(graph.Float64s(got), want, 1e-12); i >= 0 {
			t.Errorf("%s: y[%d] = %v, want %v", c.name, i, graph.Float64s(got)[i], want[i])
		}
		checkGrad(t, c.name, ps, build, graph.Feeds{"x": x}, graph.WithRespectTo("x"))
	}
}

// Two convolutions of one input, with the same weights, that differ only in dilation must
// stay two nodes (Gorgonia's own Conv2d merges them), and the input's gradient must sum both
// paths.
func TestConvsDifferingOnlyInDilation(t *testing.T) {
	ps := graph.NewParams(graph.Dtype(tensor.Float64), graph.Seed(2))
	near, err := nodes.NewConv2D(ps, "c", 2, 3, 3, nodes.Padding(1))
	if err != nil {
		t.Fatal(err)
	}
	// A layer binds its parameters by name when it is applied, so a twin made in a scratch
	// set uses near's weight and bias.
	far, err := nodes.NewConv2D(graph.NewParams(), "c", 2, 3, 3, nodes.Padding(2), nodes.Dilation(2))
	if err != nil {
		t.Fatal(err)
	}
	in := []int{2, 2, 6, 6}
	r := rand.New(rand.NewPCG(4, 4))
	x := randTensor(r, tensor.Float64, in...)
	b := graph.NewBuilder(ps, graph.Eval)
	xn, _ := b.Input("x", in...)
	yn, err := near.Forward(b, xn)
	if err != nil {
		t.Fatal(err)
	}
	yf, err := far.Forward(b, xn)
	if err != nil {
		t.Fatal(err)
	}
	if yn == yf {
		t.Fatal("the two convolutions were merged into one node")
	}
	out := run(t, b, map[string]*gorgonia.Node{"near": yn, "far": yf}, graph.Feeds{"x": x})
	w, bias := graph.Float64s(ps.Value("c.weight")), graph.Float64s(ps.Value("c.bias"))
	for _, c := range []struct {
		name string
		p, d int
	}{{"near", 1, 1}, {"far", 2, 2}} {
		want, _ := naiveConv(graph.Float64s(x), in, w, []int{3, 2, 3, 3}, bias, [2]int{1, 1}, [4]int{c.p, c.p, c.p, c.p}, [2]int{c.d, c.d})
		if i := closeTo(graph.Float64s(out[c.name]), want, 1e-12); i >= 0 {
			t.Errorf("%s: y[%d] = %v, want %v", c.name, i, graph.Float64s(out[c.name])[i], want[i])
		}
	}
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		xn, err := b.Input("x", in...)
		if err != nil {
			return nil, err
		}
		yn, err := near.Forward(b, xn)
		if err != nil {
			return nil, err
		}
		yf, err := far.Forward(b, xn)
		if err != nil {
			return nil, err
		}
		yf2, err := nodes.Tanh{}.Forward(b, yf)
		if err != nil {
			return nil, err
		}
		return gorgonia.Add(yn, yf2)
	}
	checkGrad(t, "x feeding two convs", ps, build, graph.Feeds{"x": x}, graph.WithRespectTo("x"))
}

// The same layer applied to two inputs, and one input feeding a convolution and a pooling.
func TestConvAppliedTwiceAndInputFeedingTwoNodes(t *testing.T) {
	ps := graph.NewParams(graph.Seed(12))
	conv, err := nodes.NewConv2D(ps, "conv", 2, 2, 3, nodes.Padding(1))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := nodes.NewMaxPool2D("pool", 3, nodes.Stride(1), nodes.Padding(1))
	if err != nil {
		t.Fatal(err)
	}
	in := []int{2, 2, 5, 5}
	r := rand.New(rand.NewPCG(3, 3))
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		x1, err := b.Input("x1", in...)
		if err != nil {
			return nil, err
		}
		x2, err := b.Input("x2", in...)
		if err != nil {
			return nil, err
		}
		y1, err := conv.Forward(b, x1)
		if err != nil {
			return nil, err
		}
		y2, err := conv.Forward(b, x2)
		if err != nil {
			return nil, err
		}
		p1, err := pool.Forward(b, x1)
		if err != nil {
			return nil, err
		}
		s, err := gorgonia.HadamardProd(y1, y2)
		if err != nil {
			return nil, err
		}
		return gorgonia.Add(s, p1)
	}
	checkGrad(t, "shared layer", ps, build, graph.Feeds{"x1": randTensor(r, tensor.Float64, in...), "x2": randTensor(r, tensor.Float64, in...)},
		graph.WithRespectTo("x1", "x2"))
}

func TestConvAgainstPyTorch(t *testing.T) {
	for _, op := range []string{"conv2d", "conv1d"} {
		for _, c := range loadReferences(t, op) {
			for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
				testConvCase(t, op, c, dt)
			}
		}
	}
}

func testConvCase(t *testing.T, op string, c reference, dt tensor.Dtype) {
	tol := 1e-10
	if dt == tensor.Float32 {
		tol = 1e-4
	}
	x := c.Inputs["x"]
	w := c.Inputs["weight"]
	ps := graph.NewParams(graph.Dtype(dt))
	var opts []nodes.ConvOption
	if s := ints(c.Args["stride"]); s != nil {
		opts = append(opts, nodes.Stride(s...))
	}
	if p := ints(c.Args["padding"]); p != nil {
		opts = append(opts, nodes.Padding(p...))
	}
	if c.Args["same"] == true {
		opts = append(opts, nodes.SamePadding())
	}
	if d := ints(c.Args["dilation"]); d != nil {
		opts = append(opts, nodes.Dilation(d...))
	}
	_, hasBias := c.Inputs["bias"]
	if !hasBias {
		opts = append(opts, nodes.NoBias())
	}
	var layer nodes.Layer
	var err error
	if op == "conv2d" {
		if w.Shape[2] != w.Shape[3] {
			opts = append(opts, nodes.KernelSize(w.Shape[2], w.Shape[3]))
		}
		layer, err = nodes.NewConv2D(ps, "conv", w.Shape[1], w.Shape[0], w.Shape[2], opts...)
	} else {
		layer, err = nodes.NewConv1D(ps, "conv", w.Shape[1], w.Shape[0], w.Shape[2], opts...)
	}
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	_ = graph.CopyInto(ps.Value("conv.weight"), w.dense(tensor.Float64))
	if hasBias {
		_ = graph.CopyInto(ps.Value("conv.bias"), c.Inputs["bias"].dense(tensor.Float64))
	}
	b := graph.NewBuilder(ps, graph.Eval)
	xn, _ := b.Input("x", x.Shape...)
	y, err := layer.Forward(b, xn)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	if !y.Shape().Eq(tensor.Shape(c.Output.Shape)) {
		t.Errorf("%s: shape %v, PyTorch %v", c.Name, y.Shape(), c.Output.Shape)
		return
	}
	feeds := graph.Feeds{"x": x.dense(dt)}
	dy, withGrads := c.Extra["dy"]
	if !withGrads {
		got := run(t, b, map[string]*gorgonia.Node{"y": y}, feeds)["y"]
		if i := closeTo(graph.Float64s(got), c.Output.Values, tol); i >= 0 {
			t.Errorf("%v %s: y[%d] = %v, PyTorch %v", dt, c.Name, i, graph.Float64s(got)[i], c.Output.Values[i])
		}
		return
	}
	wn, _ := b.Param("conv.weight")
	wrt := map[string]*gorgonia.Node{"grad_x": xn, "grad_weight": wn}
	if hasBias {
		wrt["grad_bias"], _ = b.Param("conv.bias")
	}
	got := gradients(t, b, y, dy.dense(dt), feeds, wrt)
	wrt["y"] = y
	for name := range wrt {
		want := c.Output
		if name != "y" {
			want = c.Extra[name]
		}
		if i := closeTo(graph.Float64s(got[name]), want.Values, tol); i >= 0 {
			t.Errorf("%v %s: %s[%d] = %v, PyTorch %v", dt, c.Name, name, i, graph.Float64s(got[name])[i], want.Values[i])
		}
	}
}

func TestConvOutputSize(t *testing.T) {
	cases := []struct {
		in, k, s, pb, pa, d int
		want                int
		err                 string
	}{
		{in: 28, k: 3, s: 1, d: 1, want: 26},
		{in: 5, k: 3, s: 1, d: 1, want: 3},
		{in: 28, k: 3, s: 1, pb: 1, pa: 1, d: 1, want: 28},
		{in: 28, k: 2, s: 2, d: 1, want: 14},
		{in: 7, k: 3, s: 2, pb: 1, pa: 1, d: 1, want: 4},
		{in: 7, k: 3, s: 1, pb: 2, pa: 2, d: 2, want: 7},
		{in: 8, k: 3, s: 3, d: 1, want: 2},
		{in: 6, k: 3, s: 1, pb: 0, pa: 1, d: 1, want: 5},
		{in: 2, k: 3, s: 1, d: 1, err: "kernel 3 is larger than the padded input 2"},
		{in: 4, k: 3, s: 1, d: 2, err: "kernel 3 (spanning 5 with dilation 2) is larger than the padded input 4"},
		{in: 4, k: 3, s: 0, d: 1, err: "stride must be at least 1, got 0"},
		{in: 4, k: 3, s: 1, d: 0, err: "dilation must be at least 1, got 0"},
		{in: 4, k: 3, s: 1, pb: -1, d: 1, err: "padding must not be negative, got -1 and 0"},
		{in: 0, k: 3, s: 1, d: 1, err: "input size must be positive, got 0"},
		{in: 4, k: 0, s: 1, d: 1, err: "kernel size must be positive, got 0"},
	}
	for _, c := range cases {
		got, err := nodes.ConvOutputSize(c.in, c.k, c.s, c.pb, c.pa, c.d)
		what := fmt.Sprintf("ConvOutputSize(%d, %d, %d, %d, %d, %d)", c.in, c.k, c.s, c.pb, c.pa, c.d)
		if c.err != "" {
			wantErr(t, what, err, c.err)
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s = %d, %v; want %d", what, got, err, c.want)
		}
	}
}

func TestConvErrors(t *testing.T) {
	newConv := func(ps *graph.Params, opts ...nodes.ConvOption) error {
		_, err := nodes.NewConv2D(ps, "conv2", 32, 8, 3, opts...)
		return err
	}
	ctor := []struct {
		name string
		err  error
		want string
	}{
		{"zero stride", newConv(graph.NewParams(), nodes.Stride(0)), "conv2: stride must be at least 1, got 0"},
		{"negative stride", newConv(graph.NewParams(), nodes.Stride(1, -2)), "conv2: stride must be at least 1, got (1, -2)"},
		{"zero dilation", newConv(graph.NewParams(), nodes.Dilation(0)), "conv2: dilation must be at least 1, got 0"},
		{"negative padding", newConv(graph.NewParams(), nodes.Padding(1, -1)), "conv2: padding must not be negative, got (1, -1)"},
		{"three padding values", newConv(graph.NewParams(), nodes.Padding(1, 2, 3)), "conv2: padding takes 1, 2 (height, width) or 4 values (top, bottom, left, right), got 3: (1, 2, 3)"},
		{"three strides", newConv(graph.NewParams(), nodes.Stride(1, 2, 3)), "conv2: stride takes 1 or 2 values (height, width), got 3"},
		{"padding and same", newConv(graph.NewParams(), nodes.Padding(1), nodes.SamePadding()), "conv2: padding 1 and same padding are both given"},
		{"zero kernel", newConv(graph.NewParams(), nodes.KernelSize(0, 3)), "conv2: kernel size must be positive, got 0x3"},
	}
	for _, c := range ctor {
		wantErr(t, c.name, c.err, c.want)
	}
	_, err := nodes.NewConv2D(graph.NewParams(), "conv2", 0, 8, 3)
	wantErr(t, "zero channels", err, "conv2: channels must be positive, got in=0 out=8")
	_, err = nodes.NewConv1D(graph.NewParams(), "c1", 2, 8, 3, nodes.KernelSize(1, 3))
	wantErr(t, "1-D with KernelSize", err, "c1: a 1-D layer takes one kernel size")
	_, err = nodes.NewConv1D(graph.NewParams(), "c1", 2, 8, 3, nodes.Stride(1, 2))
	wantErr(t, "1-D with two strides", err, "c1: stride takes 1 value, got 2")
	ps := graph.NewParams()
	_, _ = nodes.NewConv2D(ps, "conv2", 1, 1, 3)
	_, err = nodes.NewConv2D(ps, "conv2", 1, 1, 3)
	wantErr(t, "duplicate name", err, "conv2:", "already exists")

	fwd := []struct {
		name  string
		in    []int
		opts  []nodes.ConvOption
		want  string
		oneD  bool
		wantC int
	}{
		{name: "channels", in: []int{4, 16, 10, 10}, want: "conv2: kernel expects 32 input channels, input has 16"},
		{name: "rank", in: []int{4, 32, 10}, want: "conv2: input must be (batch, channels, height, width), has shape (4, 32, 10)"},
		{name: "kernel larger than input", in: []int{4, 32, 2, 10}, want: "conv2: kernel 3x3 is larger than the padded input 2x10"},
		{name: "kernel larger than padded input", in: []int{4, 32, 1, 1}, opts: []nodes.ConvOption{nodes.Padding(0, 1, 1, 0)},
			want: "conv2: kernel 3x3 is larger than the padded input 2x2"},
		{name: "dilated kernel", in: []int{4, 32, 4, 4}, opts: []nodes.ConvOption{nodes.Dilation(2)},
			want: "conv2: kernel 3x3 (spanning 5x5 with dilation (2, 2)) is larger than the padded input 4x4"},
		{name: "1-D rank", in: []int{4, 32, 5, 5}, oneD: true, want: "conv1: input must be (batch, channels, length), has shape (4, 32, 5, 5)"},
		{name: "1-D kernel", in: []int{4, 32, 2}, oneD: true, want: "conv1: kernel 3 is larger than the padded input 2"},
	}
	for _, c := range fwd {
		ps := graph.NewParams()
		var layer interface {
			nodes.Layer
			OutputShape([]int) ([]int, error)
		}
		if c.oneD {
			l, err := nodes.NewConv1D(ps, "conv1", 32, 8, 3, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			layer = l
		} else {
			l, err := nodes.NewConv2D(ps, "conv2", 32, 8, 3, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			layer = l
		}
		b := graph.NewBuilder(ps, graph.Eval)
		x, _ := b.Input("x", c.in...)
		_, err := layer.Forward(b, x)
		wantErr(t, c.name, err, c.want)
		_, err = layer.OutputShape(c.in)
		wantErr(t, c.name+" (OutputShape)", err, c.want)
	}
}

// TestFusedReLU checks that a convolution with FusedReLU gives the values and the gradients
// (input, weight, bias) of the same convolution followed by ReLU, to the bit, in float32 and
// float64, and passes the gradient check.
func TestFusedReLU(t *testing.T) {
	for _, c := range []convCase{conv2DCases[0], conv2DCases[1], conv2DCases[6]} {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			ps := graph.NewParams(graph.Dtype(dt), graph.Seed(11))
			fused, err := nodes.NewConv2D(ps, "conv", c.in[1], c.out, c.k, append(c.opts, nodes.FusedReLU())...)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			plain, err := nodes.NewConv2D(graph.NewParams(), "conv", c.in[1], c.out, c.k, c.opts...)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			x := randTensor(rand.New(rand.NewPCG(12, 13)), dt, c.in...)
			var results [2]graph.Outputs
			for i, layer := range []nodes.Layer{fused, nodes.Func(func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
				y, err := plain.Forward(b, x) // the weights are bound by name, from ps
				if err != nil {
					return nil, err
				}
				return nodes.ReLU{}.Forward(b, y)
			})} {
				b := graph.NewBuilder(ps, graph.Train)
				xn, _ := b.Input("x", c.in...)
				y, err := layer.Forward(b, xn)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				wrt := map[string]*gorgonia.Node{"dx": xn}
				wrt["dw"], _ = b.Param("conv.weight")
				if c.bias {
					wrt["db"], _ = b.Param("conv.bias")
				}
				dy := randTensor(rand.New(rand.NewPCG(14, 15)), dt, y.Shape()...)
				results[i] = gradients(t, b, y, dy, graph.Feeds{"x": x}, wrt)
			}
			for name, got := range results[0] {
				want := graph.Float64s(results[1][name])
				for i, v := range graph.Float64s(got) {
					if v != want[i] {
						t.Errorf("%v %s: %s[%d] = %v fused, %v with a separate ReLU", dt, c.name, name, i, v, want[i])
						break
					}
				}
			}
			if dt != tensor.Float64 {
				continue
			}
			build := func(b *graph.Builder) (*gorgonia.Node, error) {
				xn, err := b.Input("x", c.in...)
				if err != nil {
					return nil, err
				}
				return fused.Forward(b, xn)
			}
			checkGrad(t, c.name+" fused relu", ps, build, graph.Feeds{"x": x}, graph.WithRespectTo("x"))
		}
	}
}

// TestFusedReLUThenMaxPool checks a convolution with FusedReLU followed by 2x2 max pooling,
// whose backward folds the ReLU's mask into the pooling's gradient, against the convolution,
// a separate ReLU and the pooling: same values and gradients to the bit, in float32 and
// float64, and the gradient check.
func TestFusedReLUThenMaxPool(t *testing.T) {
	in := []int{2, 3, 8, 7}
	pool, err := nodes.NewMaxPool2D("pool", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		ps := graph.NewParams(graph.Dtype(dt), graph.Seed(21))
		fused, err := nodes.NewConv2D(ps, "conv", 3, 4, 3, nodes.Padding(1), nodes.FusedReLU())
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := nodes.NewConv2D(graph.NewParams(), "conv", 3, 4, 3, nodes.Padding(1))
		x := randTensor(rand.New(rand.NewPCG(22, 23)), dt, in...)
		layers := [2]nodes.Func{
			func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
				y, err := fused.Forward(b, x)
				if err != nil {
					return nil, err
				}
				return pool.Forward(b, y)
			},
			func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
				y, err := plain.Forward(b, x)
				if err != nil {
					return nil, err
				}
				if y, err = (nodes.ReLU{}).Forward(b, y); err != nil {
					return nil, err
				}
				return pool.Forward(b, y)
			},
		}
		var results [2]graph.Outputs
		for i, layer := range layers {
			b := graph.NewBuilder(ps, graph.Train)
			xn, _ := b.Input("x", in...)
			y, err := layer(b, xn)
			if err != nil {
				t.Fatal(err)
			}
			wrt := map[string]*gorgonia.Node{"dx": xn}
			wrt["dw"], _ = b.Param("conv.weight")
			wrt["db"], _ = b.Param("conv.bias")
			dy := randTensor(rand.New(rand.NewPCG(24, 25)), dt, y.Shape()...)
			results[i] = gradients(t, b, y, dy, graph.Feeds{"x": x}, wrt)
			if i == 0 && !hasOp(b, "d(relu, max pool") {
				t.Error("the pooling's gradient does not apply the ReLU's mask")
			}
		}
		for name, got := range results[0] {
			want := graph.Float64s(results[1][name])
			for i, v := range graph.Float64s(got) {
				if v != want[i] {
					t.Errorf("%v: %s[%d] = %v fused, %v with a separate ReLU", dt, name, i, v, want[i])
					break
				}
			}
		}
		if dt == tensor.Float64 {
			checkGrad(t, "fused relu, max pool", ps, func(b *graph.Builder) (*gorgonia.Node, error) {
				xn, err := b.Input("x", in...)
				if err != nil {
					return nil, err
				}
				return layers[0](b, xn)
			}, graph.Feeds{"x": x}, graph.WithRespectTo("x"))
		}
	}
}

// hasOp reports whether some node of b's graph has an op whose description starts with prefix.
func hasOp(b *graph.Builder, prefix string) bool {
	for _, n := range b.Graph().AllNodes() {
		if n.Op() != nil && strings.HasPrefix(fmt.Sprint(n.Op()), prefix) {
			return true
		}
	}
	return false
}
