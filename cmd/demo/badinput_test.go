package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// badInputFiles are the files the bad-input cases point the demo at.
type badInputFiles struct {
	dir        string // world-readable, so that a child process without privileges reads it
	mnist      string // a good tiny IDX data set
	corruptIDX string // an IDX data set whose training images are truncated
	countIDX   string // 320 training images but 319 labels
	smallIDX   string // 20x20 images
	constIDX   string // 28x28 images all black
	badLabel   string // a label of 10
	cnnCkpt    string // demo cnn's checkpoint (LeNet-5, batch 32)
	rnnCkpt    string // demo rnn's checkpoint
	garbage    string // bytes that are no checkpoint
	empty      string // an empty file
	text       string // 30,000 characters of Moby Dick
	tinyText   string // 40 characters
	badUTF8    string // text with an invalid byte
	gapCSV     string // a series with a gap
	infCSV     string // a series with an infinite value
	shortCSV   string // a series of 5 values
	hugeCSV    string // a series with a value whose square overflows
	csv120     string // a series of 120 values
	unreadable string // a file with mode 000
	notDir     string // a regular file where a directory is expected
}

func newBadInputFiles(t *testing.T) *badInputFiles {
	t.Helper()
	dir, err := os.MkdirTemp("", "unroll-badinput-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &badInputFiles{dir: dir}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	copyDir := func(from, name string) string {
		to := filepath.Join(dir, name)
		if err := os.CopyFS(to, os.DirFS(from)); err != nil {
			t.Fatal(err)
		}
		os.Chmod(to, 0o755)
		return to
	}
	good := tinyMNIST(t, 320, 50)
	f.mnist = copyDir(good, "mnist")
	f.corruptIDX = copyDir(good, "corrupt")
	img := filepath.Join(f.corruptIDX, "train-images-idx3-ubyte")
	b, _ := os.ReadFile(img)
	os.WriteFile(img, b[:len(b)-100], 0o644)
	f.countIDX = copyDir(good, "count")
	lab := filepath.Join(f.countIDX, "train-labels-idx1-ubyte")
	b, _ = os.ReadFile(lab)
	b[7]-- // 320 -> 319 labels in the header
	os.WriteFile(lab, b[:len(b)-1], 0o644)
	f.badLabel = copyDir(good, "label")
	lab = filepath.Join(f.badLabel, "train-labels-idx1-ubyte")
	b, _ = os.ReadFile(lab)
	b[len(b)-1] = 10
	os.WriteFile(lab, b, 0o644)
	f.smallIDX = filepath.Join(dir, "small")
	os.Mkdir(f.smallIDX, 0o755)
	f.constIDX = filepath.Join(dir, "const")
	os.Mkdir(f.constIDX, 0o755)
	pixels := make([]byte, 64*400)
	for i := range pixels {
		pixels[i] = byte(i) // not constant: demo cnn normalises with the set's statistics
	}
	for _, p := range []string{"train", "t10k"} {
		writeIDX(t, filepath.Join(f.smallIDX, p+"-images-idx3-ubyte"), []int{64, 20, 20}, pixels)
		writeIDX(t, filepath.Join(f.smallIDX, p+"-labels-idx1-ubyte"), []int{64}, make([]byte, 64))
		writeIDX(t, filepath.Join(f.constIDX, p+"-images-idx3-ubyte"), []int{64, 28, 28}, make([]byte, 64*784))
		writeIDX(t, filepath.Join(f.constIDX, p+"-labels-idx1-ubyte"), []int{64}, make([]byte, 64))
	}

	ckdir := filepath.Join(dir, "ckpt")
	mustRunDemo(t, "cnn", "-data", f.mnist, "-model", "lenet", "-batch", "32", "-steps", "1", "-out", filepath.Join(ckdir, "cnn"))
	f.cnnCkpt = filepath.Join(ckdir, "cnn", "cnn.safetensors")
	f.text = write("small.txt", []byte(readFile(t, smallText(t, 30000))))
	mustRunDemo(t, "rnn", "-data", f.text, "-hidden", "8", "-seq", "4", "-batch", "2", "-steps", "1", "-sample-len", "5", "-out", filepath.Join(ckdir, "rnn"))
	f.rnnCkpt = filepath.Join(ckdir, "rnn", "rnn.safetensors")
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})

	f.garbage = write("garbage.safetensors", []byte("\x10\x00\x00\x00\x00\x00\x00\x00this is not JSON"))
	f.empty = write("empty", nil)
	f.tinyText = write("tiny.txt", []byte("Call me Ishmael. Some years ago, never m"))
	f.badUTF8 = write("bad.txt", []byte("Call me \xff Ishmael"))
	f.writeSeries(write)
	f.notDir = write("notdir", []byte("x"))
	f.unreadable = write("unreadable", []byte("v\n1\n2\n"))
	if err := os.Chmod(f.unreadable, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

// writeSeries writes the CSV series of the cases with write(name, content).
func (f *badInputFiles) writeSeries(write func(string, []byte) string) {
	f.gapCSV = write("gap.csv", []byte("year,v\n1,1\n2,\n3,3\n4,4\n5,5\n6,6\n7,7\n8,8\n9,9\n10,10\n"))
	f.infCSV = write("inf.csv", []byte("year,v\n1,1\n2,2\n3,Inf\n4,4\n"))
	f.shortCSV = write("short.csv", []byte("v\n1\n2\n3\n4\n5\n"))
	f.hugeCSV = write("huge.csv", []byte("year,v\n1,1\n2,2\n3,1e308\n4,4\n"))
	var csv120 strings.Builder
	csv120.WriteString("t,v\n")
	for i := range 120 {
		fmt.Fprintf(&csv120, "%d,%d\n", i, (i*37)%101)
	}
	f.csv120 = write("s120.csv", []byte(csv120.String()))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDemoBadInput gives every subcommand wrong flags and wrong files. Each must exit with
// status 2 (a usage error) or 1 (anything else) and end its output with one line
// "demo <subcommand>: ..." that names the culprit, with no panic or stack trace.
func TestDemoBadInput(t *testing.T) {
	f := newBadInputFiles(t)
	for _, c := range demoBadInputCases(f) {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var code int
			var stderr string
			if c.unreadable && os.Geteuid() == 0 {
				code, stderr = runUnprivileged(t, f.dir, c.args)
			} else {
				code, _, stderr = runDemo(t, c.args...)
			}
			checkOneLineError(t, c.args, code, stderr, c.code, c.want)
		})
	}
}

