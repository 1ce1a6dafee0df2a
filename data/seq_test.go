package data

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// seqDrain takes every batch of the current pass (or of the next, when it is over).
func seqDrain(s *SeqBatches) []*SeqBatch {
	var out []*SeqBatch
	p := s.Pass()
	for bt, ok := p.Next(); ok; bt, ok = p.Next() {
		out = append(out, bt)
	}
	return out
}

// row returns row r of a (B, T) slice.
func row(x []int, t, r int) []int { return x[r*t : (r+1)*t] }

func TestSequentialBatches(t *testing.T) {
	// d2l's example: the tokens 0..34, 2 rows of 5 steps. The 34 tokens that have a successor
	// form 2 streams of 17 (0..16 and 17..33), giving 3 batches of 5 steps each.
	s, err := NewSequentialBatches(upTo(35), 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if s.NumBatches() != 3 || !s.Sequential() {
		t.Fatalf("NumBatches = %d, Sequential = %v", s.NumBatches(), s.Sequential())
	}
	want := [][]int{
		{0, 1, 2, 3, 4, 17, 18, 19, 20, 21},
		{5, 6, 7, 8, 9, 22, 23, 24, 25, 26},
		{10, 11, 12, 13, 14, 27, 28, 29, 30, 31},
	}
	got := seqDrain(s)
	if len(got) != 3 {
		t.Fatalf("%d batches, want 3", len(got))
	}
	for i, bt := range got {
		if bt.B != 2 || bt.T != 5 || !slices.Equal(bt.X, want[i]) {
			t.Errorf("batch %d: B=%d T=%d X=%v, want %v", i, bt.B, bt.T, bt.X, want[i])
		}
		for j := range bt.Y {
			if bt.Y[j] != bt.X[j]+1 {
				t.Errorf("batch %d: Y = %v is not X shifted by one", i, bt.Y)
				break
			}
		}
	}
	if again := seqDrain(s); s.Epoch() != 1 || !slices.Equal(again[0].X, want[0]) {
		t.Errorf("without RandomOffset every epoch is the same; epoch 1 starts %v", again[0].X)
	}
}

func TestSequentialBatchesRandomOffset(t *testing.T) {
	s, err := NewSequentialBatches(upTo(35), 2, 5, RandomOffset(rand.New(rand.NewPCG(1, 2))))
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int]bool{}
	for range 200 {
		batches := seqDrain(s)
		o := batches[0].X[0] // token i is i, so the first token is the offset
		offsets[o] = true
		stream := (35 - o - 1) / 2
		if len(batches) != stream/5 {
			t.Fatalf("offset %d: %d batches, want %d", o, len(batches), stream/5)
		}
		for i, bt := range batches {
			for r := range 2 {
				start := o + r*stream + i*5
				if !slices.Equal(row(bt.X, 5, r), upTo(start + 5)[start:]) {
					t.Fatalf("offset %d, batch %d, row %d: %v, want to start at %d", o, i, r, row(bt.X, 5, r), start)
				}
			}
		}
	}
	for o := range 6 {
		if !offsets[o] {
			t.Errorf("offset %d never drawn (d2l draws 0..T inclusive): %v", o, offsets)
		}
	}
	if offsets[6] {
		t.Error("offset 6 drawn")
	}
}

