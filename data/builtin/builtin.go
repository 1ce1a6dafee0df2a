// Package builtin holds the data sets that ship with unroll, embedded in any binary that
// imports it, so that programs and notebooks find them offline and from any working
// directory: MNIST, Herman Melville's Moby Dick, yearly sunspot numbers (1700-2008) and
// weekly Mauna Loa CO2 (1958-2001). Their sources and licences are in LICENSES.txt beside
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