// demoBadInputCase is a command line that must fail with status code and a last line that
// says want.
type demoBadInputCase struct {
	args       []string
	code       int
	want       string
	unreadable bool // reads f.unreadable: needs a process that mode 000 keeps out
}

// demoBadInputCases are the cases of TestDemoBadInput, over the files f.
func demoBadInputCases(f *badInputFiles) []demoBadInputCase {
	return []demoBadInputCase{
		// conv
		{[]string{"conv", "-image", "-1"}, 2, "-image -1: the MNIST test set has images 0 to 9999", false},
		{[]string{"conv", "-image", "10000"}, 2, "-image 10000", false},
		{[]string{"conv", "-x", ""}, 2, `-x "": "" is not a number`, false},
		{[]string{"conv", "-w", "1,NaN,3"}, 2, `-w "1,NaN,3": "NaN" is not a finite number`, false},
		{[]string{"conv", "-x", "1,2,Inf,4,5"}, 2, `"Inf" is not a finite number`, false},
		{[]string{"conv", "-x", "1e300,1e300,1,1,1", "-w", "1e300,1,1"}, 2, "overflow", false},
		{[]string{"conv", "-dout", "1,2"}, 2, "-dout has 2 values", false},
		{[]string{"conv", "-seed", "abc"}, 2, `invalid value "abc" for flag -seed`, false},
		// cnn: flags
		{[]string{"cnn", "-batch", "0"}, 2, "-batch must be at least 1, got 0", false},
		{[]string{"cnn", "-batch", "-5"}, 2, "-batch must be at least 1, got -5", false},
		{[]string{"cnn", "-lr", "NaN"}, 2, "-lr must be positive and finite, got NaN", false},
		{[]string{"cnn", "-lr", "Inf"}, 2, "-lr must be positive and finite, got +Inf", false},
		{[]string{"cnn", "-lr", "0"}, 2, "-lr must be positive and finite, got 0", false},
		{[]string{"cnn", "-clip", "-1"}, 2, "-clip must be 0 (none) or a positive number, got -1", false},
		{[]string{"cnn", "-dropout", "1.5"}, 2, "-dropout must be in [0, 1), got 1.5", false},
		{[]string{"cnn", "-epochs", "0"}, 2, "-epochs must be at least 1, got 0", false},
		{[]string{"cnn", "-steps", "-1"}, 2, "-steps, -train and -test must not be negative", false},
		{[]string{"cnn", "-schedule", "step"}, 2, `-schedule must be none or cosine, not "step"`, false},
		{[]string{"cnn", "-model", "vgg"}, 2, `-model must be smallcnn or lenet, not "vgg"`, false},
		{[]string{"cnn", "-checkpoint-every", "5"}, 2, "-checkpoint-every needs -out", false},
		{[]string{"cnn", "-checkpoint-every", "-1", "-out", f.dir}, 2, "-checkpoint-every must not be negative, got -1", false},
		{[]string{"cnn", "-nope"}, 2, "flag provided but not defined: -nope", false},
		// cnn: data
		{[]string{"cnn", "-data", filepath.Join(f.dir, "missing")}, 1, "missing: no such file or directory", false},
		{[]string{"cnn", "-data", f.notDir}, 1, "notdir is not a directory", false},
		{[]string{"cnn", "-data", f.corruptIDX}, 1, "train-images-idx3-ubyte: truncated", false},
		{[]string{"cnn", "-data", f.countIDX}, 1, "has 320 images but", false},
		{[]string{"cnn", "-data", f.badLabel}, 1, "label 10 at index 319 is not below 10 classes", false},
		{[]string{"cnn", "-data", f.smallIDX, "-model", "lenet"}, 1, "the training set has 20x20 images, lenet5 expects 1x28x28", false},
		{[]string{"cnn", "-data", f.constIDX}, 1, "const: normalize: normalisation: channel 0: standard deviation 0", false},
		{[]string{"cnn", "-data", f.mnist, "-train", "10", "-batch", "32"}, 1, "10 training images make no batch of 32", false},
		// cnn: checkpoints
		{[]string{"cnn", "-data", f.mnist, "-resume", filepath.Join(f.dir, "missing.safetensors")}, 1, "missing.safetensors: no such file or directory", false},
		{[]string{"cnn", "-data", f.mnist, "-resume", f.empty}, 1, "file of 0 bytes is too short", false},
		{[]string{"cnn", "-data", f.mnist, "-resume", f.garbage}, 1, "header is not valid JSON", false},
		{[]string{"cnn", "-data", f.mnist, "-resume", f.rnnCkpt, "-model", "lenet", "-batch", "32"}, 1, `holds a language_model of models/rnn, not a classifier of "lenet5"`, false},
		{[]string{"cnn", "-data", f.mnist, "-resume", f.cnnCkpt, "-model", "smallcnn", "-batch", "32"}, 1, `holds a classifier of "lenet5", not a classifier of "smallcnn"`, false},
		{[]string{"cnn", "-data", f.mnist, "-resume", f.cnnCkpt, "-model", "lenet", "-batch", "16"}, 1, "the run was trained with batch 32, this Fit asks for 16", false},
		{[]string{"cnn", "-data", f.mnist, "-resume", f.unreadable}, 1, "unreadable: permission denied", true},
		{[]string{"cnn", "-data", f.mnist, "-steps", "1", "-out", f.notDir}, 1, "notdir: not a directory", false},
		// rnn: flags
		{[]string{"rnn", "-hidden", "0"}, 2, "-hidden 0: must be at least 1", false},
		{[]string{"rnn", "-seq", "0"}, 2, "-seq 0: must be at least 1", false},
		{[]string{"rnn", "-batch", "-1"}, 2, "-batch -1: must be at least 1", false},
		{[]string{"rnn", "-steps", "0"}, 2, "-steps 0: must be at least 1", false},
		{[]string{"rnn", "-embed", "-1"}, 2, "-embed -1: must not be negative", false},
		{[]string{"rnn", "-cell", "transformer"}, 2, `-cell: `, false},
		{[]string{"rnn", "-lr", "NaN"}, 2, "-lr NaN: must be a positive number", false},
		{[]string{"rnn", "-clip", "-1"}, 2, "-clip -1: must be 0 or a positive number", false},
		{[]string{"rnn", "-temperature", "0"}, 2, "-temperature 0: must be a positive number", false},
		{[]string{"rnn", "-val", "1"}, 2, "-val 1: must be between 0 and 1", false},
		{[]string{"rnn", "-prompt", ""}, 2, "-prompt: must not be empty", false},
		// rnn: data, prompts, checkpoints
		{[]string{"rnn", "-data", f.text, "-hidden", "8", "-prompt", "Жук"}, 1, `character 'Ж' (U+0416) at position 0 is not in the vocabulary`, false},
		{[]string{"rnn", "-data", f.text, "-hidden", "8", "-prompt", "The whale\x80"}, 1, "invalid UTF-8", false},
		{[]string{"rnn", "-data", filepath.Join(f.dir, "missing.txt")}, 1, "missing.txt: no such file or directory", false},
		{[]string{"rnn", "-data", f.empty}, 1, "empty text", false},
		{[]string{"rnn", "-data", f.badUTF8}, 1, "invalid UTF-8 at byte 8 (line 1)", false},
		{[]string{"rnn", "-data", f.unreadable}, 1, "unreadable: permission denied", true},
		{[]string{"rnn", "-data", f.tinyText, "-batch", "32", "-seq", "64", "-hidden", "8"}, 1, "too few for one batch of 32x64", false},
		{[]string{"rnn", "-resume", filepath.Join(f.dir, "missing.safetensors")}, 1, "missing.safetensors: no such file or directory", false},
		{[]string{"rnn", "-resume", f.garbage}, 1, "header is not valid JSON", false},
		{[]string{"rnn", "-resume", f.cnnCkpt, "-data", f.text}, 1, "not a language model's checkpoint", false},
		{[]string{"rnn", "-resume", f.rnnCkpt, "-data", f.tinyText}, 1, "-data " + f.tinyText + ": checkpoint " + f.rnnCkpt + " was trained on another text, " + f.text, false},
		// ar
		{[]string{"ar", "-series", "dow"}, 2, `-series "dow": want sunspots or co2`, false},
		{[]string{"ar", "-fill", "zero"}, 2, `-fill "zero": want none, drop or interpolate`, false},
		{[]string{"ar", "-series", "co2"}, 1, "missing values", false},
		{[]string{"ar", "-data", f.gapCSV, "-column", "v"}, 1, "1 missing values (lines 3); choose a fill", false},
		{[]string{"ar", "-data", f.infCSV, "-column", "v"}, 1, `line 4, column "v": "Inf" is not a finite number`, false},
		{[]string{"ar", "-data", f.gapCSV, "-column", "value"}, 1, `no column "value"`, false},
		{[]string{"ar", "-data", f.gapCSV}, 2, "needs -column NAME", false},
		{[]string{"ar", "-column", "v"}, 2, "-column applies to -data only", false},
		{[]string{"ar", "-data", filepath.Join(f.dir, "missing.csv"), "-column", "v"}, 1, "missing.csv: no such file or directory", false},
		{[]string{"ar", "-data", f.unreadable, "-column", "v"}, 1, "unreadable: permission denied", true},
		{[]string{"ar", "-data", f.empty, "-column", "v"}, 1, "empty file, no header", false},
		{[]string{"ar", "-data", f.shortCSV, "-column", "v"}, 1, "too few", false},
		{[]string{"ar", "-series", "co2", "-data", f.gapCSV, "-column", "v"}, 2, "-series co2 and -data " + f.gapCSV + " name two series", false},
		{[]string{"ar", "-series", "sunspots", "-data", f.gapCSV, "-column", "v"}, 2, "name two series", false},
		{[]string{"ar", "-data", f.hugeCSV, "-column", "v"}, 1, `huge.csv: line 4, column "v": "1e308" is too large`, false},
		{[]string{"ar", "-data", f.csv120, "-column", "v", "-tau", "90"}, 2, "-tau 90: the MLP AR model reads 90 past values: training it and its 8-step forecasts need 97 values before the test part, and the 96 of s120.csv (v) are too few", false},
		{[]string{"ar", "-data", f.csv120, "-column", "v", "-tau", "95", "-diff", "-k", "1"}, 2, "-tau 95: the MLP AR model reads 95 past changes, so 96 values with -diff: training it and its 1-step forecasts need 97 values", false},
		{[]string{"ar", "-data", f.csv120, "-column", "v", "-window", "90"}, 2, "-window 90: the latent AR model reads 90 past values", false},
		{[]string{"ar", "-data", f.csv120, "-column", "v", "-ls-tau", "60"}, 2, "-ls-tau 60: the least-squares AR(60) fits 61 coefficients", false},
		{[]string{"ar", "-data", f.csv120, "-column", "v", "-k", "1,200"}, 2, "-k 1,200: the 200-step forecasts of the test part", false},
		{[]string{"ar", "-data", f.csv120, "-column", "v", "-k", "95"}, 2, "-k 95: with -tau 4 (the default), the MLP AR model", false},
		{[]string{"ar", "-data", f.shortCSV, "-column", "v", "-tau", "20"}, 2, "-tau 20: the MLP AR model reads 20 past values", false},
		{[]string{"ar", "-tau", "0"}, 2, "-tau 0: must be at least 1", false},
		{[]string{"ar", "-window", "-3"}, 2, "-window -3: must be at least 1", false},
		{[]string{"ar", "-k", "0"}, 2, `-k "0": want positive whole numbers`, false},
		{[]string{"ar", "-k", "1,x"}, 2, `-k "1,x"`, false},
		{[]string{"ar", "-cell", "cnn"}, 2, "-cell: ", false},
		// gradflow
		{[]string{"gradflow", "-steps", "1"}, 2, "-steps 1: need at least 2", false},
		{[]string{"gradflow", "-hidden", "0"}, 2, "-hidden, -batch must be positive", false},
		{[]string{"gradflow", "-iters", "-1"}, 2, "-iters not negative", false},
		{[]string{"gradflow", "-lr", "0"}, 2, "-lr 0 must be positive", false},
		{[]string{"gradflow", "-lr", "NaN"}, 2, "-lr NaN must be positive", false},
		{[]string{"gradflow", "-cells", "lstm,elman"}, 2, "-cells: ", false},
		{[]string{"gradflow", "-lr", "Inf", "-iters", "1", "-steps", "3", "-hidden", "2", "-batch", "2", "-cells", "rnn"}, 1, "learning rate +Inf is not finite", false},
		// the demo itself
		{[]string{"train"}, 2, `unknown subcommand "train"`, false},
	}
}

