package data

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// ImageBatch is one minibatch of images.
type ImageBatch struct {
	X       *tensor.Dense // (B, C, H, W), float32 or float64, normalised as the set records
	Labels  []int         // B class labels
	Indices []int         // B positions of the images in the set
}

// BatchOption configures the batch iterators NewImageBatches and NewSequences.
type BatchOption func(*batchConfig)

type batchConfig struct {
	rng      *rand.Rand
	dtype    tensor.Dtype // the zero Dtype: the iterator's default
	dropLast bool
}

// Shuffle makes each epoch visit the data in a new random order drawn from rng (the run's
// one generator). Without it the order is the set's order.
func Shuffle(rng *rand.Rand) BatchOption { return func(c *batchConfig) { c.rng = rng } }

// Dtype sets the element type of the batches: tensor.Float32 or tensor.Float64. Image
// batches are float32 by default; sequence batches keep the set's type by default.
func Dtype(dt tensor.Dtype) BatchOption { return func(c *batchConfig) { c.dtype = dt } }

// DropLast drops the last batch of an epoch when it would be smaller than the batch size.
// By default it is kept, smaller.
func DropLast() BatchOption { return func(c *batchConfig) { c.dropLast = true } }

// checkDtype reports a dtype other than float32 and float64.
func checkDtype(dt tensor.Dtype) error {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("dtype %v: need float32 or float64", dt)
	}
	return nil
}

// ImageBatches serves an ImageSet in minibatches, pass after pass (epoch after epoch), with
// explicit passes, as Sequences does: Pass returns one pass over the set, whose Next returns
// its batches and then false, for good; the next call of Pass starts the next pass. So
//
//	for epoch := range 10 {
//		pass := batches.Pass()
//		for b, ok := pass.Next(); ok; b, ok = pass.Next() {
//			... // train on b
//		}
//	}
//
// trains on every batch of every epoch, and so does a loop that takes NumBatches batches from
// each pass without ever seeing the false: the end of one pass is never consumed by the start
// of the next. A pass left unfinished is continued by the next call of Pass, so a run resumed
// from a checkpoint taken in the middle of an epoch finishes that epoch first.
//
// With Shuffle, the order of a pass is drawn from the generator when the pass's first batch is
// taken, never when the iterator is made or a pass is started, so restoring a checkpoint does
// not depend on whether the generator or the iterator is rebuilt first. With DropLast the last
// batch of a pass is left out when it would be short (a compiled graph has a fixed batch size).
//
// A batch holds the set's values normalised as the set records (ImageSet.Norm, see
// ImageSet.Normalize); a set that records no normalisation gives its values as they are,
// p/255 for bytes.
//
// Its position (epoch, index, order) is saved by MarshalBinary and restored by UnmarshalBinary
// into an iterator made with the same set and options, so a resumed run sees the same data in
// the same order. The random generator itself is not part of that state: the caller saves it.
type ImageBatches struct {
	set  *ImageSet
	size int
	cfg  batchConfig
	// For a set of Pixels, the normalised value of each byte in each channel.
	lut32 [][256]float32
	lut64 [][256]float64

	position // the epoch, the next image's place in the epoch's order, the order
}

// NewImageBatches returns an iterator over set in batches of batchSize images, positioned at
// the start of epoch 0.
func NewImageBatches(set *ImageSet, batchSize int, opts ...BatchOption) (*ImageBatches, error) {
	cfg := batchConfig{dtype: tensor.Float32}
	for _, o := range opts {
		o(&cfg)
	}
	if err := set.check(); err != nil {
		return nil, err
	}
	switch {
	case batchSize < 1:
		return nil, fmt.Errorf("image batches: batch size %d: need at least 1", batchSize)
	case cfg.dropLast && batchSize > set.N:
		return nil, fmt.Errorf("image batches: batch size %d exceeds the %d images and DropLast leaves no batch", batchSize, set.N)
	}
	if err := checkDtype(cfg.dtype); err != nil {
		return nil, fmt.Errorf("image batches: %w", err)
	}
	b := &ImageBatches{set: set, size: batchSize, cfg: cfg}
	if set.Pixels != nil {
		C := set.Channels()
		b.lut32, b.lut64 = make([][256]float32, C), make([][256]float64, C)
		for c := range C {
			for p := range 256 {
				v := set.Norm.apply(c, float64(p)/255)
				b.lut64[c][p], b.lut32[c][p] = v, float32(v)
			}
		}
	}
	return b, nil
}

