package nodes_test

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

func TestFlattenAndReshape(t *testing.T) {
	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	x, _ := b.Input("x", 2, 3, 2, 2)
	f, err := nodes.Flatten{}.Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	back, err := nodes.Reshape(-1, 3, 2, 2).Forward(b, f)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]float64, 24)
	for i := range vals {
		vals[i] = float64(i)
	}
	feed := graph.NewTensor(tensor.Float32, []int{2, 3, 2, 2}, vals)
	out := run(t, b, map[string]*gorgonia.Node{"f": f, "back": back}, graph.Feeds{"x": feed})
	if !out["f"].Shape().Eq(tensor.Shape{2, 12}) || !out["back"].Shape().Eq(tensor.Shape{2, 3, 2, 2}) {
		t.Fatalf("shapes %v and %v, want (2, 12) and (2, 3, 2, 2)", out["f"].Shape(), out["back"].Shape())
	}
	for i, v := range graph.Float64s(out["f"]) {
		if v != vals[i] || graph.Float64s(out["back"])[i] != vals[i] {
			t.Fatalf("element %d moved", i)
		}
	}
	if got := graph.Float64s(feed); got[5] != 5 || !feed.Shape().Eq(tensor.Shape{2, 3, 2, 2}) {
		t.Errorf("the fed tensor changed: %v", feed.Shape())
	}

	_, err = nodes.Reshape(-1, -1).Forward(b, x)
	wantErr(t, "two -1", err, "reshape: shape (-1, -1) has more than one -1")
	_, err = nodes.Reshape(5, -1).Forward(b, x)
	wantErr(t, "indivisible", err, "reshape: cannot view input (2, 3, 2, 2) (24 values) as (5, -1)")
	_, err = nodes.Reshape(2, 10).Forward(b, x)
	wantErr(t, "wrong count", err, "reshape: cannot view input (2, 3, 2, 2) (24 values) as (2, 10) (20 values)")
	_, err = nodes.Reshape(0, 24).Forward(b, x)
	wantErr(t, "zero", err, "reshape: shape (0, 24) has a size below 1")
}

func TestFlattenGradient(t *testing.T) {
	ps := graph.NewParams(graph.Seed(3))
	conv, err := nodes.NewConv2D(ps, "conv", 2, 3, 3, nodes.Padding(1))
	if err != nil {
		t.Fatal(err)
	}
	fc, err := nodes.NewDense(ps, "fc", 3*4*4, 5)
	if err != nil {
		t.Fatal(err)
	}
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		x, err := b.Input("x", 2, 2, 4, 4)
		if err != nil {
			return nil, err
		}
		y, err := conv.Forward(b, x)
		if err != nil {
			return nil, err
		}
		if y, err = (nodes.Flatten{}).Forward(b, y); err != nil {
			return nil, err
		}
		return fc.Forward(b, y)
	}
	r := rand.New(rand.NewPCG(2, 3))
	checkGrad(t, "conv, flatten, dense", ps, build, graph.Feeds{"x": randTensor(r, tensor.Float64, 2, 2, 4, 4)}, graph.WithRespectTo("x"))
}
