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

// crossEntropyOp is softmax cross-entropy: inputs logits (B, K), labels (B) and, when weighted,
// weights (B); output a scalar. The rows are computed in parallel and the loss summed in row
// order. The op keeps the softmax of each row in its buffer for its gradient op, which takes
// the loss node as an input and so always runs after it in the same run: the exponentials are
// computed once a run.
type crossEntropyOp struct {
	base
	weighted bool
	probs    *ceProbs // the softmax of the last run's logits, (B, K)
}

// ceProbs holds the softmax of a cross-entropy's last logits, in their dtype.
type ceProbs struct {
	p32 []float32
	p64 []float64
}

// probsOf returns the probabilities b keeps for dtype T, resized to n elements when n >= 0.
func probsOf[T Float](b *ceProbs, n int) []T {
	if p, ok := any(&b.p32).(*[]T); ok {
		return resized(p, n)
	}
	return resized(any(&b.p64).(*[]T), n)
}

func resized[T Float](p *[]T, n int) []T {
	if n >= 0 && cap(*p) < n {
		*p = make([]T, n)
	}
	if n >= 0 {
		*p = (*p)[:n]
	}
	return *p
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
	fmt.Fprintf(h, "unroll.crossentropy weighted=%v", op.weighted)
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
func checkLabels[T Float](op crossEntropyOp, labels, w []T, k int) (float64, error) {
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
// order. It also stores each row's softmax in the op's buffer, for the gradient.
func crossEntropyLoss[T Float](op crossEntropyOp, ts []*tensor.Dense) (float64, error) {
	z, labels := data[T](ts[0]), data[T](ts[1])
	var w []T
	if op.weighted {
		w = data[T](ts[2])
	}
	bsz, k := ts[0].Shape()[0], ts[0].Shape()[1]
	total, err := checkLabels(op, labels, w, k)
	if err != nil || total == 0 {
		return 0, err // every example masked out: the loss and dz are 0
	}
	probs := probsOf[T](op.probs, len(z))
	terms := compute.Scratch[float64](bsz)
	compute.For(bsz, 16*len(z), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			wi := 1.0
			if w != nil {
				wi = float64(w[i])
			}
			row := z[i*k : (i+1)*k]
			m, s := softmaxRow(row, probs[i*k:(i+1)*k])
			terms[i] = 0
			if wi != 0 {
				terms[i] = wi * (m + math.Log(s) - float64(row[int(labels[i])]))
			}
		}
	})
	var loss float64
	for _, t := range terms {
		loss += t
	}
	compute.Release(terms)
	return loss / total, nil
}

// softmaxRow sets p to the softmax of the row z and returns the row's largest value m and the
// sum s of the e^(z_j - m), so that log Σ e^z_j = m + log s. float32 rows are computed in
// float32 (softmaxRow32, vectorised where the processor allows); float64 rows in float64.
func softmaxRow[T Float](z, p []T) (m, s float64) {
	if is32[T]() {
		m32, s32 := softmaxRow32(f32s(z), f32s(p))
		return float64(m32), float64(s32)
	}
	mt := z[0]
	for _, v := range z {
		if v > mt {
			mt = v
		}
	}
	for j, v := range z {
		e := math.Exp(float64(v - mt))
		p[j] = T(e)
		s += e
	}
	for j := range p {
		p[j] /= T(s)
	}
	return float64(mt), s
}

