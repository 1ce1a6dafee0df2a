package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/solvers"
	"github.com/unroll-ml/unroll/viz"
)

func init() {
	register(command{
		name:    "rnn",
		summary: "a character language model (LSTM) trained on Moby Dick by truncated BPTT; writes text as it learns",
		run:     runRNN,
	})
}

// rnnFlags are the settings of demo rnn. The defaults are the task the project compares with
// PyTorch (bench/torch_lm.py) except the number of steps, which keeps the default run short.
type rnnFlags struct {
	cell                   string
	hidden, layers, embed  int
	seq, batch, steps      int
	lr, clip, temperature  float64
	prompt, file, resume   string
	sampleLen, sampleEvery int
	evalEvery              int
	valFrac                float64
	explicit               map[string]bool // flags given on the command line
}

func runRNN(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("rnn", stderr)
	var f rnnFlags
	fs.StringVar(&f.cell, "cell", "lstm", "recurrent cell: rnn, lstm or gru")
	fs.IntVar(&f.hidden, "hidden", 256, "hidden units per layer")
	fs.IntVar(&f.layers, "layers", 1, "stacked recurrent layers")
	fs.IntVar(&f.embed, "embed", 0, "width of a learned character embedding (0: one-hot input)")
	fs.IntVar(&f.seq, "seq", 64, "segment length K of truncated backpropagation through time")
	fs.IntVar(&f.batch, "batch", 32, "number of contiguous streams the training text is cut into (batch size)")
	fs.IntVar(&f.steps, "steps", 300, "training steps (segments of batch x seq characters) to reach; with -resume, the total")
	fs.Float64Var(&f.lr, "lr", 2e-3, "Adam learning rate")
	fs.Float64Var(&f.clip, "clip", 5, "global gradient-norm clip (0: none)")
	fs.Float64Var(&f.temperature, "temperature", 0.8, "sampling temperature of the generated text")
	fs.StringVar(&f.prompt, "prompt", "The whale", "text the samples start from")
	fs.IntVar(&f.sampleLen, "sample-len", 200, "characters per sample")
	fs.IntVar(&f.sampleEvery, "sample-every", 100, "print a sample every this many steps (0: only at the end)")
	fs.IntVar(&f.evalEvery, "eval-every", 0, "score the validation text every this many steps (0: only at the end)")
	fs.Float64Var(&f.valFrac, "val", 0.1, "fraction of the text, at its end, kept for validation")
	fs.StringVar(&f.file, "data", "", "train on this UTF-8 text file instead of Moby Dick (curly quotes and em dashes are mapped to ASCII, as for Moby Dick)")
	fs.StringVar(&f.resume, "resume", "", "continue the run saved in this checkpoint (rnn.safetensors under a previous -out)")
	if err := parse(fs, args); err != nil {
		return err
	}
	f.explicit = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.explicit[fl.Name] = true })
	if err := f.check(); err != nil {
		return err
	}
	out := stdout
	if c.json {
		out = stderr
	}
	res, err := trainLM(f, c, out)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	return nil
}

func (f *rnnFlags) check() error {
	if _, err := rnn.ParseKind(f.cell); err != nil {
		return usagef("-cell: %v", err)
	}
	for _, v := range []struct {
		name string
		val  int
	}{{"-hidden", f.hidden}, {"-layers", f.layers}, {"-seq", f.seq}, {"-batch", f.batch}, {"-steps", f.steps}} {
		if v.val < 1 {
			return usagef("%s %d: must be at least 1", v.name, v.val)
		}
	}
	for _, v := range []struct {
		name string
		val  int
	}{{"-embed", f.embed}, {"-sample-len", f.sampleLen}, {"-sample-every", f.sampleEvery}, {"-eval-every", f.evalEvery}} {
		if v.val < 0 {
			return usagef("%s %d: must not be negative", v.name, v.val)
		}
	}
	switch {
	case !(f.lr > 0) || math.IsInf(f.lr, 0):
		return usagef("-lr %v: must be a positive number", f.lr)
	case !(f.clip >= 0) || math.IsInf(f.clip, 0):
		return usagef("-clip %v: must be 0 or a positive number", f.clip)
	case !(f.temperature > 0) || math.IsInf(f.temperature, 0):
		return usagef("-temperature %v: must be a positive number", f.temperature)
	case !(f.valFrac > 0 && f.valFrac < 1):
		return usagef("-val %v: must be between 0 and 1", f.valFrac)
	case f.prompt == "":
		return usagef("-prompt: must not be empty")
	}
	return nil
}

