package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
		name:    "ar",
		summary: "autoregressive models on sunspots or CO2: AR(tau), latent AR, 1-step and k-step forecasts",
		run:     runAR,
	})
}

// arFlags are the settings of demo ar.
type arFlags struct {
	series, file, column, fill string
	tau, lsTau, arHidden       int
	cell                       string
	hidden, window             int
	epochs, latentEpochs       int
	ks                         string
	diff                       bool

	// Read from the flags above.
	horizons []int
	fillKind data.Fill
	kind     rnn.Kind
	explicit map[string]bool // flags given on the command line
}

func runAR(args []string, stdout, stderr io.Writer) error {
	f, c, err := parseARFlags(args, stderr)
	if err != nil {
		return err
	}
	series, label, err := loadSeries(*f, f.fillKind)
	if err != nil {
		return err
	}
	out := stdout
	if c.json {
		out = stderr
	}
	res, err := trainAR(series, label, f, c, out)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	return nil
}

// parseARFlags reads and checks demo ar's flags.
func parseARFlags(args []string, stderr io.Writer) (*arFlags, *common, error) {
	fs, c := newFlags("ar", stderr)
	f := &arFlags{}
	fs.StringVar(&f.series, "series", "sunspots", "built-in series: sunspots (yearly, 1700-2008) or co2 (weekly Mauna Loa, 1958-2001, has gaps)")
	fs.StringVar(&f.file, "data", "", "read the series from this CSV file (with a header line) instead of a built-in one (not with -series)")
	fs.StringVar(&f.column, "column", "", "the column of -data to read")
	fs.StringVar(&f.fill, "fill", "none", "missing values: none (an error), drop or interpolate")
	fs.IntVar(&f.tau, "tau", 4, "order of the MLP AR model: how many past values it reads")
	fs.IntVar(&f.lsTau, "ls-tau", 9, "order of the least-squares linear AR baseline")
	fs.IntVar(&f.arHidden, "ar-hidden", 32, "width of the MLP AR model's hidden layer")
	fs.StringVar(&f.cell, "cell", "lstm", "cell of the latent AR model: rnn, lstm or gru")
	fs.IntVar(&f.hidden, "hidden", 32, "width of the latent AR model's state")
	fs.IntVar(&f.window, "window", 32, "number of past values the latent AR model reads")
	fs.IntVar(&f.epochs, "epochs", 100, "training epochs of the MLP AR model")
	fs.IntVar(&f.latentEpochs, "latent-epochs", 50, "training epochs of the latent AR model")
	fs.StringVar(&f.ks, "k", "1,2,4,8", "forecast horizons k to score, comma-separated")
	fs.BoolVar(&f.diff, "diff", false, "train the MLP and latent AR models on the changes x_t - x_{t-1} (for series with a trend, such as co2)")
	if err := parse(fs, args); err != nil {
		return nil, nil, err
	}
	f.explicit = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.explicit[fl.Name] = true })
	if f.file != "" && f.explicit["series"] {
		return nil, nil, usagef("-series %s and -data %s name two series: give -series for a built-in one, or -data FILE -column NAME for a CSV file", f.series, f.file)
	}
	var err error
	if f.horizons, err = parseKs(f.ks); err != nil {
		return nil, nil, err
	}
	if f.fillKind, err = parseFill(f.fill); err != nil {
		return nil, nil, err
	}
	if f.kind, err = rnn.ParseKind(f.cell); err != nil {
		return nil, nil, usagef("-cell: %v", err)
	}
	for _, v := range []struct {
		name string
		val  int
	}{{"-tau", f.tau}, {"-ls-tau", f.lsTau}, {"-ar-hidden", f.arHidden}, {"-hidden", f.hidden}, {"-window", f.window}, {"-epochs", f.epochs}, {"-latent-epochs", f.latentEpochs}} {
		if v.val < 1 {
			return nil, nil, usagef("%s %d: must be at least 1", v.name, v.val)
		}
	}
	return f, c, nil
}

