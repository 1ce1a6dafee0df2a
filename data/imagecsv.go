package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

// ImageCSVFormat describes a CSV file of images, one image a line: its C*H*W values in the
// order of an ImageSet (channel-major, then row-major), then its class label. The file has
// no header; it may be gzip-compressed. scikit-learn's 8x8 digits are such a file:
// ImageCSVFormat{H: 8, W: 8, Max: 16, Classes: 10}.
type ImageCSVFormat struct {
	C, H, W int     // channels (0 means 1), height and width of every image
	Max     float64 // the largest value a pixel can take; a value v is read as v/Max
	Classes int     // labels are integers in [0, Classes)
}

// ReadImageCSV reads a CSV file of images in format f; see ParseImageCSV.
func ReadImageCSV(path string, f ImageCSVFormat) (*ImageSet, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return ParseImageCSV(file, path, f)
}

// ParseImageCSV reads CSV images in format f, plain or gzip-compressed (recognised by its
// magic bytes); name is used in error messages. Every value must be a number in [0, f.Max]
// and every label an integer in [0, f.Classes); a line of another length, a value or label
// outside these, a file without images and broken gzip data are errors naming the line. The
// set holds the values v/f.Max as float32 Values, records no normalisation, and its images
// are in the file's order.
func ParseImageCSV(r io.Reader, name string, f ImageCSVFormat) (*ImageSet, error) {
	c := max(f.C, 1)
	switch {
	case f.C < 0 || f.H < 1 || f.W < 1 || f.W > maxImagePixels/f.H/c:
		return nil, fmt.Errorf("%s: images of %d channels of %dx%d: need at least 1 of each and at most %d values", name, f.C, f.H, f.W, maxImagePixels)
	case !(f.Max > 0) || math.IsInf(f.Max, 0):
		return nil, fmt.Errorf("%s: maximum value %g: need a positive finite maximum", name, f.Max)
	case f.Classes < 1:
		return nil, fmt.Errorf("%s: %d classes: need at least 1", name, f.Classes)
	}
	src, err := gunzipped(r)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip: %w", name, err)
	}
	n := c * f.H * f.W
	cr := csv.NewReader(src)
	cr.FieldsPerRecord = n + 1
	cr.ReuseRecord = true
	set := &ImageSet{C: c, H: f.H, W: f.W, Classes: f.Classes, Values: []float32{}}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ok := errors.AsType[gzipError](err); ok {
				return nil, fmt.Errorf("%s: broken or truncated gzip data after %d images: %w", name, set.N, err)
			}
			return nil, fmt.Errorf("%s: %w (need %d values and a label a line)", name, err, n)
		}
		line, _ := cr.FieldPos(0)
		for k, field := range rec[:n] {
			v, err := strconv.ParseFloat(field, 64)
			if err != nil || !(v >= 0 && v <= f.Max) {
				return nil, fmt.Errorf("%s: line %d, column %d: %q is not a number in [0, %g]", name, line, k+1, field, f.Max)
			}
			set.Values = append(set.Values, float32(v/f.Max))
		}
		l, err := strconv.Atoi(rec[n])
		if err != nil || l < 0 || l >= f.Classes {
			return nil, fmt.Errorf("%s: line %d, column %d: label %q is not an integer in [0, %d)", name, line, n+1, rec[n], f.Classes)
		}
		set.Labels = append(set.Labels, l)
		set.N++
	}
	if set.N == 0 {
		return nil, fmt.Errorf("%s: no images", name)
	}
	return set, nil
}
