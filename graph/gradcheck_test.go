package graph_test

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// cubeOp computes y = x³ elementwise; with wrong set its symbolic gradient claims 2x²·dy
// instead of 3x²·dy, the kind of mistake a hand-written backward makes.
type cubeOp struct{ wrong bool }

func (op cubeOp) Arity() int { return 1 }
func (op cubeOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}
func (op cubeOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op cubeOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	x := in[0].(*tensor.Dense)
	y := x.Clone().(*tensor.Dense)
	d := y.Data().([]float64)
	for i, v := range d {
		d[i] = v * v * v
	}
	return y, nil
}
func (op cubeOp) ReturnsPtr() bool      { return false }
func (op cubeOp) CallsExtern() bool     { return false }
func (op cubeOp) OverwritesInput() int  { return -1 }
func (op cubeOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "cube%v", op.wrong) }
func (op cubeOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
func (op cubeOp) String() string     { return "cube" }
func (op cubeOp) DiffWRT(int) []bool { return []bool{true} }
func (op cubeOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	k := 3.0
	if op.wrong {
		k = 2
	}
	sq, err := gorgonia.Square(in[0])
	if err != nil {
		return nil, err
	}
	kk := gorgonia.NewConstant(k)
	g, err := gorgonia.HadamardProd(sq, grad)
	if err != nil {
		return nil, err
	}
	g, err = gorgonia.Mul(g, kk)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{g}, nil
}

func TestGradCheckCatchesAWrongGradient(t *testing.T) {
	for _, wrong := range []bool{false, true} {
		ps := graph.NewParams(graph.Dtype(tensor.Float64))
		if _, err := ps.Add("w", []int{3, 4}, graph.Uniform(-1, 1)); err != nil {
			t.Fatal(err)
		}
		build := func(b *graph.Builder) (*gorgonia.Node, error) {
			x, err := b.Input("x", 3, 4)
			if err != nil {
				return nil, err
			}
			w, err := b.Param("w")
			if err != nil {
				return nil, err
			}
			xw, err := gorgonia.HadamardProd(x, w)
			if err != nil {
				return nil, err
			}
			return gorgonia.ApplyOp(cubeOp{wrong}, xw)
		}
		r := rand.New(rand.NewPCG(1, 1))
		feeds := graph.Feeds{"x": randTensor(r, tensor.Float64, 3, 4)}
		rep, err := graph.GradCheck(ps, build, feeds, graph.WithRespectTo("x"))
		if rep == nil {
			t.Fatalf("wrong=%v: no report: %v", wrong, err)
		}
		if rep.Checked != 24 {
			t.Errorf("checked %d elements, want 24 (w and x)", rep.Checked)
		}
		switch {
		case wrong && err == nil:
			t.Errorf("a wrong gradient passed: worst %s", rep.Worst)
		case wrong && !strings.Contains(err.Error(), "mismatch"):
			t.Errorf("error %q", err)
		case !wrong && err != nil:
			t.Errorf("a right gradient failed: %v", err)
		case !wrong && rep.Worst.RelErr > 1e-4:
			t.Errorf("a right gradient has relative error %g", rep.Worst.RelErr)
		}
		if wrong && rep.Worst.RelErr < 0.3 {
			t.Errorf("a gradient off by a third reports relative error %g", rep.Worst.RelErr)
		}
	}
}

func TestGradCheckOfAModel(t *testing.T) {
	ps := graph.NewParams(graph.Seed(5)) // float32: GradCheck works on a float64 copy
	m := newMLP(t, ps)
	r := rand.New(rand.NewPCG(2, 2))
	feeds := batchFeeds(r, tensor.Float64, 3)
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		x, err := b.Input("x", 3, 4)
		if err != nil {
			return nil, err
		}
		return m.Forward(b, x) // a (3, 3) node: reduced by a random projection
	}
	delete(feeds, "y")
	rep, err := graph.GradCheck(ps, build, feeds, graph.WithRespectTo("x"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 4*8+8+8*3+3+12 {
		t.Errorf("checked %d elements", rep.Checked)
	}
	if ps.Dtype() != tensor.Float32 {
		t.Error("GradCheck changed the model's dtype")
	}
}

func TestGradCheckWithRespectToInputsOnly(t *testing.T) {
	ps := graph.NewParams() // no parameters at all
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		x, err := b.Input("x", 2, 3)
		if err != nil {
			return nil, err
		}
		return gorgonia.ApplyOp(cubeOp{}, x)
	}
	r := rand.New(rand.NewPCG(4, 4))
	rep, err := graph.GradCheck(ps, build, graph.Feeds{"x": randTensor(r, tensor.Float64, 2, 3)}, graph.WithRespectTo("x"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 6 {
		t.Errorf("checked %d elements, want 6", rep.Checked)
	}
}
