package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The edges of a training run: a blow-up whose loss stays finite, a resumed run with nothing
// left to train, a stop in mid-epoch, a resume on another text. These tests use only the
// demo's command line, so they run against any version of it.

// sameBytes fails the test unless every file holds what before recorded.
func sameBytes(t *testing.T, before map[string][]byte) {
	t.Helper()
	for p, b := range before {
		now, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(now, b) {
			t.Errorf("%s was changed (%v)", p, err)
		}
	}
}

// snapshot reads the files that must not change.
func snapshot(t *testing.T, paths ...string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[p] = b
	}
	return m
}

// A learning rate a million times too large blows the weights up while the loss stays finite
// for a step or two. demo cnn and demo rnn (without clipping, where nothing holds the update
// back) must stop with status 1 and the hint, print no result (no perplexity +Inf), and leave
// the checkpoint an earlier run wrote, or the one resumed from, byte for byte as it was.
func TestDemoFiniteDivergence(t *testing.T) {
	mnist := tinyMNIST(t, 320, 50)
	text := smallText(t, 30000)
	cnnFlags := []string{"cnn", "-data", mnist, "-model", "lenet", "-batch", "32"}
	rnnFlags := []string{"rnn", "-data", text, "-hidden", "16", "-seq", "8", "-batch", "4", "-sample-len", "5", "-sample-every", "0"}
	cases := []struct {
		name   string
		before []string // an earlier run into the same -out ({out} stands for it), or nil
		args   []string
		files  []string // the files in -out that must stay as the earlier run left them
		want   string
	}{
		{"cnn over an earlier run", append(cnnFlags, "-steps", "4", "-out", "{out}"),
			append(cnnFlags, "-lr", "1e6", "-steps", "20", "-out", "{out}"), []string{"cnn.safetensors"}, "is unchanged"},
		{"cnn resumed", append(cnnFlags, "-steps", "3", "-out", "{out}"),
			append(cnnFlags, "-lr", "1e6", "-steps", "20", "-out", "{out}", "-resume", "{out}/cnn.safetensors"), []string{"cnn.safetensors"}, "the checkpoint resumed from"},
		{"rnn without clipping over an earlier run", append(rnnFlags, "-steps", "2", "-out", "{out}"),
			append(rnnFlags, "-lr", "1e6", "-clip", "0", "-steps", "20", "-out", "{out}"), []string{"rnn.safetensors", "rnn-log.json"}, "is unchanged"},
		{"rnn without clipping", nil, append(rnnFlags, "-lr", "1e6", "-clip", "0", "-steps", "20"), nil, "no checkpoint was written"},
		{"rnn without clipping, -json", nil, append(rnnFlags, "-lr", "1e6", "-clip", "0", "-steps", "20", "-json"), nil, "no checkpoint was written"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			fill := func(args []string) []string {
				r := make([]string, len(args))
				for i, a := range args {
					r[i] = strings.ReplaceAll(a, "{out}", out)
				}
				return r
			}
			if c.before != nil {
				mustRunDemo(t, fill(c.before)...)
			}
			var paths []string
			for _, f := range c.files {
				paths = append(paths, filepath.Join(out, f))
			}
			kept := snapshot(t, paths...)
			code, stdout, stderr := runDemo(t, fill(c.args)...)
			last := lastLine(stderr)
			if code != 1 {
				t.Errorf("exit %d, want 1; stdout %q", code, stdout)
			}
			for _, w := range []string{"training diverged at step ", "lower -lr than 1e+06", "-clip", c.want} {
				if !strings.Contains(last, w) {
					t.Errorf("the last line %q does not say %q", last, w)
				}
			}
			if strings.Contains(stdout, "perplexity") || strings.Contains(stdout, "+Inf") || strings.Contains(stdout, "test accuracy") {
				t.Errorf("a result was printed for a diverged run: %q", stdout)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Errorf("a stack trace: %s", stderr)
			}
			sameBytes(t, kept)
		})
	}
}

