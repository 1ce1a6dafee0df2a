package data

import (
	"math"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// twoChannels returns a hand-made set of 2 images of 2 channels of 1x2 values:
//
//	image 0: channel 0 [0, 0.5], channel 1 [1, 1]
//	image 1: channel 0 [1, 0.5], channel 1 [3, 1]
//
// Channel 0 has mean 0.5 and standard deviation sqrt(0.125); channel 1 mean 1.5 and
// standard deviation sqrt(0.75) (population, over the 4 values of each channel).
func twoChannels() *ImageSet {
	return &ImageSet{N: 2, C: 2, H: 1, W: 2, Classes: 2, Labels: []int{0, 1},
		Values: []float32{0, 0.5, 1, 1, 1, 0.5, 3, 1}}
}

func TestChannelStatsTwoChannels(t *testing.T) {
	n, err := ChannelStats(twoChannels())
	if err != nil {
		t.Fatal(err)
	}
	want := Normalization{Mean: []float64{0.5, 1.5}, Std: []float64{math.Sqrt(0.125), math.Sqrt(0.75)}}
	if !slices.Equal(n.Mean, want.Mean) || !slices.Equal(n.Std, want.Std) {
		t.Fatalf("stats %v, want %v", n, want)
	}
	if n.String() != "mean [0.5 1.5] std [0.3535533905932738 0.8660254037844386]" {
		t.Errorf("String() = %q", n.String())
	}

	// The same values as bytes (channel 1 scaled into [0, 1] by 1/3): the histogram path.
	px := &ImageSet{N: 2, C: 2, H: 1, W: 2, Labels: []int{0, 1}, Pixels: []uint8{0, 51, 85, 85, 102, 51, 255, 85}}
	n, err = ChannelStats(px)
	if err != nil {
		t.Fatal(err)
	}
	// Channel 0 holds 0, 51, 102, 51 (/255): mean 51/255 = 0.2, std sqrt(1300.5)/255.
	// Channel 1 holds 85, 85, 255, 85 (/255): mean 127.5/255 = 0.5, std sqrt(5418.75)/255.
	for c, w := range [][2]float64{{0.2, math.Sqrt(1300.5) / 255}, {0.5, math.Sqrt(5418.75) / 255}} {
		if math.Abs(n.Mean[c]-w[0]) > 1e-15 || math.Abs(n.Std[c]-w[1]) > 1e-15 {
			t.Errorf("bytes, channel %d: mean %v std %v, want %v %v", c, n.Mean[c], n.Std[c], w[0], w[1])
		}
	}
}

// Normalize records the statistics on a new set; its batches are standardised channel by
// channel, and the original set is left as it was.
func TestNormalizeTwoChannels(t *testing.T) {
	raw := twoChannels()
	stats, err := ChannelStats(raw)
	if err != nil {
		t.Fatal(err)
	}
	set, err := raw.Normalize(stats)
	if err != nil {
		t.Fatal(err)
	}
	if !raw.Norm.IsZero() || set.Norm.String() != stats.String() {
		t.Fatalf("raw set records %v, normalised set %v", raw.Norm, set.Norm)
	}
	stats.Mean[0] = 99 // the set keeps its own copy
	if set.Norm.Mean[0] != 0.5 {
		t.Fatal("the recorded normalisation shares memory with the caller's")
	}
	b, err := NewImageBatches(set, 2, Dtype(tensor.Float64))
	if err != nil {
		t.Fatal(err)
	}
	bt, _ := b.Pass().Next()
	if !bt.X.Shape().Eq(tensor.Shape{2, 2, 1, 2}) {
		t.Fatalf("X has shape %v, want (2, 2, 1, 2)", bt.X.Shape())
	}
	s2, s3 := math.Sqrt(2), math.Sqrt(3)
	want := []float64{-s2, 0, -1 / s3, -1 / s3, s2, 0, s3, -1 / s3}
	got := bt.X.Data().([]float64)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Fatalf("X = %v, want %v", got, want)
		}
	}
	// Normalising again replaces the normalisation; the zero one removes it.
	plain, err := set.Normalize(Normalization{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = NewImageBatches(plain, 2)
	bt, _ = b.Pass().Next()
	if x := bt.X.Data().([]float32); !slices.Equal(x, raw.Values) {
		t.Errorf("without normalisation X = %v, want the values %v", x, raw.Values)
	}
	if _, err := raw.Normalize(MNISTNormalization()); err == nil || !strings.Contains(err.Error(), "1 means and 1 standard deviations for 2 channels") {
		t.Errorf("one channel's statistics on two channels: %v", err)
	}
}

// Byte sets and float sets holding the same values give the same batches, up to the rounding
// of p/255 to float32 in the float set (the byte set normalises the exact p/255).
func TestImageBatchesBytesAndFloats(t *testing.T) {
	bytesSet := &ImageSet{N: 3, C: 3, H: 2, W: 2, Labels: []int{0, 1, 2}, Pixels: make([]uint8, 36)}
	for i := range bytesSet.Pixels {
		bytesSet.Pixels[i] = uint8(i * 7)
	}
	floatSet := *bytesSet
	floatSet.Pixels, floatSet.Values = nil, make([]float32, 36)
	for i := range 3 {
		copy(floatSet.Values[i*12:], bytesSet.Float32s(i))
	}
	norm := Normalization{Mean: []float64{0.1, 0.2, 0.3}, Std: []float64{0.5, 0.25, 2}}
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		var xs [2][]float64
		for k, s := range []*ImageSet{bytesSet, &floatSet} {
			s, err := s.Normalize(norm)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewImageBatches(s, 3, Dtype(dt))
			if err != nil {
				t.Fatal(err)
			}
			bt, _ := b.Pass().Next()
			if !bt.X.Shape().Eq(tensor.Shape{3, 3, 2, 2}) {
				t.Fatalf("shape %v", bt.X.Shape())
			}
			xs[k] = slices.Clone(floatsOf(bt.X))
		}
		for i := range xs[0] {
			if math.Abs(xs[0][i]-xs[1][i]) > 3e-7*max(1, math.Abs(xs[0][i])) {
				t.Fatalf("%v: element %d: bytes give %v, floats %v", dt, i, xs[0][i], xs[1][i])
			}
		}
		// Element (1, 2, 1, 0) is byte 12+8+2 = 22, value 154/255, channel 2.
		if want := (154.0/255 - 0.3) / 2; math.Abs(xs[0][22]-want) > 1e-7 {
			t.Errorf("%v: X[1, 2, 1, 0] = %v, want %v", dt, xs[0][22], want)
		}
	}
}

