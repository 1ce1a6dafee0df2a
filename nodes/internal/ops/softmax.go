package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// softmaxOp is softmax, or log-softmax, over the last axis.
type softmaxOp struct {
	base
	unary
	log bool
}

func (op softmaxOp) String() string {
	if op.log {
		return "logsoftmax"
	}
	return "softmax"
}
func (op softmaxOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.softmax log=%v rank=%d", op.log, op.rank)
}
func (op softmaxOp) Hashcode() uint32 { return hashOf(op) }

func (op softmaxOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return sameShape(op, in)
}

func (op softmaxOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the softmax into out (a new tensor when out is nil).
func (op softmaxOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	return mapInto(op, out, in,
		func(x, y []float32, s tensor.Shape) { softmaxParallel(x, y, s[len(s)-1], op.log) },
		func(x, y []float64, s tensor.Shape) { softmaxParallel(x, y, s[len(s)-1], op.log) })
}

// softmaxParallel is softmaxRows with the rows shared among the threads.
func softmaxParallel[T Float](x, y []T, k int, log bool) {
	compute.For(len(x)/k, 16*len(x), func(lo, hi int) {
		softmaxRows(x[lo*k:hi*k], y[lo*k:hi*k], k, log)
	})
}

// softmaxRows computes softmax (or log-softmax) of each row of k values of x into y, with the
// sums in float64.
func softmaxRows[T Float](x, y []T, k int, log bool) {
	for r := 0; r+k <= len(x); r += k {
		row, out := x[r:r+k], y[r:r+k]
		m := row[0]
		for _, v := range row {
			if v > m {
				m = v
			}
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v - m))
		}
		if log {
			lse := float64(m) + math.Log(s)
			for i, v := range row {
				out[i] = T(float64(v) - lse)
			}
			continue
		}
		for i, v := range row {
			out[i] = T(math.Exp(float64(v-m)) / s)
		}
	}
}

func (op softmaxOp) DiffWRT(int) []bool { return []bool{true} }

func (op softmaxOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, in, 1); err != nil {
		return nil, err
	}
	return applyGrads(out, gradOf{softmaxGradOp{fwd: op}, "x", gorgonia.Nodes{out, grad}})
}

// softmaxGradOp is the gradient of softmaxOp: inputs y (the op's output) and dy, output dx.
type softmaxGradOp = derivative[softmaxOp]

func (op softmaxOp) gradTag() string { return "unroll.softmax.dx" }
func (op softmaxOp) gradArity() int  { return 2 }
func (op softmaxOp) gradType() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t, t)
}

func (op softmaxOp) gradInto(grad fmt.Stringer, out *tensor.Dense, in []gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sameInto(grad, out, in, 2)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	k := s[len(s)-1]
	if dt == tensor.Float32 {
		softmaxBackwardParallel(data[float32](ts[0]), data[float32](ts[1]), data[float32](out), k, op.log)
	} else {
		softmaxBackwardParallel(data[float64](ts[0]), data[float64](ts[1]), data[float64](out), k, op.log)
	}
	return out, nil
}

// softmaxBackwardParallel is softmaxBackward with the rows shared among the threads.
func softmaxBackwardParallel[T Float](y, dy, dx []T, k int, log bool) {
	work := 2 * len(y)
	if log {
		work *= 8
	}
	compute.For(len(y)/k, work, func(lo, hi int) {
		softmaxBackward(y[lo*k:hi*k], dy[lo*k:hi*k], dx[lo*k:hi*k], k, log)
	})
}

func softmaxBackward[T Float](y, dy, dx []T, k int, log bool) {
	for r := 0; r+k <= len(y); r += k {
		yr, gr, out := y[r:r+k], dy[r:r+k], dx[r:r+k]
		var s float64
		if log {
			for _, g := range gr {
				s += float64(g)
			}
			for i, v := range yr {
				out[i] = T(float64(gr[i]) - math.Exp(float64(v))*s)
			}
			continue
		}
		for i, v := range yr {
			s += float64(gr[i]) * float64(v)
		}
		for i, v := range yr {
			out[i] = T(float64(v) * (float64(gr[i]) - s))
		}
	}
}

// Softmax adds softmax, or log-softmax when log is set, over the last axis of x to x's graph.
func Softmax(x *gorgonia.Node, log bool, name string) (*gorgonia.Node, error) {
	return Apply(softmaxOp{log: log, unary: unary{x.Dims()}}, name, x)
}

// SoftmaxName is how a softmax, or log-softmax, op names itself.
func SoftmaxName(log bool) string { return softmaxOp{log: log}.String() }
