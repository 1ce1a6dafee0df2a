package graph_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// smallCheckpoint trains the test MLP a few steps with Adam through Fit and returns the path of
// its checkpoint: parameters, solver state, random source, run state and data position.
func smallCheckpoint(t *testing.T) string {
	l := newMLPLearner(t, 3)
	var run graph.Run
	path := filepath.Join(t.TempDir(), "small.safetensors")
	fit(t, l, &run, &feedData{batches: testBatches(2)}, graph.Steps(3), graph.Solver(solvers.NewAdam(0.01)), graph.Checkpoints(path, 0))
	return path
}

// loadSmall loads path into a fresh model, run and solver and returns a summary of everything
// restored (values to the bit, random source, run state, data position, solver state), or the
// load's error.
func loadSmall(t *testing.T, path string) ([]byte, error) {
	ps := graph.NewParams(graph.Seed(77))
	newMLP(t, ps)
	ck, err := graph.ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	var sum bytes.Buffer
	fmt.Fprintf(&sum, "%q %q %d|", ck.Extra.Meta["run"], ck.Extra.Blobs["data"], len(ck.Extra.Tensors))
	var run graph.Run
	if err := ck.Restore(ps, &run); err != nil {
		return nil, err
	}
	adam := solvers.NewAdam(0.01)
	if err := run.UseSolver(adam); err != nil {
		return nil, err
	}
	for _, e := range ps.Entries() {
		sum.Write(rawBytes(e.Value))
	}
	rng, _ := ps.RandState()
	sum.Write(rng)
	for _, k := range slices.Sorted(maps.Keys(adam.State())) {
		fmt.Fprintf(&sum, "%s:", k)
		sum.Write(rawBytes(adam.State()[k]))
	}
	return sum.Bytes(), nil
}

