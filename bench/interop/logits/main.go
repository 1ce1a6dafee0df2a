// Command logits prints the logits that a CNN checkpoint of `demo cnn -out DIR` gives on the
// MNIST test images, as JSON, for bench/interop/torch_interop.py to compare with PyTorch's:
//
//	go run ./bench/interop/logits -model smallcnn -weights DIR/cnn.safetensors
//
// It builds the net of -model (and -classic) as demo cnn does, loads the file with
// cnn.Classifier.LoadWeights (the parameters and the training data's normalisation the
// checkpoint records), and prints one JSON object: "normalization", "classes" (the first -n
// test images' classes by Classifier.Predict) and "logits" (their n x 10 logits, float32,
// row-major, from an evaluation graph of the net fed the normalised images).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
)

// output is what the command prints.
type output struct {
	Model         string    `json:"model"`
	Normalization normJSON  `json:"normalization"`
	Classes       []int     `json:"classes"`
	Logits        []float32 `json:"logits"`
}

// normJSON is a data.Normalization in JSON: a mean and a deviation per channel.
type normJSON struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

func main() {
	model := flag.String("model", "smallcnn", "network: smallcnn or lenet, as demo cnn's -model")
	classic := flag.Bool("classic", false, "LeNet-5 of 1998, as demo cnn's -classic")
	weights := flag.String("weights", "", "the checkpoint (or any safetensors file of the net's parameters)")
	n := flag.Int("n", 0, "test images (0: all 10,000)")
	flag.Parse()
	if err := run(*model, *classic, *weights, *n); err != nil {
		fmt.Fprintln(os.Stderr, "logits:", err)
		os.Exit(1)
	}
}

func run(model string, classic bool, weights string, n int) error {
	if weights == "" {
		return errors.New("-weights is required")
	}
	ps := graph.NewParams()
	var net *nodes.Sequential
	var err error
	switch {
	case model == "smallcnn" && !classic:
		net, err = cnn.NewSmallCNN(ps)
	case model == "lenet" && classic:
		net, err = cnn.NewLeNet5(ps, cnn.Classic())
	case model == "lenet":
		net, err = cnn.NewLeNet5(ps)
	default:
		return fmt.Errorf("-model %q with -classic=%v: want smallcnn, or lenet with or without -classic", model, classic)
	}
	if err != nil {
		return err
	}
	clf, err := cnn.NewClassifier(net)
	if err != nil {
		return err
	}
	if err := clf.LoadWeights(weights); err != nil {
		return err
	}
	norm, known := clf.Normalization()
	if !known {
		return fmt.Errorf("%s records no normalisation: not a checkpoint of demo cnn", weights)
	}
	_, test, err := builtin.MNIST()
	if err != nil {
		return err
	}
	if n > 0 && n < test.Len() {
		test = test.Head(n)
	}
	if test, err = test.Normalize(norm); err != nil {
		return err
	}
	out := output{Model: net.Name(), Normalization: normJSON{Mean: norm.Mean, Std: norm.Std}}
	if out.Classes, _, err = clf.Predict(test); err != nil {
		return err
	}
	if out.Logits, err = logits(ps, net, test); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// logits runs set through net in batches of 500 and returns the logits, row-major.
func logits(ps *graph.Params, net *nodes.Sequential, set *data.ImageSet) ([]float32, error) {
	it, err := data.NewImageBatches(set, 500)
	if err != nil {
		return nil, err
	}
	progs := map[int]*graph.Program{} // by batch size
	var all []float32
	pass := it.Pass()
	for b, ok := pass.Next(); ok; b, ok = pass.Next() {
		size := b.X.Shape()[0]
		prog, ok := progs[size]
		if !ok {
			gb := graph.NewBuilder(ps, graph.Eval)
			x, err := gb.Input("x", b.X.Shape()...)
			if err != nil {
				return nil, err
			}
			y, err := net.Forward(gb, x)
			if err != nil {
				return nil, err
			}
			if prog, err = graph.Compile(gb, map[string]*gorgonia.Node{"logits": y}); err != nil {
				return nil, err
			}
			progs[size] = prog
		}
		res, err := prog.Run(graph.Feeds{"x": b.X})
		if err != nil {
			return nil, err
		}
		for _, v := range graph.Float64s(res["logits"]) {
			all = append(all, float32(v))
		}
	}
	return all, nil
}
