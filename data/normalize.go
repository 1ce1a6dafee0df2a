package data

import (
	"errors"
	"fmt"
	"math"
)

// MNIST's pixel mean and standard deviation: those of x/255 over its 60,000 training images,
// rounded to 4 digits as everyone quotes them (ChannelStats of the training set gives
// 0.130660 and 0.308108). MNISTNormalization holds them as a Normalization.
const (
	MNISTMean = 0.1307
	MNISTStd  = 0.3081
)

// Normalization is a per-channel standardisation: value v of channel c becomes
// (v - Mean[c]) / Std[c], as torchvision's transforms.Normalize(mean, std) does. It has one
// mean and one standard deviation per channel; the zero value (no channels) normalises nothing.
//
// A model must be trained and tested with the same Normalization: the statistics of its
// training set (ChannelStats(train), or published ones such as MNISTNormalization), applied
// to the training set, to the test set and to every image it is later asked to predict.
// Statistics computed on a test set would let the test data leak into the model and shift
// its inputs away from what it learned. A set records its Normalization (ImageSet.Norm) so
// that a model can save it with its weights.
type Normalization struct {
	Mean []float64
	Std  []float64
}

// MNISTNormalization returns MNIST's published normalisation, mean 0.1307 and standard
// deviation 0.3081 of one channel (MNISTMean and MNISTStd). Use it for MNIST only: another
// data set, even one in the same format such as Fashion-MNIST, has statistics of its own.
func MNISTNormalization() Normalization {
	return Normalization{Mean: []float64{MNISTMean}, Std: []float64{MNISTStd}}
}

// IsZero reports whether n normalises nothing.
func (n Normalization) IsZero() bool { return len(n.Mean) == 0 && len(n.Std) == 0 }

// String formats n as "mean [0.1307] std [0.3081]", or "none".
func (n Normalization) String() string {
	if n.IsZero() {
		return "none"
	}
	return fmt.Sprintf("mean %v std %v", n.Mean, n.Std)
}

// check reports a normalisation that does not fit channels channels or cannot be applied.
func (n Normalization) check(channels int) error {
	if n.IsZero() {
		return nil
	}
	if len(n.Mean) != channels || len(n.Std) != channels {
		return fmt.Errorf("normalisation of %d means and %d standard deviations for %d channels", len(n.Mean), len(n.Std), channels)
	}
	for c := range channels {
		m, s := n.Mean[c], n.Std[c]
		switch {
		case math.IsNaN(m) || math.IsInf(m, 0):
			return fmt.Errorf("normalisation: channel %d: mean %g is not finite", c, m)
		case s == 0:
			return fmt.Errorf("normalisation: channel %d: standard deviation 0 (a constant channel cannot be standardised)", c)
		case !(s > 0) || math.IsInf(s, 0):
			return fmt.Errorf("normalisation: channel %d: standard deviation %g is not positive and finite", c, s)
		}
	}
	return nil
}

// clone returns a copy of n that shares no memory with it.
func (n Normalization) clone() Normalization {
	if n.IsZero() {
		return Normalization{}
	}
	return Normalization{Mean: append([]float64(nil), n.Mean...), Std: append([]float64(nil), n.Std...)}
}

// Normalize returns the set with normalisation n recorded in its Norm, sharing the images with
// s (which is left as it is): the batches of the returned set hold (v - n.Mean[c]) / n.Std[c].
// n needs one finite mean and one positive finite standard deviation per channel of the set;
// the zero Normalization gives the set without normalisation. The stored values never change,
// so normalising a normalised set replaces its normalisation rather than applying a second.
//
// Normalize the training set and the test set with the same n, the training set's:
//
//	norm, err := data.ChannelStats(train)
//	train, err = train.Normalize(norm)
//	test, err = test.Normalize(norm)
func (s *ImageSet) Normalize(n Normalization) (*ImageSet, error) {
	if s == nil {
		return nil, errors.New("normalize: no image set")
	}
	if err := n.check(s.Channels()); err != nil {
		return nil, fmt.Errorf("normalize: %w", err)
	}
	out := *s
	out.Norm = n.clone()
	return &out, nil
}

// ChannelStats returns the mean and the standard deviation of each channel of set's values
// (before any normalisation it records), over every pixel of every image: the statistics to
// normalise it and the sets a model trained on it sees. The standard deviation is the
// population one, divided by the count (torch.std(unbiased=False)); the unbiased one differs by
// a factor sqrt(n/(n-1)), below 1e-7 for MNIST. Sums are taken in float64: through a
// histogram for a set of Pixels, with compensated (Neumaier) summation for a set of Values.
func ChannelStats(set *ImageSet) (Normalization, error) {
	if err := set.check(); err != nil {
		return Normalization{}, fmt.Errorf("channel stats: %w", err)
	}
	C, hw := set.Channels(), set.H*set.W
	n := Normalization{Mean: make([]float64, C), Std: make([]float64, C)}
	count := float64(set.N * hw)
	for c := range C {
		if set.Pixels != nil {
			var hist [256]int
			for i := range set.N {
				for _, p := range set.Pixels[(i*C+c)*hw : (i*C+c+1)*hw] {
					hist[p]++
				}
			}
			var sum int // exact: at most 255 per value
			for p, k := range hist {
				sum += k * p
			}
			m := float64(sum) / count
			var sq float64
			for p, k := range hist {
				sq += float64(k) * (float64(p) - m) * (float64(p) - m)
			}
			n.Mean[c], n.Std[c] = float64(sum)/(255*count), math.Sqrt(sq/count)/255
			continue
		}
		var sum, sq compensated
		for i := range set.N {
			for _, v := range set.Values[(i*C+c)*hw : (i*C+c+1)*hw] {
				sum.add(float64(v))
			}
		}
		m := sum.value() / count
		for i := range set.N {
			for _, v := range set.Values[(i*C+c)*hw : (i*C+c+1)*hw] {
				sq.add((float64(v) - m) * (float64(v) - m))
			}
		}
		n.Mean[c], n.Std[c] = m, math.Sqrt(sq.value()/count)
	}
	return n, nil
}

// compensated is a sum with Neumaier's compensation, exact to about the float64 rounding of
// its result whatever the number of terms.
type compensated struct{ sum, c float64 }

func (k *compensated) add(v float64) {
	t := k.sum + v
	if math.Abs(k.sum) >= math.Abs(v) {
		k.c += (k.sum - t) + v
	} else {
		k.c += (v - t) + k.sum
	}
	k.sum = t
}

func (k *compensated) value() float64 { return k.sum + k.c }
