package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// tinySet returns n images of 2x3 pixels whose pixels all equal the image index, labelled
// by index mod 10.
func tinySet(n int) *ImageSet {
	s := &ImageSet{N: n, H: 2, W: 3, Classes: 10, Pixels: make([]uint8, n*6), Labels: make([]int, n)}
	for i := range n {
		for j := range 6 {
			s.Pixels[i*6+j] = uint8(i)
		}
		s.Labels[i] = i % 10
	}
	return s
}

// drain returns the indices of the images of the rest of the current pass (or of the next,
// when the current one is over), batch by batch.
func drain(b *ImageBatches) [][]int {
	var out [][]int
	p := b.Pass()
	for bt, ok := p.Next(); ok; bt, ok = p.Next() {
		out = append(out, bt.Indices)
	}
	return out
}

func TestImageBatches(t *testing.T) {
	set, err := tinySet(7).Normalize(MNISTNormalization())
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewImageBatches(set, 3)
	if err != nil {
		t.Fatal(err)
	}
	if b.NumBatches() != 3 {
		t.Errorf("NumBatches = %d, want 3", b.NumBatches())
	}
	p := b.Pass()
	bt, ok := p.Next()
	if !ok {
		t.Fatal("no batch")
	}
	if !slices.Equal(bt.X.Shape(), tensor.Shape{3, 1, 2, 3}) || bt.X.Dtype() != tensor.Float32 {
		t.Errorf("X is %v %v, want (3, 1, 2, 3) float32", bt.X.Shape(), bt.X.Dtype())
	}
	x := bt.X.Data().([]float32)
	for k := range 3 {
		want := float32((float64(k)/255 - MNISTMean) / MNISTStd)
		for j := range 6 {
			if x[k*6+j] != want {
				t.Fatalf("X[%d, 0, %d] = %g, want %g", k, j, x[k*6+j], want)
			}
		}
	}
	if !slices.Equal(bt.Labels, []int{0, 1, 2}) {
		t.Errorf("labels %v", bt.Labels)
	}
	rest := drain(b)
	if !slices.Equal(rest[0], []int{3, 4, 5}) || !slices.Equal(rest[1], []int{6}) || len(rest) != 2 {
		t.Errorf("rest of the epoch %v, want [[3 4 5] [6]] (last batch kept)", rest)
	}
	if _, ok := p.Next(); ok {
		t.Error("Next after the end of the pass returned a batch")
	}
	if b.Epoch() != 0 || len(drain(b)) != 3 || b.Epoch() != 1 {
		t.Error("Pass after the end of a pass did not start a full new epoch")
	}
}

func TestImageBatchesOptions(t *testing.T) {
	set := tinySet(7)
	b, err := NewImageBatches(set, 3, DropLast(), Dtype(tensor.Float64)) // no normalisation recorded
	if err != nil {
		t.Fatal(err)
	}
	if b.NumBatches() != 2 || len(drain(b)) != 2 {
		t.Errorf("DropLast: %d batches announced", b.NumBatches())
	}
	bt, _ := b.Pass().Next()
	if x := bt.X.Data().([]float64); x[6] != 1.0/255 || x[0] != 0 {
		t.Errorf("without normalisation: X starts %v", x[:7])
	}

	// The same seed gives the same order; every epoch is a permutation; epochs differ.
	orders := func(seed uint64) [][]int {
		b, err := NewImageBatches(set, 3, Shuffle(rand.New(rand.NewPCG(seed, 0))))
		if err != nil {
			t.Fatal(err)
		}
		var all [][]int
		for range 3 {
			all = append(all, slices.Concat(drain(b)...))
		}
		return all
	}
	a, c := orders(1), orders(1)
	if !slices.EqualFunc(a, c, slices.Equal) {
		t.Errorf("same seed, different orders: %v, %v", a, c)
	}
	for _, o := range a {
		if !isPerm(o, 7) {
			t.Errorf("epoch order %v is not a permutation", o)
		}
	}
	if slices.Equal(a[0], a[1]) && slices.Equal(a[1], a[2]) {
		t.Errorf("epochs not reshuffled: %v", a)
	}
}

