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

// bnDims reads (N, C, inner) from a shape (N, C, ...).
func bnDims(s []int) (n, c, inner int) {
	inner = 1
	for _, d := range s[2:] {
		inner *= d
	}
	return s[0], s[1], inner
}

// batchNormOp normalises x (N, C, ...) per channel: inputs x, γ (C), β (C), running mean (C)
// and running variance (C); in training the batch statistics are used and the running ones
// ignored. See BatchNorm2D for the maths.
type batchNormOp struct {
	base
	train bool
	eps   float64
	rank  int
}

func (op batchNormOp) Arity() int { return 5 }
func (op batchNormOp) Type() hm.Type {
	t, v := tensorOf(op.rank), tensorOf(1)
	return hm.NewFnType(t, v, v, v, v, t)
}
func (op batchNormOp) String() string {
	return fmt.Sprintf("batchnorm(train %v, eps %v)", op.train, op.eps)
}
func (op batchNormOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.batchnorm train=%v eps=%v rank=%d", op.train, op.eps, op.rank)
}
func (op batchNormOp) Hashcode() uint32 { return hashOf(op) }

func (op batchNormOp) check(xs []int, vs ...[]int) error {
	if len(xs) != op.rank || op.rank < 2 {
		return fmt.Errorf("%v: input has shape %v", op, tensor.Shape(xs))
	}
	for _, v := range vs {
		if len(v) != 1 || v[0] != xs[1] {
			return fmt.Errorf("%v: statistics of shape %v for input %v", op, tensor.Shape(v), tensor.Shape(xs))
		}
	}
	return nil
}

func (op batchNormOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	var ss [5]tensor.Shape
	for i := range ss {
		var err error
		if ss[i], err = shapeOf(op, in, i); err != nil {
			return nil, err
		}
	}
	if err := op.check(ss[0], ss[1], ss[2], ss[3], ss[4]); err != nil {
		return nil, err
	}
	return ss[0].Clone(), nil
}

func (op batchNormOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto normalises into out (a new tensor when out is nil).
func (op batchNormOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 5)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	if err := op.check(xs, ts[1].Shape(), ts[2].Shape(), ts[3].Shape(), ts[4].Shape()); err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, xs); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		batchNormForward(op, ts, data[float32](out))
	} else {
		batchNormForward(op, ts, data[float64](out))
	}
	return out, nil
}

// channelStats returns the mean and biased variance of channel c of x (N, C, inner), summed
// in float64.
func channelStats[T Float](x []T, n, c, inner, ch int) (mean, variance float64) {
	var s float64
	for i := 0; i < n; i++ {
		for _, v := range x[(i*c+ch)*inner : (i*c+ch+1)*inner] {
			s += float64(v)
		}
	}
	m := float64(n * inner)
	mean = s / m
	var q float64
	for i := 0; i < n; i++ {
		for _, v := range x[(i*c+ch)*inner : (i*c+ch+1)*inner] {
			d := float64(v) - mean
			q += d * d
		}
	}
	return mean, q / m
}

// batchNormForward normalises x into y, the channels shared among the threads (each
// channel's statistics are computed by one thread, in a fixed order).
func batchNormForward[T Float](op batchNormOp, ts []*tensor.Dense, y []T) {
	xs := ts[0].Shape()
	n, c, inner := bnDims(xs)
	x, gamma, beta, rm, rv := data[T](ts[0]), data[T](ts[1]), data[T](ts[2]), data[T](ts[3]), data[T](ts[4])
	compute.For(c, 3*len(x), func(c0, c1 int) {
		for ch := c0; ch < c1; ch++ {
			mean, inv := bnChannel(op, x, rm, rv, n, c, inner, ch)
			scale := float64(gamma[ch]) * inv
			shift := float64(beta[ch]) - mean*scale
			for i := 0; i < n; i++ {
				lo, hi := (i*c+ch)*inner, (i*c+ch+1)*inner
				for j, v := range x[lo:hi] {
					y[lo+j] = T(float64(v)*scale + shift)
				}
			}
		}
	})
}

