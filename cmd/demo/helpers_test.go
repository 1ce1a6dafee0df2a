package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
)

// demoHelperEnv makes the test binary act as the demo: TestDemoHelperProcess runs the demo's
// run with the arguments after "--" and exits with its status. The reliability tests start it
// as a real process (to kill it with SIGKILL, or to see its exit status and output).
const demoHelperEnv = "UNROLL_DEMO_HELPER_PROCESS"

func TestDemoHelperProcess(t *testing.T) {
	if os.Getenv(demoHelperEnv) != "1" {
		t.Skip("the demo as a child process of other tests")
	}
	args := os.Args
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[i+1:]
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// demoProcess returns a command that runs the demo with args in a child process.
func demoProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestDemoHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), demoHelperEnv+"=1")
	return cmd
}

// runDemo runs the demo in this process and returns its exit status, stdout and stderr.
// A panic is a test failure naming the arguments.
func runDemo(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("demo %s panicked: %v", strings.Join(args, " "), r)
			}
		}()
		code = run(args, &out, &errb)
	}()
	return code, out.String(), errb.String()
}

// mustRunDemo runs the demo in this process and fails the test unless it succeeds.
func mustRunDemo(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runDemo(t, args...)
	if code != 0 {
		t.Fatalf("demo %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

var tinyMNISTOnce struct {
	sync.Once
	train, test *data.ImageSet
	err         error
}

// tinyMNIST writes the first nTrain training and nTest test images of the built-in MNIST as an
// IDX data set (MNIST's file names) in a new directory, for -data: a child process reads it
// much faster than the whole built-in set.
func tinyMNIST(t testing.TB, nTrain, nTest int) string {
	t.Helper()
	o := &tinyMNISTOnce
	o.Do(func() { o.train, o.test, o.err = builtin.MNIST() })
	if o.err != nil {
		t.Fatal(o.err)
	}
	dir := t.TempDir()
	for _, part := range []struct {
		prefix string
		set    *data.ImageSet
	}{{"train", o.train.Head(nTrain)}, {"t10k", o.test.Head(nTest)}} {
		s := part.set
		labels := make([]byte, s.N)
		for i, l := range s.Labels {
			labels[i] = byte(l)
		}
		writeIDX(t, filepath.Join(dir, part.prefix+"-images-idx3-ubyte"), []int{s.N, s.H, s.W}, s.Pixels)
		writeIDX(t, filepath.Join(dir, part.prefix+"-labels-idx1-ubyte"), []int{s.N}, labels)
	}
	return dir
}

// writeIDX writes an IDX file of unsigned bytes.
func writeIDX(t testing.TB, path string, dims []int, payload []byte) {
	t.Helper()
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	if err := os.WriteFile(path, append(b, payload...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// smallText writes the first n bytes of Moby Dick to a file, for demo rnn's -data.
func smallText(t testing.TB, n int) string {
	t.Helper()
	text, err := builtin.MobyDick()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "small.txt")
	if err := os.WriteFile(path, []byte(text[:n]), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkpointFile is a checkpoint read as raw safetensors: every tensor by its stored name
// (parameters, solver/..., extra/..., blob/...) and the metadata.
type checkpointFile struct {
	tensors map[string][]byte // little-endian bytes of each tensor's values
	shapes  map[string]string
	meta    map[string]string
}

func readCheckpointFile(t testing.TB, path string) *checkpointFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, meta, err := graph.DecodeSafetensors(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := &checkpointFile{tensors: map[string][]byte{}, shapes: map[string]string{}, meta: meta}
	for name, v := range ts {
		c.shapes[name] = fmt.Sprintf("%v %v", v.Dtype(), v.Shape())
		switch d := v.Data().(type) {
		case []float32:
			for _, x := range d {
				c.tensors[name] = binary.LittleEndian.AppendUint32(c.tensors[name], math.Float32bits(x))
			}
		case []float64:
			for _, x := range d {
				c.tensors[name] = binary.LittleEndian.AppendUint64(c.tensors[name], math.Float64bits(x))
			}
		case []uint8:
			c.tensors[name] = append([]byte(nil), d...)
		default:
			t.Fatalf("%s: tensor %s of %T", path, name, d)
		}
	}
	return c
}

// timingKeys are the JSON fields that measure time or speed: the only ones a resumed run may
// report differently.
var timingKeys = map[string]bool{
	"Seconds": true, "ImagesPerSecond": true, "images_per_second": true, "seconds": true,
	"eval_seconds": true, "tokens_per_second": true, "examples_per_second": true,
}

// withoutTiming decodes a JSON text and drops the timing fields at every depth.
func withoutTiming(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	var strip func(any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if timingKeys[k] {
					delete(x, k)
					continue
				}
				strip(e)
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	return v
}

// sameCheckpoints requires two checkpoint files to hold bit-identical tensors (parameters,
// solver state, carried state, data positions and every other blob) and the same metadata,
// timings aside. ignoreMeta names metadata keys that may differ (paths).
func sameCheckpoints(t testing.TB, a, b string, ignoreMeta ...string) {
	t.Helper()
	ca, cb := readCheckpointFile(t, a), readCheckpointFile(t, b)
	names := func(m map[string][]byte) []string {
		var ns []string
		for n := range m {
			ns = append(ns, n)
		}
		slices.Sort(ns)
		return ns
	}
	if na, nb := names(ca.tensors), names(cb.tensors); !slices.Equal(na, nb) {
		t.Fatalf("%s holds %v,\n%s holds %v", a, na, b, nb)
	}
	for name, va := range ca.tensors {
		if ca.shapes[name] != cb.shapes[name] {
			t.Errorf("%s: %s against %s", name, ca.shapes[name], cb.shapes[name])
			continue
		}
		if !bytes.Equal(va, cb.tensors[name]) {
			t.Errorf("%s differs (%s)", name, ca.shapes[name])
		}
	}
	for k, va := range ca.meta {
		if slices.Contains(ignoreMeta, k) {
			continue
		}
		vb, ok := cb.meta[k]
		switch {
		case !ok:
			t.Errorf("metadata %q only in %s", k, a)
		case strings.HasPrefix(va, "{"):
			ja, jb := withoutTiming(t, va), withoutTiming(t, vb)
			if fmt.Sprint(ja) != fmt.Sprint(jb) {
				t.Errorf("metadata %q: %s\nagainst %s", k, va, vb)
			}
		case va != vb:
			t.Errorf("metadata %q: %q against %q", k, va, vb)
		}
	}
	for k := range cb.meta {
		if _, ok := ca.meta[k]; !ok && !slices.Contains(ignoreMeta, k) {
			t.Errorf("metadata %q only in %s", k, b)
		}
	}
}