// rnnResult is what demo rnn prints with -json.
type rnnResult struct {
	ValLoss      float64 `json:"val_loss"`       // nats per character
	ValBPC       float64 `json:"val_bpc"`        // bits per character
	ValPPL       float64 `json:"val_perplexity"` // exp(val_loss)
	TrainLoss    float64 `json:"train_loss"`     // mean of the last 50 steps (or fewer)
	TokensPerSec float64 `json:"tokens_per_second"`
	Sample       string  `json:"sample"`
	Prompt       string  `json:"prompt"`
	Temperature  float64 `json:"temperature"`
	Steps        int     `json:"steps"`
	StepsRun     int     `json:"steps_this_run"`
	Cell         string  `json:"cell"`
	Hidden       int     `json:"hidden"`
	Layers       int     `json:"layers"`
	Embedding    int     `json:"embedding"`
	Seq          int     `json:"seq"`
	Batch        int     `json:"batch"`
	LR           float64 `json:"lr"`
	Clip         float64 `json:"clip"`
	Seed         uint64  `json:"seed"`
	Vocab        int     `json:"vocab"`
	TrainChars   int     `json:"train_chars"`
	ValChars     int     `json:"val_chars"`
	Seconds      float64 `json:"seconds"`
	EvalSeconds  float64 `json:"eval_seconds"`
	Resumed      bool    `json:"resumed"`
	// ValCurve holds the validation loss at the steps -eval-every asked for and at the end.
	ValCurve map[string]float64 `json:"val_curve"`
}

// The demo's own checkpoint entries, beside the language model's.
const (
	rnnBlobLoss = "demo.loss" // the training loss of every step so far, float64 little-endian
	rnnBlobVal  = "demo.val"  // (step, validation loss) pairs so far
)

