package nodes_test

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

func TestPoolAgainstPyTorch(t *testing.T) {
	for _, op := range []string{"max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d"} {
		for _, c := range loadReferences(t, op) {
			opts := []nodes.PoolOption{nodes.Padding(ints(c.Args["padding"])...)}
			if s := ints(c.Args["stride"]); s != nil {
				opts = append(opts, nodes.Stride(s...))
			}
			if d := ints(c.Args["dilation"]); d != nil && d[0] > 1 {
				opts = append(opts, nodes.Dilation(d...))
			}
			if c.Args["include_pad"] == false {
				opts = append(opts, nodes.ExcludePadding())
			}
			k := ints(c.Args["kernel"])[0]
			var layer nodes.Layer
			var err error
			switch op {
			case "max_pool2d":
				layer, err = nodes.NewMaxPool2D("pool", k, opts...)
			case "avg_pool2d":
				layer, err = nodes.NewAvgPool2D("pool", k, opts...)
			case "max_pool1d":
				layer, err = nodes.NewMaxPool1D("pool", k, opts...)
			case "avg_pool1d":
				layer, err = nodes.NewAvgPool1D("pool", k, opts...)
			}
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 1e-5
				}
				b := graph.NewBuilder(graph.NewParams(graph.Dtype(dt)), graph.Eval)
				x := c.Inputs["x"]
				xn, _ := b.Input("x", x.Shape...)
				y, err := layer.Forward(b, xn)
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				if !y.Shape().Eq(tensor.Shape(c.Output.Shape)) {
					t.Errorf("%s: shape %v, PyTorch %v", c.Name, y.Shape(), c.Output.Shape)
					continue
				}
				feeds := graph.Feeds{"x": x.dense(dt)}
				var got graph.Outputs
				if dy, ok := c.Extra["dy"]; ok {
					got = gradients(t, b, y, dy.dense(dt), feeds, map[string]*gorgonia.Node{"grad_x": xn})
					if i := closeTo(graph.Float64s(got["grad_x"]), c.Extra["grad_x"].Values, tol); i >= 0 {
						t.Errorf("%v %s: dx[%d] = %v, PyTorch %v", dt, c.Name, i, graph.Float64s(got["grad_x"])[i], c.Extra["grad_x"].Values[i])
					}
				} else {
					got = run(t, b, map[string]*gorgonia.Node{"y": y}, feeds)
				}
				if i := closeTo(graph.Float64s(got["y"]), c.Output.Values, tol); i >= 0 {
					t.Errorf("%v %s: y[%d] = %v, PyTorch %v", dt, c.Name, i, graph.Float64s(got["y"])[i], c.Output.Values[i])
				}
			}
		}
	}
}

