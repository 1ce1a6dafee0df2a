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

// tinyLM is a small model over lmText's characters.
func tinyLM(t *testing.T, seed uint64, dt tensor.Dtype, kind Kind, opts ...LMOption) (*LanguageModel, []int) {
	t.Helper()
	vocab, err := data.NewCharVocab(lmText)
	if err != nil {
		t.Fatal(err)
	}
	ps := graph.NewParams(graph.Seed(seed), graph.Dtype(dt))
	lm, err := NewLanguageModel(ps, "lm", vocab, kind, 24, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return lm, vocab.Encode(strings.Repeat(lmText, 12))
}

// trainSteps takes n steps of the segment trainer over ids (4 streams, segments of 8).
func trainSteps(t *testing.T, lm *LanguageModel, tr *SegmentTrainer, it *data.SeqBatches, n int) []float64 {
	t.Helper()
	var losses []float64
	for i := 0; i < n; i++ {
		sb, ok := it.Next()
		if !ok {
			it.Reset()
			tr.ResetState()
			sb, _ = it.Next()
		}
		bt, err := lm.Batch(sb)
		if err != nil {
			t.Fatal(err)
		}
		r, err := tr.Step(bt)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, r.Loss)
	}
	return losses
}

// A small LSTM language model, one-hot and with an embedding, learns a repetitive text with
// the segment trainer: its validation loss falls far below the uniform ln V, and its score
// is reported consistently in nats, bits and perplexity.
func TestLanguageModelLearns(t *testing.T) {
	for name, opts := range map[string][]LMOption{"one-hot": nil, "embedding": {LMEmbedding(8)}, "two layers": {LMLayers(2)}} {
		t.Run(name, func(t *testing.T) {
			lm, ids := tinyLM(t, 1, tensor.Float32, LSTM, opts...)
			train, val, err := data.SplitIDs(ids, 0.8)
			if err != nil {
				t.Fatal(err)
			}
			it, err := data.NewSequentialBatches(train, 4, 8)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := lm.NewTrainer(solvers.NewAdam(0.02), 4, 8, ClipNorm(5))
			if err != nil {
				t.Fatal(err)
			}
			before, err := lm.Evaluate(val, 8)
			if err != nil {
				t.Fatal(err)
			}
			trainSteps(t, lm, tr, it, 120)
			after, err := lm.Evaluate(val, 8)
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
		lm, ids := tinyLM(t, 3, tensor.Float64, kind)
		ids = ids[:150]
		whole, err := lm.Evaluate(ids, len(ids))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{1, 7, 64} {
			ev, err := lm.Evaluate(ids, k)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(ev.Loss-whole.Loss) > 1e-12 {
				t.Errorf("%v: segments of %d give %.15f, one segment %.15f", kind, k, ev.Loss, whole.Loss)
			}
		}
	}
}

// A checkpoint holds everything: training resumed from it in a fresh model takes exactly the
// steps the uninterrupted run takes, and draws the same text.
func TestLanguageModelResume(t *testing.T) {
	lm, ids := tinyLM(t, 4, tensor.Float32, GRU)
	it, _ := data.NewSequentialBatches(ids, 4, 8)
	tr, err := lm.NewTrainer(solvers.NewAdam(0.01), 4, 8, ClipNorm(1))
	if err != nil {
		t.Fatal(err)
	}
	trainSteps(t, lm, tr, it, 25) // 25 steps cross the end of a pass (14 batches)
	path := filepath.Join(t.TempDir(), "lm.safetensors")
	extra := &graph.Extra{Blobs: map[string][]byte{"note": []byte("kept")}, Meta: map[string]string{"run": "a"}}
	if err := lm.SaveCheckpoint(path, tr, it, extra); err != nil {
		t.Fatal(err)
	}
	want := trainSteps(t, lm, tr, it, 10)
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
	it2, _ := data.NewSequentialBatches(ids, 4, 8)
	tr2, err := lm2.NewTrainer(solvers.NewAdam(0.01), 4, 8, ClipNorm(1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := lm2.Restore(path, tr2, it2)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Blobs["note"]) != "kept" || got.Meta["run"] != "a" || len(got.Blobs) != 1 {
		t.Errorf("caller's extra came back as %+v", got)
	}
	losses := trainSteps(t, lm2, tr2, it2, 10)
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
}

// Generation is reproducible from the seed, returns n characters, and refuses bad requests
// with an error that says why.
func TestGenerate(t *testing.T) {
	a, _ := tinyLM(t, 6, tensor.Float32, LSTM)
	b, _ := tinyLM(t, 6, tensor.Float32, LSTM)
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
	lm, ids := tinyLM(t, 7, tensor.Float32, RNN)
	vocab2, _ := data.NewCharVocab("xyz")
	other, err := NewLanguageModel(graph.NewParams(), "lm", vocab2, RNN, 24)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := lm.NewTrainer(solvers.NewSGD(0.1), 2, 4)
	otherTr, _ := other.NewTrainer(solvers.NewSGD(0.1), 2, 4)
	path := filepath.Join(t.TempDir(), "lm.safetensors")
	if err := lm.SaveCheckpoint(path, tr, nil, nil); err != nil {
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
		{"nil vocabulary", func() error { _, err := NewLanguageModel(graph.NewParams(), "lm", nil, LSTM, 4); return err }, "vocabulary"},
		{"hidden zero", func() error { _, err := NewLanguageModel(graph.NewParams(), "lm", vocab2, LSTM, 0); return err }, "hidden"},
		{"embedding negative", func() error {
			_, err := NewLanguageModel(graph.NewParams(), "lm", vocab2, LSTM, 4, LMEmbedding(-1))
			return err
		}, "embedding width -1"},
		{"id outside vocabulary", func() error {
			_, err := lm.Batch(&data.SeqBatch{B: 1, T: 2, X: []int{1, 99}, Y: []int{2, 3}})
			return err
		}, "input id 99 at position 1 is outside the vocabulary"},
		{"evaluate one character", func() error { _, err := lm.Evaluate(ids[:1], 8); return err }, "need at least 2"},
		{"evaluate k", func() error { _, err := lm.Evaluate(ids, 0); return err }, "segments of 0 steps"},
		{"other vocabulary", func() error { _, err := other.Restore(path, otherTr, nil); return err }, "another vocabulary"},
		{"foreign trainer", func() error { _, err := lm.Restore(path, otherTr, nil); return err }, "not the model's"},
		{"no iterator position", func() error { _, err := lm.Restore(path, tr, it); return err }, "no iterator position"},
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
	lm, ids := tinyLM(t, 8, tensor.Float64, LSTM)
	const batch, steps = 8, 40 // 320 rows
	it, err := data.NewSequentialBatches(ids, batch, steps)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := it.Next()
	bt, err := lm.Batch(sb)
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
