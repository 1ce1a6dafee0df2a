package rnn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
)

// GenOption configures LanguageModel.Generate.
type GenOption func(*genConfig)

type genConfig struct{ temperature float64 }

// Temperature divides the logits before the softmax the next character is drawn from:
// P(v) ∝ exp(z_v / T). T = 1 (the default) samples the model's own distribution; a lower T
// sharpens it towards the likeliest characters (safer, more repetitive text), a higher T
// flattens it (more surprising text, more misspellings). T must be positive.
func Temperature(t float64) GenOption { return func(c *genConfig) { c.temperature = t } }

// Generate continues prompt by n characters. The model reads the prompt from a zero state,
// one character at a time, then draws each next character from its predicted distribution
// (softened or sharpened by Temperature), feeds it back as the next input, and so on. The
// draws come from the model's random source (graph.Params.Rand), so the same seed and the same
// model give the same text, and a checkpoint resumes the sequence of draws exactly. The
// unknown symbol is never drawn. It returns the n new characters, without the prompt.
//
// The prompt must be non-empty and every character of it must be in the vocabulary: the
// model has never seen any other, and the unknown symbol would silently stand in for it.
func (lm *LanguageModel) Generate(prompt string, n int, opts ...GenOption) (string, error) {
	cfg := genConfig{temperature: 1}
	for _, o := range opts {
		o(&cfg)
	}
	l := lm.label()
	switch {
	case !(cfg.temperature > 0) || math.IsInf(cfg.temperature, 0):
		return "", fmt.Errorf("%s: generate: temperature %v must be a positive number", l, cfg.temperature)
	case n < 0:
		return "", fmt.Errorf("%s: generate: %d characters to generate is negative", l, n)
	case prompt == "":
		return "", fmt.Errorf("%s: generate: empty prompt: give at least one character to start from", l)
	}
	ids, err := lm.vocab.EncodeStrict(prompt)
	if err != nil {
		return "", fmt.Errorf("%s: generate: prompt: %w", l, err)
	}
	prog, err := lm.evalProgram(1)
	if err != nil {
		return "", err
	}
	prog.ResetState()
	defer prog.ResetState()
	step := func(id int) ([]float64, error) {
		bt, err := lm.batch(1, 1, []int{id}, []int{0}, false)
		if err != nil {
			return nil, err
		}
		f, err := lm.net.Feeds(bt, 0, 1)
		if err != nil {
			return nil, err
		}
		out, err := prog.Run(f)
		if err != nil {
			return nil, fmt.Errorf("%s: generate: %w", l, err)
		}
		return graph.Float64s(out["pred"]), nil // (V) logits
	}
	var logits []float64
	for _, id := range ids {
		if logits, err = step(id); err != nil {
			return "", err
		}
	}
	var sb strings.Builder
	r := lm.ps.Rand()
	for i := 0; i < n; i++ {
		id := sampleLogits(r, logits, cfg.temperature)
		sb.WriteRune(lm.vocab.Symbol(id))
		if i+1 < n {
			if logits, err = step(id); err != nil {
				return "", err
			}
		}
	}
	return sb.String(), nil
}

// sampleLogits draws an id from softmax(logits / t), leaving out the unknown symbol: one
// uniform draw from r, inverted through the cumulative distribution.
func sampleLogits(r *rand.Rand, logits []float64, t float64) int {
	m := math.Inf(-1)
	for id, z := range logits {
		if id != data.UnknownID {
			m = math.Max(m, z)
		}
	}
	p := make([]float64, len(logits))
	var sum float64
	for id, z := range logits {
		if id == data.UnknownID {
			continue
		}
		p[id] = math.Exp((z - m) / t)
		sum += p[id]
	}
	u := r.Float64() * sum
	last := 0
	for id, q := range p {
		if q == 0 {
			continue
		}
		last = id
		if u < q {
			return id
		}
		u -= q
	}
	return last // rounding left u just above the total
}
