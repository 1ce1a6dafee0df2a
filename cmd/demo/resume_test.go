package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestCNNResumeIsExact trains demo cnn for N steps straight, and for N/2 steps, stops,
// resumes from the checkpoint and trains N/2 more: the checkpoints hold bit-identical
// parameters, solver state, random source, data order and position, and the history; the
// printed metrics are identical, throughput aside. N/2 falls in mid-epoch, and dropout makes
// the random source matter.
func TestCNNResumeIsExact(t *testing.T) {
	dataDir := tinyMNIST(t, 320, 100)
	const n = 14 // 10 steps per epoch: the stop at 7 is in mid-epoch, the end in the second
	flags := []string{"cnn", "-data", dataDir, "-model", "lenet", "-batch", "32", "-epochs", "2", "-dropout", "0.2", "-seed", "5", "-json"}
	straight, half := t.TempDir(), t.TempDir()
	whole := mustRunDemo(t, append(flags, "-out", straight, "-steps", strconv.Itoa(n))...)
	mustRunDemo(t, append(flags, "-out", half, "-steps", strconv.Itoa(n/2))...)
	resumed := mustRunDemo(t, append(flags, "-out", half, "-steps", strconv.Itoa(n), "-resume", filepath.Join(half, "cnn.safetensors"))...)

	sameCheckpoints(t, filepath.Join(straight, "cnn.safetensors"), filepath.Join(half, "cnn.safetensors"))
	a, b := withoutTiming(t, whole).(map[string]any), withoutTiming(t, resumed).(map[string]any)
	for _, k := range []string{"checkpoint", "onnx"} { // paths in the two folders
		delete(a, k)
		delete(b, k)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("metrics differ:\nstraight %v\nresumed  %v", a, b)
	}
	sameFiles(t, filepath.Join(straight, "model.onnx"), filepath.Join(half, "model.onnx"))
	if a["steps"] != float64(n) {
		t.Errorf("the straight run reports %v steps, want %d", a["steps"], n)
	}
}

// TestRNNResumeIsExact does the same for demo rnn, the character language model trained by
// truncated BPTT: the carried recurrent state, the position in the text, the solver and the
// random source (samples are drawn during training) continue bit for bit.
func TestRNNResumeIsExact(t *testing.T) {
	text := smallText(t, 30000)
	const n = 12
	flags := []string{"rnn", "-data", text, "-hidden", "16", "-seq", "8", "-batch", "4", "-sample-len", "20", "-seed", "3", "-json"}
	cases := []struct {
		name  string
		extra []string
	}{
		// Samples at steps 5 and 10 and validation at 6 and 12 in the straight run; the
		// stopped run also scores at 6, its last step.
		{name: "samples between the stops", extra: []string{"-sample-every", "5", "-eval-every", "6"}},
		// The straight run draws a sample at step 6 from the random source; the stopped run
		// draws it too, before it writes its checkpoint, so the resumed run's samples go on
		// from the same random source.
		{name: "sample at the stop", extra: []string{"-sample-every", "6", "-eval-every", "6"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string(nil), flags...), c.extra...)
			straight, half := t.TempDir(), t.TempDir()
			whole := mustRunDemo(t, append(args, "-out", straight, "-steps", strconv.Itoa(n))...)
			mustRunDemo(t, append(args, "-out", half, "-steps", strconv.Itoa(n/2))...)
			resumed := mustRunDemo(t, append(args, "-out", half, "-steps", strconv.Itoa(n), "-resume", filepath.Join(half, "rnn.safetensors"))...)

			a, b := withoutTiming(t, whole).(map[string]any), withoutTiming(t, resumed).(map[string]any)
			if a["steps"] != float64(n) || b["steps"] != float64(n) || b["resumed"] != true {
				t.Fatalf("steps %v and %v, resumed %v", a["steps"], b["steps"], b["resumed"])
			}
			// What differs by design: whether and how much this process trained.
			for _, k := range []string{"resumed", "steps_this_run"} {
				delete(a, k)
				delete(b, k)
			}
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("metrics differ:\nstraight %v\nresumed  %v", a, b)
			}
			sameCheckpoints(t, filepath.Join(straight, "rnn.safetensors"), filepath.Join(half, "rnn.safetensors"))
			sameFiles(t, filepath.Join(straight, "model.onnx"), filepath.Join(half, "model.onnx"))
		})
	}
}

// sameFiles fails unless the files a and b hold the same bytes (the ONNX files of two runs
// that end with the same weights).
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) == 0 || !bytes.Equal(x, y) {
		t.Errorf("%s (%d bytes) and %s (%d bytes) differ", a, len(x), b, len(y))
	}
}
