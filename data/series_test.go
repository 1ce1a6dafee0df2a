package data

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const gappy = `"year", "value",note
2000,1,a
2001,,b
2002,NA,c
2003,4,d
2004,nan,e
2005,6,f
`

func TestParseSeriesCSV(t *testing.T) {
	s, err := ParseSeriesCSV(strings.NewReader(gappy), "g.csv", "value", FillInterpolate)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "value" || !slices.Equal(s.Values, []float64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("interpolated values %v", s.Values)
	}
	if !slices.Equal(s.Labels, []string{"2000", "2001", "2002", "2003", "2004", "2005"}) {
		t.Errorf("labels %v", s.Labels)
	}
	if !slices.Equal(s.Missing, []int{3, 4, 6}) || !slices.Equal(s.Filled, []int{1, 2, 4}) {
		t.Errorf("missing lines %v, filled %v", s.Missing, s.Filled)
	}

	s, err = ParseSeriesCSV(strings.NewReader(gappy), "g.csv", "value", FillDrop)
	if err != nil || !slices.Equal(s.Values, []float64{1, 4, 6}) || !slices.Equal(s.Labels, []string{"2000", "2003", "2005"}) ||
		!slices.Equal(s.Missing, []int{3, 4, 6}) || s.Filled != nil {
		t.Errorf("FillDrop: %+v, %v", s, err)
	}

	// The first column: no labels.
	s, err = ParseSeriesCSV(strings.NewReader(gappy), "g.csv", "year", FillNone)
	if err != nil || s.Labels != nil || len(s.Values) != 6 || s.Values[5] != 2005 {
		t.Errorf("first column: %+v, %v", s, err)
	}
}

func TestParseSeriesCSVEdges(t *testing.T) {
	// FillInterpolate drops gaps at the start and the end (one neighbour only) and fills the rest.
	const edges = "t,v\n0,\n1,NaN\n2,10\n3,\n4,20\n5,N/A\n"
	s, err := ParseSeriesCSV(strings.NewReader(edges), "e.csv", "v", FillInterpolate)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Values, []float64{10, 15, 20}) || !slices.Equal(s.Labels, []string{"2", "3", "4"}) ||
		!slices.Equal(s.Filled, []int{1}) || !slices.Equal(s.Missing, []int{2, 3, 5, 7}) {
		t.Errorf("edges: %+v", s)
	}
	// A byte order mark, spaces and CRLF line ends are fine; a gap is never 0.
	s, err = ParseSeriesCSV(strings.NewReader("\uFEFFv\r\n 1.5\r\n -2e3 \r\n"), "b.csv", "v", FillNone)
	if err != nil || !slices.Equal(s.Values, []float64{1.5, -2000}) {
		t.Errorf("BOM and CRLF: %+v, %v", s, err)
	}
}

func TestParseSeriesCSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name, csv, column string
		fill              Fill
		want              string
	}{
		{"gaps", gappy, "value", FillNone,
			`g.csv: column "value": 3 missing values (lines 3, 4, 6); choose a fill (FillDrop, FillInterpolate)`},
		{"many gaps", "v\n" + strings.Repeat("\n1\nNA\n", 7), "v", FillNone, "7 missing values (lines 4, 7, 10, 13, 16, ...)"},
		{"text", "a,b\n1,2\n3,x7\n", "b", FillNone, `g.csv: line 3, column "b": "x7" is not a finite number`},
		{"inf", "a,b\n1,Inf\n", "b", FillDrop, `g.csv: line 2, column "b": "Inf" is not a finite number`},
		{"no column", gappy, "VALUE", FillNone, `g.csv: no column "VALUE"; the columns are ["year" "value" "note"]`},
		{"twice", "a,a\n1,2\n", "a", FillNone, `column "a" appears twice`},
		{"empty", "", "a", FillNone, "g.csv: empty file, no header"},
		{"header only", "a,b\n", "a", FillNone, "g.csv: no data rows"},
		{"ragged", "a,b\n1,2\n3\n", "a", FillNone, "g.csv: record on line 3: wrong number of fields"},
		{"bad quote", "a\n\"1\n", "a", FillNone, "g.csv: parse error on line 2"},
		{"all missing drop", "a,b\n1,\n2,NA\n", "b", FillDrop, `column "b": all 2 values are missing`},
		{"all missing interpolate", "a,b\n1,\n", "b", FillInterpolate, `column "b": all 1 values are missing`},
		{"bad fill", "a\n1\n", "a", Fill(9), "g.csv: unknown fill Fill(9)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSeriesCSV(strings.NewReader(tc.csv), "g.csv", tc.column, tc.fill)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := ReadSeriesCSV(filepath.Join(t.TempDir(), "absent.csv"), "a", FillNone); err == nil {
		t.Error("ReadSeriesCSV of a missing file: no error")
	}
}

