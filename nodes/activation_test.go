package nodes_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// paramInput makes a parameter named "x" of the given shape with values from init and binds it:
// a gradient check then checks the gradient reaching the node's input.
func paramInput(t *testing.T, init graph.Init, shape ...int) (*graph.Params, func(b *graph.Builder) (*gorgonia.Node, error)) {
	t.Helper()
	ps := graph.NewParams(graph.Dtype(tensor.Float64), graph.Seed(21))
	if _, err := ps.Add("x", shape, init); err != nil {
		t.Fatal(err)
	}
	return ps, func(b *graph.Builder) (*gorgonia.Node, error) { return b.Param("x") }
}

func TestActivationGradients(t *testing.T) {
	cases := []struct {
		name string
		f    nodes.Layer
	}{
		{"relu", nodes.ReLU{}},
		{"leaky relu", nodes.LeakyReLU{Slope: 0.1}},
		{"tanh", nodes.Tanh{}},
		{"sigmoid", nodes.Sigmoid{}},
		{"softmax", nodes.Softmax{}},
		{"log softmax", nodes.LogSoftmax{}},
	}
	for _, c := range cases {
		for _, shape := range [][]int{{3, 5}, {2, 3, 4}} {
			ps, x := paramInput(t, graph.Uniform(-3, 3), shape...)
			build := func(b *graph.Builder) (*gorgonia.Node, error) {
				xn, err := x(b)
				if err != nil {
					return nil, err
				}
				return c.f.Forward(b, xn)
			}
			checkGrad(t, c.name, ps, build, nil, graph.MaxPerTensor(0))
		}
	}
}

func TestActivationValues(t *testing.T) {
	xs := []float64{-1000, -2, -0.5, 0, 0.5, 2, 1000, 3}
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	want := map[string]func(i int) float64{
		"relu": func(i int) float64 { return math.Max(0, xs[i]) },
		"leaky": func(i int) float64 {
			if xs[i] > 0 {
				return xs[i]
			}
			return 0.2 * xs[i]
		},
		"tanh":       func(i int) float64 { return math.Tanh(xs[i]) },
		"sigmoid":    func(i int) float64 { return sig(xs[i]) },
		"softmax":    func(i int) float64 { return softmaxRef(xs[i/4*4 : i/4*4+4])[i%4] },
		"logsoftmax": func(i int) float64 { return math.Log(softmaxRef(xs[i/4*4 : i/4*4+4])[i%4]) },
	}
	funcs := map[string]nodes.Layer{"relu": nodes.ReLU{}, "leaky": nodes.LeakyReLU{Slope: 0.2}, "tanh": nodes.Tanh{},
		"sigmoid": nodes.Sigmoid{}, "softmax": nodes.Softmax{}, "logsoftmax": nodes.LogSoftmax{}}
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		b := graph.NewBuilder(graph.NewParams(graph.Dtype(dt)), graph.Eval)
		x, _ := b.Input("x", 2, 4)
		outs := map[string]*gorgonia.Node{}
		for name, f := range funcs {
			y, err := f.Forward(b, x)
			if err != nil {
				t.Fatal(err)
			}
			outs[name] = y
		}
		got := run(t, b, outs, graph.Feeds{"x": graph.NewTensor(dt, []int{2, 4}, xs)})
		for name, w := range want {
			vals := graph.Float64s(got[name])
			for i, v := range vals {
				// The first row has logits 1000 apart: the stable forms must still be finite
				// (log-softmax of the smallest is -1000 - log(1 + ...), exactly -1000.something).
				wi := w(i)
				if name == "logsoftmax" && i < 4 {
					wi = xs[i] - logSumExp(xs[:4])
				}
				if math.IsNaN(v) || math.Abs(v-wi) > 1e-5*math.Max(1, math.Abs(wi)) {
					t.Errorf("%v %s(%v) = %v, want %v", dt, name, xs[i], v, wi)
				}
			}
		}
	}
}

func softmaxRef(x []float64) []float64 {
	m := x[0]
	for _, v := range x {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(v - m)
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = math.Exp(v-m) / s
	}
	return out
}

func logSumExp(x []float64) float64 {
	m := x[0]
	for _, v := range x {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// A model written as a list of layers: activations, Flatten and Dropout sit beside layers
// with parameters.
func TestFuncsAreLayers(t *testing.T) {
	ps := graph.NewParams(graph.Seed(4))
	conv, err := nodes.NewConv2D(ps, "conv", 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := nodes.NewMaxPool2D("pool", 2)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := nodes.NewDense(ps, "fc", 2*2*2, 3)
	if err != nil {
		t.Fatal(err)
	}
	drop, err := nodes.NewDropout("drop", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	model := []nodes.Layer{conv, nodes.ReLU{}, pool, nodes.Flatten{}, drop, fc, nodes.LeakyReLU{Slope: 0.01}, nodes.LogSoftmax{}}
	b := graph.NewBuilder(ps, graph.Eval)
	x, _ := b.Input("x", 2, 1, 6, 6)
	y := x
	for _, l := range model {
		if y, err = l.Forward(b, y); err != nil {
			t.Fatal(err)
		}
	}
	if !y.Shape().Eq(tensor.Shape{2, 3}) {
		t.Fatalf("output shape %v, want (2, 3)", y.Shape())
	}
	r := rand.New(rand.NewPCG(1, 1))
	out := run(t, b, map[string]*gorgonia.Node{"y": y}, graph.Feeds{"x": randTensor(r, tensor.Float32, 2, 1, 6, 6)})
	vals := graph.Float64s(out["y"])
	for row := 0; row < 2; row++ {
		var s float64
		for _, v := range vals[row*3 : row*3+3] {
			s += math.Exp(v)
		}
		if math.Abs(s-1) > 1e-5 {
			t.Errorf("row %d: probabilities sum to %v", row, s)
		}
	}
}

func TestActivationErrors(t *testing.T) {
	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	_, err := nodes.ReLU{}.Forward(b, nil)
	wantErr(t, "nil", err, "relu: nil input")
	_, err = nodes.Softmax{}.Forward(b, nil)
	wantErr(t, "nil softmax", err, "softmax: nil input")
	x, _ := b.Input("x", 2, 2)
	_, err = nodes.LeakyReLU{Slope: math.Inf(1)}.Forward(b, x)
	wantErr(t, "slope", err, "leakyrelu: slope must be finite, got +Inf")
}
