package viz

import (
	"bytes"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

// outDir returns the directory for the pictures of a test: t.TempDir(), or
// the directory named by VIZ_SAMPLES, so that the pictures can be looked at:
//
//	VIZ_SAMPLES=/tmp/vizsamples go test ./viz/
func outDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("VIZ_SAMPLES"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// checkFile checks that path holds a non-empty picture of its format and,
// for PNG, returns its size.
func checkFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatalf("%s is empty", path)
	}
	switch filepath.Ext(path) {
	case ".png":
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if r := img.Bounds(); r.Dx() < 10 || r.Dy() < 10 {
			t.Fatalf("%s is only %dx%d pixels", path, r.Dx(), r.Dy())
		}
	case ".svg":
		if !bytes.Contains(b, []byte("<svg")) || !bytes.HasSuffix(bytes.TrimSpace(b), []byte("</svg>")) {
			t.Fatalf("%s is not a complete SVG document", path)
		}
	}
	// No temporary file may be left behind.
	tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp"))
	if len(tmps) > 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
}

// lossCurves imitates the history of a short training run.
func lossCurves() LinePlot {
	var train, test, acc []float64
	for e := 1; e <= 10; e++ {
		train = append(train, 2.3*math.Exp(-0.45*float64(e))+0.05)
		test = append(test, 2.3*math.Exp(-0.4*float64(e))+0.09)
	}
	for e := 1; e <= 10; e++ {
		acc = append(acc, 1-0.9*math.Exp(-0.5*float64(e)))
	}
	_ = acc
	return LinePlot{
		Title:  "LeNet-5 on MNIST",
		XLabel: "epoch",
		YLabel: "cross-entropy loss",
		Series: []Series{{Name: "train", Y: train}, {Name: "test", Y: test}},
	}
}

func stepLoss(n int) []float64 {
	r := rand.New(rand.NewPCG(1, 2))
	ys := make([]float64, n)
	for i := range ys {
		ys[i] = 2.3*math.Exp(-float64(i)/300) + 0.1 + 0.15*r.Float64()
	}
	return ys
}

func TestLines(t *testing.T) {
	dir := outDir(t)
	acc := LinePlot{
		Title:  "Accuracy",
		XLabel: "epoch",
		YLabel: "accuracy",
		Series: []Series{
			{Name: "train", Y: []float64{0.82, 0.91, 0.94, 0.955, 0.963, 0.97, 0.974}},
			{Name: "test", Y: []float64{0.88, 0.92, 0.935, 0.945, 0.95, 0.952, 0.951}},
		},
	}
	steps := LinePlot{
		Title: "Loss per step", XLabel: "step", YLabel: "loss", LogY: true,
		Series: []Series{{Name: "lstm", Y: stepLoss(2000)}, {Name: "gru", Y: stepLoss(1500)}},
	}
	diverged := LinePlot{
		Title: "A run that diverged", XLabel: "step", YLabel: "loss",
		Series: []Series{{Name: "sgd lr=1", X: []float64{0, 10, 20, 30, 40, 50}, Y: []float64{2.3, 1.9, math.NaN(), 4, math.Inf(1), 3}}},
	}
	// Uniform noise over the full range: every segment crosses the others,
	// the worst case for the rasterizer.
	r := rand.New(rand.NewPCG(7, 8))
	noise := make([]float64, 20000)
	for i := range noise {
		noise[i] = r.Float64()
	}
	noisy := LinePlot{Title: "Noise", Series: []Series{{Name: "noise", Y: noise}}}
	for name, p := range map[string]LinePlot{"loss": lossCurves(), "accuracy": acc, "steps": steps, "diverged": diverged, "noise": noisy} {
		for _, ext := range []string{".png", ".svg"} {
			path := filepath.Join(dir, "lines_"+name+ext)
			if err := Lines(path, p); err != nil {
				t.Fatal(err)
			}
			checkFile(t, path)
		}
	}
}

