package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/solvers"
	"github.com/unroll-ml/unroll/viz"
)

func init() {
	register(command{
		name:    "gradflow",
		summary: "how far back the gradient reaches in RNN, LSTM and GRU, at init and after training on the adding problem",
		run:     runGradflow,
	})
}

// gradflowResult is what -json prints: the trained models' curves under the cells' names, the
// curves at initialisation under "<cell>_init", and the measurements behind them.
type gradflowResult struct {
	Curves map[string][]float64 `json:"-"`
	Steps  int                  `json:"steps"`
	Hidden int                  `json:"hidden"`
	Iters  int                  `json:"iters"`
	// Decay is the per-step factor of the gradient norm, exp of the slope of a least-squares
	// line through log ‖∂ℓ_T/∂h_{T-k}‖ against k, by cell ("rnn", "rnn_init", ...).
	Decay map[string]float64 `json:"decay_per_step"`
	// MSE is the test mean squared error by cell, at init ("<cell>_init") and after
	// training; predicting the constant 1 gives 1/6.
	MSE     map[string]float64 `json:"mse"`
	Seconds float64            `json:"seconds"`
}

func (r gradflowResult) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range r.Curves {
		m[k] = v
	}
	type plain gradflowResult
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	var rest map[string]any
	if err := json.Unmarshal(b, &rest); err != nil {
		return nil, err
	}
	for k, v := range rest {
		m[k] = v
	}
	return json.Marshal(m)
}

// gradflowFlags are the settings of demo gradflow.
type gradflowFlags struct {
	steps, hidden, iters, batch int
	lr, forget                  float64
	kinds                       []rnn.Kind
}

