package data

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// MNIST's pixel mean and standard deviation (of x/255 over the training set), the default
// normalisation of ImageBatches.
const (
	MNISTMean = 0.1307
	MNISTStd  = 0.3081
)

// ImageBatch is one minibatch of images.
type ImageBatch struct {
	X       *tensor.Dense // (B, 1, H, W), float32 or float64, normalised
	Labels  []int         // B class labels
	Indices []int         // B positions of the images in the set
}

// ImageOption configures NewImageBatches.
type ImageOption func(*imageConfig)

type imageConfig struct {
	rng       *rand.Rand
	mean, std float64
	dtype     tensor.Dtype
	dropLast  bool
}

// Shuffle makes each epoch visit the images in a new random order drawn from rng (the run's
// one generator). Without it the order is the set's order.
func Shuffle(rng *rand.Rand) ImageOption { return func(c *imageConfig) { c.rng = rng } }

// Normalize sets the mean and standard deviation of the normalisation
// x = (pixel/255 - mean) / std; the default is MNIST's (MNISTMean, MNISTStd), and
// Normalize(0, 1) gives pixels scaled to [0, 1].
func Normalize(mean, std float64) ImageOption {
	return func(c *imageConfig) { c.mean, c.std = mean, std }
}

// Dtype sets the element type of the batches: tensor.Float32 (the default) or tensor.Float64.
func Dtype(dt tensor.Dtype) ImageOption { return func(c *imageConfig) { c.dtype = dt } }

// DropLast drops the last batch of an epoch when it would be smaller than the batch size.
// By default it is kept, smaller.
func DropLast() ImageOption { return func(c *imageConfig) { c.dropLast = true } }

// ImageBatches cuts an ImageSet into minibatches, epoch after epoch. Next returns the batches
// of the current epoch and then false; Reset starts the next epoch (reshuffled with Shuffle).
// With Shuffle, the order of an epoch is drawn from the generator when the epoch's first batch
// is taken, never when the iterator is made or reset, so restoring a checkpoint does not
// depend on whether the generator or the iterator is rebuilt first.
//
// Its position (epoch, index, order) is saved by MarshalBinary and restored by UnmarshalBinary
// into an iterator made with the same set and options, so a resumed run sees the same data in
// the same order. The random generator itself is not part of that state: the caller saves it.
type ImageBatches struct {
	set   *ImageSet
	size  int
	cfg   imageConfig
	lut32 [256]float32 // normalised value of each pixel value
	lut64 [256]float64

	epoch int
	pos   int   // position in order of the next image
	order []int // the image indices of this epoch, in visiting order; nil until drawn
}

// NewImageBatches returns an iterator over set in batches of batchSize images, positioned at
// the start of epoch 0.
func NewImageBatches(set *ImageSet, batchSize int, opts ...ImageOption) (*ImageBatches, error) {
	cfg := imageConfig{mean: MNISTMean, std: MNISTStd, dtype: tensor.Float32}
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
	case cfg.dtype != tensor.Float32 && cfg.dtype != tensor.Float64:
		return nil, fmt.Errorf("image batches: dtype %v: need float32 or float64", cfg.dtype)
	case math.IsNaN(cfg.mean) || math.IsInf(cfg.mean, 0) || !(cfg.std > 0) || math.IsInf(cfg.std, 0):
		return nil, fmt.Errorf("image batches: normalisation mean %g, std %g: need a finite mean and a positive finite std", cfg.mean, cfg.std)
	}
	b := &ImageBatches{set: set, size: batchSize, cfg: cfg}
	for p := range 256 {
		v := (float64(p)/255 - cfg.mean) / cfg.std
		b.lut64[p], b.lut32[p] = v, float32(v)
	}
	return b, nil
}

// draw sets the order of the current epoch.
func (b *ImageBatches) draw() {
	if b.cfg.rng != nil {
		b.order = b.cfg.rng.Perm(b.set.N)
		return
	}
	b.order = make([]int, b.set.N)
	for i := range b.order {
		b.order[i] = i
	}
}