func TestLinesErrors(t *testing.T) {
	dir := t.TempDir()
	ok := []Series{{Name: "a", Y: []float64{1, 2}}}
	tests := []struct {
		name string
		path string
		plot LinePlot
		want string
	}{
		{"extension", "loss.jpg", LinePlot{Series: ok}, `unknown file extension ".jpg"`},
		{"no extension", "loss", LinePlot{Series: ok}, "no file extension"},
		{"no series", "loss.png", LinePlot{}, "no series"},
		{"empty series", "loss.png", LinePlot{Series: []Series{{Name: "train"}}}, `series 0 ("train") is empty`},
		{"lengths", "loss.svg", LinePlot{Series: []Series{ok[0], {Name: "test", X: []float64{1, 2, 3}, Y: []float64{1, 2}}}}, `series 1 ("test") has 3 x values and 2 y values`},
		{"nan only", "loss.png", LinePlot{Series: []Series{{Y: []float64{math.NaN(), math.NaN()}}}}, "series 0 has no finite values"},
		{"log nonpositive", "loss.png", LinePlot{LogY: true, Series: []Series{{Name: "a", Y: []float64{0, -1}}}}, "no finite positive values"},
		{"size", "loss.png", LinePlot{Series: ok, Width: -1}, "size"},
		{"unwritable", filepath.Join(dir, "missing", "loss.png"), LinePlot{Series: ok}, "no such file"},
		{"directory", dir + "/.png", LinePlot{Series: ok}, ""},
	}
	if err := os.Mkdir(filepath.Join(dir, ".png"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			err := Lines(path, tt.plot)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "viz: lines ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestGradientFlow(t *testing.T) {
	dir := outDir(t)
	const T = 50
	curves := map[string][]float64{"rnn": nil, "lstm": nil, "gru": nil, "custom": nil}
	for k := 1; k <= T; k++ {
		curves["rnn"] = append(curves["rnn"], math.Pow(0.6, float64(k)))
		curves["lstm"] = append(curves["lstm"], 0.8*math.Pow(0.97, float64(k)))
		curves["gru"] = append(curves["gru"], 0.5*math.Pow(0.95, float64(k)))
		curves["custom"] = append(curves["custom"], 0.3*math.Pow(0.85, float64(k)))
	}
	// A gradient that underflowed to zero and one NaN: neither may crash.
	curves["rnn"][T-1] = 0
	curves["gru"][10] = math.NaN()
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, "gradflow"+ext)
		if err := GradientFlow(path, curves, ""); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path)
	}
	short := map[string][]float64{"LSTM": {0.5, 0.4, 0.35}, "RNN": {0.2, 0.04, 0.008}}
	path := filepath.Join(dir, "gradflow_short.png")
	if err := GradientFlow(path, short, "Three steps"); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path)
}

func TestThin(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	run := make(plotter.XYs, 100000)
	for i := range run {
		run[i] = plotter.XY{X: float64(i), Y: r.NormFloat64()}
	}
	run[500].Y, run[77777].Y = -100, 100
	got := thin(run, 4000)
	if len(got) > 4002 {
		t.Fatalf("thinned to %d points, want at most 4002", len(got))
	}
	if got[0] != run[0] || got[len(got)-1] != run[len(run)-1] {
		t.Fatal("first or last point lost")
	}
	lo, hi := 0.0, 0.0
	for i, p := range got {
		lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
		if i > 0 && p.X < got[i-1].X {
			t.Fatalf("point %d out of order", i)
		}
	}
	if lo != -100 || hi != 100 {
		t.Fatalf("extremes %g, %g, want -100, 100", lo, hi)
	}
	short := run[:10]
	if got := thin(short, 4000); len(got) != 10 {
		t.Fatalf("short run changed to %d points", len(got))
	}
}

