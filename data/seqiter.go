package data

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Sequences serves a SequenceSet in minibatches of B sequences, pass after pass (epoch after
// epoch), with explicit passes: Pass returns one pass over the set, whose Next returns its
// batches and then false, for good; the next call of Pass starts the next pass. So
//
//	for epoch := range 10 {
//		pass := seqs.Pass()
//		for b, ok := pass.Next(); ok; b, ok = pass.Next() {
//			... // train on b
//		}
//	}
//
// trains on every batch of every epoch, and so does a loop that takes NumBatches batches from
// each pass without ever seeing the false: the end of one pass is never consumed by the start
// of the next. A pass left unfinished is continued by the next call of Pass, so a run resumed
// from a checkpoint taken in the middle of an epoch finishes that epoch first.
//
// With Shuffle, each pass visits the sequences in a new random order drawn from the run's
// generator when the pass's first batch is taken; without it, in the set's order. With
// DropLast the last batch of a pass is left out when it would be short (a compiled graph has
// a fixed batch size); by default it is kept, smaller. With Dtype the batches are converted to
// float32 or float64; by default they keep the set's types.
//
// MarshalBinary and UnmarshalBinary save and restore the position (epoch, batch, order), so a
// resumed run sees the same batches in the same order; the random generator itself is the
// caller's to save.
type Sequences struct {
	set  *SequenceSet
	size int
	cfg  batchConfig

	position // the epoch, the next sequence's place in the epoch's order, the order
}

// NewSequences returns an iterator over set in batches of batchSize sequences, positioned at
// the start of epoch 0. The set is checked once: shapes, element types, finite values and a
// mask of zeros and ones.
func NewSequences(set *SequenceSet, batchSize int, opts ...BatchOption) (*Sequences, error) {
	var cfg batchConfig
	for _, o := range opts {
		o(&cfg)
	}
	if err := set.check(); err != nil {
		return nil, fmt.Errorf("sequences: %w", err)
	}
	n := set.Len()
	switch {
	case batchSize < 1:
		return nil, fmt.Errorf("sequences: batch size %d: need at least 1", batchSize)
	case cfg.dropLast && batchSize > n:
		return nil, fmt.Errorf("sequences: batch size %d exceeds the %d sequences and DropLast leaves no batch", batchSize, n)
	}
	if cfg.dtype != (tensor.Dtype{}) {
		if err := checkDtype(cfg.dtype); err != nil {
			return nil, fmt.Errorf("sequences: %w", err)
		}
	}
	return &Sequences{set: set, size: batchSize, cfg: cfg}, nil
}

// NumBatches returns the number of batches of a pass.
func (s *Sequences) NumBatches() int {
	if s.cfg.dropLast {
		return s.set.Len() / s.size
	}
	return (s.set.Len() + s.size - 1) / s.size
}

// Epoch returns the epoch of the current pass, counted from 0.
func (s *Sequences) Epoch() int { return s.epoch }

// left returns the number of batches left in the current pass.
func (s *Sequences) left() int {
	rest := s.set.Len() - s.pos
	if s.cfg.dropLast {
		return rest / s.size
	}
	return (rest + s.size - 1) / s.size
}

// Pass returns the current pass if it has batches left, and otherwise starts the next pass
// (the next epoch) and returns it.
func (s *Sequences) Pass() *SequencePass {
	if s.left() == 0 {
		s.epoch++
		s.pos, s.order = 0, nil
	}
	return &SequencePass{s: s, epoch: s.epoch}
}

// SequencePass is one pass of a Sequences over its set: one epoch.
type SequencePass struct {
	s     *Sequences
	epoch int
}

// Epoch returns the epoch of the pass, counted from 0.
func (p *SequencePass) Epoch() int { return p.epoch }

// Next returns the next batch of the pass, or false when the pass is over; after false it
// returns false for good, as it does once its iterator has started another pass. Each batch
// is freshly allocated, so the caller may keep it.
func (p *SequencePass) Next() (*SequenceBatch, bool) {
	s := p.s
	if p.epoch != s.epoch || s.left() == 0 {
		return nil, false
	}
	if s.order == nil {
		if s.cfg.rng != nil {
			s.order = s.cfg.rng.Perm(s.set.Len())
		} else {
			s.order = upTo(s.set.Len())
		}
	}
	n := min(s.size, s.set.Len()-s.pos)
	b := s.set.gather(s.order[s.pos:s.pos+n], s.cfg.dtype)
	s.pos += n
	return b, true
}

const sequencesStateTag = "unroll/data.Sequences/1\n"

// MarshalBinary encodes the position: the number of sequences, the batch size, the epoch, the
// position within it and its order (if drawn yet).
func (s *Sequences) MarshalBinary() ([]byte, error) {
	return marshalPosition(sequencesStateTag, s.set.Len(), s.size, s.position), nil
}

// UnmarshalBinary restores a position saved by MarshalBinary. The blob must come from an
// iterator over a set of as many sequences in batches of the same size, shuffling if it
// shuffled; otherwise, or if the blob is damaged, it returns an error and leaves s unchanged.
func (s *Sequences) UnmarshalBinary(blob []byte) error {
	p, err := unmarshalPosition(blob, sequencesStateTag, s.set.Len(), s.size, s.cfg.rng != nil, "sequences")
	if err != nil {
		return fmt.Errorf("sequences: %w", err)
	}
	s.position = p
	return nil
}
