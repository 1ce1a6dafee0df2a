package graph

import (
	"encoding/base64"
	"fmt"
	"os"
	"sort"
	"strings"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/solvers"
)

// Checkpoints are safetensors files holding everything a bit-identical resume needs. Parameters
// and buffers are stored under their own names (conv1.weight, bn1.running_mean: PyTorch's
// state_dict names), so other tools read the weights directly. The rest is stored beside them:
//
//	solver/<key>   the solver's state (step count, moments keyed by parameter name)
//	extra/<name>   tensors a trainer adds (carried recurrent state)
//	blob/<name>    bytes a trainer adds (a data iterator's position, a vocabulary), as U8
//
// and the metadata holds the format version, the dtype, the random source's state, the solver's
// type and the trainer's strings under "meta.<key>".

const checkpointFormat = "unroll.checkpoint.v1"

// Extra is what a trainer adds to a checkpoint beyond parameters, buffers, solver and random
// source.
type Extra struct {
	Tensors map[string]*tensor.Dense // e.g. carried recurrent state
	Blobs   map[string][]byte        // e.g. a data iterator's position, a vocabulary
	Meta    map[string]string        // e.g. the model's configuration, the epoch
}

// Checkpoint is a checkpoint file read into memory, before it is restored into a model.
type Checkpoint struct {
	Path    string
	Dtype   string
	Solver  string // the solver's Go type, empty when saved without one
	tensors map[string]*tensor.Dense
	meta    map[string]string
	Extra   *Extra
}

// SaveCheckpoint writes ps (parameters, buffers and random source state), the training run
// (its state, its solver's state and its data's position; run may be nil) and the model's
// extra to path atomically: a temporary file in the same directory, synced, then renamed over
// path. Models call it from their own SaveCheckpoint.
//
// When run's last Fit was data-parallel (DataParallel), SaveCheckpoint is collective: every
// rank calls it, what each rank holds on its own (its noise stream, extra's tensors, such as
// its rows of a carried recurrent state) is gathered, and rank 0 alone writes the file.
func SaveCheckpoint(path string, ps *Params, run *Run, extra *Extra) error {
	if run != nil && run.group != nil && run.group.Size() > 1 {
		return run.saveRanks(path, ps, extra)
	}
	return writeCheckpoint(path, ps, run, extra)
}

