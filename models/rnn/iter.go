package rnn

import (
	"encoding/binary"
	"fmt"

	"gorgonia.org/tensor"
)

// Sequences yields the sequences of a data set in order, B at a time: batch i holds sequences
// i·B .. i·B+B-1. A pass ends when fewer than B sequences are left (a compiled graph has a
// fixed batch size); Next then reports false, and the following call starts the next pass.
// It is the simplest iterator for a SegmentTrainer; the partitioning of one long stream into
// sequential or random batches (as d2l teaches) belongs to package data.
type Sequences struct {
	data  *Batch
	batch int
	next  int // the next batch's first sequence
	pass  int
}

// NewSequences iterates over data, whose X, Y (and Mask) hold N sequences along their first
// axis, in batches of batch sequences.
func NewSequences(data *Batch, batch int) (*Sequences, error) {
	if data == nil || data.X == nil || data.Y == nil {
		return nil, fmt.Errorf("sequences: the data set needs inputs X and targets Y")
	}
	n := data.Size()
	if batch < 1 || batch > n {
		return nil, fmt.Errorf("sequences: batch size %d must be between 1 and the %d sequences of the data set", batch, n)
	}
	for _, t := range []*tensor.Dense{data.Y, data.Mask} {
		if t != nil && (t.Dims() < 1 || t.Shape()[0] != n) {
			return nil, fmt.Errorf("sequences: inputs hold %d sequences, targets or mask have shape %v", n, t.Shape())
		}
	}
	return &Sequences{data: data, batch: batch}, nil
}

// Next returns the next batch, or false at the end of a pass.
func (s *Sequences) Next() (*Batch, bool) {
	if s.next+s.batch > s.data.Size() {
		s.next = 0
		s.pass++
		return nil, false
	}
	lo, hi := s.next, s.next+s.batch
	s.next = hi
	bt := &Batch{X: rows(s.data.X, lo, hi), Y: rows(s.data.Y, lo, hi)}
	if s.data.Mask != nil {
		bt.Mask = rows(s.data.Mask, lo, hi)
	}
	return bt, true
}

// Batches is the number of batches in a pass.
func (s *Sequences) Batches() int { return s.data.Size() / s.batch }

// Pass is the number of passes completed.
func (s *Sequences) Pass() int { return s.pass }

// Reset goes back to the start of the first pass.
func (s *Sequences) Reset() { s.next, s.pass = 0, 0 }

// MarshalBinary saves the position, for a checkpoint (graph.Extra.Blobs).
func (s *Sequences) MarshalBinary() ([]byte, error) {
	b := binary.AppendUvarint(nil, uint64(s.next))
	return binary.AppendUvarint(b, uint64(s.pass)), nil
}

// UnmarshalBinary restores a position saved by MarshalBinary.
func (s *Sequences) UnmarshalBinary(b []byte) error {
	next, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("sequences: malformed position")
	}
	pass, m := binary.Uvarint(b[n:])
	if m <= 0 || n+m != len(b) || next > uint64(s.data.Size()) {
		return fmt.Errorf("sequences: malformed position")
	}
	s.next, s.pass = int(next), int(pass)
	return nil
}

// rows copies rows [lo, hi) along the first axis of t.
func rows(t *tensor.Dense, lo, hi int) *tensor.Dense {
	shape := t.Shape().Clone()
	per := shape.TotalSize() / shape[0]
	shape[0] = hi - lo
	var backing any
	switch d := t.Data().(type) {
	case []float32:
		backing = append([]float32(nil), d[lo*per:hi*per]...)
	case []float64:
		backing = append([]float64(nil), d[lo*per:hi*per]...)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
}
