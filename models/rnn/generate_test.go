package rnn_test

import (
	"fmt"
	"strings"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/solvers"
)

// A character LSTM learns a short rhyme by truncated backpropagation through time (4 streams,
// segments of 8 steps, the state carried from segment to segment), then continues a prompt.
// A prompt with a character the model never saw is an error.
func ExampleLanguageModel_Generate() {
	text := strings.Repeat("one, two, buckle my shoe; three, four, knock at the door. ", 20)
	vocab, err := data.NewCharVocab(text)
	if err != nil {
		fmt.Println(err)
		return
	}
	ps := graph.NewParams(graph.Seed(1))
	lm, err := rnn.NewLanguageModel(ps, "", vocab, rnn.Config{Kind: rnn.LSTM, Hidden: 32})
	if err != nil {
		fmt.Println(err)
		return
	}
	batches, err := data.NewSequentialBatches(vocab.Encode(text), 4, 8)
	if err != nil {
		fmt.Println(err)
		return
	}
	// 300 steps of 4 streams of 8 characters: a new pass over the text starts from zero state.
	if _, err := lm.Fit(batches, graph.Steps(300), graph.Solver(solvers.NewAdam(0.02)), graph.ClipNorm(5)); err != nil {
		fmt.Println(err)
		return
	}
	ev, err := lm.Evaluate(vocab.Encode(text[:200]))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("loss below 0.1 nats per character: %v\n", ev.Loss < 0.1)
	out, err := lm.Generate("three, ", 22, rnn.Temperature(0.1))
	fmt.Printf("%q %v\n", out, err)
	_, err = lm.Generate("five, six", 10)
	fmt.Println(err)
	// Output:
	// loss below 0.1 nats per character: true
	// "four, knock at the doo" <nil>
	// language model: generate: prompt: vocab: character 'i' (U+0069) at position 1 is not in the vocabulary
}
