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
	lm, err := rnn.NewLanguageModel(ps, "", vocab, rnn.LSTM, 32)
	if err != nil {
		fmt.Println(err)
		return
	}
	batches, err := data.NewSequentialBatches(vocab.Encode(text), 4, 8)
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := lm.NewTrainer(solvers.NewAdam(0.02), 4, 8, rnn.ClipNorm(5))
	if err != nil {
		fmt.Println(err)
		return
	}
	for step := 0; step < 300; step++ {
		sb, ok := batches.Next()
		if !ok { // the end of a pass: start again from zero state
			batches.Reset()
			tr.ResetState()
			sb, _ = batches.Next()
		}
		bt, err := lm.Batch(sb)
		if err != nil {
			fmt.Println(err)
			return
		}
		if _, err := tr.Step(bt); err != nil {
			fmt.Println(err)
			return
		}
	}
	ev, err := lm.Evaluate(vocab.Encode(text[:200]), 8)
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