func TestNormalizationErrors(t *testing.T) {
	set := twoChannels()
	for _, tc := range []struct {
		name string
		n    Normalization
		want string
	}{
		{"channel count", Normalization{Mean: []float64{0}, Std: []float64{1}}, "1 means and 1 standard deviations for 2 channels"},
		{"means only", Normalization{Mean: []float64{0, 0}}, "2 means and 0 standard deviations for 2 channels"},
		{"std 0", Normalization{Mean: []float64{0, 0}, Std: []float64{1, 0}}, "channel 1: standard deviation 0 (a constant channel cannot be standardised)"},
		{"negative std", Normalization{Mean: []float64{0, 0}, Std: []float64{-1, 1}}, "channel 0: standard deviation -1 is not positive and finite"},
		{"infinite std", Normalization{Mean: []float64{0, 0}, Std: []float64{1, math.Inf(1)}}, "channel 1: standard deviation +Inf"},
		{"NaN std", Normalization{Mean: []float64{0, 0}, Std: []float64{math.NaN(), 1}}, "channel 0: standard deviation NaN"},
		{"infinite mean", Normalization{Mean: []float64{math.Inf(-1), 0}, Std: []float64{1, 1}}, "channel 0: mean -Inf is not finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := set.Normalize(tc.n)
			if err == nil || !strings.HasPrefix(err.Error(), "normalize: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := (*ImageSet)(nil).Normalize(MNISTNormalization()); err == nil {
		t.Error("a nil set was normalised")
	}
	if _, err := ChannelStats(set.Head(0)); err == nil || err.Error() != "channel stats: image set is empty" {
		t.Errorf("stats of an empty set: %v", err)
	}
	bad := twoChannels()
	bad.Values[5] = float32(math.Inf(1))
	if _, err := ChannelStats(bad); err == nil || err.Error() != "channel stats: image set: image 1, value 1 is +Inf" {
		t.Errorf("stats of an infinite value: %v", err)
	}
}
