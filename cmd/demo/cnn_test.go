package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/data"
)

func TestCNNDemoJSON(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"cnn", "-model", "lenet", "-train", "320", "-test", "100", "-batch", "32", "-out", out, "-json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	for _, k := range []string{"test_accuracy", "test_loss", "epochs", "images_per_second", "history", "normalization"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	// Every key at every depth is snake_case: the history's too ("TrainLoss" before).
	for _, k := range jsonKeys(res) {
		if !regexp.MustCompile(`^[a-z0-9_]+$`).MatchString(k) {
			t.Errorf("JSON key %q is not snake_case", k)
		}
	}
	if h, ok := res["history"].([]any); !ok || len(h) != 1 || h[0].(map[string]any)["train_loss"] == nil {
		t.Errorf("history %v, want one epoch with its train_loss", res["history"])
	}
	if acc := res["test_accuracy"].(float64); !(acc > 0.1 && acc <= 1) {
		t.Errorf("test accuracy %v", acc)
	}
	if res["onnx"] != filepath.Join(out, "model.onnx") {
		t.Errorf("onnx %v, want %s", res["onnx"], filepath.Join(out, "model.onnx"))
	}
	for _, f := range []string{"cnn.safetensors", "loss.png", "accuracy.png", "kernels.png", "featuremaps.png", "model.onnx"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

// jsonKeys lists the keys of a decoded JSON value at every depth.
func jsonKeys(v any) []string {
	var keys []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			keys = append(append(keys, k), jsonKeys(e)...)
		}
	case []any:
		for _, e := range x {
			keys = append(keys, jsonKeys(e)...)
		}
	}
	return keys
}

// demo cnn -data DIR normalises with the statistics of DIR's training set, not MNIST's.
func TestCNNDemoNormalisesData(t *testing.T) {
	dir := tinyMNIST(t, 320, 50)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"cnn", "-data", dir, "-model", "lenet", "-batch", "32", "-steps", "2", "-json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res struct {
		Normalization struct{ Mean, Std []float64 } `json:"normalization"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	train, _, err := data.LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := data.ChannelStats(train)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Normalization.Mean, want.Mean) || !slices.Equal(res.Normalization.Std, want.Std) || want.Mean[0] == data.MNISTMean {
		t.Errorf("normalised with %v, want the training set's %v", res.Normalization, want)
	}
}

func TestCNNDemoBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cnn", "-model", "vgg"}, "-model must be smallcnn or lenet"},
		{[]string{"cnn", "-model", "w1"}, "the net of workload W1 is smallcnn"},
		{[]string{"cnn", "-epochs", "0"}, "-epochs must be at least 1"},
		{[]string{"cnn", "-lr", "-1"}, "-lr must be positive"},
		{[]string{"cnn", "-dropout", "1"}, "-dropout must be in [0, 1)"},
		{[]string{"cnn", "-classic"}, "-classic applies to -model lenet only"},
		{[]string{"cnn", "-data", "/nonexistent"}, "/nonexistent"},
		{[]string{"cnn", "-resume", "/nonexistent.safetensors", "-train", "64"}, "nonexistent.safetensors"},
		{[]string{"cnn", "-nope"}, "flag provided but not defined"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", c.args, code, stderr.String(), c.want)
		}
		if strings.Contains(stderr.String(), "goroutine") {
			t.Errorf("%v: a stack trace", c.args)
		}
	}
}
