package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

func init() {
	register(command{name: "cnn", summary: "train a CNN (the small CNN of workload W1, or LeNet-5) on MNIST and look at what it learned", run: runCNN, parallel: true})
}

// cnnFlags are demo cnn's flags.
type cnnFlags struct {
	*common
	model    string
	classic  bool
	epochs   int // in all, counting a resumed run's
	steps    int // in all, counting a resumed run's (0: no limit)
	train    int
	test     int
	batch    int
	lr       float64
	schedule string
	dropout  float64
	dataDir  string
	resume   string
	clip     float64
	ckptStep int // write the checkpoint every this many steps (0: after each epoch)
}

// cnnResult is what -json prints.
type cnnResult struct {
	Model           string             `json:"model"`
	Epochs          int                `json:"epochs"`
	Steps           int                `json:"steps"`
	TrainImages     int                `json:"train_images"`
	TestImages      int                `json:"test_images"`
	Normalization   cnnNormalization   `json:"normalization"`
	TestAccuracy    float64            `json:"test_accuracy"`
	TestLoss        float64            `json:"test_loss"`
	ImagesPerSecond float64            `json:"images_per_second"`
	History         []graph.EpochStats `json:"history"`
	Confusion       [][]int            `json:"confusion"`
	Checkpoint      string             `json:"checkpoint,omitempty"`
	ONNX            string             `json:"onnx,omitempty"` // the classifier as an ONNX file
	clf             *cnn.Classifier    // for the figures
	test            *data.ImageSet     // normalised as trained
	hist            *graph.History     // every completed epoch
	norm            data.Normalization // of the training data
	out             string             // the checkpoint's and figures' directory, "" for none
	perEpoch        int                // training steps per epoch
	stepLoss        []stepLoss         // the loss of every step this process trained
	figures         []string           // the figures written, by file name
}

// stepLoss is one training step's loss.
type stepLoss struct {
	step int // counted from the run's start, 1 first
	loss float64
}

// cnnNormalization is the training data's normalisation as -json prints it.
type cnnNormalization struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

func runCNN(args []string, stdout, stderr io.Writer) error {
	f, err := cnnParse(args, stderr)
	if err != nil {
		return err
	}
	res, err := cnnRun(f, stdout, stderr)
	if err != nil || !rank0() {
		return err
	}
	return cnnReport(f, res, stdout)
}

// cnnParse reads and checks demo cnn's flags.
func cnnParse(args []string, stderr io.Writer) (*cnnFlags, error) {
	fs, c := newFlags("cnn", stderr)
	f := &cnnFlags{common: c}
	cnnDefine(fs, f)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	switch {
	case f.model != "smallcnn" && f.model != "lenet":
		hint := ""
		if f.model == "w1" {
			hint = " (the net of workload W1 is smallcnn)"
		}
		return nil, usagef("-model must be smallcnn or lenet, not %q%s", f.model, hint)
	case f.classic && f.model != "lenet":
		return nil, usagef("-classic applies to -model lenet only")
	case f.epochs < 1:
		return nil, usagef("-epochs must be at least 1, got %d", f.epochs)
	case f.steps < 0 || f.train < 0 || f.test < 0:
		return nil, usagef("-steps, -train and -test must not be negative")
	case f.batch < 1:
		return nil, usagef("-batch must be at least 1, got %d", f.batch)
	case checkRanks(f.batch) != nil:
		return nil, checkRanks(f.batch)
	case !(f.lr > 0) || math.IsInf(f.lr, 0):
		return nil, usagef("-lr must be positive and finite, got %v", f.lr)
	case !(f.clip >= 0) || math.IsInf(f.clip, 0):
		return nil, usagef("-clip must be 0 (none) or a positive number, got %v", f.clip)
	case f.ckptStep < 0:
		return nil, usagef("-checkpoint-every must not be negative, got %d", f.ckptStep)
	case f.ckptStep > 0 && f.out == "":
		return nil, usagef("-checkpoint-every needs -out DIR to write the checkpoint in")
	case f.schedule != "none" && f.schedule != "cosine":
		return nil, usagef("-schedule must be none or cosine, not %q", f.schedule)
	case !(f.dropout >= 0 && f.dropout < 1):
		return nil, usagef("-dropout must be in [0, 1), got %v", f.dropout)
	}
	return f, nil
}

