package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repeatedText writes a short training text and returns its path.
func repeatedText(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "small.txt")
	text := strings.Repeat("It is a far, far better thing that I do, than I have ever done. ", 40)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runRNNJSON runs demo rnn with args and -json and decodes its result.
func runRNNJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"rnn", "-json"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
	}
	var res map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	checkSnakeCase(t, res)
	return res
}

var snakeCase = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

// checkSnakeCase requires every key of a decoded JSON value, at every depth, to be
// snake_case.
func checkSnakeCase(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !snakeCase.MatchString(k) {
				t.Errorf("JSON key %q is not snake_case", k)
			}
			checkSnakeCase(t, e)
		}
	case []any:
		for _, e := range x {
			checkSnakeCase(t, e)
		}
	}
}

var tinyRNN = []string{"-hidden", "12", "-seq", "8", "-batch", "3", "-sample-len", "20", "-prompt", "It is", "-sample-every", "0"}

func TestRNNDemoJSON(t *testing.T) {
	out := t.TempDir()
	res := runRNNJSON(t, append([]string{"-data", repeatedText(t), "-steps", "5", "-out", out, "-cell", "gru"}, tinyRNN...)...)
	for _, k := range []string{"val_loss", "val_bpc", "val_perplexity", "tokens_per_second", "sample"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if s, _ := res["sample"].(string); len([]rune(s)) != 20 {
		t.Errorf("sample %q: want 20 characters", s)
	}
	if v := res["val_loss"].(float64); !(v > 0 && v < 10) {
		t.Errorf("val_loss %v", v)
	}
	if res["cell"] != "gru" || res["steps"].(float64) != 5 {
		t.Errorf("cell %v, steps %v", res["cell"], res["steps"])
	}
	for _, f := range []string{"rnn.safetensors", "rnn-loss.png", "model.onnx"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

// -resume continues exactly: 4 steps, then 4 more from the checkpoint, end where 8 steps in
// one run end, with the same validation loss and the same sample.
func TestRNNDemoResume(t *testing.T) {
	text := repeatedText(t)
	whole := runRNNJSON(t, append([]string{"-data", text, "-steps", "8", "-out", t.TempDir()}, tinyRNN...)...)
	dir := t.TempDir()
	first := runRNNJSON(t, append([]string{"-data", text, "-steps", "4", "-out", dir}, tinyRNN...)...)
	if first["val_loss"] == whole["val_loss"] {
		t.Fatalf("4 and 8 steps give the same validation loss %v", first["val_loss"])
	}
	second := runRNNJSON(t, append([]string{"-resume", filepath.Join(dir, "rnn.safetensors"), "-steps", "8", "-out", dir}, tinyRNN...)...)
	for _, k := range []string{"val_loss", "sample", "train_loss", "steps"} {
		if second[k] != whole[k] {
			t.Errorf("%s: %v after resuming, %v in one run", k, second[k], whole[k])
		}
	}
	if second["resumed"] != true || second["steps_this_run"].(float64) != 4 {
		t.Errorf("resumed %v, steps this run %v", second["resumed"], second["steps_this_run"])
	}
}

// Bad text and bad flags are errors that say what is wrong.
func TestRNNDemoBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	bad := filepath.Join(dir, "latin1.txt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("caf\xe9 au lait\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := repeatedText(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rnn", "-data", empty}, 1, "empty.txt: empty text"},
		{[]string{"rnn", "-data", bad}, 1, "latin1.txt: invalid UTF-8 at byte 3 (line 1)"},
		{[]string{"rnn", "-data", text, "-prompt", "Zebra"}, 1, `character 'Z' (U+005A) at position 0 is not in the vocabulary`},
		{[]string{"rnn", "-data", filepath.Join(dir, "missing.txt")}, 1, "missing.txt"},
		{[]string{"rnn", "-data", text, "-batch", "400", "-seq", "64"}, 1, "too few for one batch"},
		{[]string{"rnn", "-cell", "transformer"}, 2, `unknown recurrent cell "transformer"`},
		{[]string{"rnn", "-hidden", "0"}, 2, "-hidden 0: must be at least 1"},
		{[]string{"rnn", "-lr", "0"}, 2, "-lr 0: must be a positive number"},
		{[]string{"rnn", "-temperature", "-1"}, 2, "-temperature -1"},
		{[]string{"rnn", "-val", "1"}, 2, "-val 1: must be between 0 and 1"},
		{[]string{"rnn", "-prompt", ""}, 2, "-prompt: must not be empty"},
		{[]string{"rnn", "-resume", filepath.Join(dir, "none.safetensors")}, 1, "none.safetensors"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}
