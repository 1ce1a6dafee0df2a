package cnn

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
)

// The classifier's entries in a checkpoint's metadata ("meta.<key>" in the file).
const (
	metaModel = "model"         // the model's name
	metaBatch = "batch"         // the run's training batch size
	metaNorm  = "normalization" // the training data's normalisation, JSON
)

// normJSON is a data.Normalization as a checkpoint stores it.
type normJSON struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// extra is what the classifier adds to its checkpoints, and to those Fit writes.
func (c *Classifier) extra() (*graph.Extra, error) {
	meta := map[string]string{metaModel: c.model.Name()}
	if c.batch > 0 {
		meta[metaBatch] = strconv.Itoa(c.batch)
	}
	if c.normKnown {
		js, err := json.Marshal(normJSON{Mean: c.norm.Mean, Std: c.norm.Std})
		if err != nil {
			return nil, err
		}
		meta[metaNorm] = string(js)
	}
	return &graph.Extra{Meta: meta}, nil
}

// SaveCheckpoint writes everything an exact resume needs to path, atomically: parameters and
// buffers (under PyTorch's names), the random source, the training run (solver state, epochs,
// history, the training data's order and position), the model's name, the run's batch size
// and the training data's normalisation.
func (c *Classifier) SaveCheckpoint(path string) error {
	extra, err := c.extra()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return graph.SaveCheckpoint(path, c.ps, &c.run, extra)
}

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint (or by Fit's
// graph.Checkpoints) into the classifier; the next Fit continues the saved run exactly, with a
// solver of the type saved (the default Adam, or the one given). The checkpoint must be of a
// model of the same name with the same parameters; otherwise nothing changes.
func (c *Classifier) LoadCheckpoint(path string) error {
	ck, err := graph.ReadCheckpoint(path)
	if err != nil {
		return err
	}
	if m := ck.Extra.Meta[metaModel]; m != c.model.Name() {
		return fmt.Errorf("checkpoint %s holds %s, not a classifier of %q", path, describeModel(m), c.model.Name())
	}
	batch := 0
	if s, ok := ck.Extra.Meta[metaBatch]; ok {
		if batch, err = strconv.Atoi(s); err != nil || batch < 1 {
			return fmt.Errorf("checkpoint %s: batch size %q is not a positive number", path, s)
		}
	}
	norm, known, err := c.readNorm(path, ck.Extra.Meta)
	if err != nil {
		return err
	}
	if err := ck.Restore(c.ps, &c.run); err != nil {
		return err
	}
	c.batch, c.norm, c.normKnown = batch, norm, known
	c.iter, c.iterSet = nil, nil // the next Fit's iterator takes the saved position
	return nil
}

// LoadWeights copies the model's parameters and buffers from a safetensors file, for
// inference or to start training from: a checkpoint of unroll's, of any solver or none, or
// weights made elsewhere under the same names (a PyTorch state_dict saved as safetensors).
// The training run is left as it is. A checkpoint of unroll's also gives the training data's
// normalisation, which Evaluate and Predict then apply; a file without one leaves it as it was.
// On any error nothing changes.
func (c *Classifier) LoadWeights(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	_, meta, err := graph.DecodeSafetensors(b)
	if err != nil {
		return fmt.Errorf("weights %s: %w", path, err)
	}
	stored := map[string]string{}
	if s, ok := meta["meta."+metaNorm]; ok {
		stored[metaNorm] = s
	}
	norm, known, err := c.readNorm(path, stored)
	if err != nil {
		return err
	}
	if err := graph.LoadWeights(path, c.ps); err != nil {
		return err
	}
	if known {
		c.norm, c.normKnown = norm, true
	}
	return nil
}

// readNorm returns the normalisation stored in a checkpoint's metadata, if any, checked against
// the model's channels.
func (c *Classifier) readNorm(path string, meta map[string]string) (data.Normalization, bool, error) {
	s, ok := meta[metaNorm]
	if !ok {
		return data.Normalization{}, false, nil
	}
	var nj normJSON
	if err := json.Unmarshal([]byte(s), &nj); err != nil {
		return data.Normalization{}, false, fmt.Errorf("checkpoint %s: normalisation: %w", path, err)
	}
	n := data.Normalization{Mean: nj.Mean, Std: nj.Std}
	if n.IsZero() {
		return data.Normalization{}, true, nil
	}
	// Normalize checks the statistics as a set of the model's channels would.
	probe := &data.ImageSet{N: 1, C: c.input[0], H: 1, W: 1, Values: make([]float32, c.input[0]), Labels: []int{0}}
	if _, err := probe.Normalize(n); err != nil {
		return data.Normalization{}, false, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return n, true, nil
}

// describeModel names the model of a checkpoint's model entry: a classifier's network name,
// the JSON description the recurrent models of models/rnn write, or nothing.
func describeModel(entry string) string {
	var other struct {
		Model string `json:"model"`
	}
	switch {
	case entry == "":
		return "no classifier (its model entry is missing)"
	case json.Unmarshal([]byte(entry), &other) == nil && other.Model != "":
		return fmt.Sprintf("a %s of models/rnn", other.Model)
	}
	return fmt.Sprintf("a classifier of %q", entry)
}
