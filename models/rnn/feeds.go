package rnn

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
)

// CheckBatch checks a batch against the net: shapes, ids, targets, mask.
func (n *Net) CheckBatch(bt *data.SequenceBatch) error { return n.checkBatch(bt, true) }

// checkBatch is CheckBatch, for a batch without targets when targets is false (prediction).
func (n *Net) checkBatch(bt *data.SequenceBatch, targets bool) error {
	l := n.label()
	if bt == nil || bt.X == nil || (targets && bt.Y == nil) {
		return fmt.Errorf("%s: batch needs inputs X and targets Y", l)
	}
	xs := bt.X.Shape()
	if n.embed != nil {
		if len(xs) != 2 {
			return fmt.Errorf("%s: inputs must be token ids (batch, steps), have shape %v", l, xs)
		}
	} else if len(xs) != 3 || xs[2] != n.in {
		return fmt.Errorf("%s: inputs must be (batch, steps, %d), have shape %v", l, n.in, xs)
	}
	B, T := xs[0], xs[1]
	if B < 1 || T < 1 {
		return fmt.Errorf("%s: empty batch: inputs have shape %v", l, xs)
	}
	var want tensor.Shape
	switch {
	case n.cfg.readout == EveryStep && n.cfg.loss == CrossEntropy:
		want = tensor.Shape{B, T}
	case n.cfg.readout == EveryStep:
		want = tensor.Shape{B, T, n.out}
	case n.cfg.loss == CrossEntropy:
		want = tensor.Shape{B}
	default:
		want = tensor.Shape{B, n.out}
	}
	if bt.Y != nil && !bt.Y.Shape().Eq(want) {
		return fmt.Errorf("%s: targets must have shape %v (%v, %v), have %v", l, want, n.cfg.readout, n.cfg.loss, bt.Y.Shape())
	}
	if bt.Y != nil && n.cfg.loss == CrossEntropy {
		for i, v := range graph.Float64s(bt.Y) {
			if v != math.Trunc(v) || v < 0 || v >= float64(n.out) {
				return fmt.Errorf("%s: target %v at position %d is not a class id in [0, %d)", l, v, i, n.out)
			}
		}
	}
	if n.cfg.masked {
		if bt.Mask == nil {
			return fmt.Errorf("%s: the net is masked and the batch has no mask", l)
		}
		if !bt.Mask.Shape().Eq(tensor.Shape{B, T}) {
			return fmt.Errorf("%s: mask must be (%d, %d) (batch, steps), has shape %v", l, B, T, bt.Mask.Shape())
		}
		if n.cfg.readout != EveryStep {
			m := graph.Float64s(bt.Mask)
			for b := 0; b < B; b++ {
				sum := 0.0
				for t := 0; t < T; t++ {
					sum += m[b*T+t]
				}
				if sum <= 0 {
					return fmt.Errorf("%s: sequence %d of the batch is empty (its mask is all zero)", l, b)
				}
			}
		}
	} else if bt.Mask != nil {
		return fmt.Errorf("%s: the batch has a mask but the net was built without Masked()", l)
	}
	return nil
}

// Feeds returns the graph inputs of steps [from, from+k) of a batch for a graph that Build
// made with the same k: the inputs, the mask and, for EveryStep, the targets of those steps
// and the loss weights of their rows (the mask, 1 everywhere without one). A LastState or
// MeanPool readout has one loss at the end of the whole sequence: its feeds cover the whole
// sequence (from 0, k = T), and any other range is an error.
func (n *Net) Feeds(bt *data.SequenceBatch, from, k int) (graph.Feeds, error) {
	if n.cfg.readout != EveryStep && bt != nil && (from != 0 || k != bt.Steps()) {
		return nil, fmt.Errorf("%s: a %v readout reads the whole sequence: feed steps [0, %d), not [%d, %d)", n.label(), n.cfg.readout, bt.Steps(), from, from+k)
	}
	return n.feeds(bt, from, k, nil)
}

