package onnx_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/onnx"
)

// The harness: ONNX's own checker (Debian's python3-onnx, run with /usr/bin/python3, through
// testdata/check_models.py) and ONNX Runtime (onnxruntime-node 1.16.3 through
// testdata/run_ort.js), each started once and asked one line at a time. Without them the tests
// skip on a developer's machine and fail in CI (CI=true), whose "onnx" stage installs them.

const python = "/usr/bin/python3"

var tools struct {
	once             sync.Once
	missing          string
	checker, runtime *helper
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, h := range []*helper{tools.checker, tools.runtime} {
		if h != nil {
			h.close()
		}
	}
	os.Exit(code)
}

// requireRuntime skips the test, or fails it when CI=true, unless node with onnxruntime-node
// and python3-onnx are installed; it starts the two helpers once.
func requireRuntime(t *testing.T) {
	t.Helper()
	tools.once.Do(func() {
		if out, err := exec.Command("node", "-e", "require('onnxruntime-node')").CombinedOutput(); err != nil {
			tools.missing = fmt.Sprintf("node cannot load onnxruntime-node (npm install --no-save --prefix DIR onnxruntime-node@1.16.3, then NODE_PATH=DIR/node_modules): %v %s", err, firstLine(out))
			return
		}
		if out, err := exec.Command(python, "-P", "-c", "import onnx.checker").CombinedOutput(); err != nil {
			tools.missing = fmt.Sprintf("%s cannot import onnx (apt-get install python3-onnx): %v %s", python, err, firstLine(out))
			return
		}
		var err error
		if tools.checker, err = startHelper(python, filepath.Join("testdata", "check_models.py")); err == nil {
			tools.runtime, err = startHelper("node", filepath.Join("testdata", "run_ort.js"))
		}
		if err != nil {
			tools.missing = err.Error()
		}
	})
	if tools.missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so the onnx tests must run", tools.missing)
	}
	t.Skip(tools.missing)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// helper is a child process that answers each line written to it with one line.
type helper struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startHelper(name string, args ...string) (*helper, error) {
	h := &helper{cmd: exec.Command(name, args...), stderr: &lockedBuffer{}}
	h.cmd.Stderr = h.stderr
	in, err := h.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	h.in, h.out = in, bufio.NewReaderSize(out, 1<<20)
	return h, nil
}

// ask writes line and returns the answer line.
func (h *helper) ask(line string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := io.WriteString(h.in, line+"\n"); err != nil {
		return "", fmt.Errorf("%s: %w: %s", h.cmd.Path, err, h.stderr.String())
	}
	answer, err := h.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", h.cmd.Path, err, h.stderr.String())
	}
	return strings.TrimSuffix(answer, "\n"), nil
}

func (h *helper) close() {
	h.in.Close()
	_ = h.cmd.Wait()
}

// checkModel runs ONNX's checker, with full shape inference, on the file path.
func checkModel(t *testing.T, path string) {
	t.Helper()
	answer, err := tools.checker.ask(path)
	if err != nil {
		t.Fatal(err)
	}
	if answer != "ok" {
		t.Fatalf("onnx.checker.check_model(%s): %s", filepath.Base(path), answer)
	}
}

type feeds map[string]*tensor.Dense

type ortTensor struct {
	Type string `json:"type"`
	Dims []int  `json:"dims"`
	File string `json:"file"`
}

