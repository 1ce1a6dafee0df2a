package main

import (
	"encoding/json"
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
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/solvers"
	"github.com/unroll-ml/unroll/viz"
)

func init() {
	register(command{
		name:     "rnn",
		summary:  "a character language model (LSTM) trained on Moby Dick by truncated BPTT; writes text as it learns",
		run:      runRNN,
		parallel: true,
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
	f, c, err := parseRNNFlags(args, stderr)
	if err != nil {
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

// parseRNNFlags reads and checks demo rnn's flags.
func parseRNNFlags(args []string, stderr io.Writer) (*rnnFlags, *common, error) {
	fs, c := newFlags("rnn", stderr)
	f := &rnnFlags{}
	fs.StringVar(&f.cell, "cell", "lstm", "recurrent cell: rnn, lstm or gru")
	fs.IntVar(&f.hidden, "hidden", 256, "hidden units per layer")
	fs.IntVar(&f.layers, "layers", 1, "stacked recurrent layers")
	fs.IntVar(&f.embed, "embed", 0, "width of a learned character embedding (0: one-hot input)")
	fs.IntVar(&f.seq, "seq", 64, "segment length K of truncated backpropagation through time")
	fs.IntVar(&f.batch, "batch", 32, "number of contiguous streams the training text is cut into (batch size; under mpirun, of all ranks together: each trains on its share)")
	fs.IntVar(&f.steps, "steps", 300, "training steps (segments of batch x seq characters) to reach; with -resume, the total")
	fs.Float64Var(&f.lr, "lr", 2e-3, "Adam learning rate")
	fs.Float64Var(&f.clip, "clip", 5, "global gradient-norm clip (0: none)")
	fs.Float64Var(&f.temperature, "temperature", 0.8, "sampling temperature of the generated text")
	fs.StringVar(&f.prompt, "prompt", "The whale", "text the samples start from")
	fs.IntVar(&f.sampleLen, "sample-len", 200, "characters per sample")
	fs.IntVar(&f.sampleEvery, "sample-every", 100, "print a sample every this many steps (0: only at the end)")
	fs.IntVar(&f.evalEvery, "eval-every", 0, "score the validation text every this many steps (0: only at the end)")
	fs.Float64Var(&f.valFrac, "val", 0.1, "fraction of the text, at its end, kept for validation")
	fs.StringVar(&f.file, "data", "", "train on this UTF-8 text file instead of Moby Dick (curly quotes and em dashes are mapped to ASCII, as for Moby Dick); with -resume, the text the checkpoint was trained on, by default and of necessity")
	fs.StringVar(&f.resume, "resume", "", "continue the run saved in this checkpoint (rnn.safetensors under a previous -out, beside its rnn-log.json), on the same text")
	if err := parse(fs, args); err != nil {
		return nil, nil, err
	}
	f.explicit = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.explicit[fl.Name] = true })
	if err := f.check(); err != nil {
		return nil, nil, err
	}
	return f, c, nil
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
	if err := checkRanks(f.batch); err != nil {
		return err
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

// lmRun is one run of demo rnn: the model, its data and what the run measured.
type lmRun struct {
	f          *rnnFlags
	c          *common
	out        io.Writer
	lm         *rnn.LanguageModel
	batches    *data.SeqBatches
	train, val []int
	source     string
	textSum    string // the training text's SHA-256, in hex
	losses     []float64
	valCurve   map[int]float64
	done       int // steps done when this process started
	trainTime  time.Duration
	evalTime   time.Duration
	finalEval  *rnn.TextScore
	sample     string // the sample drawn at the last step by the schedule, if any
	sampled    bool
}

func trainLM(f *rnnFlags, c *common, out io.Writer) (*rnnResult, error) {
	start := time.Now()
	r, err := setupLM(f, c, out)
	if err != nil {
		return nil, err
	}
	if err := r.fit(); err != nil {
		return nil, err
	}
	res, err := r.finish()
	if err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// setupLM reads the text, builds the model (from the checkpoint with -resume) and cuts the
// text into training batches and a validation part.
func setupLM(f *rnnFlags, c *common, out io.Writer) (*lmRun, error) {
	r := &lmRun{f: f, c: c, out: out, valCurve: map[int]float64{}}
	var ckpt *graph.Checkpoint
	var log *lmLog
	ps := graph.NewParams(graph.Seed(c.seed))
	if f.resume != "" {
		var err error
		if ckpt, err = graph.ReadCheckpoint(f.resume); err != nil {
			return nil, err
		}
		// The checkpoint's model first: the checkpoint of another demo is named as such.
		if r.lm, err = rnn.LanguageModelFromCheckpoint(ps, ckpt); err != nil {
			return nil, err
		}
		if log, err = readLMLog(f.resume); err != nil {
			return nil, err
		}
		if !f.explicit["data"] {
			f.file = log.Data
		}
	}
	text, source, err := loadText(f.file)
	if err != nil {
		if log != nil && !f.explicit["data"] {
			return nil, fmt.Errorf("the text of checkpoint %s, named in its log: %w (give -data with its new place)", f.resume, err)
		}
		return nil, err
	}
	r.textSum = textSHA256(text)
	if log != nil {
		note, err := sameText(f, log, r.textSum)
		if err != nil {
			return nil, err
		}
		if note != "" {
			fmt.Fprintln(out, note)
		}
	}
	text, r.source = data.ASCIIQuotes(text), source
	if ckpt == nil {
		if r.lm, err = newLM(ps, f, text, source); err != nil {
			return nil, err
		}
	} else {
		if err := r.resumeFrom(ckpt, log); err != nil {
			return nil, err
		}
	}
	ids := r.lm.Vocab().Encode(text)
	if r.train, r.val, err = data.SplitIDs(ids, 1-f.valFrac); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if r.batches, err = data.NewSequentialBatches(r.train, f.batch, f.seq); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if _, err := r.lm.Vocab().EncodeStrict(f.prompt); err != nil {
		return nil, fmt.Errorf("-prompt %q: %w", f.prompt, err)
	}
	r.describe(len(ids))
	return r, nil
}

// newLM builds the language model of the flags' architecture over the text's characters.
func newLM(ps *graph.Params, f *rnnFlags, text, source string) (*rnn.LanguageModel, error) {
	vocab, err := data.NewCharVocab(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	kind, err := rnn.ParseKind(f.cell)
	if err != nil {
		return nil, usagef("-cell: %v", err)
	}
	return rnn.NewLanguageModel(ps, "", vocab, rnn.Config{Kind: kind, Hidden: f.hidden, Layers: f.layers, Embedding: f.embed})
}

// resumeFrom loads the checkpoint and takes the run's settings and record from its log,
// warning about flags that disagree.
func (r *lmRun) resumeFrom(ckpt *graph.Checkpoint, log *lmLog) error {
	f := r.f
	if err := r.lm.LoadCheckpoint(ckpt.Path); err != nil {
		return err
	}
	if steps := r.lm.Run().Steps(); steps != len(log.Losses) {
		return fmt.Errorf("%s records %d steps, the checkpoint %s %d: they are not of the same run", logPath(ckpt.Path), len(log.Losses), ckpt.Path, steps)
	}
	for _, v := range []struct {
		name      string
		dst       *float64
		fromCheck float64
	}{{"lr", &f.lr, log.LR}, {"clip", &f.clip, log.Clip}, {"val", &f.valFrac, log.Val}} {
		if f.explicit[v.name] && *v.dst != v.fromCheck {
			fmt.Fprintf(r.out, "-%s %g ignored: the checkpoint's run uses %g\n", v.name, *v.dst, v.fromCheck)
		}
		*v.dst = v.fromCheck
	}
	for _, v := range []struct {
		name      string
		dst       *int
		fromCheck int
	}{{"seq", &f.seq, log.Seq}, {"batch", &f.batch, log.Batch}} {
		if f.explicit[v.name] && *v.dst != v.fromCheck {
			fmt.Fprintf(r.out, "-%s %d ignored: the checkpoint's run uses %d\n", v.name, *v.dst, v.fromCheck)
		}
		*v.dst = v.fromCheck
	}
	cfg := r.lm.Config()
	for _, v := range []struct{ name, given, saved string }{
		{"cell", f.cell, cfg.Kind.String()}, {"hidden", strconv.Itoa(f.hidden), strconv.Itoa(cfg.Hidden)},
		{"layers", strconv.Itoa(f.layers), strconv.Itoa(cfg.Layers)}, {"embed", strconv.Itoa(f.embed), strconv.Itoa(cfg.Embedding)},
	} {
		if f.explicit[v.name] && !strings.EqualFold(v.given, v.saved) {
			fmt.Fprintf(r.out, "-%s %s ignored: the checkpoint's model has %s\n", v.name, v.given, v.saved)
		}
	}
	r.losses = log.Losses
	for _, p := range log.ValCurve {
		r.valCurve[int(p[0])] = p[1]
	}
	r.done = len(log.Losses)
	return nil
}

func (r *lmRun) describe(chars int) {
	f, cfg, vocab := r.f, r.lm.Config(), r.lm.Vocab()
	fmt.Fprintf(r.out, "%s: %d characters, vocabulary of %d (with the unknown symbol); %d for training in %d streams, %d for validation\n",
		r.source, chars, vocab.Size(), len(r.train), f.batch, len(r.val))
	fmt.Fprintf(r.out, "model: %v, %d layer(s) of %d, %s input; segments of %d steps, Adam %g, clip %g; %d parameters\n",
		cfg.Kind, cfg.Layers, cfg.Hidden, inputName(cfg.Embedding), f.seq, f.lr, f.clip, countValues(r.lm.Params()))
	if world.Size() > 1 {
		fmt.Fprintf(r.out, "data-parallel over %d ranks (mpirun): each trains on %d of the %d streams\n", world.Size(), f.batch/world.Size(), f.batch)
	}
	if r.done > 0 {
		fmt.Fprintf(r.out, "resuming %s at step %d\n", f.resume, r.done)
	}
	if r.done >= f.steps {
		fmt.Fprintf(r.out, "the checkpoint has already reached %d steps (-steps %d): nothing to train\n", r.done, f.steps)
	}
}

// fit trains up to -steps with Fit, stopping at every scheduled score and sample.
func (r *lmRun) fit() error {
	f := r.f
	if r.done >= f.steps {
		return nil // describe said so: no progress to show, no speed to measure
	}
	bar := newProgress(r.out, f.steps, "step")
	bar.update(r.done, "")
	tokens := f.batch * f.seq
	solver := solvers.NewAdam(f.lr) // a checkpoint's solver state is restored into it
	for step := r.done; step < f.steps; {
		next := min(f.steps, nextEvent(step, f.evalEvery), nextEvent(step, f.sampleEvery))
		began, before := time.Now(), r.trainTime
		_, err := r.lm.Fit(r.batches, graph.Solver(solver), graph.ClipNorm(f.clip), graph.Steps(next-step), dataParallel(),
			graph.OnStep(func(p graph.Progress) {
				r.losses = append(r.losses, p.Loss)
				rate := float64((p.Step-r.done)*tokens) / (before + p.Elapsed).Seconds()
				bar.update(p.Step, fmt.Sprintf("loss %.3f, %s tok/s", p.Loss, thousands(rate)))
			}))
		r.trainTime = before + time.Since(began)
		if err != nil {
			return divergedHint(err, f.lr, -1, r.checkpointPath(), f.resume)
		}
		step = next
		if err := r.events(step, bar); err != nil {
			return err
		}
	}
	return bar.finish()
}

// nextEvent is the next multiple of every after step (never, when every is 0).
func nextEvent(step, every int) int {
	if every <= 0 {
		return math.MaxInt
	}
	return (step/every + 1) * every
}

// events scores the validation text and draws a sample when the schedule asks at step, also at
// the last step: a run stopped there and resumed draws exactly what an uninterrupted run draws.
func (r *lmRun) events(step int, bar *progress) error {
	f := r.f
	if f.evalEvery > 0 && step%f.evalEvery == 0 {
		t := time.Now()
		ev, err := r.lm.Evaluate(r.val)
		if err != nil {
			return err
		}
		r.evalTime += time.Since(t)
		r.valCurve[step] = ev.Loss
		if step == f.steps {
			r.finalEval = ev
		}
		bar.println("step %d: validation loss %.4f nats/char, %.3f bits/char, perplexity %.2f", step, ev.Loss, ev.BPC, ev.Perplexity)
	}
	if f.sampleEvery > 0 && step%f.sampleEvery == 0 {
		s, err := r.lm.Generate(f.prompt, f.sampleLen, rnn.Temperature(f.temperature))
		if err != nil {
			return err
		}
		if step == f.steps {
			r.sample, r.sampled = s, true
		}
		bar.println("step %d, loss %.3f: %q", step, r.losses[len(r.losses)-1], f.prompt+s)
	}
	return nil
}

// finish scores the whole validation text (unless the schedule just did), writes the
// checkpoint, its log and the plot, draws the final sample and reports.
func (r *lmRun) finish() (*rnnResult, error) {
	f := r.f
	final := max(r.done, f.steps)
	ev := r.finalEval
	if ev == nil {
		t := time.Now()
		var err error
		if ev, err = r.lm.Evaluate(r.val); err != nil {
			return nil, err
		}
		r.evalTime += time.Since(t)
	}
	// The checkpoint holds the scheduled scores only, and is written before a final sample
	// that is not due by the schedule draws from the random source: a resumed run continues as
	// if this run had not stopped.
	if r.c.out != "" {
		if err := r.writeFiles(final, ev.Loss); err != nil {
			return nil, err
		}
	}
	s := r.sample
	if !r.sampled {
		var err error
		if s, err = r.lm.Generate(f.prompt, f.sampleLen, rnn.Temperature(f.temperature)); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(r.out, "\nafter %d steps: validation loss %.4f nats/char, %.3f bits/char, perplexity %.2f (%d characters)\n",
		final, ev.Loss, ev.BPC, ev.Perplexity, ev.Tokens)
	fmt.Fprintf(r.out, "sample (temperature %g): %s\n", f.temperature, f.prompt+s)
	r.valCurve[final] = ev.Loss
	return r.result(final, ev, s), nil
}

// result gathers the figures -json prints.
func (r *lmRun) result(final int, ev *rnn.TextScore, sample string) *rnnResult {
	f, cfg := r.f, r.lm.Config()
	stepsRun := max(f.steps-r.done, 0)
	res := &rnnResult{ValLoss: ev.Loss, ValBPC: ev.BPC, ValPPL: ev.Perplexity, Sample: sample, Prompt: f.prompt,
		Temperature: f.temperature, Steps: final, StepsRun: stepsRun, Cell: cfg.Kind.String(), Hidden: cfg.Hidden,
		Layers: cfg.Layers, Embedding: cfg.Embedding, Seq: f.seq, Batch: f.batch, LR: f.lr, Clip: f.clip, Seed: r.c.seed,
		Vocab: r.lm.Vocab().Size(), TrainChars: len(r.train), ValChars: len(r.val), Resumed: r.done > 0,
		EvalSeconds: r.evalTime.Seconds(), ValCurve: map[string]float64{}}
	if stepsRun > 0 {
		res.TokensPerSec = float64(stepsRun*f.batch*f.seq) / r.trainTime.Seconds()
	}
	if n := len(r.losses); n > 0 {
		tail := r.losses[max(0, n-50):]
		for _, l := range tail {
			res.TrainLoss += l / float64(len(tail))
		}
	}
	for k, v := range r.valCurve {
		res.ValCurve[strconv.Itoa(k)] = v
	}
	return res
}

// writeFiles writes the log, the checkpoint, the model as an ONNX file and the loss plot under
// -out.
func (r *lmRun) writeFiles(final int, finalLoss float64) error {
	dir, f := r.c.out, r.f
	ckpt := r.checkpointPath()
	if !rank0() {
		return r.lm.SaveCheckpoint(ckpt) // collective: rank 0 writes what the ranks hold
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	text, err := textPath(f.file)
	if err != nil {
		return err
	}
	log := lmLog{Losses: r.losses, ValCurve: [][2]float64{}, Seq: f.seq, Batch: f.batch, LR: f.lr, Clip: f.clip, Val: f.valFrac,
		Data: text, TextSHA256: r.textSum}
	var vx, vy []float64
	for step := 1; step <= len(r.losses); step++ {
		if v, ok := r.valCurve[step]; ok {
			log.ValCurve = append(log.ValCurve, [2]float64{float64(step), v})
			vx, vy = append(vx, float64(step)), append(vy, v)
		}
	}
	if _, ok := r.valCurve[final]; !ok {
		vx, vy = append(vx, float64(final)), append(vy, finalLoss)
	}
	js, err := json.Marshal(log)
	if err != nil {
		return err
	}
	// The log first: a run killed between the two writes leaves a log ahead of the
	// checkpoint, which a resume refuses (the step counts differ).
	if err := writeFileAtomic(logPath(ckpt), js); err != nil {
		return err
	}
	if err := r.lm.SaveCheckpoint(ckpt); err != nil {
		return err
	}
	model, err := writeONNX(dir, r.lm)
	if err != nil {
		return err
	}
	paths := []string{ckpt, logPath(ckpt), model}
	if len(r.losses) > 0 {
		plot := viz.LinePlot{
			Title:  fmt.Sprintf("character %s language model", strings.ToUpper(r.lm.Config().Kind.String())),
			XLabel: "step", YLabel: "cross-entropy (nats per character)",
			Series: []viz.Series{{Name: "training segments", Y: r.losses}},
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
	fmt.Fprintf(r.out, "wrote %s\n%s\n", strings.Join(paths, ", "), lmONNXNote(model, r.lm))
	return nil
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
