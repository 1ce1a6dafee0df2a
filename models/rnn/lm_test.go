package rnn

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

const lmText = "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat by a log. "

// tinyLM is a small model over lmText's characters, of 24 hidden units unless cfg says.
func tinyLM(t *testing.T, seed uint64, dt tensor.Dtype, cfg Config) (*LanguageModel, []int) {
	t.Helper()
	vocab, err := data.NewCharVocab(lmText)
	if err != nil {
		t.Fatal(err)
	}
	ps := graph.NewParams(graph.Seed(seed), graph.Dtype(dt))
	if cfg.Hidden == 0 {
		cfg.Hidden = 24
	}
	lm, err := NewLanguageModel(ps, "lm", vocab, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return lm, vocab.Encode(strings.Repeat(lmText, 12))
}

// fitSteps trains n steps with Fit on it and returns each step's loss.
func fitSteps(t *testing.T, lm *LanguageModel, it *data.SeqBatches, n int, opts ...graph.FitOption) []float64 {
	t.Helper()
	var losses []float64
	opts = append(opts, graph.Steps(n), graph.OnStep(func(p graph.Progress) { losses = append(losses, p.Loss) }))
	if _, err := lm.Fit(it, opts...); err != nil {
		t.Fatal(err)
	}
	if len(losses) != n {
		t.Fatalf("%d steps taken, want %d", len(losses), n)
	}
	return losses
}

// A small LSTM language model, one-hot and with an embedding, learns a repetitive text with
// Fit: its validation loss falls far below the uniform ln V, and its score is reported
// consistently in nats, bits and perplexity.
func TestLanguageModelLearns(t *testing.T) {
	for name, cfg := range map[string]Config{"one-hot": {Kind: LSTM}, "embedding": {Kind: LSTM, Embedding: 8}, "two layers": {Kind: LSTM, Layers: 2}} {
		t.Run(name, func(t *testing.T) {
			lm, ids := tinyLM(t, 1, tensor.Float32, cfg)
			train, val, err := data.SplitIDs(ids, 0.8)
			if err != nil {
				t.Fatal(err)
			}
			it, err := data.NewSequentialBatches(train, 4, 8)
			if err != nil {
				t.Fatal(err)
			}
			before, err := lm.Evaluate(val)
			if err != nil {
				t.Fatal(err)
			}
			fitSteps(t, lm, it, 120, graph.Solver(solvers.NewAdam(0.02)), graph.ClipNorm(5))
			after, err := lm.Evaluate(val)
			if err != nil {
				t.Fatal(err)
			}
			uniform := math.Log(float64(lm.Vocab().Size()))
			t.Logf("validation loss %.3f before, %.3f after (uniform %.3f)", before.Loss, after.Loss, uniform)
			if math.Abs(before.Loss-uniform) > 0.3 {
				t.Errorf("untrained loss %.3f is far from the uniform %.3f", before.Loss, uniform)
			}
			if !(after.Loss < 0.4*uniform) {
				t.Errorf("trained loss %.3f is not below 40%% of the uniform %.3f", after.Loss, uniform)
			}
			if after.Tokens != len(val)-1 {
				t.Errorf("%d tokens scored, want %d", after.Tokens, len(val)-1)
			}
			if math.Abs(after.Perplexity-math.Exp(after.Loss)) > 1e-9 || math.Abs(after.BPC*math.Ln2-after.Loss) > 1e-12 {
				t.Errorf("inconsistent score %+v", after)
			}
		})
	}
}

// Evaluation carries the state from segment to segment, so the length of the segments changes
// nothing: the score is that of the whole text read in one go.
func TestEvaluateSegmentsAgree(t *testing.T) {
	for _, kind := range Kinds() {
		lm, ids := tinyLM(t, 3, tensor.Float64, Config{Kind: kind})
		ids = ids[:150]
		whole, err := lm.evaluate(ids, len(ids))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{1, 7, evalSegment} {
			ev, err := lm.evaluate(ids, k)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(ev.Loss-whole.Loss) > 1e-12 {
				t.Errorf("%v: segments of %d give %.15f, one segment %.15f", kind, k, ev.Loss, whole.Loss)
			}
		}
	}
}

// A checkpoint holds everything: training resumed from it in a model built from it takes
// exactly the steps the uninterrupted run takes (the carried state, the position in the text
// and the solver included), and draws the same text.
func TestLanguageModelResume(t *testing.T) {
	lm, ids := tinyLM(t, 4, tensor.Float32, Config{Kind: GRU})
	it, _ := data.NewSequentialBatches(ids, 4, 8)
	opts := []graph.FitOption{graph.Solver(solvers.NewAdam(0.01)), graph.ClipNorm(1)}
	fitSteps(t, lm, it, 25, opts...) // 25 steps cross the end of a pass (14 batches)
	path := filepath.Join(t.TempDir(), "lm.safetensors")
	if err := lm.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	want := fitSteps(t, lm, it, 10)
	wantText, err := lm.Generate("the ", 40)
	if err != nil {
		t.Fatal(err)
	}

	c, err := graph.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	ps2 := graph.NewParams(graph.Seed(99))
	lm2, err := LanguageModelFromCheckpoint(ps2, c)
	if err != nil {
		t.Fatal(err)
	}
	if lm2.Config() != lm.Config() || lm2.Name() != "lm" || lm2.Vocab().Size() != lm.Vocab().Size() {
		t.Fatalf("rebuilt model %+v %q, saved %+v", lm2.Config(), lm2.Name(), lm.Config())
	}
	if err := lm2.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if lm2.Run().Steps() != 25 {
		t.Fatalf("resumed at step %d, want 25", lm2.Run().Steps())
	}
	it2, _ := data.NewSequentialBatches(ids, 4, 8)
	losses := fitSteps(t, lm2, it2, 10, graph.Solver(solvers.NewAdam(0.01)), graph.ClipNorm(1)) // a solver of its own
	for i := range want {
		if losses[i] != want[i] {
			t.Fatalf("step %d after resuming: loss %v, uninterrupted %v", i+1, losses[i], want[i])
		}
	}
	for _, e := range lm.Params().Entries() {
		a, b := graph.Float64s(e.Value), graph.Float64s(ps2.Value(e.Name))
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: %v resumed, %v uninterrupted", e.Name, i, b[i], a[i])
			}
		}
	}
	text, err := lm2.Generate("the ", 40)
	if err != nil {
		t.Fatal(err)
	}
	if text != wantText {
		t.Errorf("resumed model writes %q, the uninterrupted one %q", text, wantText)
	}

	// Weights alone, into a model built for generation only: the same text as a model
	// restored whole, from the same random source.
	ps3 := graph.NewParams(graph.Seed(5))
	gen, err := LanguageModelFromCheckpoint(ps3, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := gen.LoadWeights(path); err != nil {
		t.Fatal(err)
	}
	ps4 := graph.NewParams(graph.Seed(5))
	whole, _ := LanguageModelFromCheckpoint(ps4, c)
	if err := whole.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if err := ps4.SetRandState(mustRandState(t, ps3)); err != nil {
		t.Fatal(err)
	}
	a, _ := gen.Generate("the ", 30)
	b, _ := whole.Generate("the ", 30)
	if a != b {
		t.Errorf("weights loaded alone write %q, the whole checkpoint %q", a, b)
	}
}

