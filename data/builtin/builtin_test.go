package builtin

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/data"
)

// The embedded bytes are the files listed in SHA256SUMS, unchanged.
func TestChecksums(t *testing.T) {
	f, err := os.Open("SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	embedded := map[string][]byte{
		"digits8x8/digits.csv.gz":                      digits,
		"text/moby-dick.txt":                           mobyDick,
		"timeseries/sunspots-yearly-1700-2008.csv":     sunspots,
		"timeseries/co2-maunaloa-weekly-1958-2001.csv": co2,
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		b, ok := embedded[name]
		if !ok {
			if b, err = mnistFS.ReadFile(name); err != nil {
				t.Fatalf("%s is not embedded: %v", name, err)
			}
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: checksum differs from SHA256SUMS", name)
		}
		n++
	}
	if n != 8 {
		t.Errorf("SHA256SUMS lists %d files, want 8", n)
	}
}

func TestMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("decompresses 11 MB")
	}
	train, test, err := MNIST()
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 60000 || test.Len() != 10000 || train.H != 28 || train.W != 28 || test.H != 28 {
		t.Fatalf("train %d, test %d images of %dx%d", train.Len(), test.Len(), train.H, train.W)
	}
	// The training pixels, scaled to [0, 1], have MNIST's well-known mean 0.1307 and std 0.3081:
	// exactly (in rational arithmetic from the pixel counts, rounded to float64)
	// 0.13066047627384286 and 0.3081078038564627; numpy's x.mean() and x.std() give
	// 0.1306604762738429 and 0.3081078038564622. Both sets record them, rounded to 4 digits, as
	// their normalisation.
	stats, err := data.ChannelStats(train)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Mean[0] != 0.13066047627384286 || math.Abs(stats.Std[0]-0.3081078038564627) > 2e-16 {
		t.Errorf("pixel mean %v, std %v", stats.Mean[0], stats.Std[0])
	}
	if math.Round(stats.Mean[0]*1e4) != data.MNISTMean*1e4 || math.Round(stats.Std[0]*1e4) != data.MNISTStd*1e4 {
		t.Errorf("statistics %v do not round to MNISTMean and MNISTStd", stats)
	}
	want := data.MNISTNormalization().String()
	if train.Norm.String() != want || test.Norm.String() != want {
		t.Errorf("the sets record %v and %v, want %v", train.Norm, test.Norm, want)
	}
	// Every digit occurs, none far from a tenth of the set; the first labels are MNIST's.
	counts := make([]int, 10)
	for _, l := range train.Labels {
		counts[l]++
	}
	for d, c := range counts {
		if c < 5000 || c > 7000 {
			t.Errorf("digit %d occurs %d times", d, c)
		}
	}
	if got := train.Labels[:5]; got[0] != 5 || got[1] != 0 || got[2] != 4 || got[3] != 1 || got[4] != 9 {
		t.Errorf("first training labels %v, want [5 0 4 1 9]", got)
	}
	if got := test.Labels[:3]; got[0] != 7 || got[1] != 2 || got[2] != 1 {
		t.Errorf("first test labels %v, want [7 2 1]", got)
	}
	b, err := data.NewImageBatches(train, 64)
	if err != nil {
		t.Fatal(err)
	}
	if b.NumBatches() != 938 {
		t.Errorf("%d batches of 64, want 938", b.NumBatches())
	}
}

func TestDigits8x8(t *testing.T) {
	train, test, err := Digits8x8()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*data.ImageSet{train, test} {
		if s.Channels() != 1 || s.H != 8 || s.W != 8 || s.Classes != 10 || len(s.ClassNames) != 10 || s.Values == nil || !s.Norm.IsZero() {
			t.Fatalf("%d images of %dx%dx%d, %d classes", s.N, s.Channels(), s.H, s.W, s.Classes)
		}
	}
	if train.Len() != 1437 || test.Len() != 360 {
		t.Fatalf("%d training and %d test images, want 1437 and 360", train.Len(), test.Len())
	}
	// The first line of the file: 0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,... and label 0.
	first := train.Float32s(0)
	for j, v := range []float32{0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0} {
		if first[j] != v/16 {
			t.Fatalf("value %d of the first image is %v, want %v/16", j, first[j], v)
		}
	}
	if !slices.Equal(train.Labels[:10], []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) || !slices.Equal(test.Labels[:5], []int{2, 3, 4, 5, 6}) {
		t.Errorf("labels start %v (train) and %v (test)", train.Labels[:10], test.Labels[:5])
	}
	counts := make([]int, 10)
	for _, l := range test.Labels {
		counts[l]++
	}
	if !slices.Equal(counts, []int{35, 36, 35, 37, 37, 37, 37, 36, 33, 37}) {
		t.Errorf("test images per class %v", counts)
	}
	// numpy on the same file: (X[:1437] / 16).mean() and .std() give 0.30538611256089077
	// and 0.3755071088307581.
	stats, err := data.ChannelStats(train)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(stats.Mean[0]-0.30538611256089077) > 1e-15 || math.Abs(stats.Std[0]-0.3755071088307581) > 1e-15 {
		t.Errorf("training statistics %v", stats)
	}
}

func TestMobyDick(t *testing.T) {
	text, err := MobyDick()
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != 1204997 || !strings.HasPrefix(text, "CHAPTER 1. Loomings.") {
		t.Fatalf("%d bytes starting %q", len(text), text[:20])
	}
	count := func(s string) int {
		v, err := data.NewCharVocab(s)
		if err != nil {
			t.Fatal(err)
		}
		return v.Size() - 1 // without the unknown symbol
	}
	// 83 distinct characters, 5 of them typographic; mapped to ASCII, ' and " are new and
	// - was there already, so 80 remain.
	if n := count(text); n != 83 {
		t.Errorf("%d distinct characters, want 83", n)
	}
	ascii := data.ASCIIQuotes(text)
	if n := count(ascii); n != 80 {
		t.Errorf("%d distinct characters after ASCIIQuotes, want 80", n)
	}
	for i, r := range ascii {
		if r > 127 {
			t.Fatalf("non-ASCII %q at byte %d after ASCIIQuotes", r, i)
		}
	}
}

func TestSunspots(t *testing.T) {
	s, err := Sunspots()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Values) != 309 || s.Labels[0] != "1700" || s.Labels[308] != "2008" || s.Values[0] != 5 || len(s.Missing) != 0 {
		t.Errorf("%d values from %s to %s, first %g", len(s.Values), s.Labels[0], s.Labels[len(s.Labels)-1], s.Values[0])
	}
}

func TestCO2(t *testing.T) {
	if _, err := CO2(data.FillNone); err == nil || !strings.Contains(err.Error(), "59 missing values") {
		t.Errorf("FillNone: %v", err)
	}
	for _, tc := range []struct {
		fill data.Fill
		n    int
	}{{data.FillDrop, 2225}, {data.FillInterpolate, 2284}} {
		s, err := CO2(tc.fill)
		if err != nil {
			t.Fatalf("%v: %v", tc.fill, err)
		}
		if len(s.Values) != tc.n || len(s.Missing) != 59 || s.Labels[0] != "19580329" {
			t.Errorf("%v: %d values, %d missing", tc.fill, len(s.Values), len(s.Missing))
		}
		for i, v := range s.Values {
			if !(v > 300 && v < 400) {
				t.Fatalf("%v: value %d is %g ppm", tc.fill, i, v)
			}
		}
	}
}
