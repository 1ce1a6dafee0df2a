package graph_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// fuzzModel is the model FuzzLoadCheckpoint loads into: two parameters and a buffer, as a
// layer with batch norm has.
func fuzzModel() *graph.Params {
	ps := graph.NewParams(graph.Seed(5))
	ps.Add("fc.weight", []int{2, 3}, graph.Uniform(-1, 1))
	ps.Add("fc.bias", []int{2}, graph.Zeros())
	ps.AddBuffer("bn.running_mean", []int{2}, graph.Zeros())
	return ps
}

// fuzzSeedCheckpoint is a checkpoint of fuzzModel after a few Adam updates, with everything a
// trainer adds: a carried state tensor, blobs (one empty) and metadata.
func fuzzSeedCheckpoint(tb testing.TB, s solvers.Solver) []byte {
	tb.Helper()
	ps := fuzzModel()
	var params []solvers.Param
	for _, n := range ps.Trainable() {
		v := ps.Value(n)
		g := graph.NewTensor(tensor.Float32, v.Shape().Clone(), nil)
		for i := range g.Data().([]float32) {
			g.Data().([]float32)[i] = 0.1 * float32(i+1)
		}
		params = append(params, solvers.Param{Name: n, Value: v, Grad: g})
	}
	for range 3 {
		if err := s.Step(params); err != nil {
			tb.Fatal(err)
		}
	}
	path := filepath.Join(tb.TempDir(), "seed.safetensors")
	extra := &graph.Extra{
		Tensors: map[string]*tensor.Dense{"carry.h_l0": graph.NewTensor(tensor.Float32, []int{1, 2}, []float64{0.5, -0.5})},
		Blobs:   map[string][]byte{"batches": {1, 2, 3, 4}, "empty": {}},
		Meta:    map[string]string{"progress": `{"Step":3}`},
	}
	if err := graph.SaveCheckpoint(path, ps, runOf(tb, s), extra); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzLoadCheckpoint writes arbitrary bytes to a file and loads it with graph.LoadCheckpoint
// into a model and an Adam solver: the whole path a -resume takes (read, decode, check the
// format, match the model, restore the solver and the random source). It must return an
// error that changes nothing, or restore a model whose values are finite and of the model's
// shapes, whose solver takes a step, and which saves and loads again to the same values. It
// must never panic or allocate far beyond the file's size.
func FuzzLoadCheckpoint(f *testing.F) {
	adam := fuzzSeedCheckpoint(f, solvers.NewAdam(0.01))
	f.Add(adam)
	f.Add(fuzzSeedCheckpoint(f, solvers.NewSGD(0.1, solvers.Momentum(0.9))))
	f.Add(adam[:len(adam)/2])
	f.Add(bytes.Replace(adam, []byte("unroll.checkpoint.v1"), []byte("unroll.checkpoint.v9"), 1))
	f.Add(bytes.Replace(adam, []byte(`"F32"`), []byte(`"F64"`), 1))
	f.Add([]byte{})
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.safetensors")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ps := fuzzModel()
		before := ps.Clone(tensor.Float32)
		beforeRNG, _ := ps.RandState()
		s := solvers.NewAdam(0.01)
		var run graph.Run
		extra, err := graph.LoadCheckpoint(path, ps, &run)
		if err == nil {
			if err := run.UseSolver(s); err != nil {
				if s.Steps() != 0 || run.Solver() != nil {
					t.Fatalf("the solver changed although its state was refused: %v", err)
				}
				return
			}
		}
		if err != nil {
			for _, e := range ps.Entries() {
				if !bytes.Equal(rawBits(e.Value), rawBits(before.Value(e.Name))) {
					t.Fatalf("%s changed although loading failed: %v", e.Name, err)
				}
			}
			if rng, _ := ps.RandState(); !bytes.Equal(rng, beforeRNG) || s.Steps() != 0 {
				t.Fatalf("the random source or the solver changed although loading failed: %v", err)
			}
			return
		}
		if extra == nil {
			t.Fatal("a loaded checkpoint returned no extra")
		}
		for _, e := range ps.Entries() {
			if !e.Value.Shape().Eq(before.Value(e.Name).Shape()) {
				t.Fatalf("%s has shape %v after loading", e.Name, e.Value.Shape())
			}
			for i, v := range graph.Float64s(e.Value) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%s[%d] = %v after loading", e.Name, i, v)
				}
			}
		}
		for name, v := range extra.Tensors {
			if v.Shape().TotalSize() > len(b) {
				t.Fatalf("extra tensor %s of %v from %d bytes", name, v.Shape(), len(b))
			}
		}
		for name, v := range extra.Blobs {
			if len(v) > len(b) {
				t.Fatalf("blob %s of %d bytes from %d", name, len(v), len(b))
			}
		}
		// The restored solver state fits the parameters: a step works, or fails cleanly.
		var params []solvers.Param
		for _, n := range ps.Trainable() {
			v := ps.Value(n)
			params = append(params, solvers.Param{Name: n, Value: v.Clone().(*tensor.Dense), Grad: graph.NewTensor(tensor.Float32, v.Shape().Clone(), nil)})
		}
		_ = s.Step(params)
		// Save and load again: the same values.
		again := filepath.Join(dir, "again.safetensors")
		if err := graph.SaveCheckpoint(again, ps, runOf(t, s), extra); err != nil {
			t.Fatalf("a loaded checkpoint does not save: %v", err)
		}
		ps2 := fuzzModel()
		if _, err := loadInto(again, ps2, solvers.NewAdam(0.01)); err != nil {
			t.Fatalf("a re-saved checkpoint does not load: %v", err)
		}
		for _, e := range ps.Entries() {
			if !bytes.Equal(rawBits(e.Value), rawBits(ps2.Value(e.Name))) {
				t.Fatalf("%s changed through save and load", e.Name)
			}
		}
	})
}

// rawBits returns the bytes of a float tensor's values.
func rawBits(t *tensor.Dense) []byte {
	var out []byte
	for _, v := range graph.Float64s(t) {
		u := math.Float64bits(v)
		for i := range 8 {
			out = append(out, byte(u>>(8*i)))
		}
	}
	return out
}
