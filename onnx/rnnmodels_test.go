package onnx_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx"
)

// exportFile exports model with onnx.Export to a checked file in a test folder.
func exportFile(t *testing.T, model nodes.ModelExporter, name string, opts ...onnx.Option) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".onnx")
	if err := onnx.Export(model, path, opts...); err != nil {
		t.Fatal(err)
	}
	checkModel(t, path)
	return path
}

// netPred runs net (evaluation mode) on the batch bt from the initial state init (per layer
// and direction k, inputs "h0_<k>" and "c0_<k>"; nil for zero state) and returns the head's
// output batch-major, (B, T, out) for EveryStep and (B, out) otherwise, and the final states,
// "h<k>" and "c<k>".
func netPred(t *testing.T, net *rnn.Net, bt *data.SequenceBatch, init feeds) (*tensor.Dense, graph.Outputs) {
	t.Helper()
	B, T := bt.Size(), bt.Steps()
	b := graph.NewBuilder(net.Params(), graph.Eval)
	var states []nodes.State
	for k, c := range net.Cells() {
		if init == nil {
			break
		}
		var s nodes.State
		var err error
		if s.H, err = b.Input(fmt.Sprintf("h0_%d", k), B, c.HiddenSize()); err != nil {
			t.Fatal(err)
		}
		if c.HasCell() {
			if s.C, err = b.Input(fmt.Sprintf("c0_%d", k), B, c.HiddenSize()); err != nil {
				t.Fatal(err)
			}
		}
		states = append(states, s)
	}
	seq, err := net.Build(b, B, T, states)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]*gorgonia.Node{"pred": seq.Pred}
	for k, f := range seq.Unrolled.Final {
		outs[fmt.Sprintf("h%d", k)] = f.H
		if f.C != nil {
			outs[fmt.Sprintf("c%d", k)] = f.C
		}
	}
	prog, err := graph.Compile(b, outs)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	fs, err := net.Feeds(bt, 0, T)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range init {
		fs[name] = v
	}
	res, err := prog.Run(fs)
	if err != nil {
		t.Fatal(err)
	}
	pred := res["pred"]
	if net.Readout() == rnn.EveryStep { // time-major rows t·B + b -> (B, T, out)
		p, out := graph.Float64s(pred), pred.Shape()[1]
		v := make([]float64, len(p))
		for s := range T {
			for i := range B {
				copy(v[(i*T+s)*out:], p[(s*B+i)*out:(s*B+i+1)*out])
			}
		}
		pred = graph.NewTensor(tensor.Float32, []int{B, T, out}, v)
	}
	return pred, res
}

// finalStates stacks the final states of res, (L·D, B, H), as the file's h_n and c_n.
func finalStates(res graph.Outputs, part string, n int) *tensor.Dense {
	var v []float64
	var shape []int
	for k := range n {
		s := res[fmt.Sprintf("%s%d", part, k)]
		v = append(v, graph.Float64s(s)...)
		shape = s.Shape()
	}
	return graph.NewTensor(tensor.Float32, []int{n, shape[0], shape[1]}, v)
}

// TestNetsAgainstONNXRuntime exports rnn.Nets with onnx.Export (a stacked bidirectional LSTM
// classifying 8x8 digits read row by row, trained for a few steps; a GRU tagger of token ids;
// a bidirectional RNN regressor over the mean of its outputs) and compares ONNX Runtime's
// outputs with unroll's for batch sizes 1 and 3 and, from the same file, a shorter sequence.
func TestNetsAgainstONNXRuntime(t *testing.T) {
	requireRuntime(t)
	train, test, err := builtin.Digits8x8()
	if err != nil {
		t.Fatal(err)
	}
	digits, err := data.RowSequences(train, tensor.Float32) // X (N, 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	testDigits, err := data.RowSequences(test, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(21, 1))
	cases := []struct {
		name   string
		make   func(ps *graph.Params) (*rnn.Net, error)
		input  func(B, T int) *tensor.Dense
		steps  []int // T of the runs at batch 1, 3 and 3
		output string
	}{
		{"lstm_bidirectional_2layers", func(ps *graph.Params) (*rnn.Net, error) {
			net, err := rnn.NewNet(ps, "digits", rnn.LSTM, 8, 16, 10, rnn.Layers(2), rnn.Bidirectional(), rnn.Dropout(0.1), rnn.WithReadout(rnn.LastState))
			if err == nil {
				_, err = net.Fit(digits, graph.Batch(32), graph.Steps(10))
			}
			return net, err
		}, func(B, T int) *tensor.Dense { return firstRows(testDigits.X, B, T) }, []int{8, 8, 5}, "logits"},
		{"gru_embed_every_step", func(ps *graph.Params) (*rnn.Net, error) {
			return rnn.NewNet(ps, "tagger", rnn.GRU, 5, 6, 4, rnn.Embed(9), rnn.Layers(2))
		}, func(B, T int) *tensor.Dense { return randomIDs(r, 9, B, T) }, []int{6, 6, 3}, "logits"},
		{"rnn_bidirectional_mean_pool_mse", func(ps *graph.Params) (*rnn.Net, error) {
			return rnn.NewNet(ps, "", rnn.RNN, 3, 5, 2, rnn.Bidirectional(), rnn.WithReadout(rnn.MeanPool), rnn.WithLoss(rnn.MSE))
		}, func(B, T int) *tensor.Dense { return randomTensor(r, B, T, 3) }, []int{7, 7, 2}, "values"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net, err := c.make(graph.NewParams(graph.Seed(uint64(30 + i))))
			if err != nil {
				t.Fatal(err)
			}
			path := exportFile(t, net, c.name)
			input := "x"
			if net.Embeds() {
				input = "ids"
			}
			var runs []feeds
			var wants []*tensor.Dense
			for j, B := range []int{1, 3, 3} {
				x := c.input(B, c.steps[j])
				runs = append(runs, feeds{input: fileIDs(x, net.Embeds())})
				want, _ := netPred(t, net, &data.SequenceBatch{X: x}, nil)
				wants = append(wants, want)
			}
			got := runORT(t, path, runs)
			for j, B := range []int{1, 3, 3} {
				assertClose(t, fmt.Sprintf("%s batch %d steps %d", c.output, B, c.steps[j]), got[j][c.output], wants[j])
			}
		})
	}
}