func TestImageBatchesErrors(t *testing.T) {
	set := tinySet(4)
	for _, tc := range []struct {
		name string
		set  *ImageSet
		size int
		opts []BatchOption
		want string
	}{
		{"nil set", nil, 2, nil, "image set is empty"},
		{"empty set", set.Head(0), 2, nil, "image set is empty"},
		{"pixels", &ImageSet{N: 2, H: 2, W: 2, Pixels: make([]uint8, 7), Labels: make([]int, 2)}, 1, nil, "has 7 pixels, want 8"},
		{"labels", &ImageSet{N: 2, H: 2, W: 2, Pixels: make([]uint8, 8), Labels: make([]int, 1)}, 1, nil, "has 1 labels"},
		{"label", &ImageSet{N: 2, H: 1, W: 1, Classes: 3, Pixels: make([]uint8, 2), Labels: []int{1, 3}}, 1, nil, "label 3 at index 1 is outside [0, 3)"},
		{"negative label", &ImageSet{N: 1, H: 1, W: 1, Pixels: make([]uint8, 1), Labels: []int{-1}}, 1, nil, "label -1 at index 0"},
		{"batch 0", set, 0, nil, "batch size 0"},
		{"drop all", set, 5, []BatchOption{DropLast()}, "DropLast leaves no batch"},
		{"dtype", set, 2, []BatchOption{Dtype(tensor.Int)}, "dtype int: need float32 or float64"},
		{"std 0", &ImageSet{N: 1, H: 1, W: 1, Pixels: []uint8{1}, Labels: []int{0}, Norm: Normalization{Mean: []float64{0.5}, Std: []float64{0}}}, 1, nil, "channel 0: standard deviation 0"},
		{"mean NaN", &ImageSet{N: 1, H: 1, W: 1, Pixels: []uint8{1}, Labels: []int{0}, Norm: Normalization{Mean: []float64{math.NaN()}, Std: []float64{1}}}, 1, nil, "mean NaN is not finite"},
		{"both forms", &ImageSet{N: 1, H: 1, W: 1, Pixels: []uint8{1}, Values: []float32{1}, Labels: []int{0}}, 1, nil, "exactly one of Pixels and Values"},
		{"no images", &ImageSet{N: 1, H: 1, W: 1, Labels: []int{0}}, 1, nil, "exactly one of Pixels and Values"},
		{"values", &ImageSet{N: 2, C: 3, H: 1, W: 1, Values: make([]float32, 5), Labels: make([]int, 2)}, 1, nil, "2 images of 3x1x1 has 5 values, want 6"},
		{"NaN value", &ImageSet{N: 2, H: 1, W: 2, Values: []float32{0, 1, float32(math.NaN()), 0}, Labels: make([]int, 2)}, 1, nil, "image 1, value 0 is NaN"},
		{"norm of 2 channels", &ImageSet{N: 1, H: 1, W: 1, Pixels: []uint8{1}, Labels: []int{0}, Norm: Normalization{Mean: []float64{0, 0}, Std: []float64{1, 1}}}, 1, nil, "2 means and 2 standard deviations for 1 channels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewImageBatches(tc.set, tc.size, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Without DropLast a batch larger than the set gives one smaller batch.
	b, err := NewImageBatches(set, 10)
	if err != nil || b.NumBatches() != 1 || len(drain(b)[0]) != 4 {
		t.Errorf("batch of 10 over 4 images: %v", err)
	}
}

func TestImageBatchesResume(t *testing.T) {
	set := tinySet(10)
	src := rand.NewPCG(7, 7)
	rng := rand.New(src)
	b, _ := NewImageBatches(set, 3, Shuffle(rng))
	drain(b)
	b.Pass().Next() // epoch 1, one batch in
	blob, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rngState, _ := src.MarshalBinary()

	// Continue the original run for the rest of this epoch and the next one.
	want := drain(b)
	want = append(want, drain(b)...)

	// A fresh iterator restored from the blob, with the generator restored after it was made.
	pcg := rand.NewPCG(0, 0)
	r, _ := NewImageBatches(set, 3, Shuffle(rand.New(pcg)))
	if err := r.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	if err := pcg.UnmarshalBinary(rngState); err != nil {
		t.Fatal(err)
	}
	if r.Epoch() != 1 {
		t.Errorf("restored epoch %d, want 1", r.Epoch())
	}
	got := drain(r)
	got = append(got, drain(r)...)
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("resumed run sees %v, original %v", got, want)
	}

	// Damaged or mismatched blobs are errors and leave the iterator as it was.
	flipped := slices.Clone(blob)
	flipped[len(flipped)-5] ^= 1
	other, _ := NewImageBatches(set.Head(9), 3, Shuffle(rng))
	otherBlob, _ := other.MarshalBinary()
	plain, _ := NewImageBatches(set, 3)
	for name, tc := range map[string]struct {
		b    *ImageBatches
		blob []byte
		want string
	}{
		"empty":     {r, nil, "corrupt state"},
		"truncated": {r, blob[:len(blob)-1], "checksum mismatch"},
		"flipped":   {r, flipped, "checksum mismatch"},
		"vocab":     {r, mustMarshal(t, newVocab([]rune("ab"))), "not a"},
		"other set": {r, otherBlob, "state is for 9 images in batches of 3, iterator has 10"},
		"shuffled":  {plain, blob, "does not shuffle"},
	} {
		before, _ := tc.b.MarshalBinary()
		err := tc.b.UnmarshalBinary(tc.blob)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, tc.want)
		}
		if after, _ := tc.b.MarshalBinary(); !slices.Equal(before, after) {
			t.Errorf("%s: a failed UnmarshalBinary changed the iterator", name)
		}
	}
}

