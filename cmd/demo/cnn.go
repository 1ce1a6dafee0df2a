package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/solvers"
	"github.com/unroll-ml/unroll/viz"
)

func init() {
	register(command{name: "cnn", summary: "train a CNN (W1 net or LeNet-5) on MNIST and look at what it learned", run: runCNN})
}

type cnnFlags struct {
	model    string
	classic  bool
	epochs   int
	steps    int
	train    int
	test     int
	batch    int
	lr       float64
	schedule string
	dropout  float64
	dataDir  string
	resume   string
	clip     float64
	ckptStep int // write the checkpoint every this many steps (0: after each epoch only)
}

// cnnResult is what -json prints.
type cnnResult struct {
	Model           string           `json:"model"`
	Epochs          int              `json:"epochs"`
	Steps           int              `json:"steps"`
	TrainImages     int              `json:"train_images"`
	TestImages      int              `json:"test_images"`
	TestAccuracy    float64          `json:"test_accuracy"`
	TestLoss        float64          `json:"test_loss"`
	ImagesPerSecond float64          `json:"images_per_second"`
	History         []cnn.EpochStats `json:"history"`
	Confusion       [][]int          `json:"confusion"`
	Checkpoint      string           `json:"checkpoint,omitempty"`
}

func runCNN(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("cnn", stderr)
	var f cnnFlags
	fs.StringVar(&f.model, "model", "w1", "network: w1 (the benchmark net) or lenet (LeNet-5)")
	fs.BoolVar(&f.classic, "classic", false, "LeNet-5 with sigmoid and average pooling, as in 1998")
	fs.IntVar(&f.epochs, "epochs", 1, "epochs to train (in all, counting a resumed run's)")
	fs.IntVar(&f.steps, "steps", 0, "stop after this many training steps in all (0: no limit)")
	fs.IntVar(&f.train, "train", 5000, "training images to use, from the start of the set (0: all)")
	fs.IntVar(&f.test, "test", 0, "test images to evaluate on (0: all)")
	fs.IntVar(&f.batch, "batch", 64, "training batch size")
	fs.Float64Var(&f.lr, "lr", 1e-3, "Adam learning rate")
	fs.StringVar(&f.schedule, "schedule", "none", "learning-rate schedule: none or cosine (over all epochs)")
	fs.Float64Var(&f.dropout, "dropout", 0, "dropout before each dense layer")
	fs.StringVar(&f.dataDir, "data", "", "directory of an IDX data set in MNIST's file names (default: the built-in MNIST)")
	fs.StringVar(&f.resume, "resume", "", "checkpoint to continue from")
	fs.Float64Var(&f.clip, "clip", 0, "clip the gradients' global norm at this value (0: no clipping)")
	fs.IntVar(&f.ckptStep, "checkpoint-every", 0, "also write the checkpoint every this many steps (needs -out; 0: after each epoch and at the end only)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case f.model != "w1" && f.model != "lenet":
		return usagef("-model must be w1 or lenet, not %q", f.model)
	case f.classic && f.model != "lenet":
		return usagef("-classic applies to -model lenet only")
	case f.epochs < 1:
		return usagef("-epochs must be at least 1, got %d", f.epochs)
	case f.steps < 0 || f.train < 0 || f.test < 0:
		return usagef("-steps, -train and -test must not be negative")
	case f.batch < 1:
		return usagef("-batch must be at least 1, got %d", f.batch)
	case !(f.lr > 0) || math.IsInf(f.lr, 0):
		return usagef("-lr must be positive and finite, got %v", f.lr)
	case !(f.clip >= 0) || math.IsInf(f.clip, 0):
		return usagef("-clip must be 0 (none) or a positive number, got %v", f.clip)
	case f.ckptStep < 0:
		return usagef("-checkpoint-every must not be negative, got %d", f.ckptStep)
	case f.ckptStep > 0 && c.out == "":
		return usagef("-checkpoint-every needs -out DIR to write the checkpoint in")
	case f.schedule != "none" && f.schedule != "cosine":
		return usagef("-schedule must be none or cosine, not %q", f.schedule)
	case !(f.dropout >= 0 && f.dropout < 1):
		return usagef("-dropout must be in [0, 1), got %v", f.dropout)
	}
	train, test, err := loadMNIST(f.dataDir)
	if err != nil {
		return err
	}
	if f.train > 0 && f.train < train.Len() {
		train = train.Head(f.train)
	}
	if f.test > 0 && f.test < test.Len() {
		test = test.Head(f.test)
	}

	ps := graph.NewParams(graph.Seed(c.seed))
	var opts []cnn.NetOption
	if f.dropout > 0 {
		opts = append(opts, cnn.Dropout(f.dropout))
	}
	var net *cnn.Net
	if f.model == "lenet" {
		if f.classic {
			opts = append(opts, cnn.Classic())
		}
		net, err = cnn.NewLeNet5(ps, opts...)
	} else {
		net, err = cnn.NewW1(ps, opts...)
	}
	if err != nil {
		return err
	}
	perEpoch := train.Len() / f.batch
	if perEpoch == 0 {
		return fmt.Errorf("%d training images make no batch of %d", train.Len(), f.batch)
	}
	var sopts []solvers.Option
	if f.schedule == "cosine" {
		sopts = append(sopts, solvers.WithSchedule(solvers.Cosine(perEpoch*f.epochs, 0)))
	}
	copts := []cnn.Option{cnn.Batch(f.batch)}
	if f.clip > 0 {
		copts = append(copts, cnn.ClipNorm(f.clip))
	}
	clf, err := cnn.NewClassifier(ps, net, solvers.NewAdam(f.lr, sopts...), copts...)
	if err != nil {
		return err
	}
	if f.resume != "" {
		if err := clf.Load(f.resume); err != nil {
			return err
		}
	}
	total := perEpoch * f.epochs
	if f.steps > 0 && f.steps < total {
		total = f.steps
	}
	if !c.json {
		fmt.Fprintf(stdout, "%s on %d training images (%d per step, %d steps), %d test images\n", net.Name(), train.Len(), f.batch, total, test.Len())
		fmt.Fprint(stdout, ps.Summary())
	}
	bar := newProgress(stderr, total, "step")
	bar.update(clf.Steps(), "")
	var ckpt string
	if c.out != "" {
		if err := os.MkdirAll(c.out, 0o755); err != nil {
			return err
		}
		ckpt = filepath.Join(c.out, "cnn.safetensors")
	}
	// saved is the step of the newest checkpoint this run wrote (-1: none); saveErr the first
	// failure to write one, reported at the end.
	saved := -1
	var saveErr error
	save := func() {
		if err := clf.Save(ckpt); err != nil {
			bar.println("checkpoint: %v", err)
			if saveErr == nil {
				saveErr = err
			}
			return
		}
		saved = clf.Steps()
	}
	fitStart := time.Now()
	hist, err := clf.Fit(train, cnn.Epochs(f.epochs), cnn.MaxSteps(f.steps), cnn.TestSet(test),
		cnn.OnStep(func(p cnn.Progress) {
			rate := float64(p.Images) / p.Elapsed.Seconds()
			bar.update(p.Step, fmt.Sprintf("epoch %d, loss %.3f, %.0f images/s", p.Epoch, p.Loss, rate))
			if f.ckptStep > 0 && p.Step%f.ckptStep == 0 {
				save()
			}
		}),
		cnn.OnEpoch(func(st cnn.EpochStats) {
			if !c.json {
				bar.println("epoch %d: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%, %.0f images/s",
					st.Epoch, st.TrainLoss, 100*st.TrainAccuracy, st.TestLoss, 100*st.TestAccuracy, st.ImagesPerSecond)
			}
			if ckpt != "" {
				save()
			}
		}))
	bar.finish()
	if errors.Is(err, graph.ErrNotFinite) {
		// The refused step changed nothing and is not saved: the checkpoint on disk, if any,
		// is the last good one.
		kept := "no checkpoint was written"
		switch {
		case saved >= 0:
			kept = fmt.Sprintf("the last good checkpoint, step %d, is kept in %s", saved, ckpt)
		case ckpt != "" && f.resume != "":
			kept = fmt.Sprintf("the checkpoint resumed from, %s, is unchanged", f.resume)
		}
		return fmt.Errorf("training diverged: %w; rerun with a lower -lr than %g or with -clip (such as -clip 5); %s", err, f.lr, kept)
	}
	if err != nil {
		return err
	}
	if saveErr != nil {
		return saveErr
	}
	ev, err := clf.Evaluate(test)
	if err != nil {
		return err
	}
	res := cnnResult{Model: net.Name(), Epochs: clf.Epochs(), Steps: clf.Steps(), TrainImages: train.Len(), TestImages: test.Len(),
		TestAccuracy: ev.Accuracy, TestLoss: ev.Loss, History: hist.Epochs, Confusion: ev.Confusion}
	if res.History == nil {
		res.History = []cnn.EpochStats{}
	}
	var seen int
	var secs float64
	for _, st := range hist.Epochs {
		seen += st.Steps * f.batch
		secs += st.Seconds
	}
	if secs > 0 {
		res.ImagesPerSecond = float64(seen) / secs
	} else if el := time.Since(fitStart).Seconds(); el > 0 {
		res.ImagesPerSecond = float64(clf.Steps()*f.batch) / el
	}
	if ckpt != "" {
		if err := clf.Save(ckpt); err != nil {
			return err
		}
		res.Checkpoint = ckpt
		if err := cnnFigures(c.out, clf, hist, test); err != nil {
			return err
		}
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "test accuracy %.2f%%, test loss %.4f (%d images), training %.0f images/s\n", 100*ev.Accuracy, ev.Loss, ev.N, res.ImagesPerSecond)
	fmt.Fprintln(stdout, "confusion matrix (rows: true digit, columns: predicted):")
	fmt.Fprint(stdout, formatConfusion(ev.Confusion))
	if c.out != "" {
		fmt.Fprintf(stdout, "wrote %s and the figures loss.png, accuracy.png, kernels.png, featuremaps.png in %s\n", ckpt, c.out)
	}
	return nil
}

