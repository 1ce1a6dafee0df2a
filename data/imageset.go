package data

import (
	"errors"
	"fmt"
	"math"
)

// ImageSet is a set of N images of C channels of H x W pixels, with their class labels.
//
// The images are stored one after the other, each channel-major (CHW, so that a batch of them
// is NCHW): value (c, y, x) of image i is element ((i*C+c)*H+y)*W+x, in one of two forms:
//
//   - Pixels, bytes: the value of byte p is p/255, in [0, 1]. IDX files (MNIST) are read so;
//     a byte per value keeps the 60,000 MNIST images in 47 MB instead of 188.
//   - Values, float32: any finite value. ReadImageFolder (values in [0, 1], resized or
//     converted) and ParseImageCSV (scaled by their maximum) read images so.
//
// Exactly one of them holds the N*C*H*W values; Float32s gives image i as float32 values
// whatever the form. (Batches normalise a byte's exact p/255 in float64, a float set's
// float32 value: the same images in the two forms give batches equal to float32 rounding.) These are the values before normalisation: the set records the
// normalisation its batches apply in Norm (see Normalize), and never stores normalised values.
type ImageSet struct {
	N, H, W int
	// C is the number of channels: 1 (grey) or 3 (RGB) for images read from files, any
	// number for sets built by hand. 0 means 1, as in sets built before channels existed.
	C       int
	Classes int       // labels are in [0, Classes); 0 means not stated (labels only non-negative)
	Pixels  []uint8   // N*C*H*W bytes, value p/255; nil when Values holds the images
	Values  []float32 // N*C*H*W values; nil when Pixels holds the images
	Labels  []int     // N values

	// Norm is the normalisation the batches of this set apply, recorded so that a model can
	// save it with its weights; the zero value applies none. Set it with Normalize.
	Norm Normalization
	// ClassNames, when not nil, names each of the Classes classes (ReadImageFolder: the
	// folder names).
	ClassNames []string
	// Files, when not nil, names the file each image was read from (ReadImageFolder).
	Files []string
}

// Len returns the number of images.
func (s *ImageSet) Len() int { return s.N }

// Channels returns the number of channels, C (1 when C is 0).
func (s *ImageSet) Channels() int { return max(s.C, 1) }

// size returns the number of values of one image, C*H*W.
func (s *ImageSet) size() int { return s.Channels() * s.H * s.W }

// Image returns the C*H*W bytes of image i, 0 <= i < Len(), sharing memory with the set, for
// a set of Pixels; for a set of Values it returns nil (see Float32s).
func (s *ImageSet) Image(i int) []uint8 {
	if s.Pixels == nil {
		return nil
	}
	n := s.size()
	return s.Pixels[i*n : (i+1)*n : (i+1)*n]
}

// Float32s returns the C*H*W values of image i, 0 <= i < Len(), before normalisation, in a
// new slice: p/255 for a set of Pixels, a copy of the values for a set of Values.
func (s *ImageSet) Float32s(i int) []float32 {
	n := s.size()
	out := make([]float32, n)
	if s.Values != nil {
		copy(out, s.Values[i*n:(i+1)*n])
		return out
	}
	for j, p := range s.Pixels[i*n : (i+1)*n] {
		out[j] = pixelValue32[p]
	}
	return out
}

// pixelValue32 holds p/255 for each byte p.
var pixelValue32 = func() (t [256]float32) {
	for p := range t {
		t[p] = float32(float64(p) / 255)
	}
	return t
}()

// Subset returns images start..end-1 as a set that shares memory with s.
func (s *ImageSet) Subset(start, end int) (*ImageSet, error) {
	if start < 0 || end > s.N || start >= end {
		return nil, fmt.Errorf("subset [%d, %d) of %d images is empty or out of range", start, end, s.N)
	}
	return s.slice(start, end), nil
}

// Head returns the first n images, or all of them if n > Len(), as a set sharing memory with s.
// For n < 1 the set is empty, which the batch iterators refuse.
func (s *ImageSet) Head(n int) *ImageSet {
	return s.slice(0, max(0, min(n, s.N)))
}

// slice returns images start..end-1, 0 <= start <= end <= N, sharing memory with s.
func (s *ImageSet) slice(start, end int) *ImageSet {
	h := *s
	n := s.size()
	h.N = end - start
	if s.Pixels != nil {
		h.Pixels = s.Pixels[start*n : end*n : end*n]
	}
	if s.Values != nil {
		h.Values = s.Values[start*n : end*n : end*n]
	}
	h.Labels = s.Labels[start:end:end]
	if s.Files != nil {
		h.Files = s.Files[start:end:end]
	}
	return &h
}

// check reports an inconsistent set (one built by hand rather than by a reader).
func (s *ImageSet) check() error {
	switch {
	case s == nil || s.N < 1:
		return errors.New("image set is empty")
	case s.H < 1 || s.W < 1 || s.C < 0:
		return fmt.Errorf("image set has images of %d channels of %dx%d pixels", s.C, s.H, s.W)
	case (s.Pixels == nil) == (s.Values == nil):
		return errors.New("image set: exactly one of Pixels and Values must hold the images")
	case s.Pixels != nil && len(s.Pixels) != s.N*s.size():
		return fmt.Errorf("image set of %d images of %dx%dx%d has %d pixels, want %d", s.N, s.Channels(), s.H, s.W, len(s.Pixels), s.N*s.size())
	case s.Values != nil && len(s.Values) != s.N*s.size():
		return fmt.Errorf("image set of %d images of %dx%dx%d has %d values, want %d", s.N, s.Channels(), s.H, s.W, len(s.Values), s.N*s.size())
	case len(s.Labels) != s.N:
		return fmt.Errorf("image set of %d images has %d labels", s.N, len(s.Labels))
	case s.Files != nil && len(s.Files) != s.N:
		return fmt.Errorf("image set of %d images names %d files", s.N, len(s.Files))
	case s.ClassNames != nil && len(s.ClassNames) != s.Classes:
		return fmt.Errorf("image set of %d classes names %d", s.Classes, len(s.ClassNames))
	}
	for i, l := range s.Labels {
		if l < 0 || s.Classes > 0 && l >= s.Classes {
			return fmt.Errorf("image set: label %d at index %d is outside [0, %d)", l, i, s.Classes)
		}
	}
	if err := s.Norm.check(s.Channels()); err != nil {
		return fmt.Errorf("image set: %w", err)
	}
	if j := nonFinite32(s.Values); j >= 0 {
		n := s.size()
		return fmt.Errorf("image set: image %d, value %d is %g", j/n, j%n, s.Values[j])
	}
	return nil
}

// nonFinite32 returns the index of the first NaN or infinite value, or -1.
func nonFinite32(v []float32) int {
	for i, x := range v {
		if x != x || x > math.MaxFloat32 || x < -math.MaxFloat32 {
			return i
		}
	}
	return -1
}