// cnnDefine declares demo cnn's own flags on fs.
func cnnDefine(fs *flag.FlagSet, f *cnnFlags) {
	fs.StringVar(&f.model, "model", "smallcnn", "network: smallcnn (the small CNN of workload W1, called w1 before) or lenet (LeNet-5)")
	fs.BoolVar(&f.classic, "classic", false, "LeNet-5 with sigmoid and average pooling, as in 1998")
	fs.IntVar(&f.epochs, "epochs", 1, "epochs to train (in all, counting a resumed run's)")
	fs.IntVar(&f.steps, "steps", 0, "stop after this many training steps in all (0: no limit)")
	fs.IntVar(&f.train, "train", 5000, "training images to use, from the start of the set (0: all)")
	fs.IntVar(&f.test, "test", 0, "test images to evaluate on (0: all)")
	fs.IntVar(&f.batch, "batch", 64, "training batch size (under mpirun, of all ranks together: each trains on its share)")
	fs.Float64Var(&f.lr, "lr", 1e-3, "Adam learning rate")
	fs.StringVar(&f.schedule, "schedule", "none", "learning-rate schedule: none or cosine (over all epochs)")
	fs.Float64Var(&f.dropout, "dropout", 0, "dropout before each dense layer")
	fs.StringVar(&f.dataDir, "data", "", "directory of an IDX data set in MNIST's file names, normalised with its training set's statistics (default: the built-in MNIST)")
	fs.StringVar(&f.resume, "resume", "", "checkpoint to continue from")
	fs.Float64Var(&f.clip, "clip", 0, "clip the gradients' global norm at this value (0: no clipping)")
	fs.IntVar(&f.ckptStep, "checkpoint-every", 0, "write the checkpoint every this many steps instead of after each epoch (needs -out; 0: after each epoch); it is always written at the end")
}

// cnnRun loads the data, builds or resumes the classifier, trains it and evaluates it.
func cnnRun(f *cnnFlags, stdout, stderr io.Writer) (*cnnResult, error) {
	train, test, norm, err := cnnData(f)
	if err != nil {
		return nil, err
	}
	clf, err := cnnClassifier(f)
	if err != nil {
		return nil, err
	}
	res := &cnnResult{Model: clf.Model().Name(), TrainImages: train.Len(), TestImages: test.Len(), clf: clf, norm: norm,
		Normalization: cnnNormalization{Mean: norm.Mean, Std: norm.Std}, perEpoch: train.Len() / f.batch}
	if f.out != "" {
		if err := mkdirRank0(f.out); err != nil {
			return nil, err
		}
		res.out, res.Checkpoint = f.out, filepath.Join(f.out, "cnn.safetensors")
	}
	start := time.Now()
	if res.hist, err = cnnFit(f, res, train, test, stdout, stderr); err != nil {
		return nil, err
	}
	res.test = test
	if !rank0() {
		return res, nil // rank 0 reports
	}
	ev, err := clf.Evaluate(test)
	if err != nil {
		return nil, err
	}
	res.Epochs, res.Steps = clf.Run().Epochs(), clf.Run().Steps()
	res.TestAccuracy, res.TestLoss, res.Confusion = ev.Accuracy, ev.Loss, ev.Confusion
	res.History = append([]graph.EpochStats{}, res.hist.Epochs...)
	if len(res.stepLoss) == 0 {
		return res, nil // nothing trained in this process: no speed to report
	}
	var seen int
	var secs float64
	for _, st := range res.hist.Epochs {
		seen, secs = seen+st.Steps*f.batch, secs+st.Seconds
	}
	if secs > 0 {
		res.ImagesPerSecond = float64(seen) / secs
	} else if el := time.Since(start).Seconds(); el > 0 {
		res.ImagesPerSecond = float64(len(res.stepLoss)*f.batch) / el
	}
	return res, nil
}