func TestCellNames(t *testing.T) {
	got := cellNames(map[string][]float64{"zeta": nil, "gru": nil, "alpha": nil, "RNN": nil, "lstm": nil})
	want := []string{"RNN", "lstm", "gru", "alpha", "zeta"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestGradientFlowErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		path   string
		curves map[string][]float64
		want   string
	}{
		{"extension", "g.pdf", map[string][]float64{"rnn": {1}}, `unknown file extension ".pdf"`},
		{"none", "g.png", nil, "no curves"},
		{"empty", "g.png", map[string][]float64{"rnn": {1}, "lstm": {}}, `curve "lstm" is empty`},
		{"nan only", "g.svg", map[string][]float64{"gru": {math.NaN(), math.Inf(1)}}, `curve "gru" has no finite values`},
		{"all zero", "g.png", map[string][]float64{"rnn": {0, 0}, "gru": {-1}}, "no curve has a positive value"},
		{"unwritable", "missing/g.png", map[string][]float64{"rnn": {1}}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := GradientFlow(filepath.Join(dir, tt.path), tt.curves, "")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "viz: gradient flow ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// sine returns a noisy periodic series like d2l's time-series example.
func sine(n int) (xs, ys []float64) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 1; i <= n; i++ {
		xs = append(xs, float64(i))
		ys = append(ys, math.Sin(0.01*float64(i))+0.2*r.NormFloat64())
	}
	return xs, ys
}

func TestForecast(t *testing.T) {
	dir := outDir(t)
	xs, ys := sine(1000)
	const tau, split = 4, 600
	var x1, y1, xk, yk []float64
	for i := tau; i < len(ys); i++ {
		x1 = append(x1, xs[i])
		y1 = append(y1, math.Sin(0.01*xs[i]))
	}
	// A k-step forecast that drifts off after the split.
	for i := split; i < len(ys); i++ {
		xk = append(xk, xs[i])
		yk = append(yk, math.Sin(0.01*float64(split))*math.Exp(-float64(i-split)/60))
	}
	f := ForecastPlot{
		Title: "Forecasts", XLabel: "time", YLabel: "x",
		Observed:  Series{X: xs, Y: ys},
		Forecasts: []Series{{Name: "1-step", X: x1, Y: y1}, {Name: "multistep", X: xk, Y: yk}},
		ShowTest:  true, TestStart: split,
	}
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, "forecast"+ext)
		if err := Forecast(path, f); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path)
	}
	// Observed only, no test part.
	path := filepath.Join(dir, "forecast_plain.png")
	if err := Forecast(path, ForecastPlot{Observed: Series{Name: "sunspots", Y: ys[:200]}}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path)
}

