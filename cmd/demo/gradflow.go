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

func runGradflow(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("gradflow", stderr)
	steps := fs.Int("steps", 50, "sequence length T of the adding problem")
	hidden := fs.Int("hidden", 32, "hidden units of each cell")
	iters := fs.Int("iters", 2000, "training updates per cell (batches of -batch sequences)")
	batch := fs.Int("batch", 32, "sequences per training batch")
	lr := fs.Float64("lr", 5e-3, "Adam learning rate")
	cells := fs.String("cells", "rnn,lstm,gru", "cells to compare, comma-separated")
	forget := fs.Float64("forget-bias", 0, "start the LSTM's forget gate at this bias (0: PyTorch's initialisation)")
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
		return err
	}
	switch {
	case *steps < 2:
		return usagef("-steps %d: need at least 2", *steps)
	case *hidden < 1 || *batch < 1 || *iters < 0:
		return usagef("-hidden, -batch must be positive and -iters not negative")
	case !(*lr > 0):
		return usagef("-lr %v must be positive", *lr)
	case *forget < 0 || math.IsNaN(*forget) || math.IsInf(*forget, 0):
		return usagef("-forget-bias %v must be a finite number, 0 or more", *forget)
	}
	var kinds []rnn.Kind
	for _, s := range strings.Split(*cells, ",") {
		k, err := rnn.ParseKind(strings.TrimSpace(s))
		if err != nil {
			return usagef("-cells: %v", err)
		}
		kinds = append(kinds, k)
	}
	start := time.Now()
	res := gradflowResult{Curves: map[string][]float64{}, Decay: map[string]float64{}, MSE: map[string]float64{},
		Steps: *steps, Hidden: *hidden, Iters: *iters}

	data := rand.New(rand.NewPCG(c.seed, 0x9e3779b9))
	probe, err := rnn.AddingProblem(data, 64, *steps, tensor.Float32)
	if err != nil {
		return err
	}
	test, err := rnn.AddingProblem(data, 512, *steps, tensor.Float32)
	if err != nil {
		return err
	}
	prog := newProgress(stderr, len(kinds)*(*iters), "step")
	done := 0
	for _, kind := range kinds {
		name := kind.String()
		ps := graph.NewParams(graph.Seed(c.seed))
		opts := []rnn.Option{rnn.WithReadout(rnn.LastState), rnn.WithLoss(rnn.MSE)}
		if kind == rnn.LSTM && *forget != 0 {
			opts = append(opts, rnn.ForgetBias(*forget))
		}
		net, err := rnn.NewNet(ps, name, kind, 2, *hidden, 1, opts...)
		if err != nil {
			return err
		}
		if res.Curves[name+"_init"], err = rnn.GradientFlow(net, probe); err != nil {
			return err
		}
		if res.MSE[name+"_init"], err = net.Evaluate(test); err != nil {
			return err
		}
		tr, err := rnn.NewSegmentTrainer(net, solvers.NewAdam(*lr), *batch, *steps, rnn.ZeroState(), rnn.ClipNorm(1))
		if err != nil {
			return err
		}
		train := rand.New(rand.NewPCG(c.seed, uint64(kind)+1))
		avg := math.NaN()
		for i := 0; i < *iters; i++ {
			bt, err := rnn.AddingProblem(train, *batch, *steps, tensor.Float32)
			if err != nil {
				return err
			}
			r, err := tr.Step(bt)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if math.IsNaN(avg) {
				avg = r.Loss
			}
			avg = 0.95*avg + 0.05*r.Loss
			done++
			prog.update(done, fmt.Sprintf("%s loss %.4f", name, avg))
		}
		if res.Curves[name], err = rnn.GradientFlow(net, probe); err != nil {
			return err
		}
		if res.MSE[name], err = net.Evaluate(test); err != nil {
			return err
		}
		if c.out != "" {
			if err := os.MkdirAll(c.out, 0o755); err != nil {
				return err
			}
			meta := map[string]string{"task": "adding problem", "cell": name, "steps": fmt.Sprint(*steps),
				"hidden": fmt.Sprint(*hidden), "updates": fmt.Sprint(*iters)}
			if err := tr.SaveCheckpoint(filepath.Join(c.out, "gradflow-"+name+".safetensors"), &graph.Extra{Meta: meta}); err != nil {
				return err
			}
		}
	}
	prog.finish()
	for k, curve := range res.Curves {
		res.Decay[k] = decayPerStep(curve)
	}
	res.Seconds = time.Since(start).Seconds()

	if c.out != "" {
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
			{"gradflow-init.png", init, fmt.Sprintf("Gradient flow at initialisation (adding problem, T = %d)", *steps)},
			{"gradflow-trained.png", trained, fmt.Sprintf("Gradient flow after %d updates (adding problem, T = %d)", *iters, *steps)},
		} {
			if err := viz.GradientFlow(filepath.Join(c.out, p.file), p.curves, p.title); err != nil {
				return err
			}
		}
	}

	if c.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	printGradflow(stdout, res, kinds)
	if c.out != "" {
		fmt.Fprintf(stdout, "\nplots: %s, %s\n", filepath.Join(c.out, "gradflow-init.png"), filepath.Join(c.out, "gradflow-trained.png"))
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