// writeCheckpoint is SaveCheckpoint in one process.
func writeCheckpoint(path string, ps *Params, run *Run, extra *Extra) error {
	var s solvers.Solver
	if run != nil {
		var err error
		if extra, err = run.addTo(extra); err != nil {
			return fmt.Errorf("checkpoint %s: %w", path, err)
		}
		s = run.solver
	}
	ts := map[string]*tensor.Dense{}
	for _, e := range ps.Entries() {
		if strings.Contains(e.Name, "/") {
			return fmt.Errorf("checkpoint %s: parameter name %q must not contain '/'", path, e.Name)
		}
		ts[e.Name] = e.Value
	}
	rng, err := ps.RandState()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	meta := map[string]string{
		"format": checkpointFormat,
		"dtype":  ps.Dtype().String(),
		"rng":    base64.StdEncoding.EncodeToString(rng),
	}
	if s != nil {
		meta["solver"] = fmt.Sprintf("%T", s)
		for k, v := range s.State() {
			ts["solver/"+k] = v
		}
	}
	if extra != nil {
		for k, v := range extra.Tensors {
			ts["extra/"+k] = v
		}
		for k, v := range extra.Blobs {
			ts["blob/"+k] = tensor.New(tensor.WithShape(max(len(v), 1)), tensor.WithBacking(padBlob(v)))
			meta["bloblen."+k] = fmt.Sprint(len(v))
		}
		for k, v := range extra.Meta {
			meta["meta."+k] = v
		}
	}
	b, err := EncodeSafetensors(ts, meta)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// padBlob keeps empty blobs representable (safetensors has no zero-size tensors here).
func padBlob(v []byte) []byte {
	if len(v) == 0 {
		return []byte{0}
	}
	return append([]byte(nil), v...)
}

// ReadCheckpoint reads and checks a checkpoint file without touching any model, so a program
// can read the configuration a trainer stored (Extra.Meta) before it builds the model.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	ts, meta, checked, err := decodeSafetensors(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if !checked {
		return nil, fmt.Errorf("checkpoint %s has no checksums: not a checkpoint unroll wrote, or its checksum entry is damaged (LoadWeights reads weights made elsewhere)", path)
	}
	if meta["format"] != checkpointFormat {
		return nil, fmt.Errorf("checkpoint %s: not an unroll checkpoint (format %q, want %q)", path, meta["format"], checkpointFormat)
	}
	if d := meta["dtype"]; d != tensor.Float32.String() && d != tensor.Float64.String() {
		return nil, fmt.Errorf("checkpoint %s: dtype %q, want float32 or float64", path, d)
	}
	c := &Checkpoint{Path: path, Dtype: meta["dtype"], Solver: meta["solver"], tensors: map[string]*tensor.Dense{}, meta: meta,
		Extra: &Extra{Tensors: map[string]*tensor.Dense{}, Blobs: map[string][]byte{}, Meta: map[string]string{}}}
	for k, v := range meta {
		if rest, ok := strings.CutPrefix(k, "meta."); ok {
			c.Extra.Meta[rest] = v
		}
	}
	for name, t := range ts {
		switch {
		case strings.HasPrefix(name, "extra/"):
			c.Extra.Tensors[strings.TrimPrefix(name, "extra/")] = t
		case strings.HasPrefix(name, "blob/"):
			k := strings.TrimPrefix(name, "blob/")
			data, ok := t.Data().([]uint8)
			var n int
			if _, err := fmt.Sscan(meta["bloblen."+k], &n); !ok || err != nil || n < 0 || n > len(data) {
				return nil, fmt.Errorf("checkpoint %s: blob %q is malformed", path, k)
			}
			c.Extra.Blobs[k] = data[:n]
		default:
			if !strings.HasPrefix(name, "solver/") && t.Dtype().String() != c.Dtype {
				return nil, fmt.Errorf("checkpoint %s: %s is %v, the checkpoint's dtype %s", path, name, t.Dtype(), c.Dtype)
			}
			c.tensors[name] = t
		}
	}
	return c, nil
}

// LoadCheckpoint reads path and restores it into ps and run (see Checkpoint.Restore); it
// returns what the model added. Models call it, or ReadCheckpoint and Restore, from their own
// LoadCheckpoint.
func LoadCheckpoint(path string, ps *Params, run *Run) (*Extra, error) {
	c, err := ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if err := c.Restore(ps, run); err != nil {
		return nil, err
	}
	return c.Extra, nil
}

// Restore copies the checkpoint into ps (values and random source) and, when run is not nil,
// into the run (its state now; its solver's state and data position for the next Fit). The
// checkpoint must hold exactly the model's parameters and buffers with the same shapes and
// dtypes, finite values, and solver state shaped as the parameters; otherwise nothing is
// changed and the error lists every difference.
func (c *Checkpoint) Restore(ps *Params, run *Run) error {
	if diffs := c.mismatches(ps); len(diffs) > 0 {
		return fmt.Errorf("checkpoint %s does not match the model: %s", c.Path, strings.Join(diffs, "; "))
	}
	rng, err := base64.StdEncoding.DecodeString(c.meta["rng"])
	if err != nil {
		return fmt.Errorf("checkpoint %s: random source state: %w", c.Path, err)
	}
	probe := NewParams()
	if err := probe.SetRandState(rng); err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	if run != nil {
		if err := run.restore(c); err != nil {
			return err
		}
	}
	for _, e := range ps.Entries() {
		_ = CopyInto(e.Value, c.tensors[e.Name]) // checked above
	}
	_ = ps.SetRandState(rng) // checked above
	return nil
}

