package main

import (
	"encoding/json"
	"fmt"
	"io"
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
}

func runAR(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("ar", stderr)
	var f arFlags
	fs.StringVar(&f.series, "series", "sunspots", "built-in series: sunspots (yearly, 1700-2008) or co2 (weekly Mauna Loa, 1958-2001, has gaps)")
	fs.StringVar(&f.file, "data", "", "read the series from this CSV file (with a header line) instead")
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
		return err
	}
	ks, err := parseKs(f.ks)
	if err != nil {
		return err
	}
	fill, err := parseFill(f.fill)
	if err != nil {
		return err
	}
	kind, err := rnn.ParseKind(f.cell)
	if err != nil {
		return usagef("-cell: %v", err)
	}
	for _, v := range []struct {
		name string
		val  int
	}{{"-tau", f.tau}, {"-ls-tau", f.lsTau}, {"-ar-hidden", f.arHidden}, {"-hidden", f.hidden}, {"-window", f.window}, {"-epochs", f.epochs}, {"-latent-epochs", f.latentEpochs}} {
		if v.val < 1 {
			return usagef("%s %d: must be at least 1", v.name, v.val)
		}
	}
	series, label, err := loadSeries(f, fill)
	if err != nil {
		return err
	}
	out := stdout
	if c.json {
		out = stderr
	}
	res, err := trainAR(series, label, f, kind, ks, c, out)
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		return enc.Encode(res)
	}
	return nil
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