// runORT runs the model file path in ONNX Runtime once per element of runs and returns the
// outputs of each run by name.
func runORT(t *testing.T, path string, runs []feeds) []map[string]*tensor.Dense {
	t.Helper()
	dir := t.TempDir()
	type run struct {
		Inputs map[string]ortTensor `json:"inputs"`
		Out    string               `json:"out"`
	}
	spec := struct {
		Model string `json:"model"`
		Runs  []run  `json:"runs"`
	}{Model: path}
	for i, fs := range runs {
		r := run{Inputs: map[string]ortTensor{}, Out: filepath.Join(dir, fmt.Sprintf("run%d", i))}
		for name, v := range fs {
			file := filepath.Join(dir, fmt.Sprintf("run%d.in.%s.bin", i, name))
			typ, err := writeRaw(file, v)
			if err != nil {
				t.Fatal(err)
			}
			r.Inputs[name] = ortTensor{Type: typ, Dims: v.Shape(), File: file}
		}
		spec.Runs = append(spec.Runs, r)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := tools.runtime.ask(string(b))
	if err != nil {
		t.Fatalf("onnx runtime on %s: %v", filepath.Base(path), err)
	}
	var failure struct{ Error string }
	if json.Unmarshal([]byte(answer), &failure) == nil && failure.Error != "" {
		t.Fatalf("onnx runtime on %s: %s", filepath.Base(path), failure.Error)
	}
	var results []map[string]ortTensor
	if err := json.Unmarshal([]byte(answer), &results); err != nil {
		t.Fatalf("run_ort.js answer: %v", err)
	}
	var all []map[string]*tensor.Dense
	for _, res := range results {
		m := map[string]*tensor.Dense{}
		for name, o := range res {
			if m[name], err = readRaw(o); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, m)
	}
	return all
}

// writeRaw writes v's elements little-endian and returns ONNX Runtime's name of their type.
func writeRaw(file string, v *tensor.Dense) (string, error) {
	var b []byte
	var typ string
	switch d := v.Data().(type) {
	case []float32:
		typ, b = "float32", make([]byte, 4*len(d))
		for i, x := range d {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
	case []int64:
		typ, b = "int64", make([]byte, 8*len(d))
		for i, x := range d {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
		}
	default:
		return "", fmt.Errorf("%s: cannot feed %v", file, v.Dtype())
	}
	return typ, os.WriteFile(file, b, 0o644)
}

func readRaw(o ortTensor) (*tensor.Dense, error) {
	b, err := os.ReadFile(o.File)
	if err != nil {
		return nil, err
	}
	n := 1
	for _, d := range o.Dims {
		n *= d
	}
	switch {
	case o.Type == "float32" && len(b) == 4*n:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return tensor.New(tensor.WithShape(o.Dims...), tensor.WithBacking(v)), nil
	case o.Type == "int64" && len(b) == 8*n:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return tensor.New(tensor.WithShape(o.Dims...), tensor.WithBacking(v)), nil
	}
	return nil, fmt.Errorf("%s: %d bytes of %s for dims %v", o.File, len(b), o.Type, o.Dims)
}

// assertClose fails unless every element of got (ONNX Runtime's) is within
// 1e-5 + 1e-4·|want| of want's (unroll's), with equal shapes.
func assertClose(t *testing.T, what string, got, want *tensor.Dense) {
	t.Helper()
	if !got.Shape().Eq(want.Shape()) {
		t.Fatalf("%s: onnx runtime gives shape %v, unroll %v", what, got.Shape(), want.Shape())
	}
	g, w := graph.Float64s(got), graph.Float64s(want)
	worst, at := 0.0, -1
	maxAbs, maxRel := 0.0, 0.0
	for i := range g {
		d := math.Abs(g[i] - w[i])
		maxAbs = math.Max(maxAbs, d)
		if w[i] != 0 {
			maxRel = math.Max(maxRel, d/math.Abs(w[i]))
		}
		if !(d <= 1e-5+1e-4*math.Abs(w[i])) && (at < 0 || d > worst || math.IsNaN(d)) {
			worst, at = d, i
		}
	}
	if at >= 0 {
		t.Fatalf("%s: element %d: onnx runtime %v, unroll %v (|a-b| = %g)", what, at, g[at], w[at], worst)
	}
	t.Logf("%s: %d values, max |a-b| %.2g, max |a-b|/|b| %.2g", what, len(g), maxAbs, maxRel)
}

// randomTensor draws a float32 tensor from U(-1, 1).
func randomTensor(r *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*r.Float64() - 1
	}
	return graph.NewTensor(tensor.Float32, shape, v)
}

// forward compiles an evaluation graph of ps whose inputs are ins (name -> value), built by
// build, and returns the outputs it names.
func forward(t *testing.T, ps *graph.Params, ins feeds, build func(b *graph.Builder, xs map[string]*gorgonia.Node) (map[string]*gorgonia.Node, error)) graph.Outputs {
	t.Helper()
	b := graph.NewBuilder(ps, graph.Eval)
	xs := map[string]*gorgonia.Node{}
	for name, v := range ins {
		x, err := b.Input(name, v.Shape()...)
		if err != nil {
			t.Fatal(err)
		}
		xs[name] = x
	}
	outs, err := build(b, xs)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := graph.Compile(b, outs)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	res, err := prog.Run(graph.Feeds(ins))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// save writes m to a file in a test folder and checks it with ONNX's checker.
func save(t *testing.T, m *onnx.Model, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	checkModel(t, path)
	return path
}
