package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	for _, k := range []string{"test_accuracy", "test_loss", "epochs", "images_per_second"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if acc := res["test_accuracy"].(float64); !(acc > 0.1 && acc <= 1) {
		t.Errorf("test accuracy %v", acc)
	}
	for _, f := range []string{"cnn.safetensors", "loss.png", "accuracy.png", "kernels.png", "featuremaps.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestCNNDemoBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cnn", "-model", "vgg"}, "-model must be w1 or lenet"},
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