func TestPoolGradients(t *testing.T) {
	mk := func(l nodes.Layer, err error) nodes.Layer {
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	cases := []struct {
		name  string
		layer nodes.Layer
		in    []int
	}{
		{"max 2x2", mk(nodes.NewMaxPool2D("p", 2)), []int{2, 2, 6, 7}},
		{"max 3x3 stride 1 overlapping", mk(nodes.NewMaxPool2D("p", 3, nodes.Stride(1))), []int{2, 2, 5, 6}},
		{"max 3x3 stride 2 pad 1", mk(nodes.NewMaxPool2D("p", 3, nodes.Stride(2), nodes.Padding(1))), []int{2, 2, 7, 7}},
		{"max asymmetric padding", mk(nodes.NewMaxPool2D("p", 3, nodes.Stride(2), nodes.Padding(0, 1, 1, 0))), []int{2, 2, 6, 7}},
		{"max dilation 2", mk(nodes.NewMaxPool2D("p", 3, nodes.Stride(1), nodes.Dilation(2), nodes.Padding(1))), []int{1, 2, 7, 6}},
		{"max same stride 2", mk(nodes.NewMaxPool2D("p", 3, nodes.Stride(2), nodes.SamePadding())), []int{1, 2, 6, 7}},
		{"max rectangular", mk(nodes.NewMaxPool2D("p", 1, nodes.KernelSize(2, 3), nodes.Stride(2, 1))), []int{1, 2, 6, 7}},
		{"avg 2x2", mk(nodes.NewAvgPool2D("p", 2)), []int{2, 2, 6, 7}},
		{"avg 3x3 stride 2 pad 1", mk(nodes.NewAvgPool2D("p", 3, nodes.Stride(2), nodes.Padding(1))), []int{2, 2, 7, 7}},
		{"avg asymmetric padding, exclude padding", mk(nodes.NewAvgPool2D("p", 3, nodes.Stride(1), nodes.Padding(1, 0, 0, 1), nodes.ExcludePadding())), []int{1, 2, 5, 6}},
		{"max 1-D", mk(nodes.NewMaxPool1D("p", 3, nodes.Stride(2), nodes.Padding(1))), []int{2, 3, 9}},
		{"avg 1-D", mk(nodes.NewAvgPool1D("p", 3, nodes.Stride(2), nodes.Padding(1, 0))), []int{2, 3, 9}},
		{"global avg", nodes.NewGlobalAvgPool2D("gap"), []int{2, 3, 4, 5}},
	}
	for _, c := range cases {
		r := rand.New(rand.NewPCG(6, 6))
		// A parameter in front of the pooling: GradCheck checks graphs that bind one, and the
		// gradient reaching it passes through the pooling's backward.
		ps := graph.NewParams(graph.Dtype(tensor.Float64), graph.Seed(4))
		if _, err := ps.Add("scale", c.in, graph.Uniform(0.5, 1.5)); err != nil {
			t.Fatal(err)
		}
		build := func(b *graph.Builder) (*gorgonia.Node, error) {
			x, err := b.Input("x", c.in...)
			if err != nil {
				return nil, err
			}
			s, err := b.Param("scale")
			if err != nil {
				return nil, err
			}
			xs, err := gorgonia.HadamardProd(x, s)
			if err != nil {
				return nil, err
			}
			return c.layer.Forward(b, xs)
		}
		checkGrad(t, c.name, ps, build, graph.Feeds{"x": randTensor(r, tensor.Float64, c.in...)}, graph.WithRespectTo("x"), graph.MaxPerTensor(0))
	}
}

func TestGlobalAvgPool2D(t *testing.T) {
	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	x, _ := b.Input("x", 1, 2, 2, 2)
	y, err := nodes.NewGlobalAvgPool2D("gap").Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, b, map[string]*gorgonia.Node{"y": y}, graph.Feeds{"x": graph.NewTensor(tensor.Float32, []int{1, 2, 2, 2}, []float64{1, 2, 3, 6, -1, -1, 1, 5})})
	if got := graph.Float64s(out["y"]); !out["y"].Shape().Eq(tensor.Shape{1, 2}) || got[0] != 3 || got[1] != 1 {
		t.Errorf("global average %v %v, want (1, 2) [3 1]", out["y"].Shape(), got)
	}
	b = graph.NewBuilder(graph.NewParams(), graph.Eval)
	_, err = nodes.NewGlobalAvgPool2D("gap").Forward(b, mustInput(t, b, "z", 2, 3))
	wantErr(t, "rank", err, "gap: input must be (batch, channels, height, width), has shape (2, 3)")
}

func TestPoolErrors(t *testing.T) {
	_, err := nodes.NewMaxPool2D("pool1", 3, nodes.Padding(2))
	wantErr(t, "padding above half the kernel", err, "pool1: padding (2, 2, 2, 2) is more than half the kernel 3x3")
	_, err = nodes.NewAvgPool2D("pool1", 2, nodes.Dilation(2))
	wantErr(t, "avg dilation", err, "pool1: average pooling takes no dilation, got 2")
	_, err = nodes.NewMaxPool2D("pool1", 2, nodes.ExcludePadding())
	wantErr(t, "max exclude padding", err, "pool1: ExcludePadding applies to average pooling only")
	_, err = nodes.NewMaxPool2D("pool1", 2, nodes.Stride(0))
	wantErr(t, "zero stride", err, "pool1: stride must be at least 1, got 0")
	_, err = nodes.NewMaxPool1D("pool1", 0)
	wantErr(t, "zero kernel", err, "pool1: kernel size must be positive, got 0")

	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	p2, _ := nodes.NewMaxPool2D("pool2", 3)
	_, err = p2.Forward(b, mustInput(t, b, "x", 2, 3, 4))
	wantErr(t, "rank", err, "pool2: input must be (batch, channels, height, width), has shape (2, 3, 4)")
	_, err = p2.Forward(b, mustInput(t, b, "x2", 2, 3, 2, 8))
	wantErr(t, "larger than input", err, "pool2: kernel 3x3 is larger than the padded input 2x8")
	p1, _ := nodes.NewAvgPool1D("pool3", 4)
	_, err = p1.Forward(b, mustInput(t, b, "x3", 2, 3, 3))
	wantErr(t, "1-D larger than input", err, "pool3: kernel 4 is larger than the padded input 3")
	_, err = p1.OutputShape([]int{2, 3, 3})
	wantErr(t, "1-D OutputShape", err, "pool3: kernel 4 is larger than the padded input 3")
	if s, err := p1.OutputShape([]int{2, 3, 9}); err != nil || len(s) != 3 || s[2] != 2 {
		t.Errorf("OutputShape (2, 3, 9) = %v, %v; want (2, 3, 2)", s, err)
	}
}

func mustInput(t *testing.T, b *graph.Builder, name string, shape ...int) *gorgonia.Node {
	t.Helper()
	n, err := b.Input(name, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
