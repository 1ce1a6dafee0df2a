package graph

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The executor runs Gorgonia's sum of two tensors of one shape, and only that, with its own
// loop, which gives Gorgonia's bits; a fan-in gradient through it matches the TapeMachine's.
func TestSumOpRecognition(t *testing.T) {
	g := gorgonia.NewGraph()
	a := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(3, 5), gorgonia.WithName("a"))
	b := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(3, 5), gorgonia.WithName("b"))
	d := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(3, 5), gorgonia.WithName("d"))
	v := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(5), gorgonia.WithName("v"))
	s := gorgonia.NewScalar(g, tensor.Float32, gorgonia.WithName("s"))
	must := func(n *gorgonia.Node, err error) *gorgonia.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	sums := sumOps{}
	for _, c := range []struct {
		name string
		n    *gorgonia.Node
		want bool
	}{
		{"a+b", must(gorgonia.Add(a, b)), true},
		{"d+d", must(gorgonia.Add(d, d)), true},
		{"v+v", must(gorgonia.Add(v, v)), true},
		{"a-b", must(gorgonia.Sub(a, b)), false},
		{"a*b", must(gorgonia.HadamardProd(a, b)), false},
		{"a+s", must(gorgonia.Add(a, s)), false},
		{"a/b", must(gorgonia.HadamardDiv(a, b)), false},
	} {
		if got := sums.is(c.n, childrenOf(g, c.n)); got != c.want {
			t.Errorf("%s: recognised as a sum %v, want %v", c.name, got, c.want)
		}
	}

	x := tensor.New(tensor.WithShape(3, 5), tensor.WithBacking([]float32{
		1, -2, 3e7, 4, 5, 0.1, 0.2, 0.3, -7, 8, 9, 1e-8, 11, 12, 13}))
	y := tensor.New(tensor.WithShape(3, 5), tensor.WithBacking([]float32{
		0.7, 2, -3e7, 1e-3, 5, 0.2, 0.1, 0.3, 7, -8.5, 9, 1, 11, 1e9, -13}))
	sum := must(gorgonia.Add(a, b))
	want, err := sum.Op().Do(x, y)
	if err != nil {
		t.Fatal(err)
	}
	out := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(3, 5))
	got, err := sumOp{sum.Op().(gorgonia.UsePreallocDoer)}.DoInto(out, x, y)
	if err != nil {
		t.Fatal(err)
	}
	w, o := want.(*tensor.Dense).Data().([]float32), got.(*tensor.Dense).Data().([]float32)
	for i := range w {
		if w[i] != o[i] {
			t.Fatalf("[%d]: %v, Gorgonia %v", i, o[i], w[i])
		}
	}
}
