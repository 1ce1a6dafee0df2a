package nodes

import (
	"fmt"
	"hash"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
)

// SoftmaxCrossEntropy is the mean over the batch of the cross-entropy between the softmax of
// logits z (B, K) and integer class labels y (B):
//
//	loss = (1/B) Σ_i ce_i,   ce_i = -log softmax(z_i)_{y_i} = m_i + log Σ_k e^(z_ik - m_i) - z_{i,y_i}
//
// with m_i = max_k z_ik, so that no exponential overflows however large the logits (PyTorch's
// cross_entropy). It is one fused op; its gradient is dz_ik = (softmax(z_i)_k - [k = y_i]) / B.
//
// The labels are a float node holding class ids, fed like any input (b.Input("y", B) with the
// values 0, 1, ..., K-1; float32 holds every integer up to 2^24 exactly). A label that is not
// an integer in [0, K) makes the run fail with an error naming the example. The labels get no
// gradient.
func SoftmaxCrossEntropy(b *graph.Builder, logits, labels *gorgonia.Node) (*gorgonia.Node, error) {
	return crossEntropy(b, logits, labels, nil)
}

// WeightedSoftmaxCrossEntropy is SoftmaxCrossEntropy with a weight w_i ≥ 0 per example (B):
//
//	loss = Σ_i w_i ce_i / Σ_i w_i,   dz_ik = w_i (softmax(z_i)_k - [k = y_i]) / Σ_i w_i
//
// A mask of ones and zeros leaves padded steps of variable-length sequences out of the mean.
// When every weight is 0 the loss and its gradient are 0. A negative or non-finite weight makes
// the run fail. The weights get no gradient.
func WeightedSoftmaxCrossEntropy(b *graph.Builder, logits, labels, weights *gorgonia.Node) (*gorgonia.Node, error) {
	if weights == nil {
		return nil, fmt.Errorf("softmax cross-entropy: nil weights")
	}
	return crossEntropy(b, logits, labels, weights)
}

func crossEntropy(b *graph.Builder, logits, labels, weights *gorgonia.Node) (*gorgonia.Node, error) {
	const what = "softmax cross-entropy"
	if logits == nil || labels == nil {
		return nil, fmt.Errorf("%s: nil logits or labels", what)
	}
	if logits.Dims() != 2 {
		return nil, fmt.Errorf("%s: logits must be (batch, classes), have shape %v", what, logits.Shape())
	}
	batch := logits.Shape()[0]
	if labels.Dims() != 1 || labels.Shape()[0] != batch {
		return nil, fmt.Errorf("%s: labels must be (%d), one class id per example, have shape %v", what, batch, labels.Shape())
	}
	children := []*gorgonia.Node{logits, labels}
	if weights != nil {
		if weights.Dims() != 1 || weights.Shape()[0] != batch {
			return nil, fmt.Errorf("%s: weights must be (%d), one per example, have shape %v", what, batch, weights.Shape())
		}
		children = append(children, weights)
	}
	op := crossEntropyOp{weighted: weights != nil, cache: &ceCache{id: ceCacheIDs.Add(1)}}
	loss, err := applyOp(op, b.Name("cross_entropy"), children...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return loss, nil
}

// crossEntropyOp is softmax cross-entropy: inputs logits (B, K), labels (B) and, when weighted,
// weights (B); output a scalar. The rows are computed in parallel and the loss summed in row
// order. When its gradient is part of the graph (the cache's keep flag, set by SymDiff), the
// op keeps the softmax of each row for it, so that the exponentials are computed once a run.
type crossEntropyOp struct {
	pure
	weighted bool
	cache    *ceCache // nil for an op made outside SoftmaxCrossEntropy
}

// ceCache carries the softmax probabilities from crossEntropyOp to crossEntropyGradOp within
// one run. The gradient op takes the loss as an extra input, so the forward op has always run
// before it in the same run; it checks that the probabilities are those of its own logits.
type ceCache struct {
	id    uint64
	keep  bool
	valid bool
	z     unsafe.Pointer // the logits the probabilities were computed from
	zlen  int
	probs []float64 // (B, K)
}

var ceCacheIDs atomic.Uint64

func (c *ceCache) hashID() uint64 {
	if c == nil {
		return 0
	}
	return c.id
}

// probsOf returns the kept probabilities if they were computed from z in this run, else nil.
func probsOf[T float](c *ceCache, z []T) []float64 {
	if c == nil || !c.valid || c.z != unsafe.Pointer(unsafe.SliceData(z)) || c.zlen != len(z) {
		return nil
	}
	return c.probs
}

func (op crossEntropyOp) Arity() int {
	if op.weighted {
		return 3
	}
	return 2
}
func (op crossEntropyOp) Type() hm.Type {
	if op.weighted {
		return hm.NewFnType(tensorOf(2), tensorOf(1), tensorOf(1), scalarType())
	}
	return hm.NewFnType(tensorOf(2), tensorOf(1), scalarType())
}
func (op crossEntropyOp) String() string {
	if op.weighted {
		return "weighted softmax cross-entropy"
	}
	return "softmax cross-entropy"
}
func (op crossEntropyOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.crossentropy weighted=%v cache=%d", op.weighted, op.cache.hashID())
}
func (op crossEntropyOp) Hashcode() uint32 { return hashOf(op) }

func (op crossEntropyOp) checkShapes(ss ...[]int) error {
	if len(ss[0]) != 2 {
		return fmt.Errorf("%v: logits have shape %v", op, tensor.Shape(ss[0]))
	}
	for _, s := range ss[1:] {
		if len(s) != 1 || s[0] != ss[0][0] {
			return fmt.Errorf("%v: labels or weights of shape %v for logits %v", op, tensor.Shape(s), tensor.Shape(ss[0]))
		}
	}
	return nil
}

func (op crossEntropyOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss := make([][]int, op.Arity())
	for i := range ss {
		s, err := shapeOf(op, in, i)
		if err != nil {
			return nil, err
		}
		ss[i] = s
	}
	if err := op.checkShapes(ss...); err != nil {
		return nil, err
	}
	return tensor.ScalarShape(), nil
}

func (op crossEntropyOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, op.Arity())
	if err != nil {
		return nil, err
	}
	if err := op.checkShapes(shapes(ts)...); err != nil {
		return nil, err
	}
	var loss float64
	if dt == tensor.Float32 {
		loss, err = crossEntropyLoss[float32](op, ts)
	} else {
		loss, err = crossEntropyLoss[float64](op, ts)
	}
	if err != nil {
		return nil, err
	}
	return scalarValue(dt, loss), nil
}