func trainLM(f rnnFlags, c *common, out io.Writer) (*rnnResult, error) {
	start := time.Now()
	var ckpt *graph.Checkpoint
	var err error
	if f.resume != "" {
		if ckpt, err = graph.ReadCheckpoint(f.resume); err != nil {
			return nil, err
		}
		if !f.explicit["data"] {
			f.file = ckpt.Extra.Meta["demo.data"]
		}
	}
	text, source, err := loadText(f.file)
	if err != nil {
		return nil, err
	}
	text = data.ASCIIQuotes(text)
	ps := graph.NewParams(graph.Seed(c.seed))

	var lm *rnn.LanguageModel
	if ckpt != nil {
		if lm, err = rnn.LanguageModelFromCheckpoint(ps, ckpt); err != nil {
			return nil, err
		}
		if err := f.fromCheckpoint(ckpt, lm, out); err != nil {
			return nil, err
		}
	} else {
		vocab, err := data.NewCharVocab(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		kind, _ := rnn.ParseKind(f.cell) // checked
		if lm, err = rnn.NewLanguageModel(ps, "", vocab, kind, f.hidden, rnn.LMLayers(f.layers), rnn.LMEmbedding(f.embed)); err != nil {
			return nil, err
		}
	}
	vocab := lm.Vocab()
	ids := vocab.Encode(text)
	train, val, err := data.SplitIDs(ids, 1-f.valFrac)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	batches, err := data.NewSequentialBatches(train, f.batch, f.seq)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	solver := solvers.NewAdam(f.lr)
	tr, err := lm.NewTrainer(solver, f.batch, f.seq, rnn.ClipNorm(f.clip))
	if err != nil {
		return nil, err
	}
	var losses []float64
	valCurve := map[int]float64{}
	if ckpt != nil {
		extra, err := lm.Restore(f.resume, tr, batches)
		if err != nil {
			return nil, err
		}
		losses = decodeFloats(extra.Blobs[rnnBlobLoss])
		vc := decodeFloats(extra.Blobs[rnnBlobVal])
		for i := 0; i+1 < len(vc); i += 2 {
			valCurve[int(vc[i])] = vc[i+1]
		}
	}
	done := solver.Steps()
	cfg := lm.Config()
	fmt.Fprintf(out, "%s: %d characters, vocabulary of %d (with the unknown symbol); %d for training in %d streams, %d for validation\n",
		source, len(ids), vocab.Size(), len(train), f.batch, len(val))
	fmt.Fprintf(out, "model: %v, %d layer(s) of %d, %s input; segments of %d steps, Adam %g, clip %g; %d parameters\n",
		cfg.Kind, cfg.Layers, cfg.Hidden, inputName(cfg.Embedding), f.seq, f.lr, f.clip, countValues(ps))
	if done > 0 {
		fmt.Fprintf(out, "resuming %s at step %d\n", f.resume, done)
	}
	if done >= f.steps {
		fmt.Fprintf(out, "the checkpoint has already reached %d steps (-steps %d): nothing to train\n", done, f.steps)
	}

	sample := func() (string, error) {
		return lm.Generate(f.prompt, f.sampleLen, rnn.Temperature(f.temperature))
	}
	if _, err := vocab.EncodeStrict(f.prompt); err != nil {
		return nil, fmt.Errorf("-prompt %q: %w", f.prompt, err)
	}

	bar := newProgress(out, f.steps, "step")
	bar.update(done, "")
	tokens := f.batch * f.seq
	var trainTime, evalTime time.Duration
	var finalEval *rnn.LMEval
	var finalSample string
	var sampled bool
	for step := done + 1; step <= f.steps; step++ {
		sb, ok := batches.Next()
		if !ok { // a new pass over the text starts from zero state
			batches.Reset()
			tr.ResetState()
			if sb, ok = batches.Next(); !ok {
				return nil, errors.New("the training text gives no batch")
			}
		}
		t0 := time.Now()
		bt, err := lm.Batch(sb)
		if err != nil {
			return nil, err
		}
		r, err := tr.Step(bt)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		trainTime += time.Since(t0)
		losses = append(losses, r.Loss)
		rate := float64((step-done)*tokens) / trainTime.Seconds()
		bar.update(step, fmt.Sprintf("loss %.3f, %s tok/s", r.Loss, thousands(rate)))
		// Scheduled scores and samples, also at the last step: a run stopped there and resumed
		// draws exactly what an uninterrupted run draws.
		if f.evalEvery > 0 && step%f.evalEvery == 0 {
			t1 := time.Now()
			ev, err := lm.Evaluate(val, f.seq)
			if err != nil {
				return nil, err
			}
			evalTime += time.Since(t1)
			valCurve[step] = ev.Loss
			if step == f.steps {
				finalEval = ev
			}
			bar.println("step %d: validation loss %.4f nats/char, %.3f bits/char, perplexity %.2f", step, ev.Loss, ev.BPC, ev.Perplexity)
		}
		if f.sampleEvery > 0 && step%f.sampleEvery == 0 {
			s, err := sample()
			if err != nil {
				return nil, err
			}
			if step == f.steps {
				finalSample, sampled = s, true
			}
			bar.println("step %d, loss %.3f: %q", step, r.Loss, f.prompt+s)
		}
	}
	bar.finish()
	stepsRun := max(f.steps-done, 0)

	// The validation score over the whole validation text, unless the schedule just took it.
	final := max(done, f.steps)
	ev := finalEval
	if ev == nil {
		t1 := time.Now()
		if ev, err = lm.Evaluate(val, f.seq); err != nil {
			return nil, err
		}
		evalTime += time.Since(t1)
	}
	// The checkpoint holds the scheduled scores only, and is written before a final sample
	// that is not due by the schedule draws from the random source: a resumed run continues as
	// if this run had not stopped.
	if c.out != "" {
		if err := writeLMFiles(c.out, f, lm, tr, batches, losses, valCurve, final, ev.Loss, out); err != nil {
			return nil, err
		}
	}
	s := finalSample
	if !sampled {
		if s, err = sample(); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "\nafter %d steps: validation loss %.4f nats/char, %.3f bits/char, perplexity %.2f (%d characters)\n",
		final, ev.Loss, ev.BPC, ev.Perplexity, ev.Tokens)
	fmt.Fprintf(out, "sample (temperature %g): %s\n", f.temperature, f.prompt+s)
	valCurve[final] = ev.Loss

	res := &rnnResult{ValLoss: ev.Loss, ValBPC: ev.BPC, ValPPL: ev.Perplexity, Sample: s, Prompt: f.prompt,
		Temperature: f.temperature, Steps: final, StepsRun: stepsRun, Cell: cfg.Kind.String(), Hidden: cfg.Hidden,
		Layers: cfg.Layers, Embedding: cfg.Embedding, Seq: f.seq, Batch: f.batch, LR: f.lr, Clip: f.clip, Seed: c.seed,
		Vocab: vocab.Size(), TrainChars: len(train), ValChars: len(val), Resumed: done > 0,
		EvalSeconds: evalTime.Seconds(), ValCurve: map[string]float64{}}
	if stepsRun > 0 {
		res.TokensPerSec = float64(stepsRun*tokens) / trainTime.Seconds()
	}
	if n := len(losses); n > 0 {
		tail := losses[max(0, n-50):]
		for _, l := range tail {
			res.TrainLoss += l / float64(len(tail))
		}
	}
	for k, v := range valCurve {
		res.ValCurve[strconv.Itoa(k)] = v
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// fromCheckpoint takes the run's settings from a checkpoint: the architecture (in the model)
// and the data layout and solver settings (in the demo's meta), warning about flags that
// disagree.
func (f *rnnFlags) fromCheckpoint(c *graph.Checkpoint, lm *rnn.LanguageModel, out io.Writer) error {
	cfg := lm.Config()
	meta := c.Extra.Meta
	ints := map[string]*int{"seq": &f.seq, "batch": &f.batch}
	floats := map[string]*float64{"lr": &f.lr, "clip": &f.clip, "val": &f.valFrac}
	for k, dst := range ints {
		v, err := strconv.Atoi(meta["demo."+k])
		if err != nil {
			return fmt.Errorf("checkpoint %s: no usable demo.%s: was it written by demo rnn?", c.Path, k)
		}
		if f.explicit[k] && v != *dst {
			fmt.Fprintf(out, "-%s %d ignored: the checkpoint's run uses %d\n", k, *dst, v)
		}
		*dst = v
	}
	for k, dst := range floats {
		v, err := strconv.ParseFloat(meta["demo."+k], 64)
		if err != nil {
			return fmt.Errorf("checkpoint %s: no usable demo.%s: was it written by demo rnn?", c.Path, k)
		}
		if f.explicit[k] && v != *dst {
			fmt.Fprintf(out, "-%s %g ignored: the checkpoint's run uses %g\n", k, *dst, v)
		}
		*dst = v
	}
	for name, v := range map[string]string{"cell": cfg.Kind.String(), "hidden": strconv.Itoa(cfg.Hidden),
		"layers": strconv.Itoa(cfg.Layers), "embed": strconv.Itoa(cfg.Embedding)} {
		var given string
		switch name {
		case "cell":
			given = f.cell
		case "hidden":
			given = strconv.Itoa(f.hidden)
		case "layers":
			given = strconv.Itoa(f.layers)
		case "embed":
			given = strconv.Itoa(f.embed)
		}
		if f.explicit[name] && !strings.EqualFold(given, v) {
			fmt.Fprintf(out, "-%s %s ignored: the checkpoint's model has %s\n", name, given, v)
		}
	}
	return nil
}

func loadText(file string) (text, source string, err error) {
	if file == "" {
		t, err := builtin.MobyDick()
		return t, "Moby Dick", err
	}
	t, err := data.ReadText(file)
	return t, filepath.Base(file), err
}

func inputName(embed int) string {
	if embed > 0 {
		return fmt.Sprintf("embedding (%d)", embed)
	}
	return "one-hot"
}

func countValues(ps *graph.Params) int {
	n := 0
	for _, e := range ps.Entries() {
		n += e.Value.Shape().TotalSize()
	}
	return n
}

// thousands formats a rate with thousands separators: 12,345.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func encodeFloats(vs []float64) []byte {
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func decodeFloats(b []byte) []float64 {
	out := make([]float64, 0, len(b)/8)
	for i := 0; i+8 <= len(b); i += 8 {
		out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b[i:])))
	}
	return out
}

