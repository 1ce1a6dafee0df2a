package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Mask adds m ⊙ x + (1 - m) ⊙ prev to x's graph, or m ⊙ x when prev is nil: x and prev
// (B, N), the mask m (B) or (B, 1) broadcast over the columns. The mask gets no gradient.
func Mask(x, prev, mask *gorgonia.Node, name string) (*gorgonia.Node, error) {
	s := x.Shape()
	op := maskOp{batch: s[0], width: s[1], maskShape: mask.Shape().Clone(), hasPrev: prev != nil}
	args := []*gorgonia.Node{x}
	if prev != nil {
		args = append(args, prev)
	}
	return Apply(op, name, append(args, mask)...)
}

// maskOp computes m ⊙ x (+ (1 - m) ⊙ prev). Inputs: x (B, N), [prev (B, N)], m; one fused
// node where Gorgonia's own broadcasting would add a reshape, a size and a repeat node per use.
type maskOp struct {
	base
	batch, width int
	maskShape    tensor.Shape
	hasPrev      bool
}

func (op maskOp) Arity() int {
	if op.hasPrev {
		return 3
	}
	return 2
}

func (op maskOp) Type() hm.Type {
	ranks := []int{2}
	if op.hasPrev {
		ranks = append(ranks, 2)
	}
	return fnType(2, append(ranks, len(op.maskShape))...)
}

func (op maskOp) shapes() []tensor.Shape {
	x := tensor.Shape{op.batch, op.width}
	s := []tensor.Shape{x}
	if op.hasPrev {
		s = append(s, x.Clone())
	}
	return append(s, op.maskShape)
}

func (op maskOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.batch, op.width}, nil
}

func (op maskOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.mask{b=%d n=%d m=%v prev=%v}", op.batch, op.width, op.maskShape, op.hasPrev)
}
func (op maskOp) Hashcode() uint32 { return hashOf(op) }
func (op maskOp) String() string {
	if op.hasPrev {
		return "m⊙x+(1-m)⊙prev"
	}
	return "m⊙x"
}

func (op maskOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, vs...) }

// DoInto computes the blend into out (B, N).
func (op maskOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.shapes(), []int{op.batch, op.width})
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, maskForward[float32](op), maskForward[float64](op))
}

func maskForward[T Float](op maskOp) func(out []T, in [][]T) error {
	return func(out []T, in [][]T) error {
		x, m := in[0], in[len(in)-1]
		N := op.width
		for b := 0; b < op.batch; b++ {
			mb := m[b]
			row, xr := out[b*N:(b+1)*N], x[b*N:(b+1)*N]
			switch {
			case op.hasPrev:
				pr := in[1][b*N : (b+1)*N]
				for j := range row {
					row[j] = pr[j] + mb*(xr[j]-pr[j])
				}
			case mb == 0:
				clear(row) // a padded row is 0, never -0
			default:
				for j := range row {
					row[j] = mb * xr[j]
				}
			}
		}
		return nil
	}
}

func (op maskOp) DiffWRT(n int) []bool {
	w := allTrue(n)
	w[n-1] = false
	return w
}

// SymDiff: the gradient of x is m ⊙ g, that of prev (1 - m) ⊙ g; the mask gets none.
func (op maskOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want %d", op, len(inputs), op.Arity())
	}
	m := inputs[len(inputs)-1]
	grads := make(gorgonia.Nodes, len(inputs))
	var err error
	if grads[0], err = Apply(maskGradOp{mask: op, prev: false}, gradName(output, "x"), m, grad); err != nil {
		return nil, fmt.Errorf("%v: backward: %w", op, err)
	}
	if op.hasPrev {
		if grads[1], err = Apply(maskGradOp{mask: op, prev: true}, gradName(output, "prev"), m, grad); err != nil {
			return nil, fmt.Errorf("%v: backward: %w", op, err)
		}
	}
	return grads, nil
}

// maskGradOp is maskOp's backward: from the mask and the output gradient g it returns m ⊙ g,
// or (1 - m) ⊙ g for the previous value.
type maskGradOp struct {
	base
	backward
	mask maskOp
	prev bool
}

func (op maskGradOp) Arity() int    { return 2 }
func (op maskGradOp) Type() hm.Type { return fnType(2, len(op.mask.maskShape), 2) }
func (op maskGradOp) shapes() []tensor.Shape {
	return []tensor.Shape{op.mask.maskShape, {op.mask.batch, op.mask.width}}
}
func (op maskGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.mask.batch, op.mask.width}, nil
}
func (op maskGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.mask.grad{prev=%v}", op.prev)
	op.mask.WriteHash(h)
}
func (op maskGradOp) Hashcode() uint32 { return hashOf(op) }
func (op maskGradOp) String() string {
	if op.prev {
		return "(1-m)⊙g"
	}
	return "m⊙g"
}

func (op maskGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, vs...) }

// DoInto computes the gradient into out (B, N).
func (op maskGradOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.shapes(), []int{op.mask.batch, op.mask.width})
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, maskBackward[float32](op), maskBackward[float64](op))
}

func maskBackward[T Float](op maskGradOp) func(out []T, in [][]T) error {
	return func(out []T, in [][]T) error {
		m, g := in[0], in[1]
		N := op.mask.width
		for b := 0; b < op.mask.batch; b++ {
			s := m[b]
			if op.prev {
				s = 1 - s
			}
			row, gr := out[b*N:(b+1)*N], g[b*N:(b+1)*N]
			for j := range row {
				row[j] = s * gr[j]
			}
		}
		return nil
	}
}