func TestRandomBatches(t *testing.T) {
	const seed = 5
	s, err := NewRandomBatches(upTo(35), 2, 5, rand.New(rand.NewPCG(seed, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Sequential() {
		t.Error("random partitioning says it is sequential")
	}
	// The same draws, done by hand: offset in 0..T-1, then the order of the (35-o-1)/5
	// subsequences; batch i takes subsequences order[2i] and order[2i+1].
	rng := rand.New(rand.NewPCG(seed, 0))
	for epoch := range 5 {
		o := rng.IntN(5)
		order := rng.Perm((35 - o - 1) / 5)
		batches := seqDrain(s)
		if len(batches) != len(order)/2 {
			t.Fatalf("epoch %d: %d batches, want %d", epoch, len(batches), len(order)/2)
		}
		for i, bt := range batches {
			for r := range 2 {
				start := o + 5*order[2*i+r]
				if !slices.Equal(row(bt.X, 5, r), upTo(start + 5)[start:]) ||
					!slices.Equal(row(bt.Y, 5, r), upTo(start + 6)[start+1:]) {
					t.Fatalf("epoch %d, batch %d, row %d: X %v Y %v, want X from %d", epoch, i, r, row(bt.X, 5, r), row(bt.Y, 5, r), start)
				}
			}
		}
	}
}

func TestSeqBatchesErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name string
		make func() (*SeqBatches, error)
		want string
	}{
		{"b 0", func() (*SeqBatches, error) { return NewSequentialBatches(upTo(50), 0, 5) }, "batch 0x5"},
		{"t 0", func() (*SeqBatches, error) { return NewRandomBatches(upTo(50), 2, 0, rng) }, "batch 2x0"},
		{"empty", func() (*SeqBatches, error) { return NewSequentialBatches(nil, 2, 5) }, "0 tokens are too few"},
		{"short", func() (*SeqBatches, error) { return NewSequentialBatches(upTo(10), 2, 5) }, "10 tokens are too few for one batch of 2x5 (need 11"},
		{"short offset", func() (*SeqBatches, error) { return NewSequentialBatches(upTo(15), 2, 5, RandomOffset(rng)) }, "need 16, with offsets up to 5"},
		{"short random", func() (*SeqBatches, error) { return NewRandomBatches(upTo(14), 2, 5, rng) }, "need 15, with offsets up to 4"},
		{"nil rng", func() (*SeqBatches, error) { return NewRandomBatches(upTo(50), 2, 5, nil) }, "needs a random generator"},
		{"negative id", func() (*SeqBatches, error) { return NewSequentialBatches([]int{1, -2, 3}, 1, 1) }, "id -2 at position 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.make()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Exactly long enough gives one batch, whatever the offset.
	for range 20 {
		s, err := NewSequentialBatches(upTo(16), 2, 5, RandomOffset(rng))
		if err != nil || s.NumBatches() != 1 {
			t.Fatalf("16 tokens: %v", err)
		}
		r, err := NewRandomBatches(upTo(15), 2, 5, rng)
		if err != nil || r.NumBatches() != 1 {
			t.Fatalf("15 tokens: %v", err)
		}
	}
}

func TestSeqBatchesResume(t *testing.T) {
	ids := upTo(103)
	for _, tc := range []struct {
		name string
		make func(rng *rand.Rand) (*SeqBatches, error)
	}{
		{"random", func(rng *rand.Rand) (*SeqBatches, error) { return NewRandomBatches(ids, 3, 4, rng) }},
		{"sequential", func(rng *rand.Rand) (*SeqBatches, error) {
			return NewSequentialBatches(ids, 3, 4, RandomOffset(rng))
		}},
	} {
		for _, cut := range []int{0, 2} { // batches taken in the epoch before the checkpoint
			pcg := rand.NewPCG(9, 9)
			s, _ := tc.make(rand.New(pcg))
			seqDrain(s)
			p := s.Pass()
			for range cut {
				p.Next()
			}
			blob := mustMarshal(t, s)
			rngState := mustMarshal(t, pcg)
			var want []*SeqBatch
			for range 3 {
				want = append(want, seqDrain(s)...)
			}

			pcg2 := rand.NewPCG(0, 0)
			r, _ := tc.make(rand.New(pcg2))
			if err := r.UnmarshalBinary(blob); err != nil {
				t.Fatal(err)
			}
			if err := pcg2.UnmarshalBinary(rngState); err != nil {
				t.Fatal(err)
			}
			var got []*SeqBatch
			for range 3 {
				got = append(got, seqDrain(r)...)
			}
			same := slices.EqualFunc(got, want, func(a, b *SeqBatch) bool {
				return slices.Equal(a.X, b.X) && slices.Equal(a.Y, b.Y)
			})
			if !same || len(got) == 0 {
				t.Errorf("%s, cut %d: resumed run differs (%d batches, original %d)", tc.name, cut, len(got), len(want))
			}
		}
	}

	rng := rand.New(rand.NewPCG(1, 1))
	rnd, _ := NewRandomBatches(ids, 3, 4, rng)
	rnd.Pass().Next()
	blob := mustMarshal(t, rnd)
	seq, _ := NewSequentialBatches(ids, 3, 4, RandomOffset(rng))
	other, _ := NewRandomBatches(ids, 3, 5, rng)
	flipped := slices.Clone(blob)
	flipped[len(flipped)-5] ^= 1
	for name, tc := range map[string]struct {
		s    *SeqBatches
		blob []byte
		want string
	}{
		"kind":      {seq, blob, "state is for random partitioning of 103 ids in 3x4 batches, iterator has sequential"},
		"shape":     {other, blob, "iterator has random of 103 in 3x5"},
		"truncated": {rnd, blob[:len(blob)-2], "checksum mismatch"},
		"flipped":   {rnd, flipped, "checksum mismatch"},
		"images":    {rnd, mustMarshal(t, mustImageBatches(t)), "not a"},
	} {
		before := mustMarshal(t, tc.s)
		err := tc.s.UnmarshalBinary(tc.blob)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, tc.want)
		}
		if after := mustMarshal(t, tc.s); !slices.Equal(before, after) {
			t.Errorf("%s: a failed UnmarshalBinary changed the iterator", name)
		}
	}
}

func mustImageBatches(t *testing.T) *ImageBatches {
	b, err := NewImageBatches(tinySet(3), 1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Passes end cleanly: a loop that takes NumBatches batches from each pass, never seeing the
// false, trains on every batch of every epoch (the end of one pass is not consumed by the
// next); Next returns false for good after the end, and a pass left unfinished is continued by
// the next call of Pass. Continues is true exactly where a sequential stream goes on.
func TestSeqBatchesPasses(t *testing.T) {
	for _, random := range []bool{false, true} {
		var s *SeqBatches
		var err error
		if random {
			s, err = NewRandomBatches(upTo(103), 3, 4, rand.New(rand.NewPCG(1, 2)))
		} else {
			s, err = NewSequentialBatches(upTo(103), 3, 4, RandomOffset(rand.New(rand.NewPCG(1, 2))))
		}
		if err != nil {
			t.Fatal(err)
		}
		for epoch := range 4 {
			p := s.Pass()
			if p.Epoch() != epoch || s.Epoch() != epoch {
				t.Fatalf("random %v: pass %d of epoch %d, want %d", random, p.Epoch(), s.Epoch(), epoch)
			}
			n := s.NumBatches()
			for i := range n {
				bt, ok := p.Next()
				if !ok {
					t.Fatalf("random %v, epoch %d: batch %d of %d missing", random, epoch, i, n)
				}
				if want := !random && i > 0; bt.Continues != want {
					t.Errorf("random %v, epoch %d, batch %d: Continues %v", random, epoch, i, bt.Continues)
				}
			}
		}
		p := s.Pass() // epoch 4
		p.Next()
		if again := s.Pass(); again.Epoch() != 4 {
			t.Fatalf("random %v: an unfinished pass was not continued: epoch %d", random, again.Epoch())
		}
		for _, ok := p.Next(); ok; _, ok = p.Next() {
		}
		if _, ok := p.Next(); ok {
			t.Fatalf("random %v: Next returned a batch after the end of its pass", random)
		}
		if next := s.Pass(); next.Epoch() != 5 {
			t.Fatalf("random %v: after a finished pass, Pass gives epoch %d", random, next.Epoch())
		}
		if _, ok := p.Next(); ok {
			t.Fatalf("random %v: an old pass returned a batch of the next epoch", random)
		}
	}
}
