package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// numbered returns n sequences of 3 steps of 2 features, float64, whose values all equal the
// sequence's index (with the step and feature in the decimals), with targets (n) equal to the
// index and a mask that keeps 1 + i%3 steps of sequence i.
func numbered(n int) *SequenceSet {
	x := make([]float64, n*3*2)
	y := make([]float64, n)
	m := make([]float64, n*3)
	for i := range n {
		for t := range 3 {
			x[(i*3+t)*2] = float64(i) + 0.1*float64(t)
			x[(i*3+t)*2+1] = float64(i) + 0.1*float64(t) + 0.01
			if t <= i%3 {
				m[i*3+t] = 1
			}
		}
		y[i] = float64(i)
	}
	return &SequenceSet{
		X:    tensor.New(tensor.WithShape(n, 3, 2), tensor.WithBacking(x)),
		Y:    tensor.New(tensor.WithShape(n), tensor.WithBacking(y)),
		Mask: tensor.New(tensor.WithShape(n, 3), tensor.WithBacking(m)),
	}
}

// passIndices returns the sequence indices of the rest of a pass, batch by batch.
func passIndices(p *SequencePass) [][]int {
	var out [][]int
	for b, ok := p.Next(); ok; b, ok = p.Next() {
		out = append(out, b.Indices)
	}
	return out
}

func TestSequencesBatches(t *testing.T) {
	set := numbered(7)
	s, err := NewSequences(set, 3)
	if err != nil {
		t.Fatal(err)
	}
	if s.NumBatches() != 3 || set.Len() != 7 || set.Steps() != 3 {
		t.Fatalf("%d batches of %d sequences of %d steps", s.NumBatches(), set.Len(), set.Steps())
	}
	p := s.Pass()
	b, ok := p.Next()
	if !ok || b.Size() != 3 || b.Steps() != 3 || !slices.Equal(b.Indices, []int{0, 1, 2}) {
		t.Fatalf("first batch %v", b)
	}
	if !b.X.Shape().Eq(tensor.Shape{3, 3, 2}) || !b.Y.Shape().Eq(tensor.Shape{3}) || !b.Mask.Shape().Eq(tensor.Shape{3, 3}) {
		t.Fatalf("shapes %v %v %v", b.X.Shape(), b.Y.Shape(), b.Mask.Shape())
	}
	if x := b.X.Data().([]float64); x[(2*3+1)*2+1] != 2.11 || b.Y.Data().([]float64)[2] != 2 ||
		!slices.Equal(b.Mask.Data().([]float64), []float64{1, 0, 0, 1, 1, 0, 1, 1, 1}) {
		t.Errorf("batch values X %v, Y %v, mask %v", x, b.Y.Data(), b.Mask.Data())
	}
	if rest := passIndices(p); !slices.EqualFunc(rest, [][]int{{3, 4, 5}, {6}}, slices.Equal) {
		t.Errorf("rest of the pass %v, want [[3 4 5] [6]] (last batch kept)", rest)
	}
	if _, ok := p.Next(); ok {
		t.Error("a finished pass gave another batch")
	}

	// DropLast and Dtype.
	s, err = NewSequences(set, 3, DropLast(), Dtype(tensor.Float32))
	if err != nil {
		t.Fatal(err)
	}
	got := passIndices(s.Pass())
	if s.NumBatches() != 2 || !slices.EqualFunc(got, [][]int{{0, 1, 2}, {3, 4, 5}}, slices.Equal) {
		t.Errorf("DropLast: %d batches, %v", s.NumBatches(), got)
	}
	b, _ = s.Pass().Next()
	if x, ok := b.X.Data().([]float32); !ok || x[1] != float32(0.01) || b.Mask.Dtype() != tensor.Float32 || b.Y.Dtype() != tensor.Float32 {
		t.Errorf("Dtype(Float32): X is %v", b.X.Dtype())
	}

	// Batch gathers chosen sequences; nil takes all of them.
	bt, err := set.Batch([]int{5, 0})
	if err != nil || bt.Y.Data().([]float64)[0] != 5 || bt.Size() != 2 {
		t.Errorf("Batch([5 0]): %v, %v", bt, err)
	}
	if all, err := set.Batch(nil); err != nil || all.Size() != 7 || !slices.Equal(all.Indices, upTo(7)) {
		t.Errorf("Batch(nil): %v", err)
	}
}