func shapes(ts []*tensor.Dense) [][]int {
	out := make([][]int, len(ts))
	for i, t := range ts {
		out[i] = t.Shape()
	}
	return out
}

// checkLabels checks the labels (and weights) of a batch of k classes and returns Σ w_i.
func checkLabels[T float](op crossEntropyOp, labels, w []T, k int) (float64, error) {
	var total float64 // Σ w_i
	for i, l := range labels {
		wi := 1.0
		if w != nil {
			wi = float64(w[i])
			if !(wi >= 0) || math.IsInf(wi, 1) {
				return 0, fmt.Errorf("%v: weight %v of example %d is not a finite number ≥ 0", op, wi, i)
			}
		}
		total += wi
		y := float64(l)
		if y != math.Trunc(y) || y < 0 || y >= float64(k) {
			return 0, fmt.Errorf("%v: label %v of example %d is not a class id in [0, %d)", op, y, i, k)
		}
	}
	return total, nil
}

// crossEntropyLoss computes the loss: each row's term in parallel, then their sum in row
// order. With a cache that keeps, it also stores each row's softmax for the gradient.
func crossEntropyLoss[T float](op crossEntropyOp, ts []*tensor.Dense) (float64, error) {
	z, labels := data[T](ts[0]), data[T](ts[1])
	var w []T
	if op.weighted {
		w = data[T](ts[2])
	}
	bsz, k := ts[0].Shape()[0], ts[0].Shape()[1]
	c := op.cache
	if c != nil {
		c.valid = false
	}
	total, err := checkLabels(op, labels, w, k)
	if err != nil || total == 0 {
		return 0, err // every example masked out: the loss and dz are 0
	}
	var probs []float64
	if c != nil && c.keep {
		if cap(c.probs) < len(z) {
			c.probs = make([]float64, len(z))
		}
		probs = c.probs[:len(z)]
	}
	terms := compute.Scratch[float64](bsz)
	compute.For(bsz, 16*len(z), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			wi := 1.0
			if w != nil {
				wi = float64(w[i])
			}
			row := z[i*k : (i+1)*k]
			m := row[0]
			for _, v := range row {
				if v > m {
					m = v
				}
			}
			var s float64
			if probs != nil {
				pr := probs[i*k : (i+1)*k]
				for j, v := range row {
					e := math.Exp(float64(v - m))
					pr[j] = e
					s += e
				}
				for j := range pr {
					pr[j] /= s
				}
			} else {
				for _, v := range row {
					s += math.Exp(float64(v - m))
				}
			}
			terms[i] = 0
			if wi != 0 {
				terms[i] = wi * (float64(m) + math.Log(s) - float64(row[int(labels[i])]))
			}
		}
	})
	var loss float64
	for _, t := range terms {
		loss += t
	}
	compute.Release(terms)
	if probs != nil {
		c.z, c.zlen, c.probs, c.valid = unsafe.Pointer(unsafe.SliceData(z)), len(z), probs, true
	}
	return loss / total, nil
}