func trainAR(s *data.Series, label string, f arFlags, kind rnn.Kind, ks []int, c *common, out io.Writer) (*arResult, error) {
	start := time.Now()
	values := s.Values
	train, test, err := data.SplitSeries(values, 0.8)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	from := len(train)
	fmt.Fprintf(out, "%s: %d values; training on the first %d, testing on the last %d (20%%)\n", label, len(values), len(train), len(test))
	if len(s.Missing) > 0 {
		fmt.Fprintf(out, "%d missing values: %s (%d interpolated)\n", len(s.Missing), f.fill, len(s.Filled))
	}
	// The neural models learn standardised values, or standardised changes with -diff.
	base := train
	if f.diff {
		base = rnn.Differences(train)
	}
	scaler, err := data.FitScaler(base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	scaled := scaler.Transform(base)
	wrap := func(p rnn.Predictor) rnn.Predictor {
		p = rnn.Scaled{P: p, Scaler: scaler}
		if f.diff {
			p = rnn.Differenced{P: p}
		}
		return p
	}

	ps := graph.NewParams(graph.Seed(c.seed))
	ar, err := rnn.NewAR(ps, "ar", f.tau, rnn.ARHidden(f.arHidden))
	if err != nil {
		return nil, err
	}
	lat, err := rnn.NewLatentAR(ps, "latent", kind, f.hidden, f.window)
	if err != nil {
		return nil, err
	}
	lin, err := rnn.FitLinearAR(train, f.lsTau)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}

	bar := newProgress(out, f.epochs+f.latentEpochs, "epoch")
	xa, ya, err := data.Windows(scaled, f.tau)
	if err != nil {
		return nil, fmt.Errorf("%s: ar(%d): training part: %w", label, f.tau, err)
	}
	arFit, err := ar.Fit(xa, ya, rnn.FitEpochs(f.epochs), rnn.FitBatchSize(32), rnn.FitSolver(solvers.NewAdam(0.01)),
		rnn.FitOnEpoch(func(e int, loss float64) { bar.update(e, fmt.Sprintf("MLP AR(%d) mse %.4f", f.tau, loss)) }))
	if err != nil {
		return nil, err
	}
	xl, yl, err := data.Windows(scaled, f.window)
	if err != nil {
		return nil, fmt.Errorf("%s: latent ar (window %d): training part: %w", label, f.window, err)
	}
	latFit, err := lat.Fit(xl, yl, rnn.FitEpochs(f.latentEpochs), rnn.FitBatchSize(32), rnn.FitSolver(solvers.NewAdam(0.01)),
		rnn.FitOnEpoch(func(e int, loss float64) {
			bar.update(f.epochs+e, fmt.Sprintf("latent AR (%v) mse %.4f", kind, loss))
		}))
	if err != nil {
		return nil, err
	}
	bar.finish()

	models := []struct {
		key, name string
		p         rnn.Predictor
	}{
		{"persistence", "persistence (the last value)", rnn.Persistence{}},
		{"least_squares_ar", fmt.Sprintf("least-squares AR(%d)", f.lsTau), lin},
		{"ar", fmt.Sprintf("MLP AR(%d), hidden %d", f.tau, f.arHidden), wrap(ar)},
		{"latent_ar", fmt.Sprintf("latent AR: %v %d, window %d", kind, f.hidden, f.window), wrap(lat)},
	}
	res := &arResult{Diff: f.diff, Series: label, Values: len(values), Train: len(train), Test: len(test), Tau: f.tau, LSTau: f.lsTau,
		Cell: kind.String(), Hidden: f.hidden, Window: f.window, Seed: c.seed, KStep: map[string]map[string]float64{},
		ARLoss: arFit.Loss[len(arFit.Loss)-1], LatentLoss: latFit.Loss[len(latFit.Loss)-1]}
	forecasts := map[string]map[int][]float64{}
	fmt.Fprintf(out, "\nRMSE of forecasts of the test part (%s units):\n", s.Name)
	fmt.Fprintf(out, "%-40s", "model")
	for _, k := range ks {
		fmt.Fprintf(out, " %8s", fmt.Sprintf("%d-step", k))
	}
	fmt.Fprintln(out)
	for _, m := range models {
		res.KStep[m.key] = map[string]float64{}
		forecasts[m.key] = map[int][]float64{}
		fmt.Fprintf(out, "%-40s", m.name)
		for _, k := range ks {
			pred, err := rnn.KStep(m.p, values, from, k)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", label, m.key, err)
			}
			r, err := rnn.RMSE(pred, test)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", label, m.key, err)
			}
			forecasts[m.key][k] = pred
			res.KStep[m.key][strconv.Itoa(k)] = r
			fmt.Fprintf(out, " %8.2f", r)
		}
		fmt.Fprintln(out)
	}
	oneStep := map[string]float64{}
	for _, m := range models {
		pred, err := rnn.OneStep(m.p, values, from)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", label, m.key, err)
		}
		if oneStep[m.key], err = rnn.RMSE(pred, test); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", label, m.key, err)
		}
		forecasts[m.key][1] = pred
	}
	res.Persist, res.LinearAR, res.AR, res.LatentAR = oneStep["persistence"], oneStep["least_squares_ar"], oneStep["ar"], oneStep["latent_ar"]
	fmt.Fprintf(out, "1-step: MLP AR %s persistence, latent AR %s persistence\n", beats(res.AR, res.Persist), beats(res.LatentAR, res.Persist))

	if c.out != "" {
		if err := writeARFiles(c.out, s, label, f, kind, ks, from, forecasts, arFit, latFit, ps, scaler, out); err != nil {
			return nil, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
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

func writeARFiles(dir string, s *data.Series, label string, f arFlags, kind rnn.Kind, ks []int, from int,
	forecasts map[string]map[int][]float64, arFit, latFit *rnn.FitResult, ps *graph.Params, scaler data.Scaler, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	x, xlabel := seriesX(s)
	kmax := ks[len(ks)-1]
	for _, k := range ks {
		kmax = max(kmax, k)
	}
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
			{Name: fmt.Sprintf("latent AR (%v), 1-step", kind), X: tx, Y: forecasts["latent_ar"][1]},
		},
	}
	if kmax > 1 {
		fc.Forecasts = append(fc.Forecasts,
			viz.Series{Name: fmt.Sprintf("MLP AR(%d), %d-step", f.tau, kmax), X: tx, Y: forecasts["ar"][kmax]},
			viz.Series{Name: fmt.Sprintf("latent AR (%v), %d-step", kind, kmax), X: tx, Y: forecasts["latent_ar"][kmax]})
	}
	paths := []string{filepath.Join(dir, "ar-forecast.png"), filepath.Join(dir, "ar-loss.png"), filepath.Join(dir, "ar.safetensors")}
	if err := viz.Forecast(paths[0], fc); err != nil {
		return err
	}
	if err := viz.Lines(paths[1], viz.LinePlot{
		Title: "training loss (standardised units)", XLabel: "epoch", YLabel: "mean squared error", LogY: true,
		Series: []viz.Series{{Name: fmt.Sprintf("MLP AR(%d)", f.tau), Y: arFit.Loss}, {Name: fmt.Sprintf("latent AR (%v)", kind), Y: latFit.Loss}},
	}); err != nil {
		return err
	}
	meta := map[string]string{
		"series": label, "tau": strconv.Itoa(f.tau), "ar_hidden": strconv.Itoa(f.arHidden), "cell": kind.String(),
		"hidden": strconv.Itoa(f.hidden), "window": strconv.Itoa(f.window), "diff": strconv.FormatBool(f.diff),
		"scaler_mean": strconv.FormatFloat(scaler.Mean, 'g', -1, 64), "scaler_std": strconv.FormatFloat(scaler.Std, 'g', -1, 64),
	}
	if err := graph.SaveCheckpoint(paths[2], ps, nil, &graph.Extra{Meta: meta}); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s\n", strings.Join(paths, ", "))
	return nil
}
