package data

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// NewImageSet pairs an IDX file of images (N, H, W) with an IDX file of labels (N), checking
// that the counts agree and that every label is below classes. The set holds one channel of
// bytes (Pixels) and records no normalisation.
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
		N: images.Dims[0], H: images.Dims[1], W: images.Dims[2], C: 1,
		Classes: classes, Pixels: images.Data, Labels: ls,
	}, nil
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
//
// The sets hold one channel of bytes and record no normalisation: normalise both with the
// statistics of the training set,
//
//	norm, err := data.ChannelStats(train) // or data.MNISTNormalization() for MNIST itself
//	train, err = train.Normalize(norm)
//	test, err = test.Normalize(norm)
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