// A checkpoint taken when a pass has started but before its first batch, before the order is
// drawn, and one taken at the end of a pass, before the next is asked for.
func TestImageBatchesResumeAtEpochStart(t *testing.T) {
	set := tinySet(10)
	src := rand.NewPCG(3, 4)
	b, _ := NewImageBatches(set, 4, Shuffle(rand.New(src)))
	drain(b)
	b.Pass()
	blob := mustMarshal(t, b)
	rngState := mustMarshal(t, src)
	want := drain(b)

	pcg := rand.NewPCG(0, 0)
	r, _ := NewImageBatches(set, 4, Shuffle(rand.New(pcg)))
	if err := r.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	if err := pcg.UnmarshalBinary(rngState); err != nil {
		t.Fatal(err)
	}
	if got := drain(r); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("resumed run sees %v, original %v", got, want)
	}

	// At the end of a pass (with DropLast: two images never served), before the next is
	// asked for: the next pass is drawn after restoring, as epoch 2.
	b, _ = NewImageBatches(set, 4, Shuffle(rand.New(src)), DropLast())
	drain(b)
	end, endRNG := mustMarshal(t, b), mustMarshal(t, src)
	want = drain(b)
	pcg2 := rand.NewPCG(0, 0)
	r2, _ := NewImageBatches(set, 4, Shuffle(rand.New(pcg2)), DropLast())
	if err := r2.UnmarshalBinary(end); err != nil {
		t.Fatal(err)
	}
	if err := pcg2.UnmarshalBinary(endRNG); err != nil {
		t.Fatal(err)
	}
	if got := drain(r2); !slices.EqualFunc(got, want, slices.Equal) || r2.Epoch() != 1 || len(got) != 2 {
		t.Errorf("resumed at the end of a pass: epoch %d, %v, want epoch 1, %v", r2.Epoch(), got, want)
	}
}

// The trap of the old Next/Reset iterator: a loop that takes NumBatches batches an epoch and
// never sees the end of the pass trained on nothing every other epoch, since the end of one
// epoch was consumed by the next. With passes each epoch gets every batch, whichever way it is
// read, and a pass of an earlier epoch gives nothing.
func TestImageBatchesEndOfPass(t *testing.T) {
	b, err := NewImageBatches(tinySet(10), 4, DropLast(), Shuffle(rand.New(rand.NewPCG(1, 1))))
	if err != nil {
		t.Fatal(err)
	}
	checkEndOfPass(t, b, func(bt *ImageBatch) []int { return bt.Indices })
}

// batchPass is a pass of an iterator over minibatches of type B.
type batchPass[B any] interface {
	Next() (B, bool)
	Epoch() int
}

// checkEndOfPass reads six epochs from it, an iterator over 10 items in batches of 4 with the
// last batch dropped, every other epoch taking NumBatches batches and the others reading to
// the end of the pass: each epoch must see 8 items, none twice. Then a pass left unfinished
// must be continued by the next call of Pass, and passes of earlier epochs, or finished ones,
// give nothing.
func checkEndOfPass[B any, P batchPass[B]](t *testing.T, it interface {
	Pass() P
	Epoch() int
	NumBatches() int
}, indices func(B) []int) {
	t.Helper()
	take := func(p P, n int) (seen []int) { // up to n batches, all when n <= 0
		for i := 0; n <= 0 || i < n; i++ {
			bt, ok := p.Next()
			if !ok {
				break
			}
			seen = append(seen, indices(bt)...)
		}
		return seen
	}
	for epoch := range 6 {
		n := it.NumBatches()
		if epoch%2 == 1 {
			n = 0 // read to the end of the pass
		}
		p := it.Pass()
		seen := take(p, n)
		if p.Epoch() != epoch || it.Epoch() != epoch || len(seen) != 8 {
			t.Fatalf("epoch %d: the pass of epoch %d saw %d items, want 8", epoch, p.Epoch(), len(seen))
		}
		if slices.Sort(seen); len(slices.Compact(seen)) != 8 {
			t.Fatalf("epoch %d: an item came twice", epoch)
		}
	}
	p := it.Pass()
	first := take(p, 1)
	q := it.Pass()
	second := take(q, 0)
	if q.Epoch() != p.Epoch() || len(first)+len(second) != 8 {
		t.Errorf("an unfinished pass was not continued: %v then %v", first, second)
	}
	r := it.Pass()
	if _, ok := p.Next(); ok || r.Epoch() != q.Epoch()+1 {
		t.Error("a pass of an earlier epoch gave a batch")
	}
	if _, ok := q.Next(); ok {
		t.Error("a finished pass gave a batch after its false")
	}
}

func mustMarshal(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
