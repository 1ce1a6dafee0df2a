package nodes_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// concatGradients joins parameters of the given shapes with join, reduces the result to
// Σ join(x) ⊙ R, and returns the largest difference between each parameter's gradient and its
// block of R, the exact gradient (at is where parameter i's element j sits in R).
func concatGradients(t *testing.T, shapes [][2]int, outShape [2]int, at func(i, j int) int,
	join func(b *graph.Builder, xs []*gorgonia.Node) (*gorgonia.Node, error)) float64 {
	t.Helper()
	ps := graph.NewParams(graph.Dtype(tensor.Float64))
	b := graph.NewBuilder(ps, graph.Train)
	xs := make([]*gorgonia.Node, len(shapes))
	for i, s := range shapes {
		name := fmt.Sprintf("x%d", i)
		if _, err := ps.Add(name, []int{s[0], s[1]}, graph.Normal(0, 1)); err != nil {
			t.Fatal(err)
		}
		var err error
		if xs[i], err = b.Param(name); err != nil {
			t.Fatal(err)
		}
	}
	y, err := join(b, xs)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Input("r", outShape[0], outShape[1])
	if err != nil {
		t.Fatal(err)
	}
	loss := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(y, r))))
	tr, err := graph.NewTrainer(b, loss, solvers.NewSGD(0.1))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	rv := make([]float64, outShape[0]*outShape[1])
	for i := range rv {
		rv[i] = rng.NormFloat64()
	}
	_, grads, err := tr.Gradients(graph.Feeds{"r": graph.NewTensor(tensor.Float64, outShape[:], rv)})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range shapes {
		for j, v := range graph.Float64s(grads[fmt.Sprintf("x%d", i)]) {
			worst = math.Max(worst, math.Abs(v-rv[at(i, j)]))
		}
	}
	return worst
}

// ConcatRows and ConcatCols give every input its own block of the gradient, also beyond 256
// rows or columns, where Gorgonia's Concat gives some inputs another one's (its Slice op
// hashes its bounds truncated to a byte, and nodes that hash alike are merged).
func TestConcatGradientBeyond256(t *testing.T) {
	rows := func(k, n, w int) ([][2]int, [2]int, func(i, j int) int) {
		s := make([][2]int, k)
		for i := range s {
			s[i] = [2]int{n, w}
		}
		return s, [2]int{k * n, w}, func(i, j int) int { return i*n*w + j }
	}
	cols := func(n int, ws ...int) ([][2]int, [2]int, func(i, j int) int) {
		s, from, total := make([][2]int, len(ws)), make([]int, len(ws)), 0
		for i, w := range ws {
			s[i], from[i] = [2]int{n, w}, total
			total += w
		}
		return s, [2]int{n, total}, func(i, j int) int { return (j/ws[i])*total + from[i] + j%ws[i] }
	}
	ourRows := func(b *graph.Builder, xs []*gorgonia.Node) (*gorgonia.Node, error) {
		return nodes.ConcatRows(b, "y", xs)
	}
	ourCols := func(b *graph.Builder, xs []*gorgonia.Node) (*gorgonia.Node, error) {
		return nodes.ConcatCols(b, "y", xs)
	}
	for _, c := range []struct {
		name  string
		shape func() ([][2]int, [2]int, func(i, j int) int)
		join  func(b *graph.Builder, xs []*gorgonia.Node) (*gorgonia.Node, error)
		axis  int
	}{
		{"rows 3×(2, 5)", func() ([][2]int, [2]int, func(i, j int) int) { return rows(3, 2, 5) }, ourRows, 0},
		{"rows 64×(32, 4)", func() ([][2]int, [2]int, func(i, j int) int) { return rows(64, 32, 4) }, ourRows, 0},
		{"cols (3; 2, 5, 1)", func() ([][2]int, [2]int, func(i, j int) int) { return cols(3, 2, 5, 1) }, ourCols, 1},
		{"cols (2; 256, 256, 256)", func() ([][2]int, [2]int, func(i, j int) int) { return cols(2, 256, 256, 256) }, ourCols, 1},
	} {
		s, out, at := c.shape()
		if d := concatGradients(t, s, out, at, c.join); d != 0 {
			t.Errorf("%s: gradient off by %g", c.name, d)
		}
		theirs := func(b *graph.Builder, xs []*gorgonia.Node) (*gorgonia.Node, error) {
			return gorgonia.Concat(c.axis, xs...)
		}
		t.Logf("%s: gorgonia.Concat's gradient off by %g", c.name, concatGradients(t, s, out, at, theirs))
	}
}