// TestLanguageModelsAgainstONNXRuntime trains character language models on the start of Moby
// Dick for a few steps (a GRU and an LSTM on one-hot input, a two-layer LSTM with an
// embedding), exports each with onnx.Export and compares ONNX Runtime's logits and final state
// with unroll's for batch sizes 1 and 3 from random initial states; then it reads a sequence in
// two calls, the second starting from the first one's h_n and c_n, and gets the same as in one.
// Each model is written for opsets 17 and 13.
func TestLanguageModelsAgainstONNXRuntime(t *testing.T) {
	requireRuntime(t)
	text, err := builtin.MobyDick()
	if err != nil {
		t.Fatal(err)
	}
	text = data.ASCIIQuotes(text)[:20000]
	vocab, err := data.NewCharVocab(text)
	if err != nil {
		t.Fatal(err)
	}
	for i, cfg := range []rnn.Config{
		{Kind: rnn.GRU, Hidden: 32},
		{Kind: rnn.LSTM, Hidden: 32},
		{Kind: rnn.LSTM, Hidden: 24, Layers: 2, Embedding: 8},
	} {
		name := fmt.Sprintf("%v_layers%d_embedding%d", cfg.Kind, max(cfg.Layers, 1), cfg.Embedding)
		t.Run(name, func(t *testing.T) {
			lm, err := rnn.NewLanguageModel(graph.NewParams(graph.Seed(uint64(40+i))), "", vocab, cfg)
			if err != nil {
				t.Fatal(err)
			}
			batches, err := data.NewSequentialBatches(vocab.Encode(text), 8, 16)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := lm.Fit(batches, graph.Steps(5)); err != nil {
				t.Fatal(err)
			}
			for _, opset := range []int{onnx.Opset, onnx.MinOpset} {
				path := exportFile(t, lm, fmt.Sprintf("%s_opset%d", name, opset), onnx.OpsetVersion(opset))
				checkOpset(t, path, opset)
				checkVocabulary(t, path, vocab)
				compareLM(t, lm, path, rand.New(rand.NewPCG(uint64(i), 2)))
			}
		})
	}
}

// compareLM runs the language model's file at batch sizes 1 and 3 and, at batch 3, in two
// calls that carry the state, and compares each with unroll.
func compareLM(t *testing.T, lm *rnn.LanguageModel, path string, r *rand.Rand) {
	t.Helper()
	const T, split = 7, 4
	net, V := lm.Net(), lm.Vocab().Size()
	layers, H := lm.Config().Layers, lm.Config().Hidden
	lstm := lm.Config().Kind == rnn.LSTM
	var runs []feeds
	var wants []*tensor.Dense
	var finals []graph.Outputs
	for _, B := range []int{1, 3} {
		ids := randomIDs(r, V, B, T)
		fs := feeds{"ids": fileIDs(ids, true), "h0": scaled(randomTensor(r, layers, B, H), 0.5)}
		if lstm {
			fs["c0"] = scaled(randomTensor(r, layers, B, H), 0.5)
		}
		pred, res := netPred(t, net, lmBatch(ids, V, lm.Config().Embedding > 0), splitStates(fs, layers))
		runs, wants, finals = append(runs, fs), append(wants, pred), append(finals, res)
	}
	got := runORT(t, path, runs)
	for j, B := range []int{1, 3} {
		assertClose(t, fmt.Sprintf("logits batch %d", B), got[j]["logits"], wants[j])
		assertClose(t, fmt.Sprintf("h_n batch %d", B), got[j]["h_n"], finalStates(finals[j], "h", layers))
		if lstm {
			assertClose(t, fmt.Sprintf("c_n batch %d", B), got[j]["c_n"], finalStates(finals[j], "c", layers))
		}
	}
	// The batch of 3 in two calls: steps [0, split), then [split, T) from the first's state.
	whole := runs[1]
	first := feeds{"ids": sliceSteps(whole["ids"], 0, split), "h0": whole["h0"]}
	if lstm {
		first["c0"] = whole["c0"]
	}
	a := runORT(t, path, []feeds{first})[0]
	second := feeds{"ids": sliceSteps(whole["ids"], split, T), "h0": a["h_n"]}
	if lstm {
		second["c0"] = a["c_n"]
	}
	b := runORT(t, path, []feeds{second})[0]
	assertClose(t, "logits of the second call", b["logits"], sliceSteps(wants[1], split, T))
	assertClose(t, "h_n of the second call", b["h_n"], finalStates(finals[1], "h", layers))
}