// mismatches lists every difference between the checkpoint and the model of ps: parameters
// and buffers missing, unexpected, of another dtype or shape, or not finite, then the solver
// state that fits no parameter; none when Restore may copy it.
func (c *Checkpoint) mismatches(ps *Params) []string {
	var diffs []string
	for _, e := range ps.Entries() {
		t, ok := c.tensors[e.Name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("missing %s", e.Name))
		case t.Dtype() != e.Value.Dtype():
			diffs = append(diffs, fmt.Sprintf("%s is %v in the file, %v in the model", e.Name, t.Dtype(), e.Value.Dtype()))
		case !t.Shape().Eq(e.Value.Shape()):
			diffs = append(diffs, fmt.Sprintf("%s has shape %v in the file, %v in the model", e.Name, t.Shape(), e.Value.Shape()))
		default:
			if i := firstNonFinite(t); i >= 0 {
				diffs = append(diffs, fmt.Sprintf("%s holds %v at element %d", e.Name, Float64s(t)[i], i))
			}
		}
	}
	var unexpected, solverDiffs []string
	for name, t := range c.tensors {
		key, isSolver := strings.CutPrefix(name, "solver/")
		if !isSolver {
			if ps.Get(name) == nil {
				unexpected = append(unexpected, "unexpected "+name)
			}
			continue
		}
		// The solver's buffers are "<buffer>/<parameter>", shaped as the parameter.
		_, param, ok := strings.Cut(key, "/")
		if !ok {
			continue // the step count
		}
		e := ps.Get(param)
		switch {
		case e == nil || !e.Trainable:
			solverDiffs = append(solverDiffs, fmt.Sprintf("%s is state for no parameter of the model", name))
		case t.Dtype() != e.Value.Dtype() || !t.Shape().Eq(e.Value.Shape()):
			solverDiffs = append(solverDiffs, fmt.Sprintf("%s is %v %v, its parameter %v %v", name, t.Dtype(), t.Shape(), e.Value.Dtype(), e.Value.Shape()))
		default:
			if i := firstNonFinite(t); i >= 0 {
				solverDiffs = append(solverDiffs, fmt.Sprintf("%s holds %v at element %d", name, Float64s(t)[i], i))
			}
		}
	}
	sort.Strings(unexpected)
	sort.Strings(solverDiffs)
	diffs = append(append(diffs, unexpected...), solverDiffs...)
	return diffs
}

// solverState returns the solver's entries of the checkpoint, or nil when it holds none.
func (c *Checkpoint) solverState() map[string]*tensor.Dense {
	var state map[string]*tensor.Dense
	for name, t := range c.tensors {
		if k, ok := strings.CutPrefix(name, "solver/"); ok {
			if state == nil {
				state = map[string]*tensor.Dense{}
			}
			state[k] = t
		}
	}
	return state
}

// Tensor returns one parameter's or buffer's value as stored, or nil.
func (c *Checkpoint) Tensor(name string) *tensor.Dense { return c.tensors[name] }

// LoadWeights copies the parameters and buffers of ps from a safetensors file: a checkpoint of
// unroll's, or weights made elsewhere under the same names (a PyTorch state_dict written as
// safetensors). Only values are read: no solver, random source or training state, so a model
// built for inference, with any solver or none, loads them. Every parameter and buffer of ps
// must be in the file with its shape (float32 or float64 values are converted to ps's dtype)
// and finite values; entries of the file that ps does not have are ignored. On any error
// nothing is changed, and the error names every difference.
func LoadWeights(path string, ps *Params) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	ts, _, err := DecodeSafetensors(b)
	if err != nil {
		return fmt.Errorf("weights %s: %w", path, err)
	}
	var diffs []string
	for _, e := range ps.Entries() {
		t, ok := ts[e.Name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("missing %s", e.Name))
		case t.Dtype() != tensor.Float32 && t.Dtype() != tensor.Float64:
			diffs = append(diffs, fmt.Sprintf("%s is %v in the file, want float32 or float64", e.Name, t.Dtype()))
		case !t.Shape().Eq(e.Value.Shape()):
			diffs = append(diffs, fmt.Sprintf("%s has shape %v in the file, %v in the model", e.Name, t.Shape(), e.Value.Shape()))
		default:
			if i := firstNonFinite(t); i >= 0 {
				diffs = append(diffs, fmt.Sprintf("%s holds %v at element %d", e.Name, Float64s(t)[i], i))
			}
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("weights %s do not match the model: %s", path, strings.Join(diffs, "; "))
	}
	for _, e := range ps.Entries() {
		_ = CopyInto(e.Value, ts[e.Name]) // checked above; CopyInto converts the dtype
	}
	return nil
}