func mustRandState(t *testing.T, ps *graph.Params) []byte {
	t.Helper()
	b, err := ps.RandState()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Generation is reproducible from the seed, returns n characters, and refuses bad requests
// with an error that says why.
func TestGenerate(t *testing.T) {
	a, _ := tinyLM(t, 6, tensor.Float32, Config{Kind: LSTM})
	b, _ := tinyLM(t, 6, tensor.Float32, Config{Kind: LSTM})
	ta, err := a.Generate("the", 30, Temperature(1.5))
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := b.Generate("the", 30, Temperature(1.5))
	if ta != tb || utf8.RuneCountInString(ta) != 30 {
		t.Fatalf("same seed: %q and %q (want 30 characters each)", ta, tb)
	}
	if strings.ContainsRune(ta, data.UnknownRune) {
		t.Errorf("generated the unknown symbol: %q", ta)
	}
	if s, err := a.Generate("the", 0); err != nil || s != "" {
		t.Errorf("0 characters: %q, %v", s, err)
	}
	cases := []struct {
		prompt string
		n      int
		opts   []GenOption
		want   string
	}{
		{"the whale", 5, nil, `character 'w' (U+0077) at position 4 is not in the vocabulary`},
		{"", 5, nil, "empty prompt"},
		{"the", -1, nil, "negative"},
		{"the", 5, []GenOption{Temperature(0)}, "temperature 0 must be a positive number"},
		{"the", 5, []GenOption{Temperature(math.NaN())}, "temperature NaN"},
		{"the", 5, []GenOption{Temperature(math.Inf(1))}, "temperature +Inf"},
		{"the\xff", 5, nil, "invalid UTF-8"},
	}
	for _, c := range cases {
		_, err := a.Generate(c.prompt, c.n, c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Generate(%q, %d): error %v, want one containing %q", c.prompt, c.n, err, c.want)
		}
	}
}

// sampleLogits draws each id with its softmax probability at temperature T, and never the
// unknown symbol, however likely the model thinks it is.
func TestSampleLogits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	logits := []float64{50, 0, math.Log(3)} // id 0 is the unknown symbol
	counts := make([]int, 3)
	const n = 20000
	for i := 0; i < n; i++ {
		counts[sampleLogits(r, logits, 1)]++
	}
	if counts[0] != 0 {
		t.Fatalf("the unknown symbol was drawn %d times", counts[0])
	}
	if p := float64(counts[2]) / n; math.Abs(p-0.75) > 0.02 {
		t.Errorf("P(2) = %.3f, want 0.75", p)
	}
	// Temperature 0.5 squares the odds: 9 to 1.
	clear(counts)
	for i := 0; i < n; i++ {
		counts[sampleLogits(r, logits, 0.5)]++
	}
	if p := float64(counts[2]) / n; math.Abs(p-0.9) > 0.015 {
		t.Errorf("P(2) at temperature 0.5 = %.3f, want 0.9", p)
	}
}

