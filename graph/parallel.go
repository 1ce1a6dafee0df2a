package graph

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/dist"
)

// Data parallelism. With graph.DataParallel(g), every rank of the process group g holds the
// whole model and trains on its own share of every batch, as PyTorch's DistributedDataParallel
// does:
//
//   - when Fit starts, the ranks check that they hold the same parameters (names and shapes)
//     and take rank 0's values of every parameter and buffer, and rank 0's random source;
//   - every rank draws the data in the same order (from that source), and the learner trains
//     on rows [r·B/N, (r+1)·B/N) of each batch of B (Shard), adding up over the ranks what it
//     counts of the whole batch (SumOverRanks);
//   - after the backward pass, the loss and the gradients are averaged over the ranks, in
//     buckets of at most bucketElems values, one all-reduce each, before the checks, the
//     clipping and the solver's step, which are then the same on every rank; BatchNorm's
//     running statistics are averaged after each step;
//   - dropout masks are drawn from a random stream of each rank's own, derived from the
//     source's state and the rank without drawing from it, while the model's source (data
//     order) stays the same on every rank and the same as a single process's;
//   - checkpoints are written by rank 0 with what every rank holds on its own (its random
//     stream, and whatever the model keeps per rank, such as a carried recurrent state)
//     gathered in; a checkpoint resumes under the same number of ranks only.
//
// N ranks training on batches of B/N train the model one rank trains on batches of B, up to
// the order of the sums (and BatchNorm, whose batch statistics stay per rank, as in DDP without
// SyncBatchNorm).

// bucketElems is the largest number of values one all-reduce carries (4 MiB of float32).
const bucketElems = 1 << 20

// DataParallel makes Fit train data-parallel over the process group g (see package dist); a
// group of one process is the ordinary single-process run.
func DataParallel(g dist.Group) FitOption { return func(c *FitConfig) { c.Group = g } }

// Shard returns the rows [lo, hi) of a batch of n examples that this rank trains on under cfg:
// all of them in a single-process run. A batch that the ranks cannot share equally is an
// error.
func (cfg *FitConfig) Shard(n int) (lo, hi int, err error) {
	g := cfg.Group
	if g == nil || g.Size() == 1 {
		return 0, n, nil
	}
	if n%g.Size() != 0 {
		return 0, 0, fmt.Errorf("a batch of %d examples does not split among %d ranks: make the batch size a multiple of the number of ranks", n, g.Size())
	}
	per := n / g.Size()
	return g.Rank() * per, (g.Rank() + 1) * per, nil
}

// parallel reports whether cfg trains on more than one rank.
func (cfg *FitConfig) parallel() bool { return cfg.Group != nil && cfg.Group.Size() > 1 }

// beginParallel makes every rank hold rank 0's parameters, buffers and random source, after
// checking that they all hold the same names and shapes, and gives this rank its own noise
// stream.
func beginParallel(g dist.Group, ps *Params) error {
	var layout bytes.Buffer
	for _, e := range ps.Entries() {
		fmt.Fprintf(&layout, "%s %v %v %v\n", e.Name, e.Value.Dtype(), e.Value.Shape(), e.Trainable)
	}
	if err := dist.Agree(g, "the model's parameters", layout.Bytes()); err != nil {
		return fmt.Errorf("fit: data parallel: %w", err)
	}
	for _, e := range ps.Entries() {
		var err error
		switch d := e.Value.Data().(type) {
		case []float32:
			err = g.Broadcast32(d, 0)
		case []float64:
			err = g.Broadcast64(d, 0)
		}
		if err != nil {
			return fmt.Errorf("fit: data parallel: broadcast of %s: %w", e.Name, err)
		}
	}
	// The data order is drawn from the model's source: every rank must draw the same.
	state, err := ps.src.MarshalBinary()
	if err != nil {
		return err
	}
	if state, err = g.BroadcastBytes(state, 0); err != nil {
		return fmt.Errorf("fit: data parallel: broadcast of the random source: %w", err)
	}
	if err := ps.src.UnmarshalBinary(state); err != nil {
		return fmt.Errorf("fit: data parallel: rank 0's random source: %w", err)
	}
	if ps.noise == nil { // a resumed run has its stream from the checkpoint
		ps.noise = rankStream(state, g.Rank())
	}
	return nil
}

// rankStream derives rank's own random stream from the state of the model's source, without
// drawing from it: a data-parallel run then draws the same data order as a single process.
func rankStream(state []byte, rank int) *rand.PCG {
	h := fnv.New64a()
	h.Write(state)
	return rand.NewPCG(h.Sum64(), uint64(rank)*0x9e3779b97f4a7c15+1)
}

// SumOverRanks returns the sum of v over the ranks of a data-parallel run, with one
// all-reduce, and v itself in a single-process run: for the counts a learner reports of the
// whole batch (BatchStats), such as the examples it classified right. Every rank must call it
// at the same point.
func (cfg *FitConfig) SumOverRanks(v float64) (float64, error) {
	if !cfg.parallel() {
		return v, nil
	}
	buf := []float64{v}
	if err := cfg.Group.AllReduceSum64(buf); err != nil {
		return 0, fmt.Errorf("data parallel: sum of the batch's counts: %w", err)
	}
	return buf[0], nil
}

