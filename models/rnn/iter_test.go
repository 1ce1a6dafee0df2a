package rnn

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// Sequences yields the data set's sequences in order, ends a pass when a batch would be short,
// and resumes from a saved position.
func TestSequences(t *testing.T) {
	data, err := AddingProblem(rand.New(rand.NewPCG(1, 1)), 7, 4, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	it, err := NewSequences(data, 3)
	if err != nil {
		t.Fatal(err)
	}
	if it.Batches() != 2 {
		t.Fatalf("%d batches, want 2", it.Batches())
	}
	y := graph.Float64s(data.Y)
	var got []float64
	for {
		bt, ok := it.Next()
		if !ok {
			break
		}
		if !bt.X.Shape().Eq(tensor.Shape{3, 4, 2}) {
			t.Fatalf("batch shape %v", bt.X.Shape())
		}
		got = append(got, graph.Float64s(bt.Y)...)
	}
	for i, v := range got {
		if v != y[i] {
			t.Fatalf("sequence %d out of order", i)
		}
	}
	if len(got) != 6 || it.Pass() != 1 {
		t.Fatalf("%d sequences in a pass, pass %d", len(got), it.Pass())
	}
	if _, ok := it.Next(); !ok {
		t.Fatal("the second pass did not start")
	}
	saved, _ := it.MarshalBinary()
	want, _ := it.Next()
	it2, _ := NewSequences(data, 3)
	if err := it2.UnmarshalBinary(saved); err != nil {
		t.Fatal(err)
	}
	again, _ := it2.Next()
	if maxAbsDiff(want.X, again.X) != 0 || it2.Pass() != 1 {
		t.Fatal("resuming from a saved position gave another batch")
	}
	if _, err := NewSequences(data, 8); err == nil || err.Error() != "sequences: batch size 8 must be between 1 and the 7 sequences of the data set" {
		t.Errorf("batch too large: %v", err)
	}
	if err := it2.UnmarshalBinary([]byte{1}); err == nil {
		t.Error("a truncated position was accepted")
	}
}
