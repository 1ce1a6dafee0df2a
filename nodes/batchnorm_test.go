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

func newBN(t *testing.T, ps *graph.Params, name string, rank, channels int, opts ...nodes.BatchNormOption) nodes.Layer {
	t.Helper()
	var l nodes.Layer
	var err error
	if rank == 4 {
		l, err = nodes.NewBatchNorm2D(ps, name, channels, opts...)
	} else {
		l, err = nodes.NewBatchNorm1D(ps, name, channels, opts...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBatchNormAgainstPyTorch(t *testing.T) {
	for _, c := range loadReferences(t, "batch_norm") {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 1e-5
			}
			x := c.Inputs["x"]
			ps := graph.NewParams(graph.Dtype(dt))
			bn := newBN(t, ps, "bn", len(x.Shape), x.Shape[1])
			for _, name := range []string{"weight", "bias", "running_mean", "running_var"} {
				if err := graph.CopyInto(ps.Value("bn."+name), c.Inputs[name].dense(dt)); err != nil {
					t.Fatal(err)
				}
			}
			mode := graph.Eval
			if c.Args["training"] == true {
				mode = graph.Train
			}
			b := graph.NewBuilder(ps, mode)
			xn, _ := b.Input("x", x.Shape...)
			y, err := bn.Forward(b, xn)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			got := run(t, b, map[string]*gorgonia.Node{"y": y}, graph.Feeds{"x": x.dense(dt)})["y"]
			if i := closeTo(graph.Float64s(got), c.Output.Values, tol); i >= 0 {
				t.Errorf("%v %s: y[%d] = %v, PyTorch %v", dt, c.Name, i, graph.Float64s(got)[i], c.Output.Values[i])
			}
			// After the run, the buffers hold PyTorch's running statistics (unchanged in eval).
			for _, name := range []string{"running_mean", "running_var"} {
				want := c.Extra[name+"_after"].Values
				if i := closeTo(graph.Float64s(ps.Value("bn."+name)), want, tol); i >= 0 {
					t.Errorf("%v %s: %s[%d] = %v, PyTorch %v", dt, c.Name, name, i, graph.Float64s(ps.Value("bn." + name))[i], want[i])
				}
			}
			if mode == graph.Eval {
				continue
			}
			// An evaluation graph built afterwards from the same Params uses those statistics.
			e := graph.NewBuilder(ps, graph.Eval)
			xe, _ := e.Input("x", x.Shape...)
			ye, err := bn.Forward(e, xe)
			if err != nil {
				t.Fatal(err)
			}
			got = run(t, e, map[string]*gorgonia.Node{"y": ye}, graph.Feeds{"x": x.dense(dt)})["y"]
			rm, rv := c.Extra["running_mean_after"].Values, c.Extra["running_var_after"].Values
			w, bias := c.Inputs["weight"].Values, c.Inputs["bias"].Values
			inner := len(x.Values) / (x.Shape[0] * x.Shape[1])
			want := make([]float64, len(x.Values))
			for i, v := range x.Values {
				ch := i / inner % x.Shape[1]
				want[i] = w[ch]*(v-rm[ch])/math.Sqrt(rv[ch]+1e-5) + bias[ch]
			}
			if i := closeTo(graph.Float64s(got), want, tol); i >= 0 {
				t.Errorf("%v %s: evaluation y[%d] = %v, want %v", dt, c.Name, i, graph.Float64s(got)[i], want[i])
			}
		}
	}
}

func TestBatchNormGradients(t *testing.T) {
	for _, in := range [][]int{{3, 2, 3, 4}, {5, 3}, {3, 2, 4}} {
		for _, mode := range []graph.Mode{graph.Train, graph.Eval} {
			ps := graph.NewParams(graph.Seed(8))
			bn := newBN(t, ps, "bn", len(in), in[1])
			// Parameters and statistics away from their initial 1 and 0, so that every term counts.
			r := rand.New(rand.NewPCG(8, 9))
			for _, name := range []string{"weight", "bias", "running_mean"} {
				_ = graph.CopyInto(ps.Value("bn."+name), randTensor(r, tensor.Float32, in[1]))
			}
			_ = graph.CopyInto(ps.Value("bn.running_var"), graph.NewTensor(tensor.Float32, []int{in[1]}, []float64{0.5, 2, 1.5}[:in[1]]))
			build := func(b *graph.Builder) (*gorgonia.Node, error) {
				x, err := b.Input("x", in...)
				if err != nil {
					return nil, err
				}
				return bn.Forward(b, x)
			}
			x := randTensor(r, tensor.Float64, in...)
			checkGrad(t, mode.String(), ps, build, graph.Feeds{"x": x}, graph.WithRespectTo("x"), graph.CheckMode(mode))
		}
	}
}

func TestBatchNormErrors(t *testing.T) {
	ps := graph.NewParams()
	_, err := nodes.NewBatchNorm2D(ps, "bn1", 0)
	wantErr(t, "zero channels", err, "bn1: channels must be positive, got 0")
	_, err = nodes.NewBatchNorm2D(ps, "bn1", 4, nodes.Momentum(1.5))
	wantErr(t, "momentum", err, "bn1: momentum must be in [0, 1], got 1.5")
	_, err = nodes.NewBatchNorm1D(ps, "bn1", 4, nodes.Epsilon(0))
	wantErr(t, "epsilon", err, "bn1: epsilon must be a positive number, got 0")

	bn2, err := nodes.NewBatchNorm2D(ps, "bn2", 4)
	if err != nil {
		t.Fatal(err)
	}
	bn3, err := nodes.NewBatchNorm1D(ps, "bn3", 4)
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(ps, graph.Train)
	_, err = bn2.Forward(b, mustInput(t, b, "a", 2, 8, 3, 3))
	wantErr(t, "channels", err, "bn2: expects 4 channels, input has 8")
	_, err = bn2.Forward(b, mustInput(t, b, "b", 2, 4))
	wantErr(t, "rank", err, "bn2: input must be (batch, channels, height, width), has shape (2, 4)")
	_, err = bn3.Forward(b, mustInput(t, b, "c", 2, 4, 3, 3))
	wantErr(t, "1-D rank", err, "bn3: input must be (batch, channels) or (batch, channels, length), has shape (2, 4, 3, 3)")
	_, err = bn3.Forward(b, mustInput(t, b, "d", 1, 4))
	wantErr(t, "one value per channel", err, "bn3: training needs more than 1 value per channel, input has shape (1, 4)")
	// One value per channel is fine in evaluation.
	e := graph.NewBuilder(ps, graph.Eval)
	if _, err := bn3.Forward(e, mustInput(t, e, "d", 1, 4)); err != nil {
		t.Errorf("evaluation of a batch of 1: %v", err)
	}
}
