package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Fill says what to do with missing values in a series: an empty field, NA, N/A, NaN or null
// (in any letter case). A missing value is never read as 0.
type Fill int

const (
	// FillNone makes a missing value an error naming how many there are and where.
	FillNone Fill = iota
	// FillDrop leaves the rows with missing values out.
	FillDrop
	// FillInterpolate fills each run of missing values linearly between the values around it,
	// by row position (so it assumes evenly spaced rows). Missing values at the start or the
	// end have a neighbour on one side only: they are dropped, never extrapolated.
	FillInterpolate
)

// String returns the name of the fill, such as "FillDrop".
func (f Fill) String() string {
	switch f {
	case FillNone:
		return "FillNone"
	case FillDrop:
		return "FillDrop"
	case FillInterpolate:
		return "FillInterpolate"
	}
	return fmt.Sprintf("Fill(%d)", int(f))
}

// Series is one numeric column of a CSV file.
type Series struct {
	Name   string    // the column
	Values []float64 // the values, after the fill
	// Labels holds the first column's field of each value (a year, a date), or is nil when
	// the column read is the first one; then the index in Values is the label.
	Labels []string
	// Missing holds the file line numbers of the missing values, whatever the fill.
	Missing []int
	// Filled holds the indexes in Values of interpolated values (FillInterpolate only).
	Filled []int
}

// ReadSeriesCSV reads the column named column of a CSV file with a header line.
func ReadSeriesCSV(path, column string, fill Fill) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseSeriesCSV(f, path, column, fill)
}

// ParseSeriesCSV reads the column named column of CSV data with a header line; name is used
// in error messages. Header names may be quoted. A field that is not a finite number is an
// error naming the line and column; missing values are handled as fill says; a missing
// column is an error listing the columns present.
func ParseSeriesCSV(r io.Reader, name, column string, fill Fill) (*Series, error) {
	if fill < FillNone || fill > FillInterpolate {
		return nil, fmt.Errorf("%s: unknown fill %v", name, fill)
	}
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file, no header", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	header[0] = strings.TrimPrefix(header[0], "\uFEFF") // a byte order mark
	col := -1
	for i, h := range header {
		if strings.TrimSpace(h) != column {
			continue
		}
		if col >= 0 {
			return nil, fmt.Errorf("%s: column %q appears twice in the header", name, column)
		}
		col = i
	}
	if col < 0 {
		return nil, fmt.Errorf("%s: no column %q; the columns are %q", name, column, header)
	}

	s := &Series{Name: column}
	var gap []bool // gap[i]: value i is missing
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(col)
		field := strings.TrimSpace(rec[col])
		v, err := strconv.ParseFloat(field, 64)
		missing := isMissing(field) || err == nil && math.IsNaN(v)
		switch {
		case missing:
			s.Missing = append(s.Missing, line)
		case err != nil || math.IsInf(v, 0):
			return nil, fmt.Errorf("%s: line %d, column %q: %q is not a finite number", name, line, column, field)
		case math.Abs(v) > maxSeriesValue:
			return nil, fmt.Errorf("%s: line %d, column %q: %q is too large: its square overflows (|value| above %.3g), so no mean squared error of the series is finite; rescale the column", name, line, column, field, maxSeriesValue)
		}
		s.Values = append(s.Values, v)
		gap = append(gap, missing)
		if col != 0 {
			s.Labels = append(s.Labels, rec[0])
		}
	}
	if len(s.Values) == 0 {
		return nil, fmt.Errorf("%s: no data rows", name)
	}
	if len(s.Missing) > 0 {
		if err := s.fill(fill, gap); err != nil {
			return nil, fmt.Errorf("%s: column %q: %w", name, column, err)
		}
	}
	if len(s.Values) == 0 {
		return nil, fmt.Errorf("%s: column %q: all %d values are missing", name, column, len(s.Missing))
	}
	return s, nil
}

// maxSeriesValue is the largest magnitude a series value may have: the square root of the
// largest float64, so that the squares of errors and deviations stay finite.
const maxSeriesValue = 1.3407807929942596e154

var missingFields = map[string]bool{"": true, "na": true, "n/a": true, "nan": true, "null": true}

func isMissing(field string) bool { return missingFields[strings.ToLower(field)] }