// The trap of models/rnn's iterator: a loop that takes NumBatches batches an epoch and never
// sees the end of the pass trained on nothing every other epoch, since the end of one pass
// was consumed by the next. Here each epoch gets every batch, whichever way it is read.
func TestSequencesEndOfPass(t *testing.T) {
	s, err := NewSequences(numbered(10), 4, DropLast(), Shuffle(rand.New(rand.NewPCG(1, 1))))
	if err != nil {
		t.Fatal(err)
	}
	checkEndOfPass(t, s, func(b *SequenceBatch) []int { return b.Indices })
}

func TestSequencesShuffle(t *testing.T) {
	set := numbered(9)
	orders := func(seed uint64) [][]int {
		s, err := NewSequences(set, 2, Shuffle(rand.New(rand.NewPCG(seed, 0))))
		if err != nil {
			t.Fatal(err)
		}
		var all [][]int
		for range 4 {
			all = append(all, slices.Concat(passIndices(s.Pass())...))
		}
		return all
	}
	a, b, c := orders(1), orders(1), orders(2)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Errorf("same seed, different orders: %v, %v", a, b)
	}
	if slices.EqualFunc(a, c, slices.Equal) {
		t.Errorf("seeds 1 and 2 give the same orders %v", a)
	}
	for _, o := range a {
		if !isPerm(o, 9) {
			t.Errorf("epoch order %v is not a permutation", o)
		}
	}
	if slices.Equal(a[0], a[1]) && slices.Equal(a[1], a[2]) {
		t.Errorf("epochs not reshuffled: %v", a)
	}
	// The batches hold the rows of the sequences they name.
	s, _ := NewSequences(set, 4, Shuffle(rand.New(rand.NewPCG(5, 5))))
	p := s.Pass()
	for bt, ok := p.Next(); ok; bt, ok = p.Next() {
		for k, i := range bt.Indices {
			if bt.Y.Data().([]float64)[k] != float64(i) || bt.X.Data().([]float64)[k*6] != float64(i) {
				t.Errorf("row %d of the batch does not hold sequence %d", k, i)
			}
		}
	}
}