// crossEntropyGrad sets dz to the gradient of the loss times dloss, rows in parallel, from the
// probabilities the forward op kept in this run.
func crossEntropyGrad[T Float](op crossEntropyOp, ts []*tensor.Dense, dz []T, dloss float64) error {
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
	probs := probsOf[T](op.probs, -1)
	if len(probs) != len(z) {
		return fmt.Errorf("%v: the forward pass of this run kept %d probabilities for %d logits", op, len(probs), len(z))
	}
	compute.For(len(labels), 16*len(z), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			wi := 1.0
			if w != nil {
				wi = float64(w[i])
			}
			out, p := dz[i*k:(i+1)*k], probs[i*k:(i+1)*k]
			y := int(labels[i])
			scale := dloss * wi / total
			if is32[T]() {
				scale32(f32s(out), f32s(p), scale) // vectorised where the processor allows
			} else {
				for j, v := range p {
					out[j] = T(scale * float64(v))
				}
			}
			out[y] = T(scale * (float64(p[y]) - 1))
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
	children := append(append(gorgonia.Nodes{}, in...), grad, out) // out orders the forward first
	dz, err := Apply(crossEntropyGradOp{fwd: op}, gradName(out, "logits"), children...)
	if err != nil {
		return nil, err
	}
	res := make(gorgonia.Nodes, len(in))
	res[0] = dz
	return res, nil
}

// crossEntropyGradOp is the gradient of crossEntropyOp with respect to the logits: inputs
// logits, labels, [weights,] the scalar gradient of the loss and the loss itself (the forward
// node, whose op kept the probabilities this op reads); output (B, K).
type crossEntropyGradOp = derivative[crossEntropyOp]

func (op crossEntropyOp) gradTag() string { return "unroll.crossentropy.dz" }
func (op crossEntropyOp) gradArity() int  { return op.Arity() + 2 }
func (op crossEntropyOp) gradType() hm.Type {
	ts := []hm.Type{tensorOf(2), tensorOf(1)}
	if op.weighted {
		ts = append(ts, tensorOf(1))
	}
	ts = append(ts, scalarType(), scalarType())
	return hm.NewFnType(append(ts, tensorOf(2))...)
}

func (op crossEntropyOp) gradInto(grad fmt.Stringer, out *tensor.Dense, in []gorgonia.Value) (gorgonia.Value, error) {
	n := op.Arity()
	if len(in) != op.gradArity() {
		return nil, fmt.Errorf("%v: expected %d inputs, got %d", grad, op.gradArity(), len(in))
	}
	ts, dt, err := denseInputs(grad, in[:n], n)
	if err != nil {
		return nil, err
	}
	if err := op.checkShapes(shapes(ts)...); err != nil {
		return nil, err
	}
	dloss, err := scalarOf(grad, in[n])
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(grad, out, dt, ts[0].Shape()); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		err = crossEntropyGrad(op, ts, data[float32](out), dloss)
	} else {
		err = crossEntropyGrad(op, ts, data[float64](out), dloss)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CrossEntropy adds the mean softmax cross-entropy of logits (B, K) against class labels (B),
// weighted by weights (B) when it is not nil, to the logits' graph: a scalar.
func CrossEntropy(logits, labels, weights *gorgonia.Node, name string) (*gorgonia.Node, error) {
	children := []*gorgonia.Node{logits, labels}
	if weights != nil {
		children = append(children, weights)
	}
	return Apply(crossEntropyOp{weighted: weights != nil, probs: new(ceProbs)}, name, children...)
}

// mseOp is the mean squared error of two tensors of rank rank; output a scalar.
type mseOp struct {
	base
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
	if _, err := equalShapes(op, in); err != nil {
		return nil, err
	}
	return tensor.ScalarShape(), nil
}

func (op mseOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := equalInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return scalarValue(dt, meanSquare(data[float32](ts[0]), data[float32](ts[1]))), nil
	}
	return scalarValue(dt, meanSquare(data[float64](ts[0]), data[float64](ts[1]))), nil
}

func meanSquare[T Float](a, b []T) float64 {
	var s float64
	for i, v := range a {
		d := float64(v) - float64(b[i])
		s += d * d
	}
	return s / float64(len(a))
}

func (op mseOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, in, 2); err != nil {
		return nil, err
	}
	args := gorgonia.Nodes{in[0], in[1], grad}
	return applyGrads(out, gradOf{mseGradOp{fwd: mseSide{op.rank, 1}}, "pred", args}, gradOf{mseGradOp{fwd: mseSide{op.rank, -1}}, "target", args})
}

// mseGradOp is sign·2(pred - target)/N times the scalar gradient of the loss: inputs pred,
// target and that gradient.
type mseGradOp = derivative[mseSide]

// mseSide is the mean squared error seen from one of its inputs: sign is 1 for pred and -1 for
// target.
type mseSide struct {
	rank int
	sign int
}

func (op mseSide) String() string        { return fmt.Sprintf("mse·%d", op.sign) }
func (op mseSide) gradName() string      { return fmt.Sprintf("d(mse)·%d", op.sign) }
func (op mseSide) WriteHash(h hash.Hash) { fmt.Fprintf(h, "rank=%d sign=%d", op.rank, op.sign) }
func (op mseSide) gradTag() string       { return "unroll.mse.d" }
func (op mseSide) gradArity() int        { return 3 }
func (op mseSide) gradType() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t, scalarType(), t)
}

func (op mseSide) gradInto(grad fmt.Stringer, out *tensor.Dense, in []gorgonia.Value) (gorgonia.Value, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("%v: expected 3 inputs, got %d", grad, len(in))
	}
	ts, dt, err := equalInputs(grad, in[:2], 2)
	if err != nil {
		return nil, err
	}
	dloss, err := scalarOf(grad, in[2])
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(grad, out, dt, ts[0].Shape()); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		mseGrad(op.sign, data[float32](ts[0]), data[float32](ts[1]), data[float32](out), dloss)
	} else {
		mseGrad(op.sign, data[float64](ts[0]), data[float64](ts[1]), data[float64](out), dloss)
	}
	return out, nil
}

func mseGrad[T Float](sign int, a, b, g []T, dloss float64) {
	scale := float64(sign) * 2 * dloss / float64(len(a))
	compute.Elems(len(a), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g[i] = T(scale * (float64(a[i]) - float64(b[i])))
		}
	})
}

// MSE adds the mean squared error of pred against target (one shape) to pred's graph: a scalar.
func MSE(pred, target *gorgonia.Node, name string) (*gorgonia.Node, error) {
	return Apply(mseOp{rank: pred.Dims()}, name, pred, target)
}