// NumBatches returns the number of batches in an epoch.
func (b *ImageBatches) NumBatches() int {
	if b.cfg.dropLast {
		return b.set.N / b.size
	}
	return (b.set.N + b.size - 1) / b.size
}

// Epoch returns the current epoch, counted from 0.
func (b *ImageBatches) Epoch() int { return b.epoch }

// Next returns the next batch of the epoch, or false when the epoch is over (until Reset).
// Each batch is freshly allocated, so the caller may keep it.
func (b *ImageBatches) Next() (*ImageBatch, bool) {
	n := min(b.size, b.set.N-b.pos)
	if n < 1 || (n < b.size && b.cfg.dropLast) {
		return nil, false
	}
	if b.order == nil {
		b.draw()
	}
	idx := append([]int(nil), b.order[b.pos:b.pos+n]...)
	b.pos += n
	hw := b.set.H * b.set.W
	labels := make([]int, n)
	var backing any
	if b.cfg.dtype == tensor.Float64 {
		x := make([]float64, n*hw)
		for k, i := range idx {
			for j, p := range b.set.Pixels[i*hw : (i+1)*hw] {
				x[k*hw+j] = b.lut64[p]
			}
		}
		backing = x
	} else {
		x := make([]float32, n*hw)
		for k, i := range idx {
			for j, p := range b.set.Pixels[i*hw : (i+1)*hw] {
				x[k*hw+j] = b.lut32[p]
			}
		}
		backing = x
	}
	for k, i := range idx {
		labels[k] = b.set.Labels[i]
	}
	x := tensor.New(tensor.WithShape(n, 1, b.set.H, b.set.W), tensor.WithBacking(backing)) // (B, 1, H, W)
	return &ImageBatch{X: x, Labels: labels, Indices: idx}, true
}

// Reset starts the next epoch, reshuffling when Shuffle was given.
func (b *ImageBatches) Reset() {
	b.epoch++
	b.pos, b.order = 0, nil
}

const imageStateTag = "unroll/data.ImageBatches/1\n"

// MarshalBinary encodes the position: epoch, index within the epoch and the epoch's order
// (if drawn yet).
func (b *ImageBatches) MarshalBinary() ([]byte, error) {
	e := newEncoder(imageStateTag)
	e.int(b.set.N)
	e.int(b.size)
	e.int(b.epoch)
	e.int(b.pos)
	e.ints(b.order)
	return e.bytes(), nil
}

// UnmarshalBinary restores a position saved by MarshalBinary. The blob must come from an
// iterator over a set of the same size with the same batch size; otherwise, or if the blob is
// damaged, it returns an error and leaves b unchanged.
func (b *ImageBatches) UnmarshalBinary(blob []byte) error {
	d := newDecoder(blob, imageStateTag)
	n, size, epoch, pos := d.int(), d.int(), d.int(), d.int()
	order := d.ints()
	if err := d.finish(); err != nil {
		return fmt.Errorf("image batches: %w", err)
	}
	switch {
	case n != b.set.N || size != b.size:
		return fmt.Errorf("image batches: state is for %d images in batches of %d, iterator has %d in batches of %d",
			n, size, b.set.N, b.size)
	case epoch < 0 || pos < 0 || pos > n:
		return fmt.Errorf("image batches: %w: epoch %d, position %d of %d", errCorrupt, epoch, pos, n)
	case len(order) == 0 && pos == 0:
		order = nil // not drawn yet
	case !isPerm(order, n):
		return fmt.Errorf("image batches: %w: order is not a permutation of %d images", errCorrupt, n)
	}
	if b.cfg.rng == nil && order != nil && !isIdentity(order) {
		return errors.New("image batches: state has a shuffled order but the iterator does not shuffle")
	}
	b.epoch, b.pos, b.order = epoch, pos, order
	return nil
}

func isIdentity(p []int) bool {
	for i, v := range p {
		if v != i {
			return false
		}
	}
	return true
}