func TestSequencesResume(t *testing.T) {
	set := numbered(10)
	src := rand.NewPCG(7, 7)
	s, _ := NewSequences(set, 3, Shuffle(rand.New(src)))
	passIndices(s.Pass())
	s.Pass().Next() // epoch 1, one batch in
	blob := mustMarshal(t, s)
	rngState := mustMarshal(t, src)
	want := passIndices(s.Pass())
	want = append(want, passIndices(s.Pass())...)

	pcg := rand.NewPCG(0, 0)
	r, _ := NewSequences(set, 3, Shuffle(rand.New(pcg)))
	if err := r.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	if err := pcg.UnmarshalBinary(rngState); err != nil {
		t.Fatal(err)
	}
	if r.Epoch() != 1 {
		t.Errorf("restored epoch %d, want 1", r.Epoch())
	}
	got := passIndices(r.Pass())
	got = append(got, passIndices(r.Pass())...)
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("resumed run sees %v, original %v", got, want)
	}

	// At the end of a pass, before the next is asked for: the next pass is drawn after restoring.
	end := mustMarshal(t, r)
	endRNG := mustMarshal(t, pcg)
	want = passIndices(r.Pass())
	pcg2 := rand.NewPCG(0, 0)
	r2, _ := NewSequences(set, 3, Shuffle(rand.New(pcg2)))
	if err := r2.UnmarshalBinary(end); err != nil {
		t.Fatal(err)
	}
	pcg2.UnmarshalBinary(endRNG)
	if got := passIndices(r2.Pass()); !slices.EqualFunc(got, want, slices.Equal) || r2.Epoch() != 3 {
		t.Errorf("resumed at the end of a pass: epoch %d, %v, want %v", r2.Epoch(), got, want)
	}

	flipped := slices.Clone(blob)
	flipped[len(flipped)-5] ^= 1
	other, _ := NewSequences(numbered(9), 3, Shuffle(rand.New(src)))
	plain, _ := NewSequences(set, 3)
	for name, tc := range map[string]struct {
		s    *Sequences
		blob []byte
		want string
	}{
		"empty":      {r, nil, "corrupt state"},
		"truncated":  {r, blob[:len(blob)-1], "checksum mismatch"},
		"flipped":    {r, flipped, "checksum mismatch"},
		"image blob": {r, withChecksum(imageStateTag, nil), "not a"},
		"other set":  {r, mustMarshal(t, other), "state is for 9 sequences in batches of 3, iterator has 10"},
		"mid-batch":  {r, sequencesBlob(10, 3, 0, 2, upTo(10)), "position 2 of 10 in batches of 3"},
		"not a perm": {r, sequencesBlob(10, 3, 0, 3, []int{0, 0, 1, 2, 3, 4, 5, 6, 7, 8}), "order is not a permutation"},
		"no order":   {r, sequencesBlob(10, 3, 0, 3, nil), "order is not a permutation"},
		"shuffled":   {plain, blob, "does not shuffle"},
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

// sequencesBlob encodes a Sequences position by hand.
func sequencesBlob(n, size, epoch, pos int, order []int) []byte {
	e := newEncoder(sequencesStateTag)
	for _, v := range []int{n, size, epoch, pos} {
		e.int(v)
	}
	e.ints(order)
	return e.bytes()
}

func TestSequencesErrors(t *testing.T) {
	good := numbered(4)
	with := func(f func(s *SequenceSet)) *SequenceSet {
		s := *numbered(4)
		f(&s)
		return &s
	}
	dense := func(v any, shape ...int) *tensor.Dense {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	for _, tc := range []struct {
		name string
		set  *SequenceSet
		size int
		opts []BatchOption
		want string
	}{
		{"nil set", nil, 2, nil, "sequences: sequence set: need inputs X and targets Y"},
		{"no targets", with(func(s *SequenceSet) { s.Y = nil }), 2, nil, "need inputs X and targets Y"},
		{"inputs of rank 1", with(func(s *SequenceSet) { s.X = dense([]float64{1, 2}, 2) }), 1, nil, "inputs must be (N, T, D) values or (N, T) ids, have shape (2)"},
		{"target count", with(func(s *SequenceSet) { s.Y = dense([]float64{1, 2, 3}, 3) }), 2, nil, "inputs hold 4 sequences, targets have shape (3)"},
		{"mask shape", with(func(s *SequenceSet) { s.Mask = dense(make([]float64, 8), 4, 2) }), 2, nil, "the mask must be (4, 3) (N, T), has shape (4, 2)"},
		{"mask value", with(func(s *SequenceSet) { s.Mask = dense([]float64{1, 1, 1, 1, 0.5, 0, 1, 0, 0, 1, 1, 1}, 4, 3) }), 2, nil, "mask of sequence 1, step 1 is 0.5: need 0 or 1"},
		{"NaN input", with(func(s *SequenceSet) {
			x := slices.Clone(good.X.Data().([]float64))
			x[13] = math.NaN()
			s.X = dense(x, 4, 3, 2)
		}), 2, nil, "inputs of sequence 2: value 1 is NaN"},
		{"integer targets", with(func(s *SequenceSet) { s.Y = dense([]int{0, 1, 2, 3}, 4) }), 2, nil, "targets: dtype int: need float32 or float64"},
		{"batch 0", good, 0, nil, "sequences: batch size 0: need at least 1"},
		{"drop all", good, 5, []BatchOption{DropLast()}, "batch size 5 exceeds the 4 sequences and DropLast leaves no batch"},
		{"dtype", good, 2, []BatchOption{Dtype(tensor.Int)}, "sequences: dtype int: need float32 or float64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := catchPanic(func() error {
				_, err := NewSequences(tc.set, tc.size, tc.opts...)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := good.Batch([]int{0, 4}); err == nil || err.Error() != "sequence set: index 4 outside the 4 sequences" {
		t.Errorf("Batch out of range: %v", err)
	}
	if _, err := good.Batch([]int{}); err == nil {
		t.Error("Batch of no sequences accepted")
	}
}

func TestAddingProblem(t *testing.T) {
	set, err := AddingProblem(rand.New(rand.NewPCG(1, 2)), 2, 4, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	// The first two sequences of this generator (the same as models/rnn's AddingProblem draws).
	wantX := []float64{0.6764556596678251, 1, 0.4613862177205994, 0, 0.5085473976760264, 1, 0.4297927436037299, 0,
		0.8192750264193612, 0, 0.3381816951746133, 1, 0.9730458047755973, 1, 0.281449117585586, 0}
	if !slices.Equal(set.X.Data().([]float64), wantX) || !set.Y.Shape().Eq(tensor.Shape{2, 1}) {
		t.Fatalf("X = %v", set.X.Data())
	}
	if y := set.Y.Data().([]float64); y[0] != wantX[0]+wantX[4] || y[1] != wantX[10]+wantX[12] {
		t.Errorf("Y = %v", y)
	}
	big, err := AddingProblem(rand.New(rand.NewPCG(3, 4)), 200, 9, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	x, y := big.X.Data().([]float32), big.Y.Data().([]float32)
	for i := range 200 {
		var sum float32
		var first, second int
		for st := range 9 {
			if x[(i*9+st)*2+1] == 1 {
				sum += x[(i*9+st)*2]
				if st < 4 {
					first++
				} else {
					second++
				}
			}
		}
		if first != 1 || second != 1 || math.Abs(float64(sum-y[i])) > 1e-6 {
			t.Fatalf("sequence %d: %d and %d markers, sum %v, target %v", i, first, second, sum, y[i])
		}
	}
	for _, tc := range []struct {
		rng   *rand.Rand
		n, st int
		dt    tensor.Dtype
		want  string
	}{
		{rand.New(rand.NewPCG(1, 1)), 4, 1, tensor.Float32, "adding problem: need at least 1 sequence and 2 steps, got 4 and 1"},
		{rand.New(rand.NewPCG(1, 1)), 0, 4, tensor.Float32, "adding problem: need at least 1 sequence and 2 steps, got 0 and 4"},
		{nil, 4, 4, tensor.Float32, "adding problem: need a random generator"},
		{rand.New(rand.NewPCG(1, 1)), 4, 4, tensor.Int, "adding problem: dtype int: need float32 or float64"},
	} {
		if _, err := AddingProblem(tc.rng, tc.n, tc.st, tc.dt); err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func TestRowSequences(t *testing.T) {
	raw := twoChannels() // 2 images of 2 channels of 1x2: rows of 2*2 values
	set, err := raw.Normalize(Normalization{Mean: []float64{0, 1}, Std: []float64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := RowSequences(set, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if !seqs.X.Shape().Eq(tensor.Shape{2, 1, 4}) || !slices.Equal(seqs.Y.Data().([]float64), []float64{0, 1}) {
		t.Fatalf("X %v, Y %v", seqs.X.Shape(), seqs.Y.Data())
	}
	// Image 1: channel 0 [1, 0.5], channel 1 [3, 1] -> (3-1)/2, (1-1)/2.
	if x := seqs.X.Data().([]float64); !slices.Equal(x[4:], []float64{1, 0.5, 1, 0}) {
		t.Errorf("X = %v", x)
	}
	// A byte set gives the values of its image batches.
	px := tinySet(3)
	px, _ = px.Normalize(MNISTNormalization())
	seqs, err = RowSequences(px, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewImageBatches(px, 3)
	bt, _ := b.Pass().Next()
	if !seqs.X.Shape().Eq(tensor.Shape{3, 2, 3}) || !slices.Equal(seqs.X.Data().([]float32), bt.X.Data().([]float32)) {
		t.Errorf("rows of bytes %v differ from the batch %v", seqs.X.Data(), bt.X.Data())
	}
	if _, err := RowSequences(px, tensor.Int); err == nil || err.Error() != "row sequences: dtype int: need float32 or float64" {
		t.Errorf("dtype int: %v", err)
	}
	if _, err := RowSequences(px.Head(0), tensor.Float32); err == nil || err.Error() != "row sequences: image set is empty" {
		t.Errorf("empty set: %v", err)
	}
}