// feeds is Feeds with, for EveryStep, the loss restricted to the steps s (of the whole
// sequence) for which lossAt(s) is true; nil keeps every step.
func (n *Net) feeds(bt *data.SequenceBatch, from, k int, lossAt func(s int) bool) (graph.Feeds, error) {
	return n.feedsInto(nil, bt, from, k, lossAt)
}

// feedsInto is feeds reusing the input tensors of prev, feeds it returned before for the same
// graph, which the caller no longer needs: training cuts every segment into the same buffers.
// A batch without targets (for prediction) is fed targets of zero.
func (n *Net) feedsInto(prev graph.Feeds, bt *data.SequenceBatch, from, k int, lossAt func(s int) bool) (graph.Feeds, error) {
	if err := n.checkBatch(bt, false); err != nil {
		return nil, err
	}
	B, T := bt.Size(), bt.Steps()
	if from < 0 || k < 1 || from+k > T {
		return nil, fmt.Errorf("%s: steps [%d, %d) outside the batch's %d steps", n.label(), from, from+k, T)
	}
	f, err := n.feedInputs(prev, bt.X, B, T, from, k)
	if err != nil {
		return nil, err
	}
	var y []float64
	if bt.Y != nil {
		y = graph.Float64s(bt.Y)
	} else {
		y = make([]float64, n.targetSize(B, T))
	}
	mask := func(b, s int) float64 { return 1 }
	if bt.Mask != nil {
		m := graph.Float64s(bt.Mask)
		mask = func(b, s int) float64 { return m[b*T+s] }
		for t := range k {
			v := make([]float64, B)
			for b := range v {
				v[b] = mask(b, from+t)
			}
			f[stepName("mask", t)] = graph.NewTensor(n.dtype, []int{B}, v)
		}
	}
	if n.cfg.readout == EveryStep {
		n.feedStepTargets(f, y, mask, B, T, from, k, lossAt)
	} else {
		n.feedSequenceTargets(f, y, mask, B, T, from, k)
	}
	return f, nil
}

// feedInputs cuts the inputs x, (B, T, In) values or (B, T) ids, of steps [from, from+k) into
// one input per step, reusing the tensors of prev where they fit.
func (n *Net) feedInputs(prev graph.Feeds, x *tensor.Dense, B, T, from, k int) (graph.Feeds, error) {
	f := graph.Feeds{}
	ft := n.dtype
	width, shape := n.in, []int{B, n.in} // the values of one step of one sequence, one step
	if n.embed != nil {
		width, shape = 1, []int{B}
	}
	reuse := make([]*tensor.Dense, k)
	for t := range reuse {
		if v := prev[stepName("x", t)]; v != nil && v.Dtype() == ft && v.Shape().Eq(tensor.Shape(shape)) {
			reuse[t] = v
		}
	}
	xs, err := cutSteps(x, ft, B, T, width, from, k, reuse)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.label(), err)
	}
	for t, v := range xs {
		if reuse[t] != nil {
			f[stepName("x", t)] = reuse[t]
		} else {
			f[stepName("x", t)] = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
		}
	}
	return f, nil
}

