package rnn_test

import (
	"fmt"
	"log"
	"unicode/utf8"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/solvers"
)

// A GRU sequence classifier: each 8x8 digit is read row by row, as a sequence of 8 steps of
// 8 pixels, and the last hidden state is classified. Fit trains it, Predict gives a class per
// sequence, and the accuracy on the test set is counted from the predictions.
func ExampleNet_Fit() {
	train, test, err := builtin.Digits8x8()
	check(err)
	trainSeqs, err := data.RowSequences(train, tensor.Float32) // X (1437, 8, 8), Y (1437)
	check(err)
	testSeqs, err := data.RowSequences(test, tensor.Float32)
	check(err)
	ps := graph.NewParams(graph.Seed(1))
	net, err := rnn.NewNet(ps, "gru", rnn.GRU, 8, 64, 10, rnn.WithReadout(rnn.LastState))
	check(err)
	hist, err := net.Fit(trainSeqs, graph.Epochs(15), graph.Batch(32), graph.Solver(solvers.NewAdam(0.01)))
	check(err)
	pred, err := net.Predict(testSeqs)
	check(err)
	correct := 0
	for i, class := range pred.Classes {
		if class == test.Labels[i] {
			correct++
		}
	}
	accuracy := float64(correct) / float64(len(test.Labels))
	fmt.Printf("%d epochs of %d batches\n", len(hist.Epochs), hist.Epochs[0].Steps)
	fmt.Printf("test accuracy above 85%%: %v\n", accuracy > 0.85)
	// Output:
	// 15 epochs of 44 batches
	// test accuracy above 85%: true
}

// A character LSTM trained on the first 100,000 characters of Moby Dick, 32 streams in
// segments of 32 characters with the state carried from batch to batch, then sampled from Go.
// After three passes its samples are made of words and near-words.
func ExampleLanguageModel() {
	text, err := builtin.MobyDick()
	check(err)
	text = data.ASCIIQuotes(text)
	vocab, err := data.NewCharVocab(text)
	check(err)
	batches, err := data.NewSequentialBatches(vocab.Encode(text[:100000]), 32, 32)
	check(err)
	lm, err := rnn.NewLanguageModel(graph.NewParams(graph.Seed(1)), "", vocab, rnn.Config{Kind: rnn.LSTM, Hidden: 128})
	check(err)
	hist, err := lm.Fit(batches, graph.Epochs(3), graph.Solver(solvers.NewAdam(0.01)), graph.ClipNorm(5))
	check(err)
	sample, err := lm.Generate("Call me ", 60, rnn.Temperature(0.5)) // e.g. "to his was I reanting surped to reace and whald to the parpu"
	check(err)
	fmt.Println("loss below 2.5 nats per character:", hist.Last().TrainLoss < 2.5)
	fmt.Println("sampled", utf8.RuneCountInString(sample), "characters")
	// Output:
	// loss below 2.5 nats per character: true
	// sampled 60 characters
}

// check stops an example at its first error.
func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