func TestForecastErrors(t *testing.T) {
	dir := t.TempDir()
	obs := Series{Y: []float64{1, 2, 3}}
	tests := []struct {
		name string
		path string
		plot ForecastPlot
		want string
	}{
		{"extension", "f.gif", ForecastPlot{Observed: obs}, `unknown file extension ".gif"`},
		{"no observed", "f.png", ForecastPlot{}, `series "observed" (observed) is empty`},
		{"forecast lengths", "f.png", ForecastPlot{Observed: obs, Forecasts: []Series{{Name: "1-step", X: []float64{1}, Y: []float64{1, 2}}}}, `forecast 0 ("1-step") has 1 x values and 2 y values`},
		{"forecast empty", "f.svg", ForecastPlot{Observed: obs, Forecasts: []Series{{Name: "k"}}}, `forecast 0 ("k") is empty`},
		{"nan observed", "f.png", ForecastPlot{Observed: Series{Y: []float64{math.NaN()}}}, "no finite values"},
		{"test start", "f.png", ForecastPlot{Observed: obs, ShowTest: true, TestStart: math.NaN()}, "test start NaN"},
		{"unwritable", "missing/f.png", ForecastPlot{Observed: obs}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Forecast(filepath.Join(dir, tt.path), tt.plot)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "viz: forecast ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// kernels returns out*in random 3x3 kernels with a visible structure.
func kernels(out, in int) []float64 {
	r := rand.New(rand.NewPCG(5, 6))
	vs := make([]float64, out*in*9)
	for i := range vs {
		vs[i] = 0.3 * r.NormFloat64()
	}
	// First kernel: a vertical edge detector.
	copy(vs, []float64{-1, 0, 1, -2, 0, 2, -1, 0, 1})
	return vs
}

// featureMaps returns c maps of h x w with blobs and gradients.
func featureMaps(c, h, w int) []float64 {
	vs := make([]float64, c*h*w)
	for k := range c {
		for i := range h {
			for j := range w {
				cx, cy := float64(k%4)*float64(w)/4+3, float64(k/4)*float64(h)/4+3
				d := math.Hypot(float64(j)-cx, float64(i)-cy)
				vs[k*h*w+i*w+j] = math.Max(0, math.Cos(d/3)) * float64(k+1)
			}
		}
	}
	return vs
}

func TestImageGrid(t *testing.T) {
	dir := outDir(t)
	titles := make([]string, 16)
	for i := range titles {
		titles[i] = "ch " + string(rune('0'+i/10)) + string(rune('0'+i%10))
	}
	withNaN := featureMaps(4, 12, 12)
	withNaN[5] = math.NaN()
	grids := map[string]Grid{
		"kernels": {Title: "conv1 kernels (8 out x 4 in)", Images: kernels(8, 4), N: 32, H: 3, W: 3, Cols: 4,
			Colors: Diverging, Norm: NormGlobal},
		"kernels_gray": {Title: "conv1 kernels", Images: kernels(8, 1), N: 8, H: 3, W: 3},
		"maps": {Title: "feature maps after conv1", Images: featureMaps(16, 28, 28), N: 16, H: 28, W: 28,
			Titles: titles},
		"maps_global": {Images: featureMaps(16, 28, 28), N: 16, H: 28, W: 28, Norm: NormGlobal, Cols: 8},
		"one":         {Images: []float64{1, 2, 3, 4, 5, 6}, N: 1, H: 2, W: 3},
		"nan":         {Title: "with a NaN", Images: withNaN, N: 4, H: 12, W: 12, Colors: Diverging},
		"many":        {Title: "conv2 kernels (64 out x 32 in)", Images: kernels(64, 32), N: 2048, H: 3, W: 3, Cols: 32, Colors: Diverging},
		"constant":    {Images: make([]float64, 2*25), N: 2, H: 5, W: 5, Titles: []string{"zero", "also a longer caption"}},
	}
	for name, g := range grids {
		for _, ext := range []string{".png", ".svg"} {
			path := filepath.Join(dir, "grid_"+name+ext)
			if err := ImageGrid(path, g); err != nil {
				t.Fatal(err)
			}
			checkFile(t, path)
		}
	}
}

func TestImageGridPixels(t *testing.T) {
	// One 1x2 image, scale 10: the left value black, the right one white,
	// each a sharp 10x10 block inside a gray frame.
	path := filepath.Join(t.TempDir(), "px.png")
	if err := ImageGrid(path, Grid{Images: []float64{-1, 1}, N: 1, H: 1, W: 2, Scale: 10}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	x0, y0 := gridMargin+1, gridMargin+1
	// The picture is at least as wide as its footer, so the image is
	// centred: find its frame on the middle row of the first image row.
	for x := 0; x < img.Bounds().Dx(); x++ {
		if r, _, _, _ := img.At(x, y0+5).RGBA(); r>>8 == uint32(frameColour.R) {
			x0 = x + 1
			break
		}
	}
	for dy := range 10 {
		for dx := range 20 {
			r, g, b, _ := img.At(x0+dx, y0+dy).RGBA()
			want := uint32(0)
			if dx >= 10 {
				want = 255
			}
			if r>>8 != want || g>>8 != want || b>>8 != want {
				t.Fatalf("pixel (%d, %d) is %d,%d,%d, want %d", dx, dy, r>>8, g>>8, b>>8, want)
			}
		}
	}
}

func TestImageGridErrors(t *testing.T) {
	dir := t.TempDir()
	four := []float64{1, 2, 3, 4}
	tests := []struct {
		name string
		path string
		grid Grid
		want string
	}{
		{"extension", "k.bmp", Grid{Images: four, N: 1, H: 2, W: 2}, `unknown file extension ".bmp"`},
		{"zero n", "k.png", Grid{Images: four, H: 2, W: 2}, "N, H and W must be positive, have N=0 H=2 W=2"},
		{"negative h", "k.png", Grid{Images: four, N: 1, H: -2, W: 2}, "must be positive"},
		{"length", "k.png", Grid{Images: four, N: 2, H: 2, W: 2}, "2 images of 2x2 need 8 values, have 4"},
		{"titles", "k.svg", Grid{Images: four, N: 1, H: 2, W: 2, Titles: []string{"a", "b"}}, "2 titles for 1 images"},
		{"cols", "k.png", Grid{Images: four, N: 1, H: 2, W: 2, Cols: -1}, "cols -1 is negative"},
		{"scale", "k.png", Grid{Images: four, N: 1, H: 2, W: 2, Scale: -3}, "scale -3 is negative"},
		{"norm", "k.png", Grid{Images: four, N: 1, H: 2, W: 2, Norm: 7}, "unknown norm 7"},
		{"colors", "k.png", Grid{Images: four, N: 1, H: 2, W: 2, Colors: 9}, "unknown colour map 9"},
		{"nan only", "k.png", Grid{Images: []float64{math.NaN(), math.Inf(-1)}, N: 1, H: 1, W: 2}, "no finite values"},
		{"too large", "k.png", Grid{Images: four, N: 1, H: 2, W: 2, Scale: 1 << 20}, "too large"},
		{"unwritable", "missing/k.png", Grid{Images: four, N: 1, H: 2, W: 2}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ImageGrid(filepath.Join(dir, tt.path), tt.grid)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "viz: image grid ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		min, max  float64
		minLabels int
		maxLabels int
	}{
		{1e-30, 1, 2, 7},
		{1e-8, 10, 2, 7},
		{0.3, 0.9, 2, 10},
		{0.11, 0.19, 2, 10},
		{2, 700, 2, 10},
	}
	for _, tt := range tests {
		n := 0
		for _, tk := range (logTicks{}).Ticks(tt.min, tt.max) {
			if tk.Label != "" && tk.Value >= tt.min && tk.Value <= tt.max {
				n++
			}
		}
		if n < tt.minLabels || n > tt.maxLabels {
			t.Errorf("[%g, %g]: %d labels in range, want %d..%d", tt.min, tt.max, n, tt.minLabels, tt.maxLabels)
		}
	}
	if ticks := (logTicks{}).Ticks(0, 1); ticks != nil {
		t.Errorf("range from 0: %d ticks, want none", len(ticks))
	}
}

func TestWriteReplaces(t *testing.T) {
	// Writing twice to the same path replaces the file and leaves no
	// temporary file behind.
	path := filepath.Join(t.TempDir(), "loss.png")
	for range 2 {
		if err := Lines(path, lossCurves()); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files, want 1", len(entries))
	}
}

func TestOddData(t *testing.T) {
	// Data at the edges of float64 must draw without error or panic.
	dir := t.TempDir()
	odd := []Series{
		{Name: "one point", Y: []float64{3}},
		{Name: "constant", Y: []float64{5, 5, 5, 5}},
		{Name: "same x", X: []float64{2, 2, 2}, Y: []float64{1, 2, 3}},
		{Name: "huge", Y: []float64{-math.MaxFloat64, math.MaxFloat64}},
		{Name: "tiny", Y: []float64{5e-324, 1e-310, 1e-300}},
		{Name: "huge x", X: []float64{-1e300, 1e300}, Y: []float64{1, 2}},
	}
	for _, s := range odd {
		for _, logY := range []bool{false, true} {
			if logY && s.Name == "huge" {
				s.Y = []float64{1, math.MaxFloat64}
			}
			p := LinePlot{LogY: logY, Series: []Series{s}}
			if err := Lines(filepath.Join(dir, "odd.png"), p); err != nil {
				t.Errorf("%s, log %v: %v", s.Name, logY, err)
			}
		}
		if err := Forecast(filepath.Join(dir, "odd.svg"), ForecastPlot{Observed: s, ShowTest: true, TestStart: 1}); err != nil {
			t.Errorf("forecast %s: %v", s.Name, err)
		}
	}
	if err := GradientFlow(filepath.Join(dir, "odd.png"), map[string][]float64{"rnn": {math.MaxFloat64, 5e-324, 0}}, ""); err != nil {
		t.Error(err)
	}
	big := Grid{Images: []float64{-math.MaxFloat64, math.MaxFloat64, 0, math.NaN()}, N: 1, H: 2, W: 2}
	for _, c := range []ColorMap{Gray, Diverging} {
		big.Colors = c
		if err := ImageGrid(filepath.Join(dir, "odd.png"), big); err != nil {
			t.Error(err)
		}
	}
}