// cnnData reads the training and test sets (the first -train and -test images), normalised
// with the training set's statistics: MNIST's published ones for the built-in MNIST, those of
// the whole training file for -data.
func cnnData(f *cnnFlags) (train, test *data.ImageSet, norm data.Normalization, err error) {
	if f.dataDir == "" {
		train, test, err = builtin.MNIST()
	} else {
		train, test, err = data.LoadMNIST(f.dataDir)
	}
	if err != nil {
		return nil, nil, norm, err
	}
	norm = train.Norm
	if f.dataDir != "" {
		if norm, err = data.ChannelStats(train); err != nil {
			return nil, nil, norm, fmt.Errorf("%s: %w", f.dataDir, err)
		}
		if train, err = train.Normalize(norm); err != nil {
			return nil, nil, norm, fmt.Errorf("%s: %w", f.dataDir, err)
		}
		if test, err = test.Normalize(norm); err != nil {
			return nil, nil, norm, fmt.Errorf("%s: %w", f.dataDir, err)
		}
	}
	if f.train > 0 && f.train < train.Len() {
		train = train.Head(f.train)
	}
	if f.test > 0 && f.test < test.Len() {
		test = test.Head(f.test)
	}
	if train.Len()/f.batch == 0 {
		return nil, nil, norm, fmt.Errorf("%d training images make no batch of %d", train.Len(), f.batch)
	}
	return train, test, norm, nil
}

// cnnClassifier builds the network of -model and its classifier, and loads -resume.
func cnnClassifier(f *cnnFlags) (*cnn.Classifier, error) {
	ps := graph.NewParams(graph.Seed(f.seed))
	var opts []cnn.Option
	if f.dropout > 0 {
		opts = append(opts, cnn.Dropout(f.dropout))
	}
	var net *nodes.Sequential
	var err error
	if f.model == "lenet" {
		if f.classic {
			opts = append(opts, cnn.Classic())
		}
		net, err = cnn.NewLeNet5(ps, opts...)
	} else {
		net, err = cnn.NewSmallCNN(ps, opts...)
	}
	if err != nil {
		return nil, err
	}
	clf, err := cnn.NewClassifier(net)
	if err != nil {
		return nil, err
	}
	if f.resume != "" {
		if err := clf.LoadCheckpoint(f.resume); err != nil {
			return nil, err
		}
	}
	return clf, nil
}

// cnnFit trains what is left of -epochs and -steps, with a progress bar, scoring the test set
// after every epoch and writing the checkpoint as asked. A diverged run is an error that says
// which checkpoint is the last good one. A resumed run that has reached -epochs or -steps
// trains nothing and says so (and keeps its checkpoint in -out).
func cnnFit(f *cnnFlags, res *cnnResult, train, test *data.ImageSet, stdout, stderr io.Writer) (*graph.History, error) {
	clf := res.clf
	run := clf.Run()
	total := res.perEpoch * f.epochs
	if f.steps > 0 && f.steps < total {
		total = f.steps
	}
	if !f.json {
		fmt.Fprintf(stdout, "%s on %d training images (%d per step, %d steps in all), %d test images, normalised with %v\n",
			res.Model, train.Len(), f.batch, total, test.Len(), res.norm)
		fmt.Fprint(stdout, clf.Params().Summary())
		if world.Size() > 1 {
			fmt.Fprintf(stdout, "data-parallel over %d ranks (mpirun): each trains on %d images of every batch of %d\n", world.Size(), f.batch/world.Size(), f.batch)
		}
	}
	epochs, steps := f.epochs-run.Epochs(), f.steps-run.Steps()
	if epochs < 1 || (f.steps > 0 && steps < 1) { // done already: keep the checkpoint in -out
		note := stdout
		if f.json {
			note = stderr
		}
		fmt.Fprintf(note, "nothing to train: %s\n", cnnReached(f, run))
		h := run.History()
		if res.Checkpoint != "" && rank0() {
			return &h, clf.SaveCheckpoint(res.Checkpoint)
		}
		return &h, nil
	}
	if f.resume != "" && !f.json {
		fmt.Fprintf(stdout, "resuming %s at step %d (epoch %d)\n", f.resume, run.Steps(), run.Epochs()+1)
	}
	bar := newProgress(stderr, total, "step")
	bar.update(run.Steps(), "")
	saved := -1 // the step of the newest checkpoint this run wrote
	opts := cnnFitOptions(f, res, bar, &saved)
	opts = append(opts, graph.Epochs(epochs), graph.Steps(max(steps, 0)), graph.Validation(test))
	hist, err := clf.Fit(train, opts...)
	if berr := bar.finish(); err == nil {
		err = berr
	}
	if err != nil {
		return nil, divergedHint(err, f.lr, saved, res.Checkpoint, f.resume)
	}
	return hist, nil
}