// fill applies f to the values where gap is true.
func (s *Series) fill(f Fill, gap []bool) error {
	switch f {
	case FillNone:
		first := s.Missing[:min(5, len(s.Missing))]
		more := ""
		if len(s.Missing) > len(first) {
			more = ", ..."
		}
		lines := make([]string, len(first))
		for i, l := range first {
			lines[i] = strconv.Itoa(l)
		}
		return fmt.Errorf("%d missing values (lines %s%s); choose a fill (FillDrop, FillInterpolate)",
			len(s.Missing), strings.Join(lines, ", "), more)
	case FillInterpolate:
		// Fill the gaps between two values; those before the first or after the last stay
		// gaps and are dropped below.
		prev := -1 // the last value seen
		dropped := 0
		for i, g := range gap {
			switch {
			case g && prev < 0:
				dropped++
			case !g:
				if prev >= 0 {
					for j := prev + 1; j < i; j++ {
						w := float64(j-prev) / float64(i-prev)
						s.Values[j] = s.Values[prev] + w*(s.Values[i]-s.Values[prev])
						s.Filled = append(s.Filled, j-dropped) // index after the leading gaps go
						gap[j] = false
					}
				}
				prev = i
			}
		}
	}
	// Drop the rows still marked as gaps.
	k := 0
	for i, g := range gap {
		if g {
			continue
		}
		s.Values[k] = s.Values[i]
		if s.Labels != nil {
			s.Labels[k] = s.Labels[i]
		}
		k++
	}
	s.Values = s.Values[:k:k]
	if s.Labels != nil {
		s.Labels = s.Labels[:k:k]
	}
	return nil
}

// Scaler standardises values: Transform maps x to (x - Mean) / Std.
type Scaler struct {
	Mean, Std float64
}

// FitScaler returns the scaler of values (fit it on the training part only): their mean and
// population standard deviation. Empty, non-finite or constant values are an error.
func FitScaler(values []float64) (Scaler, error) {
	if len(values) == 0 {
		return Scaler{}, errors.New("scaler: no values")
	}
	if i := nonFinite(values); i >= 0 {
		return Scaler{}, fmt.Errorf("scaler: value %d is %g", i, values[i])
	}
	var sum float64
	for _, v := range values {
		sum += v
	}
	mean := sum / float64(len(values))
	var ss float64
	for _, v := range values {
		ss += (v - mean) * (v - mean)
	}
	std := math.Sqrt(ss / float64(len(values)))
	if !(std > 0) {
		return Scaler{}, fmt.Errorf("scaler: the %d values are all %g: standard deviation 0", len(values), mean)
	}
	return Scaler{Mean: mean, Std: std}, nil
}

// Transform returns (x - Mean) / Std of each value, in a new slice.
func (s Scaler) Transform(values []float64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = (v - s.Mean) / s.Std
	}
	return out
}

// Inverse undoes Transform: it returns x*Std + Mean of each value, in a new slice.
func (s Scaler) Inverse(values []float64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = v*s.Std + s.Mean
	}
	return out
}

// SplitSeries splits values into a training part, the first floor(trainFrac*len(values))
// values, and a test part, the rest, in time order. Both must be non-empty. The parts share
// memory with values but appending to one cannot overwrite the other.
func SplitSeries(values []float64, trainFrac float64) (train, test []float64, err error) {
	return split(values, trainFrac)
}

// Windows returns the examples of an autoregressive model of order tau, as d2l builds them:
// for each t in tau..N-1 the input values[t-tau:t] and the target values[t]. x holds the
// N-tau inputs row-major, (N-tau, tau), and y the N-tau targets. Values must be finite and
// more than tau.
func Windows(values []float64, tau int) (x, y []float64, err error) {
	if tau < 1 {
		return nil, nil, fmt.Errorf("windows: tau %d: need at least 1", tau)
	}
	if len(values) <= tau {
		return nil, nil, fmt.Errorf("windows: %d values are too few for windows of %d and a target", len(values), tau)
	}
	if i := nonFinite(values); i >= 0 {
		return nil, nil, fmt.Errorf("windows: value %d is %g", i, values[i])
	}
	n := len(values) - tau
	x = make([]float64, 0, n*tau)
	for t := tau; t < len(values); t++ {
		x = append(x, values[t-tau:t]...)
	}
	y = append([]float64(nil), values[tau:]...)
	return x, y, nil
}

// nonFinite returns the index of the first NaN or infinite value, or -1.
func nonFinite(values []float64) int {
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return i
		}
	}
	return -1
}
