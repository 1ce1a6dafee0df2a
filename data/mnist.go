package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ImageSet is a set of N grey-scale images of H x W pixels with their class labels.
// Pixels holds the images one after the other, each row-major: pixel (y, x) of image i is
// Pixels[i*H*W + y*W + x].
type ImageSet struct {
	N, H, W int
	Classes int     // labels are in [0, Classes); 0 means not stated (labels only non-negative)
	Pixels  []uint8 // N*H*W values in 0..255
	Labels  []int   // N values
}

// NewImageSet pairs an IDX file of images (N, H, W) with an IDX file of labels (N), checking
// that the counts agree and that every label is below classes.
func NewImageSet(images, labels *IDX, classes int) (*ImageSet, error) {
	if len(images.Dims) != 3 {
		return nil, fmt.Errorf("%s: images need 3 dimensions (N, H, W), file has %s", images.Name, dimString(images.Dims))
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("%s: labels need 1 dimension (N), file has %s", labels.Name, dimString(labels.Dims))
	}
	if images.Dims[0] != labels.Dims[0] {
		return nil, fmt.Errorf("%s has %d images but %s has %d labels",
			images.Name, images.Dims[0], labels.Name, labels.Dims[0])
	}
	if classes < 1 {
		return nil, fmt.Errorf("%s: %d classes: need at least 1", labels.Name, classes)
	}
	ls := make([]int, len(labels.Data))
	for i, l := range labels.Data {
		if int(l) >= classes {
			return nil, fmt.Errorf("%s: label %d at index %d is not below %d classes", labels.Name, l, i, classes)
		}
		ls[i] = int(l)
	}
	return &ImageSet{
		N: images.Dims[0], H: images.Dims[1], W: images.Dims[2],
		Classes: classes, Pixels: images.Data, Labels: ls,
	}, nil
}

// Len returns the number of images.
func (s *ImageSet) Len() int { return s.N }

// Image returns the H*W pixels of image i, 0 <= i < Len(), sharing memory with the set.
func (s *ImageSet) Image(i int) []uint8 {
	n := s.H * s.W
	return s.Pixels[i*n : (i+1)*n : (i+1)*n]
}

// Subset returns images start..end-1 as a set that shares memory with s.
func (s *ImageSet) Subset(start, end int) (*ImageSet, error) {
	if start < 0 || end > s.N || start >= end {
		return nil, fmt.Errorf("subset [%d, %d) of %d images is empty or out of range", start, end, s.N)
	}
	n := s.H * s.W
	return &ImageSet{
		N: end - start, H: s.H, W: s.W, Classes: s.Classes,
		Pixels: s.Pixels[start*n : end*n : end*n],
		Labels: s.Labels[start:end:end],
	}, nil
}

// Head returns the first n images, or all of them if n > Len(), as a set sharing memory with s.
// For n < 1 the set is empty, which the batch iterators refuse.
func (s *ImageSet) Head(n int) *ImageSet {
	n = max(0, min(n, s.N))
	h := *s
	h.N, h.Pixels, h.Labels = n, s.Pixels[:n*s.H*s.W:n*s.H*s.W], s.Labels[:n:n]
	return &h
}

// check reports an inconsistent set (one built by hand rather than by NewImageSet).
func (s *ImageSet) check() error {
	switch {
	case s == nil || s.N < 1:
		return errors.New("image set is empty")
	case s.H < 1 || s.W < 1:
		return fmt.Errorf("image set has images of %dx%d pixels", s.H, s.W)
	case len(s.Pixels) != s.N*s.H*s.W:
		return fmt.Errorf("image set of %d images of %dx%d has %d pixels, want %d", s.N, s.H, s.W, len(s.Pixels), s.N*s.H*s.W)
	case len(s.Labels) != s.N:
		return fmt.Errorf("image set of %d images has %d labels", s.N, len(s.Labels))
	}
	for i, l := range s.Labels {
		if l < 0 || s.Classes > 0 && l >= s.Classes {
			return fmt.Errorf("image set: label %d at index %d is outside [0, %d)", l, i, s.Classes)
		}
	}
	return nil
}

// MNIST file names; each may also end in .gz.
const (
	mnistTrainImages = "train-images-idx3-ubyte"
	mnistTrainLabels = "train-labels-idx1-ubyte"
	mnistTestImages  = "t10k-images-idx3-ubyte"
	mnistTestLabels  = "t10k-labels-idx1-ubyte"
)

// LoadMNIST reads the training and test sets from a directory holding the four files of
// MNIST, or of any data set in the same format such as Fashion-MNIST, under their canonical
// names: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each plain or with a .gz suffix. Labels must be below 10.
func LoadMNIST(dir string) (train, test *ImageSet, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("mnist: %w", err)
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("mnist: %s is not a directory", dir)
	}
	return loadMNIST(os.DirFS(dir), ".", dir)
}

// LoadMNISTFS is LoadMNIST reading from directory dir of a file system, such as an embed.FS.
func LoadMNISTFS(fsys fs.FS, dir string) (train, test *ImageSet, err error) {
	return loadMNIST(fsys, dir, dir)
}

func loadMNIST(fsys fs.FS, dir, shown string) (train, test *ImageSet, err error) {
	names := []string{mnistTrainImages, mnistTrainLabels, mnistTestImages, mnistTestLabels}
	files := make([]string, len(names))
	var missing []string
	for i, n := range names {
		for _, f := range []string{n + ".gz", n} {
			if _, err := fs.Stat(fsys, path.Join(dir, f)); err == nil {
				files[i] = f
				break
			}
		}
		if files[i] == "" {
			missing = append(missing, n+"[.gz]")
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("mnist: %s: missing %s", shown, strings.Join(missing, ", "))
	}
	idx := make([]*IDX, len(files))
	for i, f := range files {
		r, err := fsys.Open(path.Join(dir, f))
		if err != nil {
			return nil, nil, fmt.Errorf("mnist: %w", err)
		}
		idx[i], err = ParseIDX(r, filepath.Join(shown, f))
		r.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("mnist: %w", err)
		}
	}
	if train, err = NewImageSet(idx[0], idx[1], 10); err != nil {
		return nil, nil, fmt.Errorf("mnist: %w", err)
	}
	if test, err = NewImageSet(idx[2], idx[3], 10); err != nil {
		return nil, nil, fmt.Errorf("mnist: %w", err)
	}
	if train.H != test.H || train.W != test.W {
		return nil, nil, fmt.Errorf("mnist: %s: training images are %dx%d, test images %dx%d",
			shown, train.H, train.W, test.H, test.W)
	}
	return train, test, nil
}
