package rnn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// stackGradients returns, for k parameters of shape (rows, cols) stacked by stack and reduced
// to Σ stack(x) ⊙ R, the largest difference between each parameter's gradient and its block
// of R (the exact gradient).
func stackGradients(t *testing.T, k, rows, cols int, stack func([]*gorgonia.Node) (*gorgonia.Node, error)) float64 {
	t.Helper()
	ps := graph.NewParams(graph.Dtype(tensor.Float64))
	b := graph.NewBuilder(ps, graph.Train)
	xs := make([]*gorgonia.Node, k)
	for i := range xs {
		name := fmt.Sprintf("x%d", i)
		if _, err := ps.Add(name, []int{rows, cols}, graph.Normal(0, 1)); err != nil {
			t.Fatal(err)
		}
		var err error
		if xs[i], err = b.Param(name); err != nil {
			t.Fatal(err)
		}
	}
	s, err := stack(xs)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Input("r", k*rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	loss := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(s, r))))
	tr, err := graph.NewTrainer(b, loss, solvers.NewSGD(0.1))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	rv := make([]float64, k*rows*cols)
	for i := range rv {
		rv[i] = rng.NormFloat64()
	}
	_, grads, err := tr.Gradients(graph.Feeds{"r": graph.NewTensor(tensor.Float64, []int{k * rows, cols}, rv)})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := 0; i < k; i++ {
		g := graph.Float64s(grads[fmt.Sprintf("x%d", i)])
		for j, v := range g {
			worst = math.Max(worst, math.Abs(v-rv[i*rows*cols+j]))
		}
	}
	return worst
}

// stackRows gives every input its own block of the gradient, also beyond 256 rows, where
// Gorgonia's Concat gives some inputs another one's (its Slice hashes bounds modulo 256).
func TestStackRowsGradient(t *testing.T) {
	for _, c := range [][3]int{{3, 2, 5}, {64, 32, 4}, {40, 7, 3}} {
		if d := stackGradients(t, c[0], c[1], c[2], stackRows); d != 0 {
			t.Errorf("stackRows of %d×(%d, %d): gradient off by %g", c[0], c[1], c[2], d)
		}
	}
	concat := func(xs []*gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Concat(0, xs...) }
	if d := stackGradients(t, 64, 32, 4, concat); d == 0 {
		t.Log("gorgonia.Concat now differentiates 2048 rows correctly: stackRows may no longer be needed")
	} else {
		t.Logf("gorgonia.Concat of 64×(32, 4): gradient off by %g (the bug stackRows avoids)", d)
	}
}

// The forward value is the concatenation, in float32 and float64, through a compiled program.
func TestStackRowsForward(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		ps := graph.NewParams(graph.Dtype(dt))
		b := graph.NewBuilder(ps, graph.Eval)
		a, _ := b.Input("a", 2, 3)
		c, _ := b.Input("c", 2, 3)
		s, err := stackRows([]*gorgonia.Node{a, c, a})
		if err != nil {
			t.Fatal(err)
		}
		p, err := graph.Compile(b, map[string]*gorgonia.Node{"s": s})
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Run(graph.Feeds{
			"a": graph.NewTensor(dt, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}),
			"c": graph.NewTensor(dt, []int{2, 3}, []float64{7, 8, 9, 10, 11, 12}),
		})
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(out["s"].Shape(), graph.Float64s(out["s"]))
		if want := "(6, 3) [1 2 3 4 5 6 7 8 9 10 11 12 1 2 3 4 5 6]"; got != want {
			t.Errorf("%v: %s, want %s", dt, got, want)
		}
	}
	if _, err := stackRows(nil); err == nil {
		t.Error("stacking nothing: no error")
	}
}
