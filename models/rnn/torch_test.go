package rnn_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
)

// torchLM is testdata/torch_lm.json, written with torch_lm_lstm.safetensors and
// torch_lm_gru.safetensors by bench/interop/torch_interop.py --write: two character language
// models trained by PyTorch on text, their logits on a fixed input and their loss on a passage.
type torchLM struct {
	Torch     string `json:"torch"`
	Text      string `json:"text"`
	VocabSize int    `json:"vocab_size"`
	InputIDs  []int  `json:"input_ids"` // (Batch, Steps)
	Batch     int    `json:"batch"`
	Steps     int    `json:"steps"`
	EvalFrom  int    `json:"eval_from"` // the passage text[EvalFrom:EvalTo]
	EvalTo    int    `json:"eval_to"`
	Models    map[string]struct {
		File   string `json:"file"`
		Config struct {
			Kind      string `json:"kind"`
			Hidden    int    `json:"hidden"`
			Layers    int    `json:"layers"`
			Embedding int    `json:"embedding"`
		} `json:"config"`
		Logits   []float64 `json:"logits"`   // (Batch, Steps, V), float32 values
		Logits64 []float64 `json:"logits64"` // (1, Steps, V): the first row in float64
		EvalLoss float64   `json:"eval_loss"`
	} `json:"models"`
}

// lmLogits runs lm on ids (batch rows of steps ids) from a zero state in one graph and
// returns its logits batch-major, (batch, steps, V), as PyTorch's batch_first module gives
// them.
func lmLogits(t *testing.T, lm *rnn.LanguageModel, ids []int, batch, steps int) []float64 {
	t.Helper()
	net, ps, V := lm.Net(), lm.Params(), lm.Vocab().Size()
	var x *tensor.Dense
	if net.Embeds() { // ids
		vals := make([]float64, len(ids))
		for i, id := range ids {
			vals[i] = float64(id)
		}
		x = graph.NewTensor(ps.Dtype(), []int{batch, steps}, vals)
	} else { // one-hot vectors
		vals := make([]float64, len(ids)*V)
		for i, id := range ids {
			vals[i*V+id] = 1
		}
		x = graph.NewTensor(ps.Dtype(), []int{batch, steps, V}, vals)
	}
	y := graph.NewTensor(ps.Dtype(), []int{batch, steps}, nil) // targets the logits do not read
	b := graph.NewBuilder(ps, graph.Eval)
	seq, err := net.Build(b, batch, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"pred": seq.Pred})
	if err != nil {
		t.Fatal(err)
	}
	feeds, err := net.Feeds(&data.SequenceBatch{X: x, Y: y}, 0, steps)
	if err != nil {
		t.Fatal(err)
	}
	out, err := prog.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	pred := graph.Float64s(out["pred"]) // time-major: row s·batch + i is step s of row i
	logits := make([]float64, 0, len(pred))
	for i := range batch {
		for s := range steps {
			logits = append(logits, pred[(s*batch+i)*V:(s*batch+i+1)*V]...)
		}
	}
	return logits
}

// State dicts that PyTorch wrote, a character LSTM (one-hot input) and a GRU (an embedding,
// two layers) with submodules embed, rnn and head, load with LoadWeights into
// rnn.NewLanguageModel(ps, "", vocab, config) built over the same text's vocabulary, and give
// PyTorch's logits on two rows of 16 characters from a zero state: within 1e-5 ·
// max(1, |logit|) in float32 (about 5e-7 is seen) and 1e-12 in float64 (the same float32
// weights computed in float64 on both sides). Evaluate's mean loss on a passage of 400
// characters, read in segments with the state carried, is PyTorch's for the passage read whole,
// within 1e-5 relative.
func TestLoadWeightsPyTorchLanguageModel(t *testing.T) {
	b, err := os.ReadFile("testdata/torch_lm.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchLM
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	vocab, err := data.NewCharVocab(ref.Text)
	if err != nil {
		t.Fatal(err)
	}
	if vocab.Size() != ref.VocabSize {
		t.Fatalf("vocabulary of %d ids, PyTorch's %d", vocab.Size(), ref.VocabSize)
	}
	if got := vocab.Encode(ref.Text[:ref.Steps]); !slices.Equal(got, ref.InputIDs[:ref.Steps]) {
		t.Fatalf("the text encodes to %v, PyTorch's ids %v", got, ref.InputIDs[:ref.Steps])
	}
	passage := vocab.Encode(ref.Text[ref.EvalFrom:ref.EvalTo])
	for _, name := range []string{"lstm", "gru"} {
		m, ok := ref.Models[name]
		if !ok {
			t.Fatalf("no %s in torch_lm.json", name)
		}
		kind, err := rnn.ParseKind(m.Config.Kind)
		if err != nil {
			t.Fatal(err)
		}
		cfg := rnn.Config{Kind: kind, Hidden: m.Config.Hidden, Layers: m.Config.Layers, Embedding: m.Config.Embedding}
		for _, c := range []struct {
			dt     tensor.Dtype
			rows   int
			want   []float64
			relTol float64
		}{{tensor.Float32, ref.Batch, m.Logits, 1e-5}, {tensor.Float64, 1, m.Logits64, 1e-12}} {
			ps := graph.NewParams(graph.Dtype(c.dt))
			lm, err := rnn.NewLanguageModel(ps, "", vocab, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := lm.LoadWeights(filepath.Join("testdata", m.File)); err != nil {
				t.Fatal(err)
			}
			got := lmLogits(t, lm, ref.InputIDs[:c.rows*ref.Steps], c.rows, ref.Steps)
			if len(got) != len(c.want) {
				t.Fatalf("%s %v: %d logits, PyTorch %d", name, c.dt, len(got), len(c.want))
			}
			worst, at := 0.0, 0
			for i := range got {
				if e := math.Abs(got[i]-c.want[i]) / math.Max(1, math.Abs(c.want[i])); e > worst {
					worst, at = e, i
				}
			}
			t.Logf("%s %v: %d logits, largest difference from PyTorch %.2g (relative to max(1, |logit|))", name, c.dt, len(got), worst)
			if worst > c.relTol {
				t.Errorf("%s %v: logit %d is %v, PyTorch %v", name, c.dt, at, got[at], c.want[at])
			}
			if c.dt != tensor.Float32 {
				continue
			}
			score, err := lm.Evaluate(passage)
			if err != nil {
				t.Fatal(err)
			}
			rel := math.Abs(score.Loss-m.EvalLoss) / m.EvalLoss
			t.Logf("%s: Evaluate's loss %.7f, PyTorch's %.7f (relative difference %.2g)", name, score.Loss, m.EvalLoss, rel)
			if rel > 1e-5 {
				t.Errorf("%s: Evaluate's loss %v, PyTorch's %v", name, score.Loss, m.EvalLoss)
			}
		}
	}
}
