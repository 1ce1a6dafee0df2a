package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/graph"
)

// TestCNNDivergenceKeepsLastGoodCheckpoint trains demo cnn at a learning rate of 1e30: the
// first update blows the weights up and the second step's loss is NaN. Training must stop with
// an error that says it diverged and suggests a lower -lr or -clip, exit with status 1, and
// leave the last good checkpoint as it was: the one of an earlier run when this run wrote
// none, the one of its first step when it writes one every step.
func TestCNNDivergenceKeepsLastGoodCheckpoint(t *testing.T) {
	dataDir := tinyMNIST(t, 320, 50)
	flags := []string{"cnn", "-data", dataDir, "-model", "lenet", "-batch", "32"}
	checkDiverged := func(t *testing.T, code int, stderr string, wants ...string) {
		t.Helper()
		last := lastLine(stderr)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, w := range append([]string{"demo cnn: training diverged", "step 2: loss is NaN", "lower -lr", "-clip"}, wants...) {
			if !strings.Contains(last, w) {
				t.Errorf("the error %q does not say %q", last, w)
			}
		}
		if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("a stack trace: %s", stderr)
		}
	}

	t.Run("earlier checkpoint untouched", func(t *testing.T) {
		out := t.TempDir()
		ckpt := filepath.Join(out, "cnn.safetensors")
		mustRunDemo(t, append(flags, "-out", out, "-steps", "4")...)
		before, err := os.ReadFile(ckpt)
		if err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runDemo(t, append(flags, "-out", out, "-steps", "20", "-lr", "1e30")...)
		checkDiverged(t, code, stderr, "no checkpoint was written")
		after, err := os.ReadFile(ckpt)
		if err != nil || !bytes.Equal(before, after) {
			t.Fatalf("the checkpoint of the earlier run was changed (%v)", err)
		}
	})

	t.Run("checkpoint every step", func(t *testing.T) {
		out := t.TempDir()
		ckpt := filepath.Join(out, "cnn.safetensors")
		code, _, stderr := runDemo(t, append(flags, "-out", out, "-steps", "20", "-lr", "1e30", "-checkpoint-every", "1")...)
		checkDiverged(t, code, stderr, "the last good checkpoint, step 1, is kept in "+ckpt)
		clf := loadDivergedCheckpoint(t, ckpt)
		if clf.step != 1 {
			t.Errorf("the checkpoint is at step %d, want 1 (the last good step)", clf.step)
		}
		if clf.nonFinite != "" {
			t.Errorf("the kept checkpoint holds a value that is not finite: %s", clf.nonFinite)
		}
	})

	t.Run("resumed run", func(t *testing.T) {
		out := t.TempDir()
		ckpt := filepath.Join(out, "cnn.safetensors")
		mustRunDemo(t, append(flags, "-out", out, "-steps", "3")...)
		before, err := os.ReadFile(ckpt)
		if err != nil {
			t.Fatal(err)
		}
		// Resumed at step 3 with the huge rate: step 4 updates, step 5 is NaN.
		code, _, stderr := runDemo(t, append(flags, "-out", out, "-steps", "20", "-lr", "1e30", "-resume", ckpt)...)
		if !strings.Contains(lastLine(stderr), "step 5: loss is NaN") || !strings.Contains(lastLine(stderr), "is unchanged") {
			t.Errorf("the error %q does not name step 5 and the unchanged checkpoint", lastLine(stderr))
		}
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		after, err := os.ReadFile(ckpt)
		if err != nil || !bytes.Equal(before, after) {
			t.Fatalf("the checkpoint resumed from was changed (%v)", err)
		}
	})
}

type divergedCheckpoint struct {
	step      int
	nonFinite string
}

// loadDivergedCheckpoint reads the step and looks for a NaN or infinity among the parameters
// and the solver state.
func loadDivergedCheckpoint(t *testing.T, path string) divergedCheckpoint {
	t.Helper()
	var d divergedCheckpoint
	clf := loadCrashCheckpoint(t, path)
	d.step = clf.Steps()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, _, err := graph.DecodeSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range ts {
		if _, ok := v.Data().([]uint8); ok {
			continue
		}
		for _, x := range graph.Float64s(v) {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				d.nonFinite = name
			}
		}
	}
	return d
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