// bnChannel returns the mean and 1/sqrt(variance + eps) that normalise channel ch: the
// batch's in training, the running ones in evaluation.
func bnChannel[T Float](op batchNormOp, x, rm, rv []T, n, c, inner, ch int) (float64, float64) {
	if op.train {
		mean, variance := channelStats(x, n, c, inner, ch)
		return mean, 1 / math.Sqrt(variance+op.eps)
	}
	return float64(rm[ch]), 1 / math.Sqrt(float64(rv[ch])+op.eps)
}

func (op batchNormOp) DiffWRT(int) []bool { return []bool{true, true, true, false, false} }

func (op batchNormOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, in, 5); err != nil {
		return nil, err
	}
	args := gorgonia.Nodes{in[0], in[1], in[3], in[4], grad} // x, γ, running mean and variance, dy
	grads, err := applyGrads(out, gradOf{batchNormGradOp{fwd: op, wrtGamma: false}, "x", args},
		gradOf{batchNormGradOp{fwd: op, wrtGamma: true}, "weight", args})
	if err != nil {
		return nil, err
	}
	db, err := applyChannelSum(grad, gradName(out, "bias"))
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{grads[0], grads[1], db, nil, nil}, nil
}

// batchNormGradOp is the gradient of a batch normalisation with respect to x, or to γ when
// wrtGamma is set: inputs x, γ, running mean, running variance and dy.
type batchNormGradOp struct {
	base
	backward
	fwd      batchNormOp
	wrtGamma bool
}

func (op batchNormGradOp) Arity() int { return 5 }
func (op batchNormGradOp) Type() hm.Type {
	t, v := tensorOf(op.fwd.rank), tensorOf(1)
	if op.wrtGamma {
		return hm.NewFnType(t, v, v, v, t, v)
	}
	return hm.NewFnType(t, v, v, v, t, t)
}
func (op batchNormGradOp) String() string {
	if op.wrtGamma {
		return fmt.Sprintf("dweight(%v)", op.fwd)
	}
	return fmt.Sprintf("dx(%v)", op.fwd)
}
func (op batchNormGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.batchnorm.grad gamma=%v ", op.wrtGamma)
	op.fwd.WriteHash(h)
}
func (op batchNormGradOp) Hashcode() uint32 { return hashOf(op) }

func (op batchNormGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	var ss [5]tensor.Shape
	for i := range ss {
		var err error
		if ss[i], err = shapeOf(op, in, i); err != nil {
			return nil, err
		}
	}
	if err := op.fwd.check(ss[0], ss[1], ss[2], ss[3]); err != nil {
		return nil, err
	}
	if !ss[4].Eq(ss[0]) {
		return nil, fmt.Errorf("%v: gradient %v for input %v", op, ss[4], ss[0])
	}
	if op.wrtGamma {
		return ss[1].Clone(), nil
	}
	return ss[0].Clone(), nil
}

func (op batchNormGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the gradient into out (a new tensor when out is nil).
func (op batchNormGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 5)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	if err := op.fwd.check(xs, ts[1].Shape(), ts[2].Shape(), ts[3].Shape()); err != nil {
		return nil, err
	}
	if !ts[4].Shape().Eq(xs) {
		return nil, fmt.Errorf("%v: gradient %v for input %v", op, ts[4].Shape(), xs)
	}
	shape := []int(xs)
	if op.wrtGamma {
		shape = []int{xs[1]}
	}
	if out, err = outputFor(op, out, dt, shape); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		batchNormBackward(op, ts, data[float32](out))
	} else {
		batchNormBackward(op, ts, data[float64](out))
	}
	return out, nil
}

// batchNormBackward computes dx, or dγ, into res, the channels shared among the threads.
func batchNormBackward[T Float](op batchNormGradOp, ts []*tensor.Dense, res []T) {
	xs := ts[0].Shape()
	n, c, inner := bnDims(xs)
	x, gamma, rm, rv, dy := data[T](ts[0]), data[T](ts[1]), data[T](ts[2]), data[T](ts[3]), data[T](ts[4])
	m := float64(n * inner)
	compute.For(c, 4*len(x), func(c0, c1 int) {
		for ch := c0; ch < c1; ch++ {
			mean, inv := bnChannel(op.fwd, x, rm, rv, n, c, inner, ch)
			// Σ g and Σ g·x̂ over the channel.
			var sg, sgx float64
			for i := 0; i < n; i++ {
				lo, hi := (i*c+ch)*inner, (i*c+ch+1)*inner
				for j, g := range dy[lo:hi] {
					sg += float64(g)
					sgx += float64(g) * (float64(x[lo+j]) - mean) * inv
				}
			}
			if op.wrtGamma {
				res[ch] = T(sgx)
				continue
			}
			scale := float64(gamma[ch]) * inv
			for i := 0; i < n; i++ {
				lo, hi := (i*c+ch)*inner, (i*c+ch+1)*inner
				for j, g := range dy[lo:hi] {
					if !op.fwd.train {
						res[lo+j] = T(float64(g) * scale)
						continue
					}
					xhat := (float64(x[lo+j]) - mean) * inv
					res[lo+j] = T(scale / m * (m*float64(g) - sg - xhat*sgx))
				}
			}
		}
	})
}