// ConcatCols joins side by side in float32 and float64, its gradient passes the
// finite-difference check, and bad inputs are errors naming the node.
func TestConcatCols(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		b := graph.NewBuilder(graph.NewParams(graph.Dtype(dt)), graph.Eval)
		a, _ := b.Input("a", 2, 1)
		c, _ := b.Input("c", 2, 2)
		y, err := nodes.ConcatCols(b, "y", []*gorgonia.Node{a, c, a})
		if err != nil {
			t.Fatal(err)
		}
		p, err := graph.Compile(b, map[string]*gorgonia.Node{"y": y})
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Run(graph.Feeds{
			"a": graph.NewTensor(dt, []int{2, 1}, []float64{1, 2}),
			"c": graph.NewTensor(dt, []int{2, 2}, []float64{3, 4, 5, 6}),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprint(out["y"].Shape(), graph.Float64s(out["y"])), "(2, 4) [1 3 4 1 2 5 6 2]"; got != want {
			t.Errorf("%v: %s, want %s", dt, got, want)
		}
	}

	ps := graph.NewParams(graph.Dtype(tensor.Float64))
	if _, err := ps.Add("w", []int{3, 2}, graph.Uniform(-1, 1)); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 9))
	feeds := graph.Feeds{"x": graph.NewTensor(tensor.Float64, []int{3, 4}, []float64{
		r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64(),
		r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64(),
		r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64(),
	})}
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		w, err := b.Param("w")
		if err != nil {
			return nil, err
		}
		x, err := b.Input("x", 3, 4)
		if err != nil {
			return nil, err
		}
		y, err := nodes.ConcatCols(b, "y", []*gorgonia.Node{x, gorgonia.Must(gorgonia.Tanh(w)), x})
		if err != nil {
			return nil, err
		}
		return gorgonia.Sum(gorgonia.Must(gorgonia.Square(y)))
	}
	if _, err := graph.GradCheck(ps, build, feeds, graph.WithRespectTo("x"), graph.MaxPerTensor(0)); err != nil {
		t.Fatal(err)
	}
}

// ConcatRows stacks the steps' values time-major, and its gradient (read in place by the cells
// or copied out otherwise) passes the finite-difference check.
func TestConcatRows(t *testing.T) {
	const batch, width, parts = 2, 3, 4
	r := rand.New(rand.NewPCG(7, 8))
	feeds := graph.Feeds{}
	for i := 0; i < parts; i++ {
		feeds[fmt.Sprintf("x%d", i)] = cellRand(r, tensor.Float64, 1, batch, width)
	}
	ps := graph.NewParams(graph.Dtype(tensor.Float64))
	if _, err := ps.Add("w", []int{batch, width}, graph.Uniform(-1, 1)); err != nil {
		t.Fatal(err)
	}
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		w, err := b.Param("w")
		if err != nil {
			return nil, err
		}
		var xs []*gorgonia.Node
		for i := 0; i < parts; i++ {
			x, err := b.Input(fmt.Sprintf("x%d", i), batch, width)
			if err != nil {
				return nil, err
			}
			if xs = append(xs, x); i%2 == 1 {
				if xs[i], err = gorgonia.HadamardProd(x, w); err != nil {
					return nil, err
				}
			}
		}
		y, err := nodes.ConcatRows(b, "rows", xs) // (parts·B, N)
		if err != nil {
			return nil, err
		}
		return gorgonia.Square(y)
	}
	b := graph.NewBuilder(ps, graph.Eval)
	y, err := build(b)
	if err != nil {
		t.Fatal(err)
	}
	got, w := runOutput(t, b, y, feeds), graph.Float64s(ps.Value("w"))
	for i := 0; i < parts; i++ {
		x := graph.Float64s(feeds[fmt.Sprintf("x%d", i)])
		for j, v := range x {
			if i%2 == 1 {
				v *= w[j]
			}
			if g := got[i*batch*width+j]; math.Abs(g-v*v) > 1e-15 {
				t.Fatalf("row block %d, element %d: got %v, want %v", i, j, g, v*v)
			}
		}
	}
	if _, err := graph.GradCheck(ps, build, feeds, graph.WithRespectTo("x0", "x3"), graph.MaxPerTensor(0)); err != nil {
		t.Fatal(err)
	}
}

// ConcatRows and ConcatCols refuse what they cannot join with one message each.
func TestConcatErrors(t *testing.T) {
	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	a, _ := b.Input("a", 2, 3)
	c, _ := b.Input("c", 3, 3)
	v, _ := b.Input("v", 3)
	for _, tc := range []struct {
		concat func(*graph.Builder, string, []*gorgonia.Node) (*gorgonia.Node, error)
		xs     []*gorgonia.Node
		want   string
	}{
		{nodes.ConcatRows, nil, "out: concat rows: no nodes"},
		{nodes.ConcatRows, []*gorgonia.Node{a, nil}, "out: concat rows: node 1 is nil"},
		{nodes.ConcatRows, []*gorgonia.Node{a, v}, "out: concat rows: node 1 must be (batch, width), has shape (3)"},
		{nodes.ConcatRows, []*gorgonia.Node{a, c}, "out: concat rows: node 1 has shape (3, 3), node 0 (2, 3)"},
		{nodes.ConcatCols, nil, "out: concat columns: no nodes"},
		{nodes.ConcatCols, []*gorgonia.Node{a, nil}, "out: concat columns: node 1 is nil"},
		{nodes.ConcatCols, []*gorgonia.Node{a, v}, "out: concat columns: node 1 must be (batch, width), has shape (3)"},
		{nodes.ConcatCols, []*gorgonia.Node{a, c}, "out: concat columns: node 1 has 3 rows, node 0 2"},
	} {
		if _, err := tc.concat(b, "out", tc.xs); err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
