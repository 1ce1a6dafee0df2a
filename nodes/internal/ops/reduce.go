package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// channelSumOp sums a tensor (N, C, ...) over every axis but the channel axis 1, giving (C):
// the gradient of a per-channel bias.
type channelSumOp struct {
	base
	backward
	rank int // of the input
}

func (op channelSumOp) Arity() int    { return 1 }
func (op channelSumOp) Type() hm.Type { return hm.NewFnType(tensorOf(op.rank), tensorOf(1)) }
func (op channelSumOp) String() string {
	return fmt.Sprintf("channelsum(rank %d)", op.rank)
}
func (op channelSumOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "unroll.channelsum rank=%d", op.rank) }
func (op channelSumOp) Hashcode() uint32      { return hashOf(op) }

func (op channelSumOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	if len(s) != op.rank || op.rank < 2 {
		return nil, fmt.Errorf("%v: input has shape %v", op, s)
	}
	return tensor.Shape{s[1]}, nil
}

func (op channelSumOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the sums into out (a new tensor when out is nil).
func (op channelSumOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	if len(s) != op.rank {
		return nil, fmt.Errorf("%v: input has shape %v", op, s)
	}
	n, c := s[0], s[1]
	inner := s.TotalSize() / (n * c)
	if out, err = outputFor(op, out, dt, []int{c}); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		channelSum(data[float32](ts[0]), data[float32](out), n, c, inner)
	} else {
		channelSum(data[float64](ts[0]), data[float64](out), n, c, inner)
	}
	return out, nil
}

// channelSum sets o[ch] = Σ_i Σ_j x[i, ch, j]. Each channel is summed by one thread, the
// inner sums eight at a time in a fixed pattern (element j into partial sum j mod 8, the
// partial sums added pairwise), so the result does not depend on the number of threads.
func channelSum[T Float](x, o []T, n, c, inner int) {
	compute.For(c, len(x), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var total T
			for i := 0; i < n; i++ {
				total += sum8(x[(i*c+ch)*inner : (i*c+ch+1)*inner])
			}
			o[ch] = total
		}
	})
}

// applyChannelSum sums g over every axis but 1.
func applyChannelSum(g *gorgonia.Node, name string) (*gorgonia.Node, error) {
	return Apply(channelSumOp{rank: g.Dims()}, name, g)
}