// runningStatOp is the next value of a running statistic: inputs x (N, C, ...) and the
// current value r (C); output (1 - momentum)·r + momentum·s, where s is the batch mean of each
// channel or, with variance set, its unbiased variance. It is not differentiated: it feeds only
// a buffer update.
type runningStatOp struct {
	base
	backward
	variance bool
	momentum float64
	rank     int
}

func (op runningStatOp) Arity() int { return 2 }
func (op runningStatOp) Type() hm.Type {
	return hm.NewFnType(tensorOf(op.rank), tensorOf(1), tensorOf(1))
}
func (op runningStatOp) String() string {
	if op.variance {
		return fmt.Sprintf("running var(momentum %v)", op.momentum)
	}
	return fmt.Sprintf("running mean(momentum %v)", op.momentum)
}
func (op runningStatOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.runningstat var=%v momentum=%v rank=%d", op.variance, op.momentum, op.rank)
}
func (op runningStatOp) Hashcode() uint32 { return hashOf(op) }

func (op runningStatOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(op, in, 2)
	if err != nil {
		return nil, err
	}
	xs, rs := s[0], s[1]
	if len(xs) != op.rank || len(rs) != 1 || rs[0] != xs[1] {
		return nil, fmt.Errorf("%v: statistic %v for input %v", op, rs, xs)
	}
	return rs.Clone(), nil
}

func (op runningStatOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the next value of the statistic into out (a new tensor when out is nil).
func (op runningStatOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	xs, rs := ts[0].Shape(), ts[1].Shape()
	if len(xs) != op.rank || len(rs) != 1 || rs[0] != xs[1] {
		return nil, fmt.Errorf("%v: statistic %v for input %v", op, rs, xs)
	}
	if out, err = outputFor(op, out, dt, rs); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		runningStat(op, xs, data[float32](ts[0]), data[float32](ts[1]), data[float32](out))
	} else {
		runningStat(op, xs, data[float64](ts[0]), data[float64](ts[1]), data[float64](out))
	}
	return out, nil
}

func runningStat[T Float](op runningStatOp, xs []int, x, r, next []T) {
	n, c, inner := bnDims(xs)
	m := float64(n * inner)
	compute.For(c, 2*len(x), func(c0, c1 int) {
		for ch := c0; ch < c1; ch++ {
			mean, variance := channelStats(x, n, c, inner, ch)
			s := mean
			if op.variance {
				s = variance * m / max(m-1, 1)
			}
			next[ch] = T((1-op.momentum)*float64(r[ch]) + op.momentum*s)
		}
	})
}

// BatchNorm adds the normalisation of x (N, C, ...) per channel: inputs x, γ, β, the running
// mean and the running variance (C each); train uses the batch's statistics.
func BatchNorm(train bool, eps float64, name string, x, gamma, beta, mean, variance *gorgonia.Node) (*gorgonia.Node, error) {
	return Apply(batchNormOp{train: train, eps: eps, rank: x.Dims()}, name, x, gamma, beta, mean, variance)
}

// RunningStat adds the next value of a running statistic r (C) of x (N, C, ...): (1 - momentum)·r
// + momentum·s, with s the batch mean of each channel or, with variance set, its unbiased variance.
func RunningStat(variance bool, momentum float64, name string, x, r *gorgonia.Node) (*gorgonia.Node, error) {
	return Apply(runningStatOp{variance: variance, momentum: momentum, rank: x.Dims()}, name, x, r)
}
