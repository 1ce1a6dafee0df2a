package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/graph"
)

// TestCNNDivergenceKeepsLastGoodCheckpoint trains demo cnn at a learning rate of 1e30: the
// first update blows the weights up, and graph's divergence monitor stops the run at that step.
// Training must stop with an error that says it diverged at which step and why, suggests a
// lower -lr or -clip, exit with status 1, and leave the last good checkpoint as it was: the
// one of an earlier run, or the one resumed from, also when a checkpoint is due every step.
func TestCNNDivergenceKeepsLastGoodCheckpoint(t *testing.T) {
	dataDir := tinyMNIST(t, 320, 50)
	flags := []string{"cnn", "-data", dataDir, "-model", "lenet", "-batch", "32"}
	checkDiverged := func(t *testing.T, code int, stderr string, wants ...string) {
		t.Helper()
		last := lastLine(stderr)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, w := range append([]string{"demo cnn: training diverged at step ", "the parameters' norm jumped", "lower -lr", "-clip"}, wants...) {
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
		mustRunDemo(t, append(flags, "-out", out, "-steps", "2", "-checkpoint-every", "1")...)
		code, _, stderr := runDemo(t, append(flags, "-out", out, "-steps", "20", "-lr", "1e30", "-checkpoint-every", "1", "-resume", ckpt)...)
		checkDiverged(t, code, stderr, "at step 3 (loss ", "the checkpoint resumed from, "+ckpt+", is unchanged")
		clf := loadDivergedCheckpoint(t, ckpt)
		if clf.step != 2 {
			t.Errorf("the checkpoint is at step %d, want 2 (the last good step)", clf.step)
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
		// Resumed at step 3 with the huge rate: step 4's update blows up.
		code, _, stderr := runDemo(t, append(flags, "-out", out, "-steps", "20", "-lr", "1e30", "-resume", ckpt)...)
		checkDiverged(t, code, stderr, "at step 4 (loss ", "is unchanged")
		after, err := os.ReadFile(ckpt)
		if err != nil || !bytes.Equal(before, after) {
			t.Fatalf("the checkpoint resumed from was changed (%v)", err)
		}
	})
}

// TestDivergedHint checks the demo's wording of a diverged fit for each checkpoint situation,
// including a run that wrote checkpoints before it diverged, and that the error still
// unwraps to graph.ErrDiverged.
func TestDivergedHint(t *testing.T) {
	cases := []struct {
		saved              int
		checkpoint, resume string
		want               string
	}{
		{-1, "", "", "no checkpoint was written"},
		{7, "/o/cnn.safetensors", "", "the last good checkpoint, step 7, is kept in /o/cnn.safetensors"},
		{-1, "/o/cnn.safetensors", "/o/cnn.safetensors", "the checkpoint resumed from, /o/cnn.safetensors, is unchanged"},
	}
	for _, c := range cases {
		err := divergedHint(fmt.Errorf("fit: epoch 2: %w", &graph.DivergedError{Step: 9, Loss: math.NaN(), Reason: "the loss is NaN"}), 0.5, c.saved, c.checkpoint, c.resume)
		msg := err.Error()
		for _, w := range []string{"training diverged at step 9: the loss is NaN", "lower -lr than 0.5", "-clip", c.want} {
			if !strings.Contains(msg, w) {
				t.Errorf("%q does not say %q", msg, w)
			}
		}
		if !errors.Is(err, graph.ErrDiverged) {
			t.Errorf("%q does not unwrap to graph.ErrDiverged", msg)
		}
	}
	other := errors.New("disk full")
	if got := divergedHint(other, 0.5, 3, "a", "b"); got != other {
		t.Errorf("another error came back as %v", got)
	}
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
	d.step = clf.Run().Steps()
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
