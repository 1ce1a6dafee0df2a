// Package builtin holds the data sets that ship with unroll, embedded in any binary that
// imports it, so that programs and notebooks find them offline and from any working
// directory: MNIST, scikit-learn's 8x8 digits, Herman Melville's Moby Dick, yearly sunspot
// numbers (1700-2008) and weekly Mauna Loa CO2 (1958-2001). Their sources and licences are in LICENSES.txt beside
// this file. Parsing is done by package data; every call parses afresh and returns values
// the caller owns.
package builtin

import (
	"bytes"
	"embed"

	"github.com/unroll-ml/unroll/data"
)

var (
	//go:embed mnist/*.gz
	mnistFS embed.FS

	//go:embed digits8x8/digits.csv.gz
	digits []byte

	//go:embed text/moby-dick.txt
	mobyDick []byte

	//go:embed timeseries/sunspots-yearly-1700-2008.csv
	sunspots []byte

	//go:embed timeseries/co2-maunaloa-weekly-1958-2001.csv
	co2 []byte
)

// MNIST returns the MNIST training set (60,000 images) and test set (10,000 images) of 28x28
// handwritten digits labelled 0 to 9, one channel of bytes. Both record MNIST's normalisation,
// data.MNISTNormalization (the statistics of its training set, mean 0.1307 and standard
// deviation 0.3081), so their batches hold (x/255 - 0.1307) / 0.3081; set.Normalize replaces
// it. Decompressing them takes a fraction of a second.
func MNIST() (train, test *data.ImageSet, err error) {
	train, test, err = data.LoadMNISTFS(mnistFS, "mnist")
	if err != nil {
		return nil, nil, err
	}
	if train, err = train.Normalize(data.MNISTNormalization()); err != nil {
		return nil, nil, err
	}
	if test, err = test.Normalize(data.MNISTNormalization()); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// The 8x8 digits: their file's format and the size of the training part.
const (
	digitsFile  = "builtin/digits8x8/digits.csv.gz"
	digitsTrain = 1437
)

// Digits8x8 returns scikit-learn's 8x8 handwritten digits (load_digits; from UCI's "Optical
// Recognition of Handwritten Digits"): 1,797 grey images of 8x8 pixels, each pixel a count
// 0..16 of the set pixels of a 4x4 block of a 32x32 bitmap, labelled 0 to 9. The sets hold
// the counts divided by 16, float32 values in [0, 1], and record no normalisation (normalise
// both with data.ChannelStats(train)).
//
// The split is fixed: the first 1,437 images (80%) are the training set, the last 360 the
// test set, in the file's order, as scikit-learn's train_test_split(X, y, test_size=0.2,
// shuffle=False) cuts them, so a PyTorch program can use the same parts. Each class has 141 to
// 146 training and 33 to 37 test images.
func Digits8x8() (train, test *data.ImageSet, err error) {
	all, err := data.ParseImageCSV(bytes.NewReader(digits), digitsFile, data.ImageCSVFormat{H: 8, W: 8, Max: 16, Classes: 10})
	if err != nil {
		return nil, nil, err
	}
	all.ClassNames = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	if train, err = all.Subset(0, digitsTrain); err != nil {
		return nil, nil, err
	}
	if test, err = all.Subset(digitsTrain, all.Len()); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// MobyDick returns the text of Moby Dick, chapters 1-135 (1,204,997 bytes of UTF-8 with
// typographic quotes and dashes; data.ASCIIQuotes maps them to ASCII).
func MobyDick() (string, error) {
	return data.ParseText(bytes.NewReader(mobyDick), "builtin/text/moby-dick.txt")
}

// Sunspots returns the yearly sunspot activity of 1700 to 2008 (309 values, no gaps),
// labelled by year.
func Sunspots() (*data.Series, error) {
	return data.ParseSeriesCSV(bytes.NewReader(sunspots), "builtin/timeseries/sunspots-yearly-1700-2008.csv",
		"SUNACTIVITY", data.FillNone)
}

// CO2 returns the weekly CO2 concentration at Mauna Loa in ppm, 1958 to 2001, labelled by
// date (YYYYMMDD). Of its 2284 weeks 59 have no measurement, so fill must say what to do
// with them: data.FillNone returns an error, data.FillDrop leaves them out (2225 values),
// data.FillInterpolate fills them linearly (2284 values).
func CO2(fill data.Fill) (*data.Series, error) {
	return data.ParseSeriesCSV(bytes.NewReader(co2), "builtin/timeseries/co2-maunaloa-weekly-1958-2001.csv",
		"co2", fill)
}