// crossEntropyGrad sets dz to the gradient of the loss times dloss, rows in parallel, from
// the kept probabilities when there are some for these logits.
func crossEntropyGrad[T float](op crossEntropyOp, ts []*tensor.Dense, dz []T, dloss float64) error {
	z, labels := data[T](ts[0]), data[T](ts[1])
	var w []T
	if op.weighted {
		w = data[T](ts[2])
	}
	k := ts[0].Shape()[1]
	total, err := checkLabels(op, labels, w, k)
	if err != nil {
		return err
	}
	if total == 0 {
		clear(dz) // every example masked out
		return nil
	}
	probs := probsOf(op.cache, z)
	compute.For(len(labels), 16*len(z), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			wi := 1.0
			if w != nil {
				wi = float64(w[i])
			}
			row, out := z[i*k:(i+1)*k], dz[i*k:(i+1)*k]
			y := int(labels[i])
			scale := dloss * wi / total
			if probs != nil {
				for j, p := range probs[i*k : (i+1)*k] {
					if j == y {
						p--
					}
					out[j] = T(scale * p)
				}
				continue
			}
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
			lse := float64(m) + math.Log(s)
			for j, v := range row {
				p := math.Exp(float64(v) - lse)
				if j == y {
					p--
				}
				out[j] = T(scale * p)
			}
		}
	})
	return nil
}

func (op crossEntropyOp) DiffWRT(n int) []bool {
	out := make([]bool, n)
	out[0] = true
	return out
}

func (op crossEntropyOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("%v: expected %d inputs, got %d", op, op.Arity(), len(in))
	}
	children := append(append(gorgonia.Nodes{}, in...), grad)
	if op.cache != nil {
		op.cache.keep = true
		children = append(children, out) // runs the forward, which keeps the softmax, first
	}
	dz, err := applyOp(crossEntropyGradOp{fwd: op}, gradName(out, "logits"), children...)
	if err != nil {
		return nil, err
	}
	res := make(gorgonia.Nodes, len(in))
	res[0] = dz
	return res, nil
}

// crossEntropyGradOp is the gradient of crossEntropyOp with respect to the logits: inputs
// logits, labels, [weights,] the scalar gradient of the loss and, when the forward op has a
// cache, the loss itself (which only orders the run); output (B, K).
type crossEntropyGradOp struct {
	pure
	backwardOnly
	fwd crossEntropyOp
}

func (op crossEntropyGradOp) Arity() int {
	if op.fwd.cache != nil {
		return op.fwd.Arity() + 2
	}
	return op.fwd.Arity() + 1
}
func (op crossEntropyGradOp) Type() hm.Type {
	ts := []hm.Type{tensorOf(2), tensorOf(1)}
	if op.fwd.weighted {
		ts = append(ts, tensorOf(1))
	}
	ts = append(ts, scalarType())
	if op.fwd.cache != nil {
		ts = append(ts, scalarType())
	}
	return hm.NewFnType(append(ts, tensorOf(2))...)
}
func (op crossEntropyGradOp) String() string { return fmt.Sprintf("d(%v)", op.fwd) }
func (op crossEntropyGradOp) WriteHash(h hash.Hash) {
	fmt.Fprint(h, "unroll.crossentropy.dz ")
	op.fwd.WriteHash(h)
}
func (op crossEntropyGradOp) Hashcode() uint32 { return hashOf(op) }