// rawBytes is t's values as bytes.
func rawBytes(t *tensor.Dense) []byte {
	var b []byte
	switch d := t.Data().(type) {
	case []float32:
		for _, v := range d {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	case []float64:
		for _, v := range d {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b
}

// Every single-bit flip of a checkpoint, at every byte, is refused by LoadCheckpoint or
// restores exactly what the intact file restores (a flip that changes nothing that is read).
func TestCheckpointBitFlips(t *testing.T) {
	path := smallCheckpoint(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := loadSmall(t, path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := filepath.Join(t.TempDir(), "flipped.safetensors")
	refused, harmless := 0, 0
	stride := 1
	if testing.Short() {
		stride = 7 // a sample of the bytes, every bit of each
	}
	for i := 0; i < len(orig); i += stride {
		for bit := 0; bit < 8; bit++ {
			b := bytes.Clone(orig)
			b[i] ^= 1 << bit
			if err := os.WriteFile(flipped, b, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := loadSmall(t, flipped)
			switch {
			case err != nil:
				refused++
			case bytes.Equal(got, want):
				harmless++
			default:
				t.Fatalf("a flip of bit %d of byte %d of %d loads and restores something else", bit, i, len(orig))
			}
		}
	}
	t.Logf("%d flips: %d refused, %d harmless", refused+harmless, refused, harmless)
}

// A header value edited to another of the same length is refused: by the header's checksum,
// and, when the checksums are made anew, by the range checks of the run state and the dtype
// check. Edits that change the header's length (a step of -5 for 3, an epoch of 9e9 for 1)
// are made the same length by dropping digits from another figure of the run state, or by
// adding JSON whitespace, so that only the checksum stands between the file and a load.
func TestCheckpointHeaderEditsRefused(t *testing.T) {
	path := smallCheckpoint(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, meta, err := graph.DecodeSafetensors(orig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct{ key, from, to, want string }{
		{"meta.run", `"step":3`, `"step":-5`, "step -5, but the epochs add up to 3"},
		{"meta.run", `"step":3`, `"step":1e12`, "run state"},
		{"meta.run", `"step":3,`, `"step":4 ,`, "step 4, but the epochs add up to 3"},
		{"meta.run", `"epoch":1`, `"epoch":9`, "epoch 9 with 1 epochs of history"},
		{"meta.run", `"epoch":1`, `"epoch":9e9`, "run state"},
		{"meta.run", `"epoch":1`, `"epoch":-1`, "epoch -1 with 1 epochs of history"},
		{"meta.run", `"epoch":1`, `"epoch":9000000000`, "epoch 9000000000 with 1 epochs of history"},
		{"dtype", "float32", "float64", "the checkpoint's dtype float64"},
	} {
		value := meta[c.key]
		if !strings.Contains(value, c.from) {
			t.Fatalf("metadata %s = %s holds no %s", c.key, value, c.from)
		}
		edited := sameLengthEdit(t, value, c.from, c.to)
		// Edited in place, the header's length unchanged: the header checksum refuses it.
		raw := bytes.Replace(orig, []byte(jsonQuoted(value)), []byte(jsonQuoted(edited)), 1)
		if len(raw) != len(orig) || bytes.Equal(raw, orig) {
			t.Fatalf("%s -> %s: the in-place edit did not keep the length or changed nothing", c.from, c.to)
		}
		p := filepath.Join(dir, "inplace.safetensors")
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadSmall(t, p); err == nil || !strings.Contains(err.Error(), "header checksum") {
			t.Errorf("%s -> %s in place: %v, want a header checksum error", c.from, c.to, err)
		}
		// Written anew with valid checksums: the range and dtype checks refuse it.
		m := maps.Clone(meta)
		m[c.key] = edited
		b, err := graph.EncodeSafetensors(ts, m)
		if err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(dir, "anew.safetensors")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadSmall(t, p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: %v, want an error about %q", c.from, c.to, err, c.want)
		}
	}
}

// longFraction matches the digits after the point of a figure that has at least six.
var longFraction = regexp.MustCompile(`\.[0-9]{6,}`)

// sameLengthEdit replaces from by to in s and keeps s's length: a longer result loses digits
// from the end of a long fraction elsewhere (a figure that changes by less than 1e-4), a
// shorter one gains spaces after the edit (JSON whitespace).
func sameLengthEdit(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	out := s[:i] + to + strings.Repeat(" ", max(0, len(from)-len(to))) + s[i+len(from):]
	if extra := len(out) - len(s); extra > 0 {
		for _, m := range longFraction.FindAllStringIndex(out, -1) {
			if m[0] > i && m[0] < i+len(to) {
				continue // not in the edit itself
			}
			if m[1]-m[0]-1 > extra+1 {
				return out[:m[1]-extra] + out[m[1]:]
			}
		}
		t.Fatalf("%q has no long fraction to make room for %q", s, to)
	}
	return out
}

// jsonQuoted is s as it appears inside a JSON string (the run state is a string of the
// metadata).
func jsonQuoted(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// A safetensors file written elsewhere, without checksums (PyTorch's state_dict), loads with
// LoadWeights; LoadCheckpoint refuses it, so that a damaged checksum entry cannot pass for an
// old file.
func TestForeignWeights(t *testing.T) {
	ps := graph.NewParams(graph.Seed(1))
	newMLP(t, ps)
	ts := map[string]*tensor.Dense{}
	for _, e := range ps.Entries() {
		v := graph.Float64s(e.Value)
		for i := range v {
			v[i] = float64(i) / 7
		}
		ts[e.Name] = graph.NewTensor(tensor.Float32, e.Value.Shape().Clone(), v)
	}
	ts["unused.weight"] = graph.NewTensor(tensor.Float32, []int{2}, []float64{1, 2})
	path := filepath.Join(t.TempDir(), "torch.safetensors")
	if err := os.WriteFile(path, plainSafetensors(t, ts), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := graph.NewParams(graph.Seed(2))
	newMLP(t, fresh)
	if err := graph.LoadWeights(path, fresh); err != nil {
		t.Fatal(err)
	}
	for _, e := range fresh.Entries() {
		if !equalFloats(graph.Float64s(e.Value), graph.Float64s(ts[e.Name])) {
			t.Errorf("%s was not loaded", e.Name)
		}
	}
	var run graph.Run
	if _, err := graph.LoadCheckpoint(path, fresh, &run); err == nil || !strings.Contains(err.Error(), "has no checksums") {
		t.Errorf("LoadCheckpoint of a file without checksums: %v", err)
	}
	// A missing parameter or a wrong shape is named, and nothing is changed.
	delete(ts, ps.Names()[0])
	if err := os.WriteFile(path, plainSafetensors(t, ts), 0o644); err != nil {
		t.Fatal(err)
	}
	before := graph.Float64s(fresh.Value(ps.Names()[1]))
	if err := graph.LoadWeights(path, fresh); err == nil || !strings.Contains(err.Error(), "missing "+ps.Names()[0]) {
		t.Errorf("weights with a parameter missing: %v", err)
	}
	if !equalFloats(before, graph.Float64s(fresh.Value(ps.Names()[1]))) {
		t.Error("a refused file changed the model")
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-6 {
			return false
		}
	}
	return true
}

// plainSafetensors encodes float32 tensors as safetensors without any metadata, as other tools
// write them.
func plainSafetensors(t *testing.T, ts map[string]*tensor.Dense) []byte {
	header := map[string]any{}
	var data bytes.Buffer
	for _, n := range slices.Sorted(maps.Keys(ts)) {
		begin := data.Len()
		for _, v := range ts[n].Float32s() {
			_ = binary.Write(&data, binary.LittleEndian, math.Float32bits(v))
		}
		header[n] = map[string]any{"dtype": "F32", "shape": []int(ts[n].Shape()), "data_offsets": []int{begin, data.Len()}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data.Bytes()...)
}

// Training that blows up while its loss stays finite (a learning rate a million times too
// large) is divergence: Fit stops with ErrDiverged naming the step and a hint, and the
// checkpoint written before keeps the last good state; a learning rate that ruins the first
// step writes no checkpoint at all.
func TestFitStopsFiniteDivergence(t *testing.T) {
	l := newMLPLearner(t, 4)
	var run graph.Run
	path := filepath.Join(t.TempDir(), "good.safetensors")
	fit(t, l, &run, &feedData{batches: testBatches(3)}, graph.Epochs(1), graph.Solver(solvers.NewSGD(0.01)), graph.Checkpoints(path, 1))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := graph.NewFitConfig(graph.Epochs(5), graph.Solver(solvers.NewSGD(1e6)), graph.Checkpoints(path, 1))
	_, err = graph.Fit[graph.Feeds](l, &run, &feedData{batches: testBatches(3)}, cfg)
	if !errors.Is(err, graph.ErrDiverged) || !strings.Contains(err.Error(), "training diverged at step") || !strings.Contains(err.Error(), "lower the learning rate") {
		t.Fatalf("got %v, want a divergence error with the step and a hint", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
		t.Error("the checkpoint was overwritten by a diverged state")
	}
	var r graph.Run
	if _, err := graph.LoadCheckpoint(path, graph.NewParams(), &r); err == nil {
		t.Error("a checkpoint of the MLP loads into an empty model")
	}
	back := newMLPLearner(t, 9)
	if _, err := graph.LoadCheckpoint(path, back.ps, &r); err != nil {
		t.Errorf("the last good checkpoint does not load: %v", err)
	}

	fresh := newMLPLearner(t, 4)
	var r2 graph.Run
	p2 := filepath.Join(t.TempDir(), "never.safetensors")
	cfg, _ = graph.NewFitConfig(graph.Epochs(1), graph.Solver(solvers.NewSGD(1e30)), graph.Checkpoints(p2, 1))
	if _, err := graph.Fit[graph.Feeds](fresh, &r2, &feedData{batches: testBatches(3)}, cfg); !errors.Is(err, graph.ErrDiverged) {
		t.Fatalf("a learning rate of 1e30: %v", err)
	}
	if _, err := os.Stat(p2); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a checkpoint was written from a ruined state: %v", err)
	}
}

// FuzzCheckpointFlips flips one bit of a small checkpoint: the file is refused, or restores
// exactly what the intact file restores.
func FuzzCheckpointFlips(f *testing.F) {
	f.Add(uint(0), uint8(0))
	f.Add(uint(100), uint8(3))
	f.Add(uint(2000), uint8(7))
	f.Fuzz(func(t *testing.T, at uint, bit uint8) {
		path := smallCheckpoint(t)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := loadSmall(t, path)
		if err != nil {
			t.Fatal(err)
		}
		b := bytes.Clone(orig)
		b[at%uint(len(b))] ^= 1 << (bit % 8)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := loadSmall(t, path); err == nil && !bytes.Equal(got, want) {
			t.Fatalf("a flip of bit %d of byte %d loads and restores something else", bit%8, at%uint(len(b)))
		}
	})
}

// FuzzCheckpointMeta writes a checkpoint whose metadata value under key is replaced by value,
// with valid checksums: loading it is an error or restores a run whose state passes the range
// checks (it saves again and loads again), never a panic.
func FuzzCheckpointMeta(f *testing.F) {
	for _, k := range []string{"meta.run", "dtype", "rng", "format", "solver", "bloblen.data"} {
		f.Add(k, "")
		f.Add(k, "-5")
	}
	f.Add("meta.run", `{"epoch":9000000000,"step":3}`)
	f.Fuzz(func(t *testing.T, key, value string) {
		path := smallCheckpoint(t)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ts, meta, err := graph.DecodeSafetensors(orig)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := meta[key]; !ok {
			return
		}
		meta[key] = value
		b, err := graph.EncodeSafetensors(ts, meta)
		if err != nil {
			return
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ps := graph.NewParams(graph.Seed(77))
		newMLP(t, ps)
		var run graph.Run
		if _, err := graph.LoadCheckpoint(path, ps, &run); err != nil {
			return
		}
		again := path + ".again"
		if err := graph.SaveCheckpoint(again, ps, &run, nil); err != nil {
			t.Fatalf("an accepted checkpoint does not save: %v", err)
		}
		var r2 graph.Run
		if _, err := graph.LoadCheckpoint(again, ps, &r2); err != nil {
			t.Fatalf("an accepted checkpoint, saved again, does not load: %v", err)
		}
	})
}
