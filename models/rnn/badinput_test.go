package rnn_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
)

// noPanic runs f and turns a panic into an error, so that a table test reports the case.
func noPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// TestSequenceModelsRefuseBadInput gives the language model, its training, generation, the AR
// models and the forecasts wrong sizes, prompts outside the vocabulary, ids outside it, NaN
// values and damaged checkpoints: each returns an error naming the culprit, none panics.
func TestSequenceModelsRefuseBadInput(t *testing.T) {
	text := "call me ishmael. some years ago, never mind how long precisely"
	vocab, err := data.NewCharVocab(text)
	if err != nil {
		t.Fatal(err)
	}
	ps := graph.NewParams(graph.Seed(1))
	lm, err := rnn.NewLanguageModel(ps, "lm", vocab, rnn.Config{Kind: rnn.LSTM, Hidden: 8})
	if err != nil {
		t.Fatal(err)
	}
	ids := vocab.Encode(text)
	batches, err := data.NewSequentialBatches(ids, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lm.Fit(batches, graph.Steps(1), graph.ClipNorm(5)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "lm.safetensors")
	if err := lm.SaveCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	ar, err := rnn.NewAR(graph.NewParams(), "ar", 3, []int{10})
	if err != nil {
		t.Fatal(err)
	}
	negHidden := checkpointWithModel(t, ckpt, dir, `"hidden":8`, `"hidden":-3`)
	noKind := checkpointWithModel(t, ckpt, dir, `"kind":"lstm"`, `"kind":"elman"`)
	lm3 := func() (*rnn.LanguageModel, error) {
		return rnn.NewLanguageModel(graph.NewParams(), "lm", vocab, rnn.Config{Kind: rnn.LSTM, Hidden: 8})
	}

	cases := []struct {
		name string
		want string
		f    func() error
	}{
		{"language model of hidden 0", "lm.rnn: sizes must be positive, got input 21, hidden 0", func() error {
			_, err := rnn.NewLanguageModel(graph.NewParams(), "lm", vocab, rnn.Config{Kind: rnn.GRU})
			return err
		}},
		{"language model without a vocabulary", "lm: the vocabulary must hold at least one character", func() error {
			_, err := rnn.NewLanguageModel(graph.NewParams(), "lm", nil, rnn.Config{Kind: rnn.LSTM, Hidden: 8})
			return err
		}},
		{"language model of negative embedding", "lm: embedding width -4 is negative", func() error {
			_, err := rnn.NewLanguageModel(graph.NewParams(), "lm", vocab, rnn.Config{Kind: rnn.LSTM, Hidden: 8, Embedding: -4})
			return err
		}},
		{"language model of -1 layers", "lm.rnn: -1 layers, need at least 1", func() error {
			_, err := rnn.NewLanguageModel(graph.NewParams(), "lm", vocab, rnn.Config{Kind: rnn.RNN, Hidden: 8, Layers: -1})
			return err
		}},
		{"unknown cell", `unknown recurrent cell "transformer" (rnn, lstm or gru)`, func() error {
			_, err := rnn.ParseKind("transformer")
			return err
		}},
		{"prompt outside the vocabulary", "lm: generate: prompt: vocab: character 'Q' (U+0051) at position 5 is not in the vocabulary", func() error {
			_, err := lm.Generate("call Queequeg", 10)
			return err
		}},
		{"prompt of invalid UTF-8", "lm: generate: prompt: vocab: invalid UTF-8 at byte 4", func() error {
			_, err := lm.Generate("call\xff", 10)
			return err
		}},
		{"empty prompt", "lm: generate: empty prompt", func() error {
			_, err := lm.Generate("", 10)
			return err
		}},
		{"negative length", "lm: generate: -1 characters to generate is negative", func() error {
			_, err := lm.Generate("call", -1)
			return err
		}},
		{"temperature 0", "lm: generate: temperature 0 must be a positive number", func() error {
			_, err := lm.Generate("call", 5, rnn.Temperature(0))
			return err
		}},
		{"temperature NaN", "lm: generate: temperature NaN must be a positive number", func() error {
			_, err := lm.Generate("call", 5, rnn.Temperature(math.NaN()))
			return err
		}},
		{"batch of ids outside the vocabulary", fmt.Sprintf("lm: input id %d at position 1 is outside the vocabulary of %d", vocab.Size(), vocab.Size()), func() error {
			_, err := lm.TrainBatch(&data.SeqBatch{B: 1, T: 2, X: []int{1, vocab.Size()}, Y: []int{1, 2}}, &graph.FitConfig{})
			return err
		}},
		{"malformed batch", "lm: malformed batch", func() error {
			_, err := lm.TrainBatch(&data.SeqBatch{B: 2, T: 2, X: []int{1, 2, 3}, Y: []int{1, 2, 3, 4}}, &graph.FitConfig{})
			return err
		}},
		{"fit with a negative segment", "lm: fit: segment of -4 steps", func() error {
			_, err := lm.Fit(batches, graph.Segment(-4))
			return err
		}},
		{"fit with a negative clip", "clip norm -1", func() error {
			_, err := lm.Fit(batches, graph.ClipNorm(-1))
			return err
		}},
		{"fit with another batch size", "lm: fit: batch size 3, but the training batches hold 2 streams", func() error {
			_, err := lm.Fit(batches, graph.Batch(3))
			return err
		}},
		{"carried state into a batch of another size", "lm: the state carried from a batch of 2 sequences cannot start a batch of 3", func() error {
			other, err := data.NewSequentialBatches(ids, 3, 4)
			if err != nil {
				return err
			}
			p := other.Pass()
			p.Next()
			sb, _ := p.Next() // continues the streams
			_, err = lm.TrainBatch(sb, &graph.FitConfig{Solver: lm.Run().Solver()})
			return err
		}},
		{"evaluate on one character", "lm: evaluate: 1 characters: need at least 2", func() error {
			_, err := lm.Evaluate(ids[:1])
			return err
		}},
		{"evaluate ids outside the vocabulary", "lm: evaluate: id 999 at position 2 is outside the vocabulary of 21", func() error {
			_, err := lm.Evaluate([]int{1, 2, 999})
			return err
		}},
		{"load a missing checkpoint", "missing.safetensors: no such file or directory", func() error {
			return lm.LoadCheckpoint(filepath.Join(dir, "missing.safetensors"))
		}},
		{"load another vocabulary", "holds another model", func() error {
			v2, _ := data.NewCharVocab(text + "QZ")
			lm2, err := rnn.NewLanguageModel(graph.NewParams(graph.Seed(1)), "lm", v2, rnn.Config{Kind: rnn.LSTM, Hidden: 8})
			if err != nil {
				return err
			}
			return lm2.LoadCheckpoint(ckpt)
		}},
		{"load a net's checkpoint", "holds another model", func() error {
			ps := graph.NewParams()
			net, err := rnn.NewNet(ps, "lm", rnn.LSTM, 21, 8, 21)
			if err != nil {
				return err
			}
			p := filepath.Join(dir, "net.safetensors")
			if err := net.SaveCheckpoint(p); err != nil {
				return err
			}
			l, err := lm3()
			if err != nil {
				return err
			}
			return l.LoadCheckpoint(p)
		}},
		{"model from a checkpoint without one", "not a language model's checkpoint", func() error {
			other := graph.NewParams()
			other.Add("w", []int{2}, nil)
			p := filepath.Join(dir, "plain.safetensors")
			if err := graph.SaveCheckpoint(p, other, nil, nil); err != nil {
				return err
			}
			c, err := graph.ReadCheckpoint(p)
			if err != nil {
				return err
			}
			_, err = rnn.LanguageModelFromCheckpoint(graph.NewParams(), c)
			return err
		}},
		{"model from a checkpoint with hidden -3", "records lstm, hidden -3, 1 layer(s), input 21", func() error {
			_, err := rnn.LanguageModelFromCheckpoint(graph.NewParams(), negHidden)
			return err
		}},
		{"model from a checkpoint with a cell of no kind", `unknown recurrent cell "elman"`, func() error {
			_, err := rnn.LanguageModelFromCheckpoint(graph.NewParams(), noKind)
			return err
		}},
		{"AR of order 0", "ar: order tau = 0, need at least 1", func() error {
			_, err := rnn.NewAR(graph.NewParams(), "ar", 0, nil)
			return err
		}},
		{"AR fit on a NaN value", "value 4 is NaN", func() error {
			_, err := ar.Fit([]float64{1, 2, 3, 4, math.NaN(), 6})
			return err
		}},
		{"AR fit on too short a series", "ar: fit: windows: 3 values are too few for windows of 3 and a target", func() error {
			_, err := ar.Fit([]float64{1, 2, 3})
			return err
		}},
		{"AR predict on infinite values", "ar: window value 1 is +Inf", func() error {
			_, err := ar.Predict([]float64{1, math.Inf(1), 3})
			return err
		}},
		{"least squares with too few values", "least-squares ar(9): 5 values are too few", func() error {
			_, err := rnn.FitLinearAR([]float64{1, 2, 3, 4, 5}, 9)
			return err
		}},
		{"k-step forecast of k 0", "k-step forecast: k = 0, need at least 1", func() error {
			_, err := rnn.KStep(rnn.Persistence{}, []float64{1, 2, 3, 4}, 2, 0)
			return err
		}},
		{"one-step forecast over NaN", "value 1 is NaN", func() error {
			_, err := rnn.OneStep(rnn.Persistence{}, []float64{1, math.NaN(), 3, 4}, 2)
			return err
		}},
		{"RMSE of different lengths", "rmse: 2 predictions for 1 targets", func() error {
			_, err := rnn.RMSE([]float64{1, 2}, []float64{1})
			return err
		}},
		{"latent AR of window 0", "lat: window of 0 values, need at least 1", func() error {
			_, err := rnn.NewLatentAR(graph.NewParams(), "lat", rnn.GRU, 4, 0)
			return err
		}},
		{"adding problem of no steps", "adding problem: need at least 1 sequence and 2 steps, got 4 and 0", func() error {
			_, err := data.AddingProblem(nil, 4, 0, tensor.Float32)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := noPanic(c.f)
			if err == nil || strings.HasPrefix(err.Error(), "panic") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

// TestLanguageModelFromCheckpointChecksSizes damages a language model's checkpoint so that
// its recorded hidden size disagrees with its stored weights. Building the model from it must
// fail before anything of the recorded size is allocated: the recorded size could be anything
// a damaged file holds, and the weights are the truth.
func TestLanguageModelFromCheckpointChecksSizes(t *testing.T) {
	vocab, err := data.NewCharVocab("call me ishmael")
	if err != nil {
		t.Fatal(err)
	}
	ps := graph.NewParams()
	lm, err := rnn.NewLanguageModel(ps, "", vocab, rnn.Config{Kind: rnn.LSTM, Hidden: 8})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "lm.safetensors")
	if err := lm.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{`"hidden":8`, `"hidden":256`, "hidden 256"},
		{`"layers":1`, `"layers":3`, "3 layer(s)"},
		{`"layers":1`, `"layers":100000000`, "100000000 layer(s)"},
		{`"embedding":0`, `"embedding":5`, "input 5"},
	} {
		ck := checkpointWithModel(t, path, dir, c.from, c.to)
		fresh := graph.NewParams()
		_, err = noPanicModel(func() (*rnn.LanguageModel, error) { return rnn.LanguageModelFromCheckpoint(fresh, ck) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", c.to, err, c.want)
		}
		if n := countValues(fresh); n != 0 {
			t.Errorf("%s: %d values allocated before the error", c.to, n)
		}
	}
}

func noPanicModel(f func() (*rnn.LanguageModel, error)) (lm *rnn.LanguageModel, err error) {
	err = noPanic(func() error {
		var e error
		lm, e = f()
		return e
	})
	return lm, err
}

func countValues(ps *graph.Params) int {
	n := 0
	for _, e := range ps.Entries() {
		n += e.Value.Shape().TotalSize()
	}
	return n
}

// checkpointWithModel copies the checkpoint at path with the model's description (the meta
// entry "model", stored as "meta.model") changed by replacing from with to, and reads it.
func checkpointWithModel(t *testing.T, path, dir, from, to string) *graph.Checkpoint {
	t.Helper()
	const key = "meta.model"
	b, err := readBytes(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, meta, err := graph.DecodeSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(meta[key], from) {
		t.Fatalf("%s: the model description %q has no %s", path, meta[key], from)
	}
	meta[key] = strings.Replace(meta[key], from, to, 1)
	out, err := graph.EncodeSafetensors(ts, meta)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, strings.NewReplacer(`"`, "", ":", "-").Replace(to)+".safetensors")
	if err := writeBytes(p, out); err != nil {
		t.Fatal(err)
	}
	c, err := graph.ReadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readBytes(path string) ([]byte, error) { return os.ReadFile(path) }

func writeBytes(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }
