package rnn

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
)

// lmBlobVocab is the checkpoint blob holding a language model's vocabulary
// (data.Vocab.MarshalBinary).
const lmBlobVocab = "vocab"

// lmSpec describes a language model in its checkpoints.
type lmSpec struct {
	Model  string `json:"model"`
	Name   string `json:"name"`
	Vocab  int    `json:"vocab"`
	Config Config `json:"config"`
}

func (lm *LanguageModel) spec() lmSpec {
	return lmSpec{Model: "language_model", Name: lm.name, Vocab: lm.vocab.Size(), Config: lm.cfg}
}

// extra is what the model adds to its checkpoints: its description, its vocabulary and the
// carried state (under the names of StateName, once training has begun).
func (lm *LanguageModel) extra() (*graph.Extra, error) {
	e, err := modelExtra(lm.spec())
	if err != nil {
		return nil, err
	}
	vb, err := lm.vocab.MarshalBinary()
	if err != nil {
		return nil, err
	}
	e.Blobs = map[string][]byte{lmBlobVocab: vb}
	e.Tensors = lm.train.state()
	return e, nil
}

// SaveCheckpoint writes everything an exact resume needs to path, atomically: the
// parameters, the random source, the training run (solver state, counters, history, the
// position of the training batches), the carried recurrent state, the model's architecture and
// its vocabulary. LanguageModelFromCheckpoint builds the model back from it.
func (lm *LanguageModel) SaveCheckpoint(path string) error {
	e, err := lm.extra()
	if err != nil {
		return fmt.Errorf("%s: checkpoint %s: %w", lm.label(), path, err)
	}
	return graph.SaveCheckpoint(path, lm.ps, &lm.run, e)
}

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint for a model built alike (the
// same architecture and vocabulary): the next Fit, given batches over the same text, continues
// the run exactly, the carried state included. Anything that does not match is an error that
// changes nothing.
func (lm *LanguageModel) LoadCheckpoint(path string) error {
	c, err := readModelCheckpoint(path, lm.label(), lm.spec())
	if err != nil {
		return err
	}
	mine, err := lm.vocab.MarshalBinary()
	if err != nil {
		return err
	}
	if vb, ok := c.Extra.Blobs[lmBlobVocab]; !ok || string(vb) != string(mine) {
		return fmt.Errorf("%s: checkpoint %s was saved with another vocabulary", lm.label(), path)
	}
	state, err := lm.carriedState(c)
	if err != nil {
		return err
	}
	if err := c.Restore(lm.ps, &lm.run); err != nil {
		return err
	}
	lm.train.last, lm.train.pending = nil, state
	return nil
}

// carriedState returns the carried state a checkpoint holds (nil when it holds none), checked
// against the model: every state of its cells, of one batch size.
func (lm *LanguageModel) carriedState(c *graph.Checkpoint) (map[string]*tensor.Dense, error) {
	if len(c.Extra.Tensors) == 0 {
		return nil, nil
	}
	state := map[string]*tensor.Dense{}
	batch := -1
	D := lm.net.rec.Directions()
	for i, cell := range lm.net.Cells() {
		names := []string{StateName(false, i/D, i%D == 1)}
		if cell.HasCell() {
			names = append(names, StateName(true, i/D, i%D == 1))
		}
		for _, name := range names {
			v, ok := c.Extra.Tensors[name]
			if !ok {
				return nil, fmt.Errorf("%s: checkpoint %s has no carried state %q", lm.label(), c.Path, name)
			}
			if batch < 0 && v.Dims() == 2 {
				batch = v.Shape()[0]
			}
			if want := (tensor.Shape{batch, cell.HiddenSize()}); !v.Shape().Eq(want) {
				return nil, fmt.Errorf("%s: checkpoint %s: carried state %q has shape %v, want %v", lm.label(), c.Path, name, v.Shape(), want)
			}
			state[name] = v
		}
	}
	if len(state) != len(c.Extra.Tensors) {
		extra := slices.Sorted(maps.Keys(c.Extra.Tensors))
		return nil, fmt.Errorf("%s: checkpoint %s holds other states than the model's: %s", lm.label(), c.Path, strings.Join(extra, ", "))
	}
	return state, nil
}

// LoadWeights copies the parameters from a safetensors file (a checkpoint, or a PyTorch
// state_dict under the names LanguageModel documents) for generation and evaluation: no
// solver, training state or vocabulary is read (graph.LoadWeights).
func (lm *LanguageModel) LoadWeights(path string) error { return graph.LoadWeights(path, lm.ps) }

// LanguageModelFromCheckpoint builds in ps the language model a checkpoint was saved from (its
// name, architecture and vocabulary), with fresh parameters: LoadCheckpoint then resumes its
// training, LoadWeights loads it for generation. The recorded architecture is checked against
// the stored weights first, so a damaged file cannot make it allocate a model of another size.
func LanguageModelFromCheckpoint(ps *graph.Params, c *graph.Checkpoint) (*LanguageModel, error) {
	if c == nil || c.Extra == nil {
		return nil, errors.New("language model: no checkpoint")
	}
	var probe struct {
		Model string `json:"model"`
	}
	js := c.Extra.Meta[metaModel]
	if json.Unmarshal([]byte(js), &probe) != nil || probe.Model != "language_model" {
		return nil, fmt.Errorf("language model: checkpoint %s is not a language model's checkpoint", c.Path)
	}
	var spec lmSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		return nil, fmt.Errorf("language model: checkpoint %s: model description: %w", c.Path, err)
	}
	vb, ok := c.Extra.Blobs[lmBlobVocab]
	if !ok {
		return nil, fmt.Errorf("language model: checkpoint %s holds no vocabulary", c.Path)
	}
	vocab := &data.Vocab{}
	if err := vocab.UnmarshalBinary(vb); err != nil {
		return nil, fmt.Errorf("language model: checkpoint %s: %w", c.Path, err)
	}
	if err := checkStoredSizes(c, spec, vocab.Size()); err != nil {
		return nil, err
	}
	return NewLanguageModel(ps, spec.Name, vocab, spec.Config)
}

