package rnn

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// The traps of the old recurrent API (issue 14), each a test that the old behaviour fails.

// Every epoch trains on every batch: the old Run(it, it.Batches()) consumed the end of a pass
// as the start of the next and trained on zero batches every other epoch. Here 3 epochs are 3
// full passes, in one Fit or in several, and split Fits train exactly as one.
func TestLanguageModelEveryEpochTrainsEveryBatch(t *testing.T) {
	for _, random := range []bool{false, true} {
		fit := func(epochs ...int) (*LanguageModel, *data.SeqBatches) {
			lm, ids := tinyLM(t, 11, tensor.Float32, Config{Kind: GRU})
			var it *data.SeqBatches
			var err error
			if random {
				it, err = data.NewRandomBatches(ids, 4, 8, lm.Params().Rand())
			} else {
				it, err = data.NewSequentialBatches(ids, 4, 8)
			}
			if err != nil {
				t.Fatal(err)
			}
			solver := graph.Solver(solvers.NewAdam(0.01))
			for _, e := range epochs {
				if _, err := lm.Fit(it, graph.Epochs(e), solver); err != nil {
					t.Fatal(err)
				}
			}
			return lm, it
		}
		once, it := fit(3)
		per := it.NumBatches()
		h := once.Run().History()
		if len(h.Epochs) != 3 || once.Run().Steps() != 3*per {
			t.Fatalf("random %v: 3 epochs of %d batches: %d epochs, %d steps", random, per, len(h.Epochs), once.Run().Steps())
		}
		for _, e := range h.Epochs {
			if e.Steps != per {
				t.Errorf("random %v: epoch %d trained on %d batches, want %d", random, e.Epoch, e.Steps, per)
			}
		}
		split, _ := fit(1, 1, 1)
		if split.Run().Steps() != 3*per || !sameParams(t, once.Params(), split.Params()) {
			t.Errorf("random %v: three Fits of 1 epoch (%d steps) differ from one Fit of 3 (%d)", random, split.Run().Steps(), 3*per)
		}
	}
}

// A second Fit continues where the first stopped, for the AR models too, and a checkpoint
// taken between them resumes exactly.
func TestARSecondFitContinues(t *testing.T) {
	series := make([]float64, 60)
	for i := range series {
		series[i] = float64(i%7) / 7
	}
	build := func(seed uint64) (*AR, *LatentAR) {
		ps := graph.NewParams(graph.Seed(seed))
		ar, err := NewAR(ps, "ar", 3, []int{8})
		if err != nil {
			t.Fatal(err)
		}
		lat, err := NewLatentAR(ps, "lat", GRU, 4, 5)
		if err != nil {
			t.Fatal(err)
		}
		return ar, lat
	}
	type model interface {
		Fit([]float64, ...graph.FitOption) (*graph.History, error)
		SaveCheckpoint(string) error
		LoadCheckpoint(string) error
		Run() *graph.Run
		Params() *graph.Params
		Window() int
	}
	pick := func(ar *AR, lat *LatentAR, i int) model {
		if i == 0 {
			return ar
		}
		return lat
	}
	for i, name := range []string{"ar", "latent ar"} {
		a, al := build(1)
		once := pick(a, al, i)
		if _, err := once.Fit(series, graph.Epochs(3), graph.Batch(8)); err != nil {
			t.Fatal(err)
		}
		b, bl := build(1)
		twice := pick(b, bl, i)
		path := filepath.Join(t.TempDir(), "m.safetensors")
		if _, err := twice.Fit(series, graph.Epochs(1), graph.Batch(8), graph.Steps(4)); err != nil {
			t.Fatal(err)
		}
		if err := twice.SaveCheckpoint(path); err != nil {
			t.Fatal(err)
		}
		c, cl := build(2)
		resumed := pick(c, cl, i)
		if err := resumed.LoadCheckpoint(path); err != nil {
			t.Fatal(err)
		}
		h, err := resumed.Fit(series, graph.Epochs(3), graph.Batch(8))
		if err != nil {
			t.Fatal(err)
		}
		per := (len(series) - once.Window() + 7) / 8
		if len(h.Epochs) != 3 || resumed.Run().Steps() != 3*per {
			t.Fatalf("%s: %d epochs, %d steps; want 3 and %d", name, len(h.Epochs), resumed.Run().Steps(), 3*per)
		}
		if !sameParams(t, once.Params(), resumed.Params()) {
			t.Errorf("%s: Fit of 4 steps, checkpoint, resume and the rest differs from one Fit of 3 epochs", name)
		}
	}
}

var snakeCase = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

// jsonKeys returns every key of the JSON objects in v, at every depth.
func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				keys = append(keys, k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(x)
	return keys
}

// What the recurrent models give out as JSON (their configuration, scores, predictions,
// history and checkpoint descriptions) has snake_case keys.
func TestJSONKeysAreSnakeCase(t *testing.T) {
	lm, ids := tinyLM(t, 12, tensor.Float32, Config{Kind: LSTM, Embedding: 4})
	it, err := data.NewSequentialBatches(ids, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	h, err := lm.Fit(it, graph.Steps(3), graph.Validation(ids[:50]))
	if err != nil {
		t.Fatal(err)
	}
	score, err := lm.Evaluate(ids[:50])
	if err != nil {
		t.Fatal(err)
	}
	net := fitNet(t, 1)
	set := trainingSet(t)
	p, err := net.Predict(set)
	if err != nil {
		t.Fatal(err)
	}
	m, err := net.Evaluate(set)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := NewAR(graph.NewParams(), "ar", 2, []int{3})
	if err != nil {
		t.Fatal(err)
	}
	lat, err := NewLatentAR(graph.NewParams(), "lat", LSTM, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{lm.Config(), score, h, p, m, lm.spec(), net.spec(), ar.spec(), lat.spec()} {
		keys := jsonKeys(t, v)
		if len(keys) == 0 {
			t.Errorf("%T: no keys", v)
		}
		for _, k := range keys {
			if !snakeCase.MatchString(k) {
				t.Errorf("%T: key %q is not snake_case", v, k)
			}
		}
	}
	if b, _ := json.Marshal(lm.Config()); string(b) != `{"kind":"lstm","hidden":24,"layers":1,"embedding":4,"dropout":0}` {
		t.Errorf("config as JSON: %s", b)
	}
}
