package nodes_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

func randFeed(r *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return graph.NewTensor(tensor.Float64, shape, v)
}

func TestDenseGradients(t *testing.T) {
	for _, bias := range []bool{true, false} {
		ps := graph.NewParams(graph.Seed(3), graph.Dtype(tensor.Float64))
		var opts []nodes.DenseOption
		if !bias {
			opts = append(opts, nodes.NoBias())
		}
		fc, err := nodes.NewDense(ps, "fc", 5, 3, opts...)
		if err != nil {
			t.Fatal(err)
		}
		build := func(b *graph.Builder) (*gorgonia.Node, error) {
			x, err := b.Input("x", 4, 5)
			if err != nil {
				return nil, err
			}
			// x feeds the layer twice: the gradients of both uses must add up.
			y1, err := fc.Forward(b, x)
			if err != nil {
				return nil, err
			}
			y2, err := fc.Forward(b, gorgonia.Must(gorgonia.Tanh(x)))
			if err != nil {
				return nil, err
			}
			return gorgonia.Add(y1, y2)
		}
		r := rand.New(rand.NewPCG(1, 2))
		rep, err := graph.GradCheck(ps, build, graph.Feeds{"x": randFeed(r, 4, 5)}, graph.WithRespectTo("x"))
		if err != nil {
			t.Fatalf("bias=%v: %v", bias, err)
		}
		want := 15 + 20
		if bias {
			want += 3
		}
		if rep.Checked != want {
			t.Errorf("bias=%v: checked %d elements, want %d", bias, rep.Checked, want)
		}
	}
}

// TestDenseMatchesFormula pins the forward value y = x Wᵀ + b on numbers small enough to check
// by hand.
func TestDenseMatchesFormula(t *testing.T) {
	ps := graph.NewParams()
	fc, err := nodes.NewDense(ps, "fc", 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	_ = graph.CopyInto(ps.Value("fc.weight"), graph.NewTensor(tensor.Float32, []int{2, 2}, []float64{1, 2, 3, 4}))
	_ = graph.CopyInto(ps.Value("fc.bias"), graph.NewTensor(tensor.Float32, []int{2}, []float64{10, 20}))
	b := graph.NewBuilder(ps, graph.Eval)
	x, _ := b.Input("x", 1, 2)
	y, err := fc.Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"y": y})
	if err != nil {
		t.Fatal(err)
	}
	out, err := prog.Run(graph.Feeds{"x": graph.NewTensor(tensor.Float32, []int{1, 2}, []float64{1, -1})})
	if err != nil {
		t.Fatal(err)
	}
	// (1, -1) · [[1 3] [2 4]] + (10, 20) = (1-2+10, 3-4+20)
	if got := graph.Float64s(out["y"]); got[0] != 9 || got[1] != 19 {
		t.Fatalf("y = %v, want [9 19]", got)
	}
}

func TestDenseErrors(t *testing.T) {
	ps := graph.NewParams()
	fc, err := nodes.NewDense(ps, "fc1", 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.NewDense(ps, "fc1", 4, 2); err == nil || !strings.Contains(err.Error(), "fc1") {
		t.Errorf("duplicate layer name: %v", err)
	}
	if _, err := nodes.NewDense(ps, "fc2", 0, 2); err == nil || !strings.Contains(err.Error(), "fc2") {
		t.Errorf("zero size: %v", err)
	}
	b := graph.NewBuilder(ps, graph.Eval)
	x3, _ := b.Input("x3", 2, 3)
	x1, _ := b.Input("x1", 4)
	cases := []struct {
		x    *gorgonia.Node
		want string
	}{
		{x3, "fc1: expects 4 input features, input has 3"},
		{x1, "fc1: input must be (batch, 4)"},
		{nil, "fc1: nil input"},
	}
	for _, c := range cases {
		if _, err := fc.Forward(b, c.x); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}