// allReduceMean replaces every tensor of ts, on every rank, by its mean over the ranks, in
// buckets of at most bucketElems values (tensors are not split: a tensor larger than a bucket
// is a bucket of its own).
func allReduceMean(g dist.Group, ts []*tensor.Dense) error {
	n := float64(g.Size())
	var bucket []*tensor.Dense
	size := 0
	flush := func() error {
		if len(bucket) == 0 {
			return nil
		}
		err := reduceBucket(g, bucket, size, n)
		bucket, size = bucket[:0], 0
		return err
	}
	for _, t := range ts {
		m := t.Shape().TotalSize()
		if size > 0 && size+m > bucketElems {
			if err := flush(); err != nil {
				return err
			}
		}
		bucket = append(bucket, t)
		size += m
	}
	return flush()
}

// reduceBucket sums the tensors of one bucket (size values, one dtype) over the ranks with one
// all-reduce and writes the mean back.
func reduceBucket(g dist.Group, bucket []*tensor.Dense, size int, n float64) error {
	if bucket[0].Dtype() == tensor.Float64 {
		return reduceFlat(bucket, size, n, (*tensor.Dense).Float64s, g.AllReduceSum64)
	}
	return reduceFlat(bucket, size, n, (*tensor.Dense).Float32s, g.AllReduceSum32)
}

// reduceFlat flattens the tensors' values into one buffer, sums it and writes the mean back.
func reduceFlat[T float32 | float64](bucket []*tensor.Dense, size int, n float64, values func(*tensor.Dense) []T, sum func([]T) error) error {
	flat := make([]T, 0, size)
	for _, t := range bucket {
		flat = append(flat, values(t)...)
	}
	if err := sum(flat); err != nil {
		return err
	}
	for _, t := range bucket {
		d := values(t)
		for i := range d {
			d[i] = T(float64(flat[i]) / n)
		}
		flat = flat[len(d):]
	}
	return nil
}

// Checkpoint entries of the ranks of a data-parallel run.
const (
	ranksMeta   = "ranks"      // the number of ranks, when more than one
	noisePrefix = "rank_noise" // blob rank_noise<r>: rank r's noise stream
)

// gatherRanks completes, on rank 0, a checkpoint's extra with what the ranks hold on their
// own: each rank's noise stream, and the model's per-rank tensors (local.Tensors, such as a
// carried recurrent state of the rank's B/N rows), joined along their first axis in rank
// order, so that the checkpoint holds the state of the whole batch as a single process would.
// Every rank calls it; the others' extra is left as it is.
func gatherRanks(g dist.Group, ps *Params, local, extra *Extra) error {
	noise, err := ps.noise.MarshalBinary()
	if err != nil {
		return err
	}
	mine := map[string]*tensor.Dense{"noise": tensor.New(tensor.WithShape(len(noise)), tensor.WithBacking(noise))}
	if local != nil {
		for k, v := range local.Tensors {
			mine["t/"+k] = v
		}
	}
	blob, err := EncodeSafetensors(mine, nil)
	if err != nil {
		return err
	}
	all, err := g.GatherBytes(blob)
	if err != nil {
		return fmt.Errorf("gather of the ranks' state: %w", err)
	}
	if g.Rank() != 0 {
		return nil
	}
	extra.Meta[ranksMeta] = fmt.Sprint(g.Size())
	parts := map[string][]*tensor.Dense{}
	for r, b := range all {
		ts, _, err := DecodeSafetensors(b)
		if err != nil {
			return fmt.Errorf("rank %d's state: %w", r, err)
		}
		extra.Blobs[fmt.Sprint(noisePrefix, r)] = ts["noise"].Data().([]uint8)
		for k, v := range ts {
			if name, ok := strings.CutPrefix(k, "t/"); ok {
				parts[name] = append(parts[name], v)
			}
		}
	}
	for name, ps := range parts {
		joined, err := joinRows(ps)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		extra.Tensors[name] = joined
	}
	return nil
}

// joinRows concatenates tensors of one dtype along their first axis.
func joinRows(ts []*tensor.Dense) (*tensor.Dense, error) {
	shape := ts[0].Shape().Clone()
	var vals []float64
	for i, t := range ts {
		s := t.Shape()
		if len(s) != len(shape) || !s[1:].Eq(shape[1:]) || t.Dtype() != ts[0].Dtype() {
			return nil, fmt.Errorf("rank %d holds %v %v, rank 0 %v %v", i, t.Dtype(), s, ts[0].Dtype(), ts[0].Shape())
		}
		if i > 0 {
			shape[0] += s[0]
		}
		vals = append(vals, Float64s(t)...)
	}
	return NewTensor(ts[0].Dtype(), shape, vals), nil
}

// restoreRanks gives this rank, when a data-parallel Fit starts, the noise stream a checkpoint
// of as many ranks saved for it.
func (r *Run) restoreRanks(g dist.Group, ps *Params) error {
	size, rank := 1, 0
	if g != nil {
		size, rank = g.Size(), g.Rank()
	}
	if r.pendingRanks == 0 {
		return nil
	}
	switch {
	case r.pendingRanks == 1 && size > 1:
		return fmt.Errorf("checkpoint %s was written by one process, this run has %d ranks: resume it in one process", r.pendingFrom, size)
	case r.pendingRanks != size:
		return fmt.Errorf("checkpoint %s was written by %d ranks, this run has %d: resume it with as many", r.pendingFrom, r.pendingRanks, size)
	}
	if size > 1 {
		src := rand.NewPCG(0, 0)
		if err := src.UnmarshalBinary(r.pendingNoise[rank]); err != nil {
			return fmt.Errorf("checkpoint %s: rank %d's noise stream: %w", r.pendingFrom, rank, err)
		}
		ps.noise = src
	}
	r.pendingRanks, r.pendingNoise = 0, nil
	return nil
}