// cnnReached says which end of training a resumed run has already reached.
func cnnReached(f *cnnFlags, run *graph.Run) string {
	if f.steps > 0 && run.Steps() >= f.steps {
		return fmt.Sprintf("the checkpoint %s has already reached step %d (-steps %d)", f.resume, run.Steps(), f.steps)
	}
	return fmt.Sprintf("the checkpoint %s has already completed %d epochs (-epochs %d)", f.resume, run.Epochs(), f.epochs)
}

// cnnFitOptions returns the solver, schedule, clipping, checkpoint and progress options of a
// fit; saved follows the step of the newest checkpoint written.
func cnnFitOptions(f *cnnFlags, res *cnnResult, bar *progress, saved *int) []graph.FitOption {
	opts := []graph.FitOption{graph.Batch(f.batch), graph.Solver(solvers.NewAdam(f.lr)), graph.ClipNorm(f.clip), dataParallel()}
	if f.schedule == "cosine" {
		opts = append(opts, graph.Schedule(solvers.Cosine(res.perEpoch*f.epochs, 0)))
	}
	if res.Checkpoint != "" {
		opts = append(opts, graph.Checkpoints(res.Checkpoint, f.ckptStep))
	}
	last := 0
	opts = append(opts, graph.OnStep(func(p graph.Progress) {
		rate := float64(p.Examples) / p.Elapsed.Seconds()
		bar.update(p.Step, fmt.Sprintf("epoch %d, loss %.3f, %.0f images/s", p.Epoch, p.Loss, rate))
		res.stepLoss = append(res.stepLoss, stepLoss{p.Step, p.Loss})
		last = p.Step
		if res.Checkpoint != "" && f.ckptStep > 0 && p.Step%f.ckptStep == 0 {
			*saved = p.Step // Fit writes it next
		}
	}), graph.OnEpoch(func(st graph.EpochStats) {
		if !f.json {
			v := st.Validation
			bar.println("epoch %d: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%, %.0f images/s",
				st.Epoch, st.TrainLoss, 100*st.TrainAccuracy, v.Loss, 100*v.Accuracy, st.ExamplesPerSec)
		}
		if res.Checkpoint != "" && f.ckptStep == 0 {
			*saved = last // Fit writes it next
		}
	}))
	return opts
}

// cnnReport writes the figures and the ONNX file and prints the result: one JSON object with
// -json, text otherwise.
func cnnReport(f *cnnFlags, res *cnnResult, stdout io.Writer) error {
	if res.out != "" {
		if err := cnnFigures(res); err != nil {
			return err
		}
		var err error
		if res.ONNX, err = writeONNX(res.out, res.clf); err != nil {
			return err
		}
	}
	if f.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	speed := "nothing trained in this run"
	if len(res.stepLoss) > 0 {
		speed = fmt.Sprintf("training %.0f images/s", res.ImagesPerSecond)
	}
	fmt.Fprintf(stdout, "test accuracy %.2f%%, test loss %.4f (%d images), %s\n",
		100*res.TestAccuracy, res.TestLoss, res.TestImages, speed)
	fmt.Fprintln(stdout, "confusion matrix (rows: true digit, columns: predicted):")
	fmt.Fprint(stdout, formatConfusion(res.Confusion))
	if res.out != "" {
		fmt.Fprintf(stdout, "wrote %s and the figures %s in %s\n", res.Checkpoint, strings.Join(res.figures, ", "), res.out)
		fmt.Fprintln(stdout, cnnONNXNote(res.ONNX, res.clf))
	}
	return nil
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