func (op crossEntropyGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op crossEntropyGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the gradient into out (a new tensor when out is nil).
func (op crossEntropyGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	n := op.fwd.Arity()
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("%v: expected %d inputs, got %d", op, op.Arity(), len(in))
	}
	ts, dt, err := denseInputs(op, in[:n], n)
	if err != nil {
		return nil, err
	}
	if err := op.fwd.checkShapes(shapes(ts)...); err != nil {
		return nil, err
	}
	dloss, err := scalarOf(op, in[n])
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, ts[0].Shape()); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		err = crossEntropyGrad(op.fwd, ts, data[float32](out), dloss)
	} else {
		err = crossEntropyGrad(op.fwd, ts, data[float64](out), dloss)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MSE is the mean squared error over all elements of pred and target (same shape):
//
//	loss = (1/N) Σ (pred - target)²,   dpred = 2 (pred - target) / N = -dtarget
//
// as PyTorch's mse_loss. Both inputs get a gradient.
func MSE(b *graph.Builder, pred, target *gorgonia.Node) (*gorgonia.Node, error) {
	if pred == nil || target == nil {
		return nil, fmt.Errorf("mse: nil prediction or target")
	}
	if !pred.Shape().Eq(target.Shape()) || pred.Dims() < 1 {
		return nil, fmt.Errorf("mse: prediction %v and target %v must have the same shape", pred.Shape(), target.Shape())
	}
	loss, err := applyOp(mseOp{rank: pred.Dims()}, b.Name("mse"), pred, target)
	if err != nil {
		return nil, fmt.Errorf("mse: %w", err)
	}
	return loss, nil
}

// mseOp is the mean squared error of two tensors of rank rank; output a scalar.
type mseOp struct {
	pure
	rank int
}

func (op mseOp) Arity() int { return 2 }
func (op mseOp) Type() hm.Type {
	return hm.NewFnType(tensorOf(op.rank), tensorOf(op.rank), scalarType())
}
func (op mseOp) String() string        { return "mse" }
func (op mseOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "unroll.mse rank=%d", op.rank) }
func (op mseOp) Hashcode() uint32      { return hashOf(op) }
func (op mseOp) DiffWRT(int) []bool    { return []bool{true, true} }

func (op mseOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	a, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	b, err := shapeOf(op, in, 1)
	if err != nil {
		return nil, err
	}
	if !a.Eq(b) {
		return nil, fmt.Errorf("%v: shapes %v and %v differ", op, a, b)
	}
	return tensor.ScalarShape(), nil
}

func (op mseOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	if !ts[0].Shape().Eq(ts[1].Shape()) {
		return nil, fmt.Errorf("%v: shapes %v and %v differ", op, ts[0].Shape(), ts[1].Shape())
	}
	if dt == tensor.Float32 {
		return scalarValue(dt, meanSquare(data[float32](ts[0]), data[float32](ts[1]))), nil
	}
	return scalarValue(dt, meanSquare(data[float64](ts[0]), data[float64](ts[1]))), nil
}

func meanSquare[T float](a, b []T) float64 {
	var s float64
	for i, v := range a {
		d := float64(v) - float64(b[i])
		s += d * d
	}
	return s / float64(len(a))
}

func (op mseOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: expected 2 inputs, got %d", op, len(in))
	}
	dp, err := applyOp(mseGradOp{rank: op.rank, sign: 1}, gradName(out, "pred"), in[0], in[1], grad)
	if err != nil {
		return nil, err
	}
	dt, err := applyOp(mseGradOp{rank: op.rank, sign: -1}, gradName(out, "target"), in[0], in[1], grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dp, dt}, nil
}

// mseGradOp is sign·2(pred - target)/N times the scalar gradient of the loss: inputs pred,
// target and that gradient.
type mseGradOp struct {
	pure
	backwardOnly
	rank int
	sign int
}

func (op mseGradOp) Arity() int { return 3 }
func (op mseGradOp) Type() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t, scalarType(), t)
}
func (op mseGradOp) String() string { return fmt.Sprintf("d(mse)·%d", op.sign) }
func (op mseGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.mse.d rank=%d sign=%d", op.rank, op.sign)
}
func (op mseGradOp) Hashcode() uint32 { return hashOf(op) }

func (op mseGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op mseGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the gradient into out (a new tensor when out is nil).
func (op mseGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("%v: expected 3 inputs, got %d", op, len(in))
	}
	ts, dt, err := denseInputs(op, in[:2], 2)
	if err != nil {
		return nil, err
	}
	if !ts[0].Shape().Eq(ts[1].Shape()) {
		return nil, fmt.Errorf("%v: shapes %v and %v differ", op, ts[0].Shape(), ts[1].Shape())
	}
	dloss, err := scalarOf(op, in[2])
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, ts[0].Shape()); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		mseGrad(op.sign, data[float32](ts[0]), data[float32](ts[1]), data[float32](out), dloss)
	} else {
		mseGrad(op.sign, data[float64](ts[0]), data[float64](ts[1]), data[float64](out), dloss)
	}
	return out, nil
}

func mseGrad[T float](sign int, a, b, g []T, dloss float64) {
	scale := float64(sign) * 2 * dloss / float64(len(a))
	compute.Elems(len(a), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g[i] = T(scale * (float64(a[i]) - float64(b[i])))
		}
	})
}