// A run resumed from a checkpoint that has already reached -steps trains nothing: it says so,
// and shows no progress past 100% (step 3/1) and no training speed.
func TestDemoNothingToTrain(t *testing.T) {
	mnist := tinyMNIST(t, 320, 50)
	text := smallText(t, 30000)
	cnnFlags := []string{"cnn", "-data", mnist, "-model", "lenet", "-batch", "32"}
	rnnFlags := []string{"rnn", "-data", text, "-hidden", "16", "-seq", "8", "-batch", "4", "-sample-len", "5"}
	for _, c := range []struct {
		name      string
		flags     []string
		ckpt      string
		json      bool
		speedWord string
	}{
		{"cnn", cnnFlags, "cnn.safetensors", false, "images/s"},
		{"cnn -json", cnnFlags, "cnn.safetensors", true, "images/s"},
		{"rnn", rnnFlags, "rnn.safetensors", false, "tok/s"},
		{"rnn -json", rnnFlags, "rnn.safetensors", true, "tok/s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			mustRunDemo(t, append(c.flags, "-steps", "3", "-out", out)...)
			args := append(c.flags, "-steps", "1", "-resume", filepath.Join(out, c.ckpt), "-out", out)
			if c.json {
				args = append(args, "-json")
			}
			code, stdout, stderr := runDemo(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			all := stdout + stderr
			if !strings.Contains(all, "nothing to train") {
				t.Errorf("the output does not say there is nothing to train:\n%s", all)
			}
			for _, bad := range []string{"3/1", "300%", c.speedWord} {
				if strings.Contains(all, bad) {
					t.Errorf("the output shows %q although nothing ran:\n%s", bad, all)
				}
			}
			if !c.json {
				return
			}
			var res map[string]any
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
			}
			for _, k := range []string{"images_per_second", "tokens_per_second"} {
				if v, ok := res[k]; ok && v != 0.0 {
					t.Errorf("%s = %v although nothing ran", k, v)
				}
			}
			if res["steps"] != 3.0 {
				t.Errorf("steps %v, want the checkpoint's 3", res["steps"])
			}
		})
	}
}

// demo cnn names the figures it wrote, and writes every one it names, also when -steps stops
// it in mid-epoch (10 steps per epoch here) before any epoch ended, after one, or in a resumed
// run: the loss curve per step, the accuracy from the test scores there were.
func TestCNNFiguresMidEpoch(t *testing.T) {
	mnist := tinyMNIST(t, 320, 50)
	flags := []string{"cnn", "-data", mnist, "-model", "lenet", "-batch", "32"}
	for _, c := range []struct {
		name   string
		before []string // a run before, into the same -out
		args   []string
	}{
		{"stop at step 3 of the first epoch", nil, []string{"-steps", "3"}},
		{"stop at step 13, in the second epoch", nil, []string{"-epochs", "2", "-steps", "13"}},
		{"resumed at step 3, stop at step 6", []string{"-steps", "3"}, []string{"-steps", "6", "-resume", "{out}/cnn.safetensors"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			if c.before != nil {
				mustRunDemo(t, append(append(flags, c.before...), "-out", out)...)
				for _, f := range []string{"loss.png", "accuracy.png"} {
					os.Remove(filepath.Join(out, f)) // only this run's figures count
				}
			}
			args := append(flags, "-out", out)
			for _, a := range c.args {
				args = append(args, strings.ReplaceAll(a, "{out}", out))
			}
			stdout := mustRunDemo(t, args...)
			var wrote string
			for _, l := range strings.Split(stdout, "\n") {
				if strings.HasPrefix(l, "wrote ") && strings.Contains(l, " and the figures ") {
					wrote = l
				}
			}
			_, figs, ok := strings.Cut(wrote, " and the figures ")
			figs, _, ok2 := strings.Cut(figs, " in ")
			if !ok || !ok2 {
				t.Fatalf("no line names the figures written:\n%s", stdout)
			}
			names := strings.Split(figs, ", ")
			for _, want := range []string{"loss.png", "accuracy.png"} {
				if !strings.Contains(figs, want) {
					t.Errorf("the figures named, %q, leave out %s", figs, want)
				}
			}
			for _, n := range names {
				if st, err := os.Stat(filepath.Join(out, n)); err != nil || st.Size() == 0 {
					t.Errorf("%s is named as written but is not there: %v", n, err)
				}
			}
		})
	}
}