// apply returns value v of channel c normalised by n.
func (n Normalization) apply(c int, v float64) float64 {
	if n.IsZero() {
		return v
	}
	return (v - n.Mean[c]) / n.Std[c]
}

// draw sets the order of the current epoch.
func (b *ImageBatches) draw() {
	if b.cfg.rng != nil {
		b.order = b.cfg.rng.Perm(b.set.N)
		return
	}
	b.order = upTo(b.set.N)
}

// NumBatches returns the number of batches of a pass.
func (b *ImageBatches) NumBatches() int {
	if b.cfg.dropLast {
		return b.set.N / b.size
	}
	return (b.set.N + b.size - 1) / b.size
}

// Epoch returns the epoch of the current pass, counted from 0.
func (b *ImageBatches) Epoch() int { return b.epoch }

// Pass returns the current pass if it has batches left, and otherwise starts the next pass
// (the next epoch, reshuffled with Shuffle) and returns it.
func (b *ImageBatches) Pass() *ImagePass {
	if b.left(b.set.N, b.size, b.cfg.dropLast) == 0 {
		b.next()
	}
	return &ImagePass{b: b, epoch: b.epoch}
}

// ImagePass is one pass of an ImageBatches over its set: one epoch.
type ImagePass struct {
	b     *ImageBatches
	epoch int
}

// Epoch returns the epoch of the pass, counted from 0.
func (p *ImagePass) Epoch() int { return p.epoch }

// Next returns the next batch of the pass, or false when the pass is over; after false it
// returns false for good, as it does once its iterator has started another pass. Each batch
// is freshly allocated, so the caller may keep it.
func (p *ImagePass) Next() (*ImageBatch, bool) {
	b := p.b
	if p.epoch != b.epoch || b.left(b.set.N, b.size, b.cfg.dropLast) == 0 {
		return nil, false
	}
	if b.order == nil {
		b.draw()
	}
	n := min(b.size, b.set.N-b.pos)
	idx := append([]int(nil), b.order[b.pos:b.pos+n]...)
	b.pos += n
	labels := make([]int, n)
	for k, i := range idx {
		labels[k] = b.set.Labels[i]
	}
	var backing any
	if b.cfg.dtype == tensor.Float64 {
		backing = gatherImages(b.set, idx, b.lut64, float64s)
	} else {
		backing = gatherImages(b.set, idx, b.lut32, float32s)
	}
	x := tensor.New(tensor.WithShape(n, b.set.Channels(), b.set.H, b.set.W), tensor.WithBacking(backing)) // (B, C, H, W)
	return &ImageBatch{X: x, Labels: labels, Indices: idx}, true
}

func float32s(v float64) float32 { return float32(v) }
func float64s(v float64) float64 { return v }

// gatherImages copies images idx of set, normalised, into one slice, (len(idx), C, H, W): bytes
// through the per-channel tables lut, float values through conv of the normalised value.
func gatherImages[T float32 | float64](set *ImageSet, idx []int, lut [][256]T, conv func(float64) T) []T {
	C, hw := set.Channels(), set.H*set.W
	x := make([]T, len(idx)*C*hw)
	for k, i := range idx {
		for c := range C {
			dst := x[(k*C+c)*hw : (k*C+c+1)*hw]
			if set.Pixels != nil {
				t := &lut[c]
				for j, p := range set.Pixels[(i*C+c)*hw : (i*C+c+1)*hw] {
					dst[j] = t[p]
				}
				continue
			}
			for j, v := range set.Values[(i*C+c)*hw : (i*C+c+1)*hw] {
				dst[j] = conv(set.Norm.apply(c, float64(v)))
			}
		}
	}
	return x
}

const imageStateTag = "unroll/data.ImageBatches/1\n"

// MarshalBinary encodes the position: epoch, index within the epoch and the epoch's order
// (if drawn yet).
func (b *ImageBatches) MarshalBinary() ([]byte, error) {
	return marshalPosition(imageStateTag, b.set.N, b.size, b.position), nil
}

// UnmarshalBinary restores a position saved by MarshalBinary. The blob must come from an
// iterator over a set of the same size with the same batch size; otherwise, or if the blob is
// damaged, it returns an error and leaves b unchanged.
func (b *ImageBatches) UnmarshalBinary(blob []byte) error {
	p, err := unmarshalPosition(blob, imageStateTag, b.set.N, b.size, b.cfg.rng != nil, "images")
	if err != nil {
		return fmt.Errorf("image batches: %w", err)
	}
	b.position = p
	return nil
}