func writeLMFiles(dir string, f rnnFlags, lm *rnn.LanguageModel, tr *rnn.SegmentTrainer, batches *data.SeqBatches,
	losses []float64, valCurve map[int]float64, final int, finalLoss float64, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var vc []float64
	vx, vy := []float64{}, []float64{}
	for step := 1; step <= len(losses); step++ {
		if v, ok := valCurve[step]; ok {
			vc = append(vc, float64(step), v)
			vx, vy = append(vx, float64(step)), append(vy, v)
		}
	}
	if _, ok := valCurve[final]; !ok {
		vx, vy = append(vx, float64(final)), append(vy, finalLoss)
	}
	ckpt := filepath.Join(dir, "rnn.safetensors")
	extra := &graph.Extra{
		Blobs: map[string][]byte{rnnBlobLoss: encodeFloats(losses), rnnBlobVal: encodeFloats(vc)},
		Meta: map[string]string{
			"demo.seq": strconv.Itoa(f.seq), "demo.batch": strconv.Itoa(f.batch),
			"demo.lr": strconv.FormatFloat(f.lr, 'g', -1, 64), "demo.clip": strconv.FormatFloat(f.clip, 'g', -1, 64),
			"demo.val": strconv.FormatFloat(f.valFrac, 'g', -1, 64), "demo.data": f.file,
		},
	}
	if err := lm.SaveCheckpoint(ckpt, tr, batches, extra); err != nil {
		return err
	}
	paths := []string{ckpt}
	if len(losses) > 0 {
		plot := viz.LinePlot{
			Title:  fmt.Sprintf("character %s language model", strings.ToUpper(lm.Config().Kind.String())),
			XLabel: "step", YLabel: "cross-entropy (nats per character)",
			Series: []viz.Series{{Name: "training segments", Y: losses}},
		}
		if len(vx) > 0 {
			plot.Series = append(plot.Series, viz.Series{Name: "validation text", X: vx, Y: vy})
		}
		p := filepath.Join(dir, "rnn-loss.png")
		if err := viz.Lines(p, plot); err != nil {
			return err
		}
		paths = append(paths, p)
	}
	fmt.Fprintf(out, "wrote %s\n", strings.Join(paths, ", "))
	return nil
}
