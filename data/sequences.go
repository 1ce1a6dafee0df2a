package data

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// SequenceSet is a data set of N sequences of T steps in the batch-major layout of unroll's
// recurrent models, as tensors whose first axis is the sequence:
//
//   - X, the inputs: (N, T, D) values, or (N, T) token ids for a model that embeds them;
//   - Y, the targets, N along its first axis: (N) class ids or (N, Out) values for a model
//     that reads out its last state, (N, T) or (N, T, Out) for one that reads out every step;
//   - Mask, optional, (N, T): 1 for the real steps of a sequence and 0 for its padding, for
//     sequences of different lengths padded to T.
//
// The tensors are float32 or float64 (ids and class ids as whole numbers). Sequences serves a
// set in minibatches; Batch gathers chosen sequences.
type SequenceSet struct {
	X, Y, Mask *tensor.Dense
}

// Len returns N, the number of sequences (0 without X).
func (s *SequenceSet) Len() int {
	if s == nil {
		return 0
	}
	return axisOf(s.X, 0)
}

// Steps returns T, the length of the sequences (0 without X).
func (s *SequenceSet) Steps() int {
	if s == nil {
		return 0
	}
	return axisOf(s.X, 1)
}

// axisOf returns the size of axis i of x, 0 when x is nil or has no axis i.
func axisOf(x *tensor.Dense, i int) int {
	if x == nil || x.Dims() <= i {
		return 0
	}
	return x.Shape()[i]
}

// SequenceBatch is a minibatch of B sequences of a SequenceSet, in the set's layout with B in
// place of N: X (B, T, D) or (B, T), Y (B, ...), Mask (B, T) or nil. Indices are the positions
// of its sequences in the set.
type SequenceBatch struct {
	X, Y, Mask *tensor.Dense
	Indices    []int
}

// Size returns B, the number of sequences (0 without X).
func (b *SequenceBatch) Size() int {
	if b == nil {
		return 0
	}
	return axisOf(b.X, 0)
}

// Steps returns T, the length of the sequences (0 without X).
func (b *SequenceBatch) Steps() int {
	if b == nil {
		return 0
	}
	return axisOf(b.X, 1)
}

// Batch returns the sequences at indices, in that order, as a batch of copies; nil indices
// take every sequence in order. The tensors keep the set's element types.
func (s *SequenceSet) Batch(indices []int) (*SequenceBatch, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	n := s.Len()
	if indices == nil {
		indices = upTo(n)
	}
	if len(indices) == 0 {
		return nil, errors.New("sequence set: a batch of no sequences")
	}
	for _, i := range indices {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("sequence set: index %d outside the %d sequences", i, n)
		}
	}
	return s.gather(indices, tensor.Dtype{}), nil
}

// gather copies the sequences at indices, valid, into a batch of element type dt (the zero
// Dtype keeps each tensor's).
func (s *SequenceSet) gather(indices []int, dt tensor.Dtype) *SequenceBatch {
	b := &SequenceBatch{X: gatherRows(s.X, indices, dt), Y: gatherRows(s.Y, indices, dt), Indices: append([]int(nil), indices...)}
	if s.Mask != nil {
		b.Mask = gatherRows(s.Mask, indices, dt)
	}
	return b
}

// gatherRows copies rows indices (along the first axis) of t, float32 or float64, into a new
// tensor of element type dt, or of t's when dt is the zero Dtype.
func gatherRows(t *tensor.Dense, indices []int, dt tensor.Dtype) *tensor.Dense {
	shape := t.Shape().Clone()
	per := shape.TotalSize() / shape[0]
	shape[0] = len(indices)
	if dt == (tensor.Dtype{}) {
		dt = t.Dtype()
	}
	var backing any
	switch src := t.Data().(type) {
	case []float32:
		backing = gatherAs(src, indices, per, dt)
	case []float64:
		backing = gatherAs(src, indices, per, dt)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
}

func gatherAs[S float32 | float64](src []S, indices []int, per int, dt tensor.Dtype) any {
	if dt == tensor.Float64 {
		return gatherInto(make([]float64, len(indices)*per), src, indices, per)
	}
	return gatherInto(make([]float32, len(indices)*per), src, indices, per)
}

func gatherInto[D, S float32 | float64](dst []D, src []S, indices []int, per int) []D {
	for k, i := range indices {
		for j, v := range src[i*per : (i+1)*per] {
			dst[k*per+j] = D(v)
		}
	}
	return dst
}

// check reports a set that is not N sequences of T steps with N targets and an (N, T) mask
// of zeros and ones, in float32 or float64, every value finite.
func (s *SequenceSet) check() error {
	if s == nil || s.X == nil || s.Y == nil {
		return errors.New("sequence set: need inputs X and targets Y")
	}
	xs := s.X.Shape()
	if len(xs) < 2 || len(xs) > 3 || xs.TotalSize() == 0 {
		return fmt.Errorf("sequence set: inputs must be (N, T, D) values or (N, T) ids, have shape %v", xs)
	}
	n, t := xs[0], xs[1]
	if s.Y.Dims() < 1 || s.Y.Shape()[0] != n || s.Y.Shape().TotalSize() == 0 {
		return fmt.Errorf("sequence set: inputs hold %d sequences, targets have shape %v", n, s.Y.Shape())
	}
	if s.Mask != nil && !s.Mask.Shape().Eq(tensor.Shape{n, t}) {
		return fmt.Errorf("sequence set: the mask must be (%d, %d) (N, T), has shape %v", n, t, s.Mask.Shape())
	}
	for _, c := range []struct {
		name string
		t    *tensor.Dense
	}{{"inputs", s.X}, {"targets", s.Y}, {"mask", s.Mask}} {
		if c.t == nil {
			continue
		}
		if err := checkDtype(c.t.Dtype()); err != nil {
			return fmt.Errorf("sequence set: %s: %w", c.name, err)
		}
		per := c.t.Shape().TotalSize() / n
		for j, v := range floatsOf(c.t) {
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0):
				return fmt.Errorf("sequence set: %s of sequence %d: value %d is %g", c.name, j/per, j%per, v)
			case c.name == "mask" && v != 0 && v != 1:
				return fmt.Errorf("sequence set: mask of sequence %d, step %d is %g: need 0 or 1", j/t, j%t, v)
			}
		}
	}
	return nil
}

// floatsOf returns the values of a float32 or float64 tensor as float64.
func floatsOf(t *tensor.Dense) []float64 {
	switch d := t.Data().(type) {
	case []float64:
		return d
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	return nil
}

// newTensor returns a tensor of element type dt (float32 or float64) holding v.
func newTensor(dt tensor.Dtype, shape []int, v []float64) *tensor.Dense {
	if dt == tensor.Float64 {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
}

// upTo returns 0, 1, ..., n-1.
func upTo(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