// checkVocabulary checks the file's "vocabulary" metadata: the characters in id order.
func checkVocabulary(t *testing.T, path string, vocab *data.Vocab) {
	t.Helper()
	var got []string
	for _, e := range readModel(t, path).GetMetadataProps() {
		if e.GetKey() == "vocabulary" {
			if err := json.Unmarshal([]byte(e.GetValue()), &got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(got) != vocab.Size() || strings.Join(got, "") != vocab.Decode(upTo(vocab.Size())) {
		t.Fatalf("vocabulary metadata %q, want the %d characters of the vocabulary in id order", got, vocab.Size())
	}
}

// firstRows returns the first B sequences of x (N, T', D) cut to their first T steps.
func firstRows(x *tensor.Dense, B, T int) *tensor.Dense {
	s := x.Shape()
	v := graph.Float64s(x)
	var out []float64
	for i := range B {
		out = append(out, v[i*s[1]*s[2]:(i*s[1]+T)*s[2]]...)
	}
	return graph.NewTensor(tensor.Float32, []int{B, T, s[2]}, out)
}

// randomIDs draws ids in [0, n) as a float32 (B, T) tensor, as unroll's batches hold them.
func randomIDs(r *rand.Rand, n, B, T int) *tensor.Dense {
	v := make([]float64, B*T)
	for i := range v {
		v[i] = float64(r.IntN(n))
	}
	return graph.NewTensor(tensor.Float32, []int{B, T}, v)
}

// fileIDs is x as the file takes it: int64 ids when ids, x itself otherwise.
func fileIDs(x *tensor.Dense, ids bool) *tensor.Dense {
	if !ids {
		return x
	}
	v := graph.Float64s(x)
	out := make([]int64, len(v))
	for i, id := range v {
		out[i] = int64(id)
	}
	return tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(out))
}

// scaled returns x times f.
func scaled(x *tensor.Dense, f float64) *tensor.Dense {
	v := graph.Float64s(x)
	for i := range v {
		v[i] *= f
	}
	return graph.NewTensor(tensor.Float32, x.Shape(), v)
}

// lmBatch is a language model's batch of ids (B, T): the ids themselves with an embedding,
// their one-hot vectors (B, T, V) otherwise.
func lmBatch(ids *tensor.Dense, V int, embedding bool) *data.SequenceBatch {
	if embedding {
		return &data.SequenceBatch{X: ids}
	}
	v := graph.Float64s(ids)
	oh := make([]float64, len(v)*V)
	for i, id := range v {
		oh[i*V+int(id)] = 1
	}
	return &data.SequenceBatch{X: graph.NewTensor(tensor.Float32, append(ids.Shape().Clone(), V), oh)}
}

// splitStates cuts the file's h0 and c0, (L, B, H), into netPred's h0_<k> and c0_<k>.
func splitStates(fs feeds, layers int) feeds {
	out := feeds{}
	for _, part := range []string{"h0", "c0"} {
		s := fs[part]
		if s == nil {
			continue
		}
		v, n := graph.Float64s(s), s.Shape()[1]*s.Shape()[2]
		for k := range layers {
			out[fmt.Sprintf("%s_%d", part, k)] = graph.NewTensor(tensor.Float32, s.Shape()[1:], v[k*n:(k+1)*n])
		}
	}
	return out
}

// sliceSteps returns steps [from, to) of x, (B, T) or (B, T, D), of x's element type.
func sliceSteps(x *tensor.Dense, from, to int) *tensor.Dense {
	s := x.Shape()
	d := 1
	if len(s) == 3 {
		d = s[2]
	}
	shape := append([]int{s[0], to - from}, s[2:]...)
	switch v := x.Data().(type) {
	case []int64:
		var out []int64
		for b := range s[0] {
			out = append(out, v[(b*s[1]+from)*d:(b*s[1]+to)*d]...)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(out))
	default:
		f := graph.Float64s(x)
		var out []float64
		for b := range s[0] {
			out = append(out, f[(b*s[1]+from)*d:(b*s[1]+to)*d]...)
		}
		return graph.NewTensor(tensor.Float32, shape, out)
	}
}

// upTo returns 0, 1, ..., n-1.
func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
