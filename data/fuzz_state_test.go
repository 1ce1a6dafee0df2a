package data

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// FuzzIteratorState feeds arbitrary positions to the batch iterators' UnmarshalBinary, the
// part of a checkpoint that says where in the data a resumed run continues. The fuzzer's bytes
// are the body of a blob; the test adds the tag and a valid checksum, so that the decoding
// behind the checksum is what gets exercised. A blob is refused with an error that leaves the
// iterator as it was, or accepted; then the iterator yields only whole batches of valid
// indices, and its position survives another MarshalBinary and UnmarshalBinary.
func FuzzIteratorState(f *testing.F) {
	set := &ImageSet{N: 10, H: 1, W: 2, Classes: 3, Pixels: make([]uint8, 20), Labels: []int{0, 1, 2, 0, 1, 2, 0, 1, 2, 0}}
	ids := make([]int, 50)
	for i := range ids {
		ids[i] = i % 7
	}
	newIters := func() (*ImageBatches, *SeqBatches, *SeqBatches) {
		img, err := NewImageBatches(set, 3, Shuffle(rand.New(rand.NewPCG(1, 2))))
		if err != nil {
			f.Fatal(err)
		}
		seq, err := NewSequentialBatches(ids, 2, 4, RandomOffset(rand.New(rand.NewPCG(3, 4))))
		if err != nil {
			f.Fatal(err)
		}
		rnd, err := NewRandomBatches(ids, 2, 3, rand.New(rand.NewPCG(5, 6)))
		if err != nil {
			f.Fatal(err)
		}
		return img, seq, rnd
	}
	body := func(blob []byte, tag string) []byte { return blob[len(tag) : len(blob)-4] }
	img, seq, rnd := newIters()
	for range 2 {
		img.Pass().Next()
		seq.Pass().Next()
		rnd.Pass().Next()
		for _, it := range []interface{ MarshalBinary() ([]byte, error) }{img, seq, rnd} {
			blob, _ := it.MarshalBinary()
			switch it.(type) {
			case *ImageBatches:
				f.Add(uint8(0), body(blob, imageStateTag))
			default:
				k := uint8(1)
				if it == rnd {
					k = 2
				}
				f.Add(k, body(blob, seqStateTag))
			}
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		img, seq, rnd := newIters()
		switch kind % 3 {
		case 0:
			before, _ := img.MarshalBinary()
			blob := withChecksum(imageStateTag, b)
			if err := img.UnmarshalBinary(blob); err != nil {
				if after, _ := img.MarshalBinary(); string(after) != string(before) {
					t.Fatalf("a refused blob changed the iterator: %v", err)
				}
				return
			}
			// Varints may be over-long in the blob; the position, re-marshalled, must load
			// into a fresh iterator and marshal to the same bytes.
			again, _ := img.MarshalBinary()
			fresh, _, _ := newIters()
			if err := fresh.UnmarshalBinary(again); err != nil {
				t.Fatalf("a re-marshalled position does not load: %v", err)
			}
			if third, _ := fresh.MarshalBinary(); string(third) != string(again) {
				t.Fatal("a position changed through MarshalBinary and UnmarshalBinary")
			}
			for n := 0; n < 5; n++ {
				batch, ok := img.Pass().Next()
				if !ok {
					t.Fatal("a fresh pass gave no batch")
				}
				if len(batch.Labels) < 1 || len(batch.Labels) > 3 || batch.X.Shape()[0] != len(batch.Labels) {
					t.Fatalf("a batch of %d labels, X %v", len(batch.Labels), batch.X.Shape())
				}
				for _, i := range batch.Indices {
					if i < 0 || i >= set.N {
						t.Fatalf("index %d of %d images", i, set.N)
					}
				}
			}
		default:
			it := seq
			if kind%3 == 2 {
				it = rnd
			}
			before, _ := it.MarshalBinary()
			blob := withChecksum(seqStateTag, b)
			if err := it.UnmarshalBinary(blob); err != nil {
				if after, _ := it.MarshalBinary(); string(after) != string(before) {
					t.Fatalf("a refused blob changed the iterator: %v", err)
				}
				return
			}
			again, _ := it.MarshalBinary()
			_, fseq, frnd := newIters()
			fresh := fseq
			if it == rnd {
				fresh = frnd
			}
			if err := fresh.UnmarshalBinary(again); err != nil {
				t.Fatalf("a re-marshalled position does not load: %v", err)
			}
			if third, _ := fresh.MarshalBinary(); string(third) != string(again) {
				t.Fatal("a position changed through MarshalBinary and UnmarshalBinary")
			}
			for n := 0; n < 5; n++ {
				batch, ok := it.Pass().Next()
				if !ok {
					t.Fatal("a pass started by Pass has no batch")
				}
				if batch.B != it.b || batch.T != it.t || len(batch.X) != batch.B*batch.T || len(batch.Y) != len(batch.X) {
					t.Fatalf("a batch of %dx%d with %d and %d ids", batch.B, batch.T, len(batch.X), len(batch.Y))
				}
			}
		}
	})
}

// withChecksum makes a state blob of a tag, a body and the body's CRC-32.
func withChecksum(tag string, body []byte) []byte {
	b := append([]byte(tag), body...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// FuzzSequencesState is FuzzIteratorState for Sequences: a blob body is refused, leaving the
// iterator as it was, or accepted; then its passes yield only batches of valid sequences, no
// sequence twice in a pass, and the position survives another MarshalBinary and UnmarshalBinary.
func FuzzSequencesState(f *testing.F) {
	set := numbered(10)
	newIter := func(shuffle bool) *Sequences {
		var opts []BatchOption
		if shuffle {
			opts = append(opts, Shuffle(rand.New(rand.NewPCG(1, 2))), DropLast())
		}
		s, err := NewSequences(set, 3, opts...)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	for _, shuffle := range []bool{false, true} {
		s := newIter(shuffle)
		for range 3 {
			blob, _ := s.MarshalBinary()
			f.Add(shuffle, blob[len(sequencesStateTag):len(blob)-4])
			s.Pass().Next()
		}
	}
	f.Fuzz(func(t *testing.T, shuffle bool, b []byte) {
		s := newIter(shuffle)
		before, _ := s.MarshalBinary()
		if err := s.UnmarshalBinary(withChecksum(sequencesStateTag, b)); err != nil {
			if after, _ := s.MarshalBinary(); string(after) != string(before) {
				t.Fatalf("a refused blob changed the iterator: %v", err)
			}
			return
		}
		again, _ := s.MarshalBinary()
		fresh := newIter(shuffle)
		if err := fresh.UnmarshalBinary(again); err != nil {
			t.Fatalf("a re-marshalled position does not load: %v", err)
		}
		if third, _ := fresh.MarshalBinary(); string(third) != string(again) {
			t.Fatal("a position changed through MarshalBinary and UnmarshalBinary")
		}
		for range 3 {
			p := s.Pass()
			seen := map[int]bool{}
			for bt, ok := p.Next(); ok; bt, ok = p.Next() {
				if bt.Size() < 1 || bt.Size() > 3 || len(bt.Indices) != bt.Size() {
					t.Fatalf("a batch of %d sequences", bt.Size())
				}
				for _, i := range bt.Indices {
					if i < 0 || i >= 10 || seen[i] {
						t.Fatalf("sequence %d in a pass that saw %v", i, seen)
					}
					seen[i] = true
				}
			}
		}
	})
}
