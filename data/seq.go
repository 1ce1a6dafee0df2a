package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// SeqBatch is one minibatch of a token sequence: B rows of T ids, batch-major, and the same
// rows shifted by one token as targets.
type SeqBatch struct {
	B, T int
	X    []int // (B, T) row-major: X[b*T+t] is step t of row b
	Y    []int // (B, T): the token after each X
	// Continues reports whether row b continues row b of the batch before, so that a
	// recurrent model may carry its state over: true for every batch of a sequential
	// partitioning but the first of its epoch, false for random partitioning.
	Continues bool
}

// SeqOption configures NewSequentialBatches.
type SeqOption func(*seqConfig)

type seqConfig struct{ rng *rand.Rand }

// RandomOffset makes each epoch skip a random number of leading tokens, drawn from rng
// uniformly in 0..T (d2l's random.randint(0, num_steps)), so that the cut points move from
// epoch to epoch. By default the offset is 0.
func RandomOffset(rng *rand.Rand) SeqOption { return func(c *seqConfig) { c.rng = rng } }

// SeqBatches cuts a sequence of token ids into (B, T) minibatches by one of d2l's two
// partitionings, epoch after epoch, in explicit passes as Sequences serves its set: Pass
// returns the current epoch's pass, whose Next returns its batches and then false, for good;
// the next call of Pass starts the next epoch, with a new offset and order. So a loop that
// takes NumBatches batches from each pass trains on every batch of every epoch, and a pass
// left unfinished (a run stopped in mid-epoch) is continued by the next call of Pass.
//
// Sequential partitioning (NewSequentialBatches) cuts the corpus, after the offset, into B
// contiguous streams of equal length; batch i holds the i-th run of T tokens of every
// stream, so row b of batch i+1 continues row b of batch i and the recurrent state can be
// carried from one batch to the next.
//
// Random partitioning (NewRandomBatches) skips a random offset in 0..T-1, cuts the rest into
// subsequences of T tokens and visits them in random order, B per batch: consecutive batches
// are unrelated and each should start from a zero state.
//
// In both, Y is X shifted by one token, and tokens that do not fill a whole batch are left
// out of the epoch. The random offset and order of an epoch are drawn from the generator when
// the epoch's first batch is taken (or NumBatches is asked), never when the iterator is made
// or a pass is started. MarshalBinary and UnmarshalBinary save and restore the position (epoch, batch,
// offset, order); the random generator itself is the caller's to save.
type SeqBatches struct {
	ids    []int
	b, t   int
	random bool
	rng    *rand.Rand

	epoch  int
	drawn  bool  // whether offset and order of the epoch are drawn
	pos    int   // index of the next batch in the epoch
	offset int   // tokens skipped at the start of the epoch
	order  []int // random partitioning: the subsequences of the epoch in visiting order
}

// NewSequentialBatches returns a sequential partitioning of ids into batches of b rows of t
// steps, positioned at the start of epoch 0. The ids are copied.
func NewSequentialBatches(ids []int, b, t int, opts ...SeqOption) (*SeqBatches, error) {
	var cfg seqConfig
	for _, o := range opts {
		o(&cfg)
	}
	return newSeqBatches(ids, b, t, false, cfg.rng)
}

// NewRandomBatches returns a random partitioning of ids into batches of b rows of t steps,
// drawing offsets and orders from rng, positioned at the start of epoch 0. The ids are copied.
func NewRandomBatches(ids []int, b, t int, rng *rand.Rand) (*SeqBatches, error) {
	if rng == nil {
		return nil, errors.New("sequence batches: random partitioning needs a random generator")
	}
	return newSeqBatches(ids, b, t, true, rng)
}

func newSeqBatches(ids []int, b, t int, random bool, rng *rand.Rand) (*SeqBatches, error) {
	if b < 1 || t < 1 {
		return nil, fmt.Errorf("sequence batches: batch %dx%d: need at least 1 row and 1 step", b, t)
	}
	for i, id := range ids {
		if id < 0 {
			return nil, fmt.Errorf("sequence batches: id %d at position %d is negative", id, i)
		}
	}
	s := &SeqBatches{ids: append([]int(nil), ids...), b: b, t: t, random: random, rng: rng}
	if worst := s.maxOffset(); s.numBatches(worst) < 1 {
		return nil, fmt.Errorf("sequence batches: %d tokens are too few for one batch of %dx%d (need %d, with offsets up to %d)",
			len(ids), b, t, b*t+1+worst, worst)
	}
	return s, nil
}

// maxOffset returns the largest offset an epoch can draw.
func (s *SeqBatches) maxOffset() int {
	switch {
	case s.random:
		return s.t - 1
	case s.rng != nil:
		return s.t
	}
	return 0
}

// streamLen returns the length of each of the B streams of sequential partitioning.
func (s *SeqBatches) streamLen(offset int) int { return (len(s.ids) - offset - 1) / s.b }

// numSubseqs returns the number of subsequences of random partitioning.
func (s *SeqBatches) numSubseqs(offset int) int { return (len(s.ids) - offset - 1) / s.t }

func (s *SeqBatches) numBatches(offset int) int {
	if len(s.ids)-offset-1 < 1 {
		return 0
	}
	if s.random {
		return s.numSubseqs(offset) / s.b
	}
	return s.streamLen(offset) / s.t
}