// Bad text, vocabularies and checkpoints are errors that say what is wrong.
func TestLanguageModelErrors(t *testing.T) {
	lm, ids := tinyLM(t, 7, tensor.Float32, Config{Kind: RNN})
	vocab2, _ := data.NewCharVocab("xyz")
	other, err := NewLanguageModel(graph.NewParams(), "lm", vocab2, Config{Kind: RNN, Hidden: 24})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lm.safetensors")
	if err := lm.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	it, _ := data.NewSequentialBatches(ids, 3, 4)
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"empty text", func() error { _, err := data.ParseText(bytes.NewReader(nil), "empty.txt"); return err }, "empty.txt: empty text"},
		{"invalid UTF-8", func() error { _, err := data.ParseText(strings.NewReader("ok\n\xffno"), "bad.txt"); return err }, "invalid UTF-8 at byte 3 (line 2)"},
		{"empty vocabulary text", func() error { _, err := data.NewCharVocab(""); return err }, "empty text"},
		{"nil vocabulary", func() error {
			_, err := NewLanguageModel(graph.NewParams(), "lm", nil, Config{Kind: LSTM, Hidden: 4})
			return err
		}, "vocabulary"},
		{"hidden zero", func() error {
			_, err := NewLanguageModel(graph.NewParams(), "lm", vocab2, Config{Kind: LSTM})
			return err
		}, "hidden"},
		{"embedding negative", func() error {
			_, err := NewLanguageModel(graph.NewParams(), "lm", vocab2, Config{Kind: LSTM, Hidden: 4, Embedding: -1})
			return err
		}, "embedding width -1"},
		{"id outside vocabulary", func() error {
			_, err := lm.TrainBatch(&data.SeqBatch{B: 1, T: 2, X: []int{1, 99}, Y: []int{2, 3}}, &graph.FitConfig{Solver: solvers.NewSGD(0.1)})
			return err
		}, "input id 99 at position 1 is outside the vocabulary"},
		{"evaluate one character", func() error { _, err := lm.Evaluate(ids[:1]); return err }, "need at least 2"},
		{"other vocabulary", func() error { return other.LoadCheckpoint(path) }, "holds another model"},
		{"batch option", func() error { _, err := lm.Fit(it, graph.Batch(4)); return err }, "batch size 4, but the training batches hold 3 streams"},
		{"validation set", func() error { _, err := lm.Fit(it, graph.Validation("the cat")); return err }, "the validation set is a string, want a text as ids"},
		{"not a language model", func() error {
			p := filepath.Join(t.TempDir(), "plain.safetensors")
			if err := graph.SaveCheckpoint(p, graph.NewParams(), nil, nil); err != nil {
				return err
			}
			c, err := graph.ReadCheckpoint(p)
			if err != nil {
				return err
			}
			_, err = LanguageModelFromCheckpoint(graph.NewParams(), c)
			return err
		}, "not a language model's checkpoint"},
	}
	for _, c := range cases {
		err := c.run()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// The language model's gradient is right also when a segment has more than 256 rows (batch ×
// steps), where Gorgonia's Concat would give some steps another
// step's gradient (nodes.ConcatRows avoids it).
func TestLanguageModelGradientManyRows(t *testing.T) {
	lm, ids := tinyLM(t, 8, tensor.Float64, Config{Kind: LSTM})
	const batch, steps = 8, 40 // 320 rows
	it, err := data.NewSequentialBatches(ids, batch, steps)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := it.Pass().Next()
	bt, err := lm.batch(sb.B, sb.T, sb.X, sb.Y, false)
	if err != nil {
		t.Fatal(err)
	}
	feeds, err := lm.Net().Feeds(bt, 0, steps)
	if err != nil {
		t.Fatal(err)
	}
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		seq, err := lm.Net().Build(b, batch, steps, nil)
		if err != nil {
			return nil, err
		}
		return seq.Loss, nil
	}
	if _, err := graph.GradCheck(lm.Params(), build, feeds, graph.MaxPerTensor(12)); err != nil {
		t.Fatal(err)
	}
}