func parseKs(s string) ([]int, error) {
	var ks []int
	for _, f := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			return nil, usagef("-k %q: want positive whole numbers separated by commas", s)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

func parseFill(s string) (data.Fill, error) {
	switch s {
	case "none":
		return data.FillNone, nil
	case "drop":
		return data.FillDrop, nil
	case "interpolate":
		return data.FillInterpolate, nil
	}
	return 0, usagef("-fill %q: want none, drop or interpolate", s)
}

// loadSeries reads the series the flags name and a label for it.
func loadSeries(f arFlags, fill data.Fill) (*data.Series, string, error) {
	hint := func(err error) error {
		if fill == data.FillNone && strings.Contains(err.Error(), "missing values") {
			return fmt.Errorf("%w (rerun with -fill drop or -fill interpolate)", err)
		}
		return err
	}
	if f.file != "" {
		if f.column == "" {
			return nil, "", usagef("-data %s needs -column NAME", f.file)
		}
		s, err := data.ReadSeriesCSV(f.file, f.column, fill)
		if err != nil {
			return nil, "", hint(err)
		}
		return s, fmt.Sprintf("%s (%s)", filepath.Base(f.file), f.column), nil
	}
	if f.column != "" {
		return nil, "", usagef("-column applies to -data only")
	}
	switch f.series {
	case "sunspots":
		s, err := builtin.Sunspots()
		return s, "yearly sunspots", err
	case "co2":
		s, err := builtin.CO2(fill)
		if err != nil {
			return nil, "", hint(err)
		}
		return s, "weekly CO2 at Mauna Loa (ppm)", nil
	}
	return nil, "", usagef("-series %q: want sunspots or co2 (or -data FILE -column NAME)", f.series)
}

// arResult is what demo ar prints with -json: test RMSEs in the series' units.
type arResult struct {
	Series     string  `json:"series"`
	Values     int     `json:"values"`
	Train      int     `json:"train_values"`
	Test       int     `json:"test_values"`
	Tau        int     `json:"tau"`
	LSTau      int     `json:"ls_tau"`
	Cell       string  `json:"cell"`
	Hidden     int     `json:"hidden"`
	Window     int     `json:"window"`
	Diff       bool    `json:"diff"`
	Seed       uint64  `json:"seed"`
	Persist    float64 `json:"persistence"`      // 1-step RMSE
	LinearAR   float64 `json:"least_squares_ar"` // 1-step RMSE
	AR         float64 `json:"ar"`               // 1-step RMSE
	LatentAR   float64 `json:"latent_ar"`        // 1-step RMSE
	ARLoss     float64 `json:"ar_train_loss"`    // final epoch, standardised units
	LatentLoss float64 `json:"latent_ar_train_loss"`
	// KStep holds the k-step RMSE of each model by k.
	KStep   map[string]map[string]float64 `json:"k_step"`
	Seconds float64                       `json:"seconds"`
}

// arModels are demo ar's models, trained on the training part of the series.
type arModels struct {
	ps         *graph.Params
	scaler     data.Scaler
	ar         *rnn.AR
	latent     *rnn.LatentAR
	linear     *rnn.LinearAR
	arLoss     []float64 // the training loss of each epoch
	latentLoss []float64
}

func trainAR(s *data.Series, label string, f *arFlags, c *common, out io.Writer) (*arResult, error) {
	start := time.Now()
	train, test, err := data.SplitSeries(s.Values, arTrainFrac)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	if err := checkOrders(f, label, len(s.Values), len(train)); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%s: %d values; training on the first %d, testing on the last %d (20%%)\n", label, len(s.Values), len(train), len(test))
	if len(s.Missing) > 0 {
		fmt.Fprintf(out, "%d missing values: %s (%d interpolated)\n", len(s.Missing), f.fill, len(s.Filled))
	}
	m, err := fitARModels(train, label, f, c.seed, out)
	if err != nil {
		return nil, err
	}
	res, forecasts, err := scoreAR(s, label, len(train), test, f, m, out)
	if err != nil {
		return nil, err
	}
	res.Seed = c.seed
	if c.out != "" {
		if err := writeARFiles(c.out, s, label, f, len(train), forecasts, m, out); err != nil {
			return nil, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// fitARModels trains the MLP and latent AR models on the standardised training part (or its
// standardised changes with -diff) and fits the least-squares baseline.
func fitARModels(train []float64, label string, f *arFlags, seed uint64, out io.Writer) (*arModels, error) {
	base := train
	if f.diff {
		base = rnn.Differences(train)
	}
	scaler, err := data.FitScaler(base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	m := &arModels{ps: graph.NewParams(graph.Seed(seed)), scaler: scaler}
	if m.ar, err = rnn.NewAR(m.ps, "ar", f.tau, []int{f.arHidden}); err != nil {
		return nil, err
	}
	if m.latent, err = rnn.NewLatentAR(m.ps, "latent", f.kind, f.hidden, f.window); err != nil {
		return nil, err
	}
	if m.linear, err = rnn.FitLinearAR(train, f.lsTau); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	scaled := scaler.Transform(base)
	bar := newProgress(out, f.epochs+f.latentEpochs, "epoch")
	h, err := m.ar.Fit(scaled, graph.Epochs(f.epochs), graph.Batch(32), graph.Solver(solvers.NewAdam(0.01)),
		graph.OnEpoch(func(e graph.EpochStats) { bar.update(e.Epoch, fmt.Sprintf("MLP AR(%d) mse %.4f", f.tau, e.TrainLoss)) }))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	m.arLoss = epochLosses(h)
	h, err = m.latent.Fit(scaled, graph.Epochs(f.latentEpochs), graph.Batch(32), graph.Solver(solvers.NewAdam(0.01)),
		graph.OnEpoch(func(e graph.EpochStats) {
			bar.update(f.epochs+e.Epoch, fmt.Sprintf("latent AR (%v) mse %.4f", f.kind, e.TrainLoss))
		}))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	m.latentLoss = epochLosses(h)
	return m, bar.finish()
}

func epochLosses(h *graph.History) []float64 {
	out := make([]float64, len(h.Epochs))
	for i, e := range h.Epochs {
		out[i] = e.TrainLoss
	}
	return out
}

// wrap makes a model of standardised values (or changes, with -diff) predict the series.
func (m *arModels) wrap(p rnn.Predictor, diff bool) rnn.Predictor {
	p = rnn.Scaled{P: p, Scaler: m.scaler}
	if diff {
		p = rnn.Differenced{P: p}
	}
	return p
}

// scoreAR forecasts the test part with every model at every horizon, prints the table and
// returns the figures and the forecasts by model and horizon.
func scoreAR(s *data.Series, label string, from int, test []float64, f *arFlags, m *arModels, out io.Writer) (*arResult, map[string]map[int][]float64, error) {
	models := []struct {
		key, name string
		p         rnn.Predictor
	}{
		{"persistence", "persistence (the last value)", rnn.Persistence{}},
		{"least_squares_ar", fmt.Sprintf("least-squares AR(%d)", f.lsTau), m.linear},
		{"ar", fmt.Sprintf("MLP AR(%d), hidden %d", f.tau, f.arHidden), m.wrap(m.ar, f.diff)},
		{"latent_ar", fmt.Sprintf("latent AR: %v %d, window %d", f.kind, f.hidden, f.window), m.wrap(m.latent, f.diff)},
	}
	res := &arResult{Diff: f.diff, Series: label, Values: len(s.Values), Train: from, Test: len(test), Tau: f.tau, LSTau: f.lsTau,
		Cell: f.kind.String(), Hidden: f.hidden, Window: f.window, KStep: map[string]map[string]float64{},
		ARLoss: m.arLoss[len(m.arLoss)-1], LatentLoss: m.latentLoss[len(m.latentLoss)-1]}
	forecasts := map[string]map[int][]float64{}
	fmt.Fprintf(out, "\nRMSE of forecasts of the test part (%s units):\n%-40s", s.Name, "model")
	for _, k := range f.horizons {
		fmt.Fprintf(out, " %8s", fmt.Sprintf("%d-step", k))
	}
	fmt.Fprintln(out)
	for _, md := range models {
		res.KStep[md.key], forecasts[md.key] = map[string]float64{}, map[int][]float64{}
		fmt.Fprintf(out, "%-40s", md.name)
		for _, k := range f.horizons {
			pred, r, err := forecastRMSE(md.p, s.Values, from, k, test)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %s: %w", label, md.key, err)
			}
			forecasts[md.key][k], res.KStep[md.key][strconv.Itoa(k)] = pred, r
			fmt.Fprintf(out, " %8.2f", r)
		}
		fmt.Fprintln(out)
	}
	oneStep := map[string]float64{}
	for _, md := range models {
		pred, r, err := forecastRMSE(md.p, s.Values, from, 1, test)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", label, md.key, err)
		}
		forecasts[md.key][1], oneStep[md.key] = pred, r
	}
	res.Persist, res.LinearAR, res.AR, res.LatentAR = oneStep["persistence"], oneStep["least_squares_ar"], oneStep["ar"], oneStep["latent_ar"]
	fmt.Fprintf(out, "1-step: MLP AR %s persistence, latent AR %s persistence\n", beats(res.AR, res.Persist), beats(res.LatentAR, res.Persist))
	return res, forecasts, nil
}

// forecastRMSE returns the k-step forecasts of values[from:] and their RMSE against test.
func forecastRMSE(p rnn.Predictor, values []float64, from, k int, test []float64) ([]float64, float64, error) {
	pred, err := rnn.KStep(p, values, from, k)
	if err != nil {
		return nil, 0, err
	}
	r, err := rnn.RMSE(pred, test)
	return pred, r, err
}

func beats(model, baseline float64) string {
	if model < baseline {
		return "beats"
	}
	return "does not beat"
}

// seriesX returns the x coordinate of each value: its label as a number (a year; a YYYYMMDD
// date as a fractional year) when every label is one, else the index.
func seriesX(s *data.Series) ([]float64, string) {
	x := make([]float64, len(s.Values))
	ok := len(s.Labels) == len(s.Values)
	for i := 0; ok && i < len(x); i++ {
		l := strings.TrimSpace(s.Labels[i])
		if len(l) == 8 {
			if t, err := time.Parse("20060102", l); err == nil {
				x[i] = float64(t.Year()) + float64(t.YearDay()-1)/365.25
				continue
			}
		}
		v, err := strconv.ParseFloat(l, 64)
		if err != nil {
			ok = false
			break
		}
		x[i] = v
	}
	if ok {
		return x, "year"
	}
	for i := range x {
		x[i] = float64(i)
	}
	return x, "step"
}

func writeARFiles(dir string, s *data.Series, label string, f *arFlags, from int,
	forecasts map[string]map[int][]float64, m *arModels, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	x, xlabel := seriesX(s)
	kmax := slices.Max(f.horizons)
	tx := x[from:]
	first := max(0, from-2*len(tx)) // show the test part and twice as much before it
	fc := viz.ForecastPlot{
		Title:  fmt.Sprintf("%s: forecasts of the test part", label),
		XLabel: xlabel, YLabel: s.Name,
		Observed:  viz.Series{Name: s.Name, X: x[first:], Y: s.Values[first:]},
		ShowTest:  true,
		TestStart: x[from],
		Forecasts: []viz.Series{
			{Name: fmt.Sprintf("MLP AR(%d), 1-step", f.tau), X: tx, Y: forecasts["ar"][1]},
			{Name: fmt.Sprintf("latent AR (%v), 1-step", f.kind), X: tx, Y: forecasts["latent_ar"][1]},
		},
	}
	if kmax > 1 {
		fc.Forecasts = append(fc.Forecasts,
			viz.Series{Name: fmt.Sprintf("MLP AR(%d), %d-step", f.tau, kmax), X: tx, Y: forecasts["ar"][kmax]},
			viz.Series{Name: fmt.Sprintf("latent AR (%v), %d-step", f.kind, kmax), X: tx, Y: forecasts["latent_ar"][kmax]})
	}
	paths := []string{filepath.Join(dir, "ar-forecast.png"), filepath.Join(dir, "ar-loss.png"), filepath.Join(dir, "ar.safetensors")}
	if err := viz.Forecast(paths[0], fc); err != nil {
		return err
	}
	if err := viz.Lines(paths[1], viz.LinePlot{
		Title: "training loss (standardised units)", XLabel: "epoch", YLabel: "mean squared error", LogY: true,
		Series: []viz.Series{{Name: fmt.Sprintf("MLP AR(%d)", f.tau), Y: m.arLoss}, {Name: fmt.Sprintf("latent AR (%v)", f.kind), Y: m.latentLoss}},
	}); err != nil {
		return err
	}
	// Both models live in one parameter set: one file holds them, with the scaling they read.
	meta := map[string]string{
		"series": label, "tau": strconv.Itoa(f.tau), "ar_hidden": strconv.Itoa(f.arHidden), "cell": f.kind.String(),
		"hidden": strconv.Itoa(f.hidden), "window": strconv.Itoa(f.window), "diff": strconv.FormatBool(f.diff),
		"scaler_mean": strconv.FormatFloat(m.scaler.Mean, 'g', -1, 64), "scaler_std": strconv.FormatFloat(m.scaler.Std, 'g', -1, 64),
	}
	if err := graph.SaveCheckpoint(paths[2], m.ps, nil, &graph.Extra{Meta: meta}); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s\n", strings.Join(paths, ", "))
	return nil
}