// draw draws the offset (and order) of the current epoch, once.
func (s *SeqBatches) draw() {
	if s.drawn {
		return
	}
	s.drawn = true
	if s.rng == nil {
		return
	}
	s.offset = s.rng.IntN(s.maxOffset() + 1)
	if s.random {
		s.order = s.rng.Perm(s.numSubseqs(s.offset))
	}
}

// NumBatches returns the number of batches of the current epoch. With a random offset it can
// change from epoch to epoch, so it draws the epoch's offset if that is not done yet.
func (s *SeqBatches) NumBatches() int {
	s.draw()
	return s.numBatches(s.offset)
}

// Epoch returns the current epoch, counted from 0.
func (s *SeqBatches) Epoch() int { return s.epoch }

// Shape returns the shape of the batches: b rows of t steps.
func (s *SeqBatches) Shape() (b, t int) { return s.b, s.t }

// Sequential reports whether the partitioning is sequential, that is whether row b of a batch
// continues row b of the batch before it, so the recurrent state may be carried.
func (s *SeqBatches) Sequential() bool { return !s.random }

// left returns the number of batches left in the current epoch (drawing its offset first).
func (s *SeqBatches) left() int { return s.NumBatches() - s.pos }

// Pass returns the current epoch's pass if it has batches left, and otherwise starts the next
// epoch and returns its pass.
func (s *SeqBatches) Pass() *SeqPass {
	if s.drawn && s.pos >= s.numBatches(s.offset) {
		s.epoch++
		s.drawn, s.pos, s.offset, s.order = false, 0, 0, nil
	}
	return &SeqPass{s: s, epoch: s.epoch}
}

// SeqPass is one pass of a SeqBatches over its ids: one epoch.
type SeqPass struct {
	s     *SeqBatches
	epoch int
}

// Epoch returns the epoch of the pass, counted from 0.
func (p *SeqPass) Epoch() int { return p.epoch }

// Next returns the next batch of the pass, or false when the pass is over; after false it
// returns false for good, as it does once its iterator has started another pass. Each batch
// is freshly allocated.
func (p *SeqPass) Next() (*SeqBatch, bool) {
	s := p.s
	if p.epoch != s.epoch || s.left() <= 0 { // left draws the epoch's offset and order first
		return nil, false
	}
	bt := &SeqBatch{B: s.b, T: s.t, X: make([]int, s.b*s.t), Y: make([]int, s.b*s.t), Continues: !s.random && s.pos > 0}
	for row := range s.b {
		var start int // position in ids of X[row, 0]
		if s.random {
			start = s.offset + s.order[s.pos*s.b+row]*s.t
		} else {
			start = s.offset + row*s.streamLen(s.offset) + s.pos*s.t
		}
		copy(bt.X[row*s.t:(row+1)*s.t], s.ids[start:start+s.t])
		copy(bt.Y[row*s.t:(row+1)*s.t], s.ids[start+1:start+1+s.t])
	}
	s.pos++
	return bt, true
}

const seqStateTag = "unroll/data.SeqBatches/1\n"

// MarshalBinary encodes the position: epoch, batch index, offset and order.
func (s *SeqBatches) MarshalBinary() ([]byte, error) {
	e := newEncoder(seqStateTag)
	for _, v := range []int{boolInt(s.random), len(s.ids), s.b, s.t, s.epoch, boolInt(s.drawn), s.pos, s.offset} {
		e.int(v)
	}
	e.ints(s.order)
	return e.bytes(), nil
}

// UnmarshalBinary restores a position saved by MarshalBinary. The blob must come from the
// same kind of partitioning of as many ids with the same B and T; otherwise, or if the blob is
// damaged, it returns an error and leaves s unchanged.
func (s *SeqBatches) UnmarshalBinary(blob []byte) error {
	d := newDecoder(blob, seqStateTag)
	random, n, b, t, epoch, drawn, pos, offset := d.int(), d.int(), d.int(), d.int(), d.int(), d.int(), d.int(), d.int()
	order := d.ints()
	if err := d.finish(); err != nil {
		return fmt.Errorf("sequence batches: %w", err)
	}
	if random != boolInt(s.random) || n != len(s.ids) || b != s.b || t != s.t {
		return fmt.Errorf("sequence batches: state is for %s partitioning of %d ids in %dx%d batches, iterator has %s of %d in %dx%d",
			kindName(random == 1), n, b, t, kindName(s.random), len(s.ids), s.b, s.t)
	}
	if epoch < 0 || drawn < 0 || drawn > 1 || offset < 0 || offset > s.maxOffset() || pos < 0 || pos > s.numBatches(offset) ||
		drawn == 0 && (pos != 0 || offset != 0) {
		return fmt.Errorf("sequence batches: %w: epoch %d, batch %d, offset %d out of range", errCorrupt, epoch, pos, offset)
	}
	if len(order) == 0 {
		order = nil
	}
	if s.random && drawn == 1 && !isPerm(order, s.numSubseqs(offset)) || (!s.random || drawn == 0) && order != nil {
		return fmt.Errorf("sequence batches: %w: order does not fit the partitioning", errCorrupt)
	}
	s.epoch, s.drawn, s.pos, s.offset, s.order = epoch, drawn == 1, pos, offset, order
	return nil
}

func kindName(random bool) string {
	if random {
		return "random"
	}
	return "sequential"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