// checkStoredSizes checks a language model's recorded architecture against the shapes of the
// weights a checkpoint stores: the hidden width, the layers and the input width.
func checkStoredSizes(c *graph.Checkpoint, spec lmSpec, V int) error {
	cfg := spec.Config
	prefix := ""
	if spec.Name != "" {
		prefix = spec.Name + "."
	}
	gates := map[Kind]int{RNN: 1, LSTM: 4, GRU: 3}[cfg.Kind]
	layers := max(cfg.Layers, 1)
	in := V
	if cfg.Embedding > 0 {
		in = cfg.Embedding
	}
	for l := range layers {
		width := in
		if l > 0 {
			width = cfg.Hidden
		}
		for _, w := range []struct {
			name  string
			shape tensor.Shape
		}{{"weight_ih", tensor.Shape{gates * cfg.Hidden, width}}, {"weight_hh", tensor.Shape{gates * cfg.Hidden, cfg.Hidden}}} {
			name := prefix + "rnn." + w.name + LayerSuffix(l, false)
			t := c.Tensor(name)
			if t == nil || !t.Shape().Eq(w.shape) {
				got := "missing"
				if t != nil {
					got = fmt.Sprint(t.Shape())
				}
				return fmt.Errorf("language model: checkpoint %s records %v, hidden %d, %d layer(s), input %d (weights %s %v), but stores %s",
					c.Path, cfg.Kind, cfg.Hidden, layers, in, name, w.shape, got)
			}
		}
	}
	if t := c.Tensor(prefix + "rnn.weight_ih" + LayerSuffix(layers, false)); t != nil {
		return fmt.Errorf("language model: checkpoint %s records %d layer(s) but stores more", c.Path, layers)
	}
	return nil
}
