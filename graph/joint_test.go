package graph_test

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"testing"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// scaleOp is y = x ⊙ w for vectors, a JointGradOp whose w is shared: its JointGrad returns
// twice the true gradient, so that a test sees which gradient the trainer used.
type scaleOp struct{ n int }

func (op scaleOp) Arity() int { return 2 }
func (op scaleOp) Type() hm.Type {
	v := gorgonia.TensorType{Dims: 1, Of: hm.TypeVariable('a')}
	return hm.NewFnType(v, v, v)
}
func (op scaleOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n}, nil
}
func (op scaleOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	x, w := vs[0].(*tensor.Dense).Float64s(), vs[1].(*tensor.Dense).Float64s()
	y := make([]float64, op.n)
	for i := range y {
		y[i] = x[i] * w[i]
	}
	return tensor.New(tensor.WithBacking(y)), nil
}
func (op scaleOp) ReturnsPtr() bool      { return false }
func (op scaleOp) CallsExtern() bool     { return false }
func (op scaleOp) OverwritesInput() int  { return -1 }
func (op scaleOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "scale%d", op.n) }
func (op scaleOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
func (op scaleOp) String() string       { return "x⊙w" }
func (op scaleOp) DiffWRT(n int) []bool { return []bool{true, true} }
func (op scaleOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.HadamardProd(grad, in[1])
	if err != nil {
		return nil, err
	}
	dw, err := gorgonia.HadamardProd(grad, in[0])
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dw}, nil
}
func (op scaleOp) JointInputs() []bool { return []bool{false, true} }
func (op scaleOp) JointGrad(nodes []*gorgonia.Node) ([]*gorgonia.Node, error) {
	var sum *gorgonia.Node
	for _, n := range nodes {
		x := n.Graph().From(n.ID())
		x.Next()
		term, err := gorgonia.HadamardProd(x.Node().(*gorgonia.Node), n.Deriv())
		if err != nil {
			return nil, err
		}
		if sum == nil {
			sum = term
		} else if sum, err = gorgonia.Add(sum, term); err != nil {
			return nil, err
		}
	}
	twice, err := gorgonia.Mul(sum, gorgonia.NewConstant(2.0))
	return []*gorgonia.Node{twice}, err
}

// jointGraph builds loss = Σ_k Σ_i (x_k ⊙ w)_i over three scaleOp nodes sharing w, plus, with
// mixed, Σ_i w_i² through Gorgonia's own ops (a consumer of w that shares nothing).
func jointGraph(t *testing.T, mixed bool) (*graph.Trainer, graph.Feeds) {
	ps := graph.NewParams(graph.Seed(1), graph.Dtype(tensor.Float64))
	if _, err := ps.Add("w", []int{3}, graph.Uniform(0.5, 1.5)); err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(ps, graph.Train)
	w, _ := b.Param("w")
	feeds := graph.Feeds{}
	var total *gorgonia.Node
	for i := 0; i < 3; i++ {
		x, _ := b.Input(fmt.Sprint("x", i), 3)
		feeds[fmt.Sprint("x", i)] = graph.NewTensor(tensor.Float64, []int{3}, []float64{float64(i + 1), 2, -1})
		y, err := gorgonia.ApplyOp(scaleOp{n: 3}, x, w)
		if err != nil {
			t.Fatal(err)
		}
		s, err := gorgonia.Sum(y)
		if err != nil {
			t.Fatal(err)
		}
		if total == nil {
			total = s
		} else {
			total = gorgonia.Must(gorgonia.Add(total, s))
		}
	}
	if mixed {
		total = gorgonia.Must(gorgonia.Add(total, gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.Square(w))))))
	}
	tr, err := graph.NewTrainer(b, total, solvers.NewSGD(0.1))
	if err != nil {
		t.Fatal(err)
	}
	return tr, feeds
}

// The trainer takes the gradient of a parameter from its consumers' JointGrad when every
// differentiable consumer shares it, and keeps Gorgonia's otherwise.
func TestJointGradientReplacesGorgoniasSum(t *testing.T) {
	for _, mixed := range []bool{false, true} {
		tr, feeds := jointGraph(t, mixed)
		_, grads, err := tr.Gradients(feeds)
		if err != nil {
			t.Fatal(err)
		}
		w := graph.Float64s(tr.Program().Builder().Params().Value("w"))
		for i, g := range graph.Float64s(grads["w"]) {
			want := 1.0 + 2 + 3 // Σ_k x_k[0] for i = 0, Σ 2 and Σ -1 for the others
			switch i {
			case 1:
				want = 6
			case 2:
				want = -3
			}
			if mixed {
				want += 2 * w[i] // Gorgonia's sum, with the square's gradient
			} else {
				want *= 2 // the joint gradient, twice the true one by construction
			}
			if math.Abs(g-want) > 1e-12 {
				t.Errorf("mixed %v: dw[%d] = %v, want %v", mixed, i, g, want)
			}
		}
	}
}
