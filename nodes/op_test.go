package nodes_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// randTensor returns a tensor of uniform values in [-1, 1).
func randTensor(r *rand.Rand, dt tensor.Dtype, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*r.Float64() - 1
	}
	return graph.NewTensor(dt, shape, v)
}

// checkGrad runs graph.GradCheck and fails the test on a mismatch.
func checkGrad(t *testing.T, what string, ps *graph.Params, build func(b *graph.Builder) (*gorgonia.Node, error), feeds graph.Feeds, opts ...graph.CheckOption) {
	t.Helper()
	rep, err := graph.GradCheck(ps, build, feeds, opts...)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if rep.Checked == 0 {
		t.Errorf("%s: no element checked", what)
	}
}

// run compiles b with the given outputs and runs it once.
func run(t *testing.T, b *graph.Builder, outputs map[string]*gorgonia.Node, feeds graph.Feeds) graph.Outputs {
	t.Helper()
	prog, err := graph.Compile(b, outputs)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	out, err := prog.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// closeTo reports the first index where got and want differ by more than tol (relative to
// max(1, |want|)), or -1.
func closeTo(got, want []float64, tol float64) int {
	if len(got) != len(want) {
		return 0
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(got[i]) != math.IsNaN(want[i]) {
			return i
		}
	}
	return -1
}

// reference is one case computed by PyTorch (testdata/torch_reference.py).
type reference struct {
	Name   string             `json:"name"`
	Op     string             `json:"op"`
	Args   map[string]any     `json:"args"`
	Inputs map[string]tensorJ `json:"inputs"`
	Output tensorJ            `json:"output"`
	Extra  map[string]tensorJ `json:"extra"`
}

type tensorJ struct {
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
}

func (j tensorJ) dense(dt tensor.Dtype) *tensor.Dense { return graph.NewTensor(dt, j.Shape, j.Values) }

// loadReferences reads testdata/torch_reference.json and returns the cases of one op.
func loadReferences(t *testing.T, op string) []reference {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "torch_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all []reference
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var out []reference
	for _, c := range all {
		if c.Op == op {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no reference case for %s", op)
	}
	return out
}

// ints reads a list of integers from a reference case's arguments.
func ints(v any) []int {
	switch x := v.(type) {
	case float64:
		return []int{int(x)}
	case []any:
		out := make([]int, len(x))
		for i, e := range x {
			out[i] = int(e.(float64))
		}
		return out
	}
	return nil
}

// wantErr checks that err is an error containing every fragment.
func wantErr(t *testing.T, what string, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one containing %q", what, fragments)
		return
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %q does not contain %q", what, err, f)
		}
	}
}

// gradients adds loss = Σ y ⊙ dy to b and returns, after one run, y ("y") and the gradient of
// the loss with respect to each node of wrt, under its name: the backward pass for the
// upstream gradient dy.
func gradients(t *testing.T, b *graph.Builder, y *gorgonia.Node, dy *tensor.Dense, feeds graph.Feeds, wrt map[string]*gorgonia.Node) graph.Outputs {
	t.Helper()
	dyn, err := b.Input("dy", dy.Shape()...)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := gorgonia.HadamardProd(y, dyn)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := gorgonia.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var ns gorgonia.Nodes
	for name, n := range wrt {
		names = append(names, name)
		ns = append(ns, n)
	}
	gs, err := gorgonia.Grad(loss, ns...)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]*gorgonia.Node{"y": y}
	for i, name := range names {
		outputs[name] = gs[i]
	}
	all := graph.Feeds{"dy": dy}
	for k, v := range feeds {
		all[k] = v
	}
	return run(t, b, outputs, all)
}