// feedStepTargets feeds the targets "y" and the row weights "w" of an every-step readout for
// steps [from, from+k): rows are time-major, row t·B + b is step from+t of sequence b, and a
// row's weight is its mask (0 where lossAt is false).
func (n *Net) feedStepTargets(f graph.Feeds, y []float64, mask func(b, s int) float64, B, T, from, k int, lossAt func(int) bool) {
	ft := n.dtype
	rows := k * B
	w := make([]float64, rows)
	total := 0.0
	for t := range k {
		for b := range B {
			if lossAt == nil || lossAt(from+t) {
				w[t*B+b] = mask(b, from+t)
			}
			total += w[t*B+b]
		}
	}
	if n.cfg.loss == CrossEntropy {
		tv := make([]float64, rows)
		for t := range k {
			for b := range B {
				tv[t*B+b] = y[b*T+from+t]
			}
		}
		f["y"] = graph.NewTensor(ft, []int{rows}, tv)
	} else {
		// Scale row r by √(rows · w_r / Σ w): nodes.MSE then gives the weighted mean.
		tv := make([]float64, rows*n.out)
		for t := range k {
			for b := range B {
				r := t*B + b
				if total > 0 {
					w[r] = math.Sqrt(float64(rows) * w[r] / total)
				}
				src := y[(b*T+from+t)*n.out : (b*T+from+t+1)*n.out]
				for j, v := range src {
					tv[r*n.out+j] = w[r] * v
				}
			}
		}
		f["y"] = graph.NewTensor(ft, []int{rows, n.out}, tv)
	}
	f["w"] = graph.NewTensor(ft, []int{rows}, w)
}

// feedSequenceTargets feeds the targets "y" of a sequence readout and, for MeanPool, the
// pooling weights of steps [from, from+k): m_t / Σ_s m_s.
func (n *Net) feedSequenceTargets(f graph.Feeds, y []float64, mask func(b, s int) float64, B, T, from, k int) {
	ft := n.dtype
	if n.cfg.loss == CrossEntropy {
		f["y"] = graph.NewTensor(ft, []int{B}, y)
	} else {
		f["y"] = graph.NewTensor(ft, []int{B, n.out}, y)
	}
	if n.cfg.readout != MeanPool {
		return
	}
	for t := range k {
		v := make([]float64, B)
		for b := range v {
			total := 0.0
			for s := range T {
				total += mask(b, s)
			}
			v[b] = mask(b, from+t) / total
		}
		f[stepName("pool", t)] = graph.NewTensor(ft, []int{B}, v)
	}
}

// cutSteps cuts steps [from, from+k) of x, (B, T, width) values in batch-major order, into
// one (B, width) slice per step, of element type dt, each the backing of a step's input: into
// the backing of reuse[t] where it is not nil (a tensor of dt and the right size), into new
// memory elsewhere.
func cutSteps(x *tensor.Dense, dt tensor.Dtype, B, T, width, from, k int, reuse []*tensor.Dense) ([]any, error) {
	switch src := x.Data().(type) {
	case []float32:
		if dt == tensor.Float64 {
			return cutStepsOf[float32, float64](src, B, T, width, from, k, reuse), nil
		}
		return cutStepsOf[float32, float32](src, B, T, width, from, k, reuse), nil
	case []float64:
		if dt == tensor.Float64 {
			return cutStepsOf[float64, float64](src, B, T, width, from, k, reuse), nil
		}
		return cutStepsOf[float64, float32](src, B, T, width, from, k, reuse), nil
	}
	return nil, fmt.Errorf("inputs are %v, want float32 or float64", x.Dtype())
}

func cutStepsOf[S, D float32 | float64](src []S, B, T, width, from, k int, reuse []*tensor.Dense) []any {
	out := make([]any, k)
	var all []D
	for t := range out {
		var v []D
		if reuse[t] != nil {
			v = reuse[t].Data().([]D)
		} else {
			if all == nil {
				all = make([]D, k*B*width)
			}
			v = all[t*B*width : (t+1)*B*width : (t+1)*B*width]
		}
		for b := 0; b < B; b++ {
			row, s := v[b*width:(b+1)*width], src[(b*T+from+t)*width:(b*T+from+t+1)*width]
			if same, ok := any(s).([]D); ok {
				copy(row, same)
				continue
			}
			for j, e := range s {
				row[j] = D(e)
			}
		}
		out[t] = v
	}
	return out
}

// targetSize is the number of target values of a batch of B sequences of T steps.
func (n *Net) targetSize(B, T int) int {
	size := B
	if n.cfg.readout == EveryStep {
		size *= T
	}
	if n.cfg.loss == MSE {
		size *= n.out
	}
	return size
}
