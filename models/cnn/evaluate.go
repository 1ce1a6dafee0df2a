package cnn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes"
)

// Evaluation is a classifier's performance on a data set.
type Evaluation struct {
	Accuracy  float64 `json:"accuracy"`
	Loss      float64 `json:"loss"`      // mean softmax cross-entropy
	Confusion [][]int `json:"confusion"` // Confusion[true][predicted]
	N         int     `json:"n"`         // images evaluated
}

// Evaluate runs the model in evaluation mode over every image of set, normalised as the
// training data was (see Classifier), in batches of 500 (the last, shorter one in a graph of
// its own size).
func (c *Classifier) Evaluate(set *data.ImageSet) (*Evaluation, error) {
	set, err := c.prepare(set, "evaluation set", true)
	if err != nil {
		return nil, err
	}
	k := c.classes
	ev := &Evaluation{Confusion: make([][]int, k)}
	for i := range ev.Confusion {
		ev.Confusion[i] = make([]int, k)
	}
	var loss float64
	err = c.eachBatch(set, func(b *data.ImageBatch, probs []float64) {
		for i, l := range b.Labels {
			row := probs[i*k : (i+1)*k]
			loss -= math.Log(math.Max(row[l], 1e-300))
			ev.Confusion[l][compute.ArgMax(row)]++
		}
		ev.N += len(b.Labels)
	})
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	diag := 0
	for i := range ev.Confusion {
		diag += ev.Confusion[i][i]
	}
	ev.Accuracy = float64(diag) / float64(ev.N)
	ev.Loss = loss / float64(ev.N)
	return ev, nil
}

// Predict returns the most likely class of each image of set, in order, and the class
// probabilities (one row of Classes values per image). The images are normalised as the
// training data was (see Classifier); their labels are not used.
func (c *Classifier) Predict(set *data.ImageSet) (classes []int, probs [][]float64, err error) {
	set, err = c.prepare(set, "prediction set", false)
	if err != nil {
		return nil, nil, err
	}
	err = c.eachBatch(set, func(b *data.ImageBatch, p []float64) {
		cl, rows := c.rows(p)
		classes, probs = append(classes, cl...), append(probs, rows...)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("predict: %w", err)
	}
	return classes, probs, nil
}

// PredictTensor is Predict for images x (B, C, H, W) that hold the values the model takes:
// normalised as the training data was (Normalization).
func (c *Classifier) PredictTensor(x *tensor.Dense) (classes []int, probs [][]float64, err error) {
	p, err := c.scores(x)
	if err != nil {
		return nil, nil, fmt.Errorf("predict: %w", err)
	}
	classes, probs = c.rows(p)
	return classes, probs, nil
}

// eachBatch runs set (already prepared) through the model in batches, in order, and gives
// each batch and its class probabilities (B*Classes values) to f.
func (c *Classifier) eachBatch(set *data.ImageSet, f func(*data.ImageBatch, []float64)) error {
	it, err := data.NewImageBatches(set, min(evalBatch, set.Len()), data.Dtype(c.ps.Dtype()))
	if err != nil {
		return err
	}
	pass := it.Pass()
	for b, ok := pass.Next(); ok; b, ok = pass.Next() {
		probs, err := c.scores(b.X)
		if err != nil {
			return err
		}
		f(b, probs)
	}
	return nil
}

// rows cuts probabilities (B*Classes values) into rows and picks each row's class.
func (c *Classifier) rows(p []float64) ([]int, [][]float64) {
	k := c.classes
	n := len(p) / k
	classes := make([]int, n)
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = p[i*k : (i+1)*k : (i+1)*k]
		classes[i] = compute.ArgMax(rows[i])
	}
	return classes, rows
}

// scores runs an evaluation graph of x's batch size (compiled the first time) and returns the
// softmax probabilities, B*Classes values.
func (c *Classifier) scores(x *tensor.Dense) ([]float64, error) {
	if x == nil || x.Dims() != 4 {
		return nil, fmt.Errorf("images must be (batch, channels, height, width)")
	}
	n := x.Shape()[0]
	prog, ok := c.evals[n]
	if !ok {
		b := graph.NewBuilder(c.ps, graph.Eval)
		logits, err := c.logits(b, n)
		if err != nil {
			return nil, err
		}
		p, err := nodes.Softmax{}.Forward(b, logits)
		if err != nil {
			return nil, err
		}
		if prog, err = graph.Compile(b, map[string]*gorgonia.Node{"probs": p}); err != nil {
			return nil, err
		}
		c.evals[n] = prog
	}
	out, err := prog.Run(graph.Feeds{"x": c.convert(x)})
	if err != nil {
		return nil, err
	}
	return graph.Float64s(out["probs"]), nil
}