// checkOneLineError checks an exit status and that the output ends with one line naming the
// subcommand and the culprit, with no panic or stack trace anywhere.
func checkOneLineError(t *testing.T, args []string, code int, stderr string, wantCode int, want string) {
	t.Helper()
	last := lastLine(stderr)
	if code != wantCode {
		t.Errorf("exit %d, want %d; stderr %q", code, wantCode, stderr)
	}
	prefix := "demo " + args[0] + ": "
	if args[0] == "train" {
		prefix = "demo: "
		last = strings.Split(stderr, "\n")[0]
	}
	if !strings.HasPrefix(last, prefix) || !strings.Contains(last, want) {
		t.Errorf("last line %q: want %q naming %q", last, prefix+"...", want)
	}
	for _, bad := range []string{"panic", "goroutine ", ".go:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr holds %q:\n%s", bad, stderr)
		}
	}
}

// runUnprivileged runs the demo as the user nobody in a child process, so that a file with
// mode 000 is unreadable although the tests run as root. The test binary is copied where
// nobody may run it. It skips the test when that cannot be arranged.
func runUnprivileged(t *testing.T, dir string, args []string) (int, string) {
	t.Helper()
	bin := filepath.Join(dir, "demo.test")
	if _, err := os.Stat(bin); err != nil {
		if err := copyExecutable(os.Args[0], bin); err != nil {
			t.Skipf("running as root, and the test binary cannot be copied for the user nobody: %v", err)
		}
	}
	cmd := exec.Command(bin, append([]string{"-test.run=^TestDemoHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), demoHelperEnv+"=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit) && exit.Exited():
		return exit.ExitCode(), stderr.String()
	}
	t.Skipf("running as root, and the demo cannot run as the user nobody: %v (%s)", err, stderr.String())
	return 0, ""
}

func copyExecutable(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// TestDemoBadInputProcess runs a bad-input case of each subcommand as a real process: the
// exit status reaches the shell and the output is one line.
func TestDemoBadInputProcess(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"conv", "-image", "-1"}, 2, "-image -1"},
		{[]string{"cnn", "-lr", "NaN"}, 2, "-lr must be positive and finite, got NaN"},
		{[]string{"rnn", "-prompt", "Жук", "-hidden", "8", "-seq", "8", "-batch", "4", "-steps", "1"}, 1, "is not in the vocabulary"},
		{[]string{"ar", "-series", "co2"}, 1, "choose a fill"},
		{[]string{"gradflow", "-cells", "rnn,elman"}, 2, "-cells"},
	} {
		cmd := demoProcess(c.args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("%v: %v, want exit status %d", c.args, err, c.code)
			continue
		}
		if exit.ExitCode() != c.code {
			t.Errorf("%v: exit %d, want %d", c.args, exit.ExitCode(), c.code)
		}
		lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
		if !strings.Contains(lines[len(lines)-1], c.want) || strings.Contains(stderr.String(), "goroutine ") {
			t.Errorf("%v: stderr %q, want its last line to name %q", c.args, stderr.String(), c.want)
		}
	}
}