// The CO2 file shipped with the project has 59 real gaps, none at the start or the end.
func TestReadSeriesCSVCO2(t *testing.T) {
	path := filepath.Join("builtin", "timeseries", "co2-maunaloa-weekly-1958-2001.csv")
	_, err := ReadSeriesCSV(path, "co2", FillNone)
	if err == nil || !strings.Contains(err.Error(), path+`: column "co2": 59 missing values (lines 8, 11, 12, 13, 14, ...)`) {
		t.Errorf("FillNone: %v", err)
	}
	drop, err := ReadSeriesCSV(path, "co2", FillDrop)
	if err != nil || len(drop.Values) != 2284-59 || len(drop.Labels) != len(drop.Values) || len(drop.Missing) != 59 {
		t.Fatalf("FillDrop: %d values, %v", len(drop.Values), err)
	}
	in, err := ReadSeriesCSV(path, "co2", FillInterpolate)
	if err != nil || len(in.Values) != 2284 || len(in.Filled) != 59 || in.Labels[0] != "19580329" {
		t.Fatalf("FillInterpolate: %d values, %d filled, %v", len(in.Values), len(in.Filled), err)
	}
	for _, vs := range [][]float64{drop.Values, in.Values} {
		if lo, hi := slices.Min(vs), slices.Max(vs); lo < 300 || hi > 400 {
			t.Errorf("CO2 between %g and %g ppm: a gap was read as a number", lo, hi)
		}
	}
	// Line 8 (index 6) lies between 316.9 on line 7 and 317.5 on line 9.
	if in.Labels[6] != "19580510" || math.Abs(in.Values[6]-(in.Values[5]+in.Values[7])/2) > 1e-12 {
		t.Errorf("line 8 filled with %g between %g and %g", in.Values[6], in.Values[5], in.Values[7])
	}
}

func TestScaler(t *testing.T) {
	sc, err := FitScaler([]float64{1, 2, 3, 4})
	if err != nil || sc.Mean != 2.5 || math.Abs(sc.Std-math.Sqrt(1.25)) > 1e-15 {
		t.Fatalf("FitScaler = %+v, %v", sc, err)
	}
	x := []float64{0, 2.5, 10}
	z := sc.Transform(x)
	if z[1] != 0 || math.Abs(z[0]+2.5/math.Sqrt(1.25)) > 1e-12 {
		t.Errorf("Transform = %v", z)
	}
	back := sc.Inverse(z)
	for i := range x {
		if math.Abs(back[i]-x[i]) > 1e-12 {
			t.Errorf("Inverse(Transform(%g)) = %g", x[i], back[i])
		}
	}
	for _, tc := range []struct {
		vs   []float64
		want string
	}{
		{nil, "scaler: no values"},
		{[]float64{3, 3}, "scaler: the 2 values are all 3: standard deviation 0"},
		{[]float64{1, math.NaN()}, "scaler: value 1 is NaN"},
	} {
		if _, err := FitScaler(tc.vs); err == nil || err.Error() != tc.want {
			t.Errorf("FitScaler(%v): error %v, want %q", tc.vs, err, tc.want)
		}
	}
}

func TestSplitSeries(t *testing.T) {
	train, test, err := SplitSeries([]float64{1, 2, 3, 4, 5}, 0.6)
	if err != nil || !slices.Equal(train, []float64{1, 2, 3}) || !slices.Equal(test, []float64{4, 5}) {
		t.Errorf("SplitSeries = %v, %v, %v", train, test, err)
	}
	if _, _, err := SplitSeries([]float64{1}, 0.5); err == nil {
		t.Error("SplitSeries of one value: no error")
	}
}

func TestWindows(t *testing.T) {
	x, y, err := Windows([]float64{1, 2, 3, 4, 5}, 3)
	if err != nil || !slices.Equal(x, []float64{1, 2, 3, 2, 3, 4}) || !slices.Equal(y, []float64{4, 5}) {
		t.Errorf("Windows = %v, %v, %v", x, y, err)
	}
	for _, tc := range []struct {
		vs   []float64
		tau  int
		want string
	}{
		{[]float64{1, 2, 3}, 3, "windows: 3 values are too few for windows of 3 and a target"},
		{[]float64{1, 2, 3}, 0, "windows: tau 0: need at least 1"},
		{[]float64{1, math.Inf(1), 3}, 1, "windows: value 1 is +Inf"},
	} {
		if _, _, err := Windows(tc.vs, tc.tau); err == nil || err.Error() != tc.want {
			t.Errorf("Windows(%v, %d): error %v, want %q", tc.vs, tc.tau, err, tc.want)
		}
	}
}

// A value whose square overflows is refused with its line, not turned into a NaN error later.
func TestParseSeriesCSVRefusesHugeValues(t *testing.T) {
	_, err := ParseSeriesCSV(strings.NewReader("year,v\n1,2\n2,1e308\n"), "huge.csv", "v", FillNone)
	if err == nil || !strings.Contains(err.Error(), "huge.csv: line 3") || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("got %v", err)
	}
}