// A resumed demo rnn goes on in the text it was trained on, whose position and vocabulary the
// checkpoint holds. The same text under another name is fine, with a note; another text given
// with -data, or the text changed in its file since (here one letter, so its length is the
// same), is an error that names -data or the change and the checkpoint's text.
func TestRNNResumeOnAnotherText(t *testing.T) {
	dir := t.TempDir()
	orig := smallText(t, 30000)
	text := filepath.Join(dir, "text.txt")
	b := snapshot(t, orig)[orig]
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(text, b)
	copyPath := filepath.Join(dir, "copy.txt")
	write(copyPath, b)
	other := smallText(t, 20000)
	flags := []string{"rnn", "-hidden", "8", "-seq", "4", "-batch", "2", "-sample-len", "5", "-sample-every", "0"}
	out := filepath.Join(dir, "out")
	mustRunDemo(t, append(flags, "-data", text, "-steps", "2", "-out", out)...)
	ckpt := filepath.Join(out, "rnn.safetensors")
	for _, c := range []struct {
		name   string
		args   []string
		edit   bool // change one letter of the text first
		code   int
		wants  []string
		refute string
	}{
		{"the same file", []string{"-data", text}, false, 0, nil, "the same text"},
		{"no -data", nil, false, 0, nil, "the same text"},
		{"a copy", []string{"-data", copyPath}, false, 0, []string{"-data " + copyPath + ": the same text as the checkpoint's, " + text}, ""},
		{"another text", []string{"-data", other}, false, 1, []string{"demo rnn: -data " + other, "another text, " + text, "leave out -data"}, ""},
		{"the text changed", nil, true, 1, []string{"demo rnn: the text of checkpoint " + ckpt + ", " + text + ", has changed"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.edit {
				e := bytes.Clone(b)
				e[0] ^= 0x20 // "C" of "CHAPTER", or the like, changes case
				write(text, e)
				defer write(text, b)
			}
			// -steps 2: nothing to train, so the cases run fast; the checks come first.
			code, stdout, stderr := runDemo(t, append(append(flags, "-steps", "2", "-resume", ckpt), c.args...)...)
			all := stdout + stderr
			if code != c.code {
				t.Errorf("exit %d, want %d: %s", code, c.code, all)
			}
			for _, w := range c.wants {
				if !strings.Contains(all, w) {
					t.Errorf("the output does not say %q:\n%s", w, all)
				}
			}
			if c.refute != "" && strings.Contains(all, c.refute) {
				t.Errorf("the output says %q:\n%s", c.refute, all)
			}
		})
	}
}

// A byte-order mark at the start of demo rnn's text is no character of it: the vocabulary
// and the training text are those of the same text without one.
func TestRNNByteOrderMark(t *testing.T) {
	dir := t.TempDir()
	b := []byte(strings.Repeat("It is a far, far better thing that I do. ", 40))
	plain, bom := filepath.Join(dir, "plain.txt"), filepath.Join(dir, "bom.txt")
	if err := os.WriteFile(plain, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bom, append([]byte("\uFEFF"), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"-hidden", "8", "-seq", "4", "-batch", "2", "-steps", "1", "-sample-len", "5", "-prompt", "It"}
	a := runRNNJSON(t, append([]string{"-data", plain}, flags...)...)
	c := runRNNJSON(t, append([]string{"-data", bom}, flags...)...)
	for _, k := range []string{"vocab", "train_chars", "val_chars", "val_loss"} {
		if a[k] != c[k] {
			t.Errorf("%s: %v without the mark, %v with it", k, a[k], c[k])
		}
	}
}