// loadMNIST reads the IDX set in dir, or the built-in MNIST when dir is empty.
func loadMNIST(dir string) (train, test *data.ImageSet, err error) {
	if dir == "" {
		return builtin.MNIST()
	}
	return data.LoadMNIST(dir)
}

func formatConfusion(m [][]int) string {
	var sb strings.Builder
	sb.WriteString("     ")
	for j := range m {
		fmt.Fprintf(&sb, "%6d", j)
	}
	sb.WriteString("\n")
	for i, row := range m {
		fmt.Fprintf(&sb, "%4d ", i)
		for _, n := range row {
			fmt.Fprintf(&sb, "%6d", n)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// cnnFigures writes the loss and accuracy curves per epoch, the first convolution's kernels
// and the feature maps of the first test digit after each convolution.
func cnnFigures(dir string, clf *cnn.Classifier, hist *cnn.History, test *data.ImageSet) error {
	var ep, trL, teL, trA, teA []float64
	for _, st := range hist.Epochs {
		ep = append(ep, float64(st.Epoch))
		trL, teL = append(trL, st.TrainLoss), append(teL, st.TestLoss)
		trA, teA = append(trA, 100*st.TrainAccuracy), append(teA, 100*st.TestAccuracy)
	}
	if len(ep) > 0 {
		if err := viz.Lines(filepath.Join(dir, "loss.png"), viz.LinePlot{Title: "Softmax cross-entropy per epoch", XLabel: "epoch", YLabel: "loss",
			Series: []viz.Series{{Name: "train", X: ep, Y: trL}, {Name: "test", X: ep, Y: teL}}}); err != nil {
			return err
		}
		if err := viz.Lines(filepath.Join(dir, "accuracy.png"), viz.LinePlot{Title: "Accuracy per epoch", XLabel: "epoch", YLabel: "accuracy (%)",
			Series: []viz.Series{{Name: "train", X: ep, Y: trA}, {Name: "test", X: ep, Y: teA}}}); err != nil {
			return err
		}
	}
	w := clf.Params().Value("conv1.weight")
	s := w.Shape() // (out, in, kH, kW)
	if err := viz.ImageGrid(filepath.Join(dir, "kernels.png"), viz.Grid{Title: "conv1 kernels", Images: graph.Float64s(w),
		N: s[0] * s[1], H: s[2], W: s[3], Colors: viz.Diverging, Norm: viz.NormGlobal}); err != nil {
		return err
	}
	it, err := data.NewImageBatches(test, 1, data.Dtype(clf.Params().Dtype()))
	if err != nil {
		return err
	}
	first, ok := it.Next()
	if !ok {
		return nil
	}
	maps, err := clf.FeatureMaps(first.X)
	if err != nil {
		return err
	}
	grid := viz.Grid{Title: fmt.Sprintf("a test digit (%d) and its feature maps", first.Labels[0]), Images: graph.Float64s(first.X), N: 1, H: test.H, W: test.W, Titles: []string{"input"}}
	for _, m := range maps {
		grid.Images = append(grid.Images, upsample(m, test.H, test.W)...)
		for ch := 0; ch < m.C; ch++ {
			grid.N++
			grid.Titles = append(grid.Titles, fmt.Sprintf("%s[%d]", m.Name, ch))
		}
	}
	grid.Cols = 8
	return viz.ImageGrid(filepath.Join(dir, "featuremaps.png"), grid)
}

// upsample repeats each pixel of every channel of m so that each becomes h x w (nearest
// neighbour), so maps of different sizes share one grid.
func upsample(m cnn.FeatureMap, h, w int) []float64 {
	out := make([]float64, 0, m.C*h*w)
	for ch := 0; ch < m.C; ch++ {
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				out = append(out, m.Values[(ch*m.H+i*m.H/h)*m.W+j*m.W/w])
			}
		}
	}
	return out
}