func runGradflow(args []string, stdout, stderr io.Writer) error {
	f, c, err := parseGradflowFlags(args, stderr)
	if err != nil {
		return err
	}
	res, err := measureGradflow(f, c, stderr)
	if err != nil {
		return err
	}
	if c.out != "" {
		if err := writeGradflowPlots(c.out, res, f.kinds); err != nil {
			return err
		}
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	printGradflow(stdout, res, f.kinds)
	if c.out != "" {
		fmt.Fprintf(stdout, "\nplots: %s, %s\n", filepath.Join(c.out, "gradflow-init.png"), filepath.Join(c.out, "gradflow-trained.png"))
	}
	return nil
}

// parseGradflowFlags reads and checks demo gradflow's flags.
func parseGradflowFlags(args []string, stderr io.Writer) (*gradflowFlags, *common, error) {
	fs, c := newFlags("gradflow", stderr)
	f := &gradflowFlags{}
	fs.IntVar(&f.steps, "steps", 50, "sequence length T of the adding problem")
	fs.IntVar(&f.hidden, "hidden", 32, "hidden units of each cell")
	fs.IntVar(&f.iters, "iters", 2000, "training updates per cell (batches of -batch sequences)")
	fs.IntVar(&f.batch, "batch", 32, "sequences per training batch")
	fs.Float64Var(&f.lr, "lr", 5e-3, "Adam learning rate")
	cells := fs.String("cells", "rnn,lstm,gru", "cells to compare, comma-separated")
	fs.Float64Var(&f.forget, "forget-bias", 0, "start the LSTM's forget gate at this bias (0: PyTorch's initialisation)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: demo gradflow [flags]

Measures how far back through time the gradient of the last step's loss reaches,
||dL_T/dh_(T-k)|| for k = 1..T, for a plain RNN, an LSTM and a GRU side by side: at
initialisation, and after training each on the adding problem (two marked values in a
sequence of T, one in each half; the target is their sum), a task that needs memory over
the whole sequence. Prints a table, writes the plots under -out and with -json prints the
curves ("rnn", "lstm", "gru": trained; "<cell>_init": at initialisation). The trained
models are saved as gradflow-<cell>.safetensors under -out.`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return nil, nil, err
	}
	switch {
	case f.steps < 2:
		return nil, nil, usagef("-steps %d: need at least 2", f.steps)
	case f.hidden < 1 || f.batch < 1 || f.iters < 0:
		return nil, nil, usagef("-hidden, -batch must be positive and -iters not negative")
	case !(f.lr > 0):
		return nil, nil, usagef("-lr %v must be positive", f.lr)
	case f.forget < 0 || math.IsNaN(f.forget) || math.IsInf(f.forget, 0):
		return nil, nil, usagef("-forget-bias %v must be a finite number, 0 or more", f.forget)
	}
	for _, s := range strings.Split(*cells, ",") {
		k, err := rnn.ParseKind(strings.TrimSpace(s))
		if err != nil {
			return nil, nil, usagef("-cells: %v", err)
		}
		f.kinds = append(f.kinds, k)
	}
	return f, c, nil
}

// measureGradflow measures every cell's gradient flow and test error at initialisation and
// after training on the adding problem, and saves the trained nets under -out.
func measureGradflow(f *gradflowFlags, c *common, stderr io.Writer) (gradflowResult, error) {
	start := time.Now()
	res := gradflowResult{Curves: map[string][]float64{}, Decay: map[string]float64{}, MSE: map[string]float64{},
		Steps: f.steps, Hidden: f.hidden, Iters: f.iters}
	draws := rand.New(rand.NewPCG(c.seed, 0x9e3779b9))
	probe, err := data.AddingProblem(draws, 64, f.steps, tensor.Float32)
	if err != nil {
		return res, err
	}
	test, err := data.AddingProblem(draws, 512, f.steps, tensor.Float32)
	if err != nil {
		return res, err
	}
	bar := newProgress(stderr, len(f.kinds)*f.iters, "step")
	for i, kind := range f.kinds {
		if err := gradflowCell(f, c, kind, probe, test, &res, bar, i*f.iters); err != nil {
			return res, err
		}
	}
	bar.finish()
	for k, curve := range res.Curves {
		res.Decay[k] = decayPerStep(curve)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// gradflowCell builds a net of one cell kind, measures it, trains it for -iters batches of
// fresh adding problems and measures it again.
func gradflowCell(f *gradflowFlags, c *common, kind rnn.Kind, probe, test *data.SequenceSet, res *gradflowResult, bar *progress, before int) error {
	name := kind.String()
	opts := []rnn.Option{rnn.WithReadout(rnn.LastState), rnn.WithLoss(rnn.MSE)}
	if kind == rnn.LSTM && f.forget != 0 {
		opts = append(opts, rnn.ForgetBias(f.forget))
	}
	net, err := rnn.NewNet(graph.NewParams(graph.Seed(c.seed)), name, kind, 2, f.hidden, 1, opts...)
	if err != nil {
		return err
	}
	if err := measureNet(net, name+"_init", probe, test, res); err != nil {
		return err
	}
	if f.iters > 0 {
		train, err := data.AddingProblem(rand.New(rand.NewPCG(c.seed, uint64(kind)+1)), f.iters*f.batch, f.steps, tensor.Float32)
		if err != nil {
			return err
		}
		avg := math.NaN()
		_, err = net.Fit(train, graph.Epochs(1), graph.Batch(f.batch), graph.Solver(solvers.NewAdam(f.lr)), graph.ClipNorm(1),
			graph.OnStep(func(p graph.Progress) {
				if math.IsNaN(avg) {
					avg = p.Loss
				}
				avg = 0.95*avg + 0.05*p.Loss
				bar.update(before+p.Step, fmt.Sprintf("%s loss %.4f", name, avg))
			}))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := measureNet(net, name, probe, test, res); err != nil {
		return err
	}
	if c.out == "" {
		return nil
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	return net.SaveCheckpoint(filepath.Join(c.out, "gradflow-"+name+".safetensors"))
}

// measureNet records a net's gradient flow on the probe set and its error on the test set
// under key.
func measureNet(net *rnn.Net, key string, probe, test *data.SequenceSet, res *gradflowResult) error {
	flow, err := rnn.GradientFlow(net, probe)
	if err != nil {
		return err
	}
	m, err := net.Evaluate(test)
	if err != nil {
		return err
	}
	res.Curves[key], res.MSE[key] = flow, m.Loss
	return nil
}

// writeGradflowPlots draws the curves at initialisation and after training.
func writeGradflowPlots(dir string, res gradflowResult, kinds []rnn.Kind) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	init, trained := map[string][]float64{}, map[string][]float64{}
	for _, k := range kinds {
		init[k.String()] = res.Curves[k.String()+"_init"]
		trained[k.String()] = res.Curves[k.String()]
	}
	for _, p := range []struct {
		file   string
		curves map[string][]float64
		title  string
	}{
		{"gradflow-init.png", init, fmt.Sprintf("Gradient flow at initialisation (adding problem, T = %d)", res.Steps)},
		{"gradflow-trained.png", trained, fmt.Sprintf("Gradient flow after %d updates (adding problem, T = %d)", res.Iters, res.Steps)},
	} {
		if err := viz.GradientFlow(filepath.Join(dir, p.file), p.curves, p.title); err != nil {
			return err
		}
	}
	return nil
}

// decayPerStep fits log y = a + b k by least squares over the positive values and returns
// exp(b), the factor by which the norm changes per step back.
func decayPerStep(ys []float64) float64 {
	var n, sk, sy, skk, sky float64
	for i, y := range ys {
		if !(y > 0) || math.IsInf(y, 0) {
			continue
		}
		k, ly := float64(i+1), math.Log(y)
		n++
		sk += k
		sy += ly
		skk += k * k
		sky += k * ly
	}
	if n < 2 {
		return math.NaN()
	}
	return math.Exp((n*sky - sk*sy) / (n*skk - sk*sk))
}

func printGradflow(w io.Writer, res gradflowResult, kinds []rnn.Kind) {
	fmt.Fprintf(w, "adding problem, T = %d, hidden %d, %d updates per cell; predicting 1 gives MSE %.3f\n\n", res.Steps, res.Hidden, res.Iters, 1.0/6)
	fmt.Fprintf(w, "%-8s %12s %12s\n", "cell", "MSE at init", "MSE trained")
	for _, k := range kinds {
		n := k.String()
		fmt.Fprintf(w, "%-8s %12.4f %12.4f\n", n, res.MSE[n+"_init"], res.MSE[n])
	}
	fmt.Fprintf(w, "\n||dL_T/dh_(T-k)||, mean over 64 sequences\n")
	fmt.Fprintf(w, "%5s", "k")
	for _, stage := range []string{"init", "trained"} {
		for _, k := range kinds {
			fmt.Fprintf(w, " %11s", k.String()+" "+stage)
		}
	}
	fmt.Fprintln(w)
	var ks []int
	for k := 1; k <= res.Steps; k *= 2 {
		ks = append(ks, k)
	}
	if ks[len(ks)-1] != res.Steps {
		ks = append(ks, res.Steps)
	}
	for _, k := range ks {
		fmt.Fprintf(w, "%5d", k)
		for _, suffix := range []string{"_init", ""} {
			for _, kind := range kinds {
				fmt.Fprintf(w, " %11.3g", res.Curves[kind.String()+suffix][k-1])
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%5s", "decay")
	for _, suffix := range []string{"_init", ""} {
		for _, kind := range kinds {
			fmt.Fprintf(w, " %11.3f", res.Decay[kind.String()+suffix])
		}
	}
	fmt.Fprintf(w, "\n(decay: the fitted factor per step back; %.1f s)\n", res.Seconds)
}
