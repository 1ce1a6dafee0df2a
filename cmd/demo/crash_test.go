package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
)

// crashRoundsEnv sets the number of kills of TestCrashSafeCheckpoints (default 20, 5 with
// -short).
const crashRoundsEnv = "UNROLL_CRASH_ROUNDS"

// TestCrashSafeCheckpoints starts a real training process (demo cnn, LeNet-5 on 320 MNIST
// images, a checkpoint after every step) and kills it with SIGKILL again and again: at random
// moments, right after a checkpoint was written, and while one is being written (when the
// temporary file appears). After each kill the newest checkpoint must read, load into a fresh
// classifier and be at least as far as the one before (its history extending the earlier
// one's), and the next process resumes from it. At the end a last process resumes and trains
// a few more steps; its checkpoint must equal bit for bit that of a run that was never killed,
// so no resume lost or repeated anything.
func TestCrashSafeCheckpoints(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	if s := os.Getenv(crashRoundsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", crashRoundsEnv, s)
		}
		rounds = n
	}
	dataDir := tinyMNIST(t, 320, 50)
	flags := []string{"cnn", "-data", dataDir, "-model", "lenet", "-batch", "32", "-epochs", "1000", "-dropout", "0.1",
		"-seed", "7", "-checkpoint-every", "1"}
	out := t.TempDir()
	ckpt := filepath.Join(out, "cnn.safetensors")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("kill moments drawn with seed %d", seed)

	step := -1 // the step of the newest checkpoint seen, -1 before the first
	var history []graph.EpochStats
	var duringWrite, afterWrite, random int
	for round := 1; round <= rounds; round++ {
		args := append(append([]string(nil), flags...), "-out", out, "-steps", "1000000")
		if step >= 0 {
			args = append(args, "-resume", ckpt)
		}
		stale := len(tempFiles(t, out)) // left by earlier kills during a write
		cmd := demoProcess(args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		var how string
		switch round % 3 {
		case 0: // while a checkpoint is being written: its temporary file exists
			how = "during a write"
			waitFor(t, exited, &stderr, func() bool { return len(tempFiles(t, out)) > stale })
		case 1: // just after a new checkpoint replaced the old one
			how = "after a write"
			before := modTime(ckpt)
			waitFor(t, exited, &stderr, func() bool { return modTime(ckpt).After(before) })
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		default: // anywhere: starting up, training, writing
			how = "at random"
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		err := <-exited
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Exited() {
			t.Fatalf("round %d: the process was not killed (%v): %s", round, err, stderr.String())
		}
		leftover := len(tempFiles(t, out))

		switch how {
		case "during a write":
			if leftover > stale {
				duringWrite++
			}
		case "after a write":
			afterWrite++
		default:
			random++
		}
		if _, err := os.Stat(ckpt); errors.Is(err, os.ErrNotExist) {
			if step >= 0 {
				t.Fatalf("round %d (killed %s): the checkpoint of step %d is gone", round, how, step)
			}
			t.Logf("round %d: killed %s before the first checkpoint", round, how)
			continue
		}
		clf := loadCrashCheckpoint(t, ckpt)
		got := clf.Run().Steps()
		if got < step {
			t.Fatalf("round %d (killed %s): the checkpoint went back from step %d to %d", round, how, step, got)
		}
		h := clf.Run().History().Epochs
		if len(h) < len(history) || !slices.EqualFunc(h[:len(history)], history, func(a, b graph.EpochStats) bool { return jsonOf(t, a) == jsonOf(t, b) }) {
			t.Fatalf("round %d: the checkpoint's history %v does not extend the earlier %v", round, h, history)
		}
		t.Logf("round %d: killed %s; the checkpoint loads at step %d (was %d), %d temporary files left", round, how, got, step, leftover)
		step, history = got, h
	}
	if step < 1 {
		t.Fatalf("after %d kills no checkpoint was written", rounds)
	}
	if rounds >= 9 && duringWrite == 0 {
		t.Errorf("none of the %d kills aimed at a checkpoint write landed during one", rounds/3)
	}
	t.Logf("%d kills: %d during a checkpoint write (its temporary file left behind), %d just after one, %d at random; reached step %d; %d temporary files left in all",
		rounds, duringWrite, afterWrite, random, step, len(tempFiles(t, out)))

	// Resume once more and finish a few steps later; compare with a run never killed.
	final := step + 3
	cmd := demoProcess(append(append([]string(nil), flags...), "-out", out, "-steps", strconv.Itoa(final), "-resume", ckpt)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the final resumed run: %v\n%s", err, b)
	}
	clean := t.TempDir()
	mustRunDemo(t, append(append([]string(nil), flags...), "-out", clean, "-steps", strconv.Itoa(final))...)
	sameCheckpoints(t, ckpt, filepath.Join(clean, "cnn.safetensors"))
}

// loadCrashCheckpoint loads a checkpoint of TestCrashSafeCheckpoints into a fresh classifier
// built as demo cnn builds it.
func loadCrashCheckpoint(t *testing.T, path string) *cnn.Classifier {
	t.Helper()
	if _, err := graph.ReadCheckpoint(path); err != nil {
		t.Fatalf("the newest checkpoint does not read: %v", err)
	}
	net, err := cnn.NewLeNet5(graph.NewParams(graph.Seed(7)), cnn.Dropout(0.1))
	if err != nil {
		t.Fatal(err)
	}
	clf, err := cnn.NewClassifier(net)
	if err != nil {
		t.Fatal(err)
	}
	if err := clf.LoadCheckpoint(path); err != nil {
		t.Fatalf("the newest checkpoint does not load: %v", err)
	}
	return clf
}

// jsonOf marshals v, to compare values that hold pointers.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond until it holds; the process exiting first, or a long wait, fails the test.
func waitFor(t *testing.T, exited chan error, stderr *bytes.Buffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the training process ended by itself (%v): %s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("waited two minutes for the training process")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// tempFiles lists the temporary files of unfinished checkpoint writes in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".cnn.safetensors.tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}

func modTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}
