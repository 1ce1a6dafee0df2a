package data_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
)

// noPanic runs f and turns a panic into an error, so that a table test reports the case.
func noPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

func idxFile(dims []int, payload []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, payload...)
}

// TestReadersRefuseBadInput gives every reader and iterator of package data missing,
// unreadable, empty, truncated and malformed input and impossible sizes: each returns an
// error naming the file (or the argument) and what is wrong, and none panics.
func TestReadersRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unreadable := write("unreadable", []byte("v\n1\n"))
	os.Chmod(unreadable, 0)
	rootReads := false
	if f, err := os.Open(unreadable); err == nil {
		f.Close()
		rootReads = true
	}
	mnistDir := func(name string, trainImages, trainLabels []byte) string {
		d := filepath.Join(dir, name)
		os.Mkdir(d, 0o755)
		os.WriteFile(filepath.Join(d, "train-images-idx3-ubyte"), trainImages, 0o644)
		os.WriteFile(filepath.Join(d, "train-labels-idx1-ubyte"), trainLabels, 0o644)
		os.WriteFile(filepath.Join(d, "t10k-images-idx3-ubyte"), idxFile([]int{2, 2, 2}, make([]byte, 8)), 0o644)
		os.WriteFile(filepath.Join(d, "t10k-labels-idx1-ubyte"), idxFile([]int{2}, []byte{1, 2}), 0o644)
		return d
	}
	set := &data.ImageSet{N: 4, H: 2, W: 2, Classes: 10, Pixels: make([]uint8, 16), Labels: []int{0, 1, 2, 3}}
	vocab, err := data.NewCharVocab("call me ishmael")
	if err != nil {
		t.Fatal(err)
	}
	csv := func(s string, column string, fill data.Fill) error {
		_, err := data.ParseSeriesCSV(strings.NewReader(s), "series.csv", column, fill)
		return err
	}

	cases := []struct {
		name      string
		want      string
		needsMode bool // reads the file with mode 000
		f         func() error
	}{
		{"IDX missing file", "missing.idx: no such file or directory", false, func() error {
			_, err := data.ReadIDX(filepath.Join(dir, "missing.idx"))
			return err
		}},
		{"IDX unreadable file", "unreadable: permission denied", true, func() error {
			_, err := data.ReadIDX(unreadable)
			return err
		}},
		{"IDX a directory", "is a directory", false, func() error {
			_, err := data.ReadIDX(dir)
			return err
		}},
		{"IDX empty", "empty.idx: truncated IDX magic number: 0 bytes", false, func() error {
			_, err := data.ReadIDX(write("empty.idx", nil))
			return err
		}},
		{"IDX float elements", "f.idx: IDX element type 0x0d (float32) is not supported, only 0x08 (unsigned byte)", false, func() error {
			_, err := data.ReadIDX(write("f.idx", []byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}))
			return err
		}},
		{"IDX zero dimension", "zero.idx: IDX dimension 1 is 0 (no data)", false, func() error {
			_, err := data.ReadIDX(write("zero.idx", idxFile([]int{2, 0}, nil)))
			return err
		}},
		{"IDX truncated", "short.idx: truncated: header declares 3x4 = 12 data bytes, file has 5", false, func() error {
			_, err := data.ReadIDX(write("short.idx", idxFile([]int{3, 4}, make([]byte, 5))))
			return err
		}},
		{"IDX huge dimensions", "huge.idx: IDX dimensions 4294967295x4294967295 overflow", false, func() error {
			_, err := data.ReadIDX(write("huge.idx", idxFile([]int{-1, -1}, []byte{1})))
			return err
		}},
		{"MNIST missing directory", "mnist: stat " + filepath.Join(dir, "nope") + ": no such file or directory", false, func() error {
			_, _, err := data.LoadMNIST(filepath.Join(dir, "nope"))
			return err
		}},
		{"MNIST missing files", "missing train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]", false, func() error {
			_, _, err := data.LoadMNIST(t.TempDir())
			return err
		}},
		{"MNIST label count", "has 3 images but", false, func() error {
			_, _, err := data.LoadMNIST(mnistDir("count", idxFile([]int{3, 2, 2}, make([]byte, 12)), idxFile([]int{2}, []byte{1, 2})))
			return err
		}},
		{"MNIST label above 9", "label 12 at index 1 is not below 10 classes", false, func() error {
			_, _, err := data.LoadMNIST(mnistDir("label", idxFile([]int{2, 2, 2}, make([]byte, 8)), idxFile([]int{2}, []byte{1, 12})))
			return err
		}},
		{"MNIST images of rank 2", "images need 3 dimensions (N, H, W), file has 2x4", false, func() error {
			_, _, err := data.LoadMNIST(mnistDir("rank", idxFile([]int{2, 4}, make([]byte, 8)), idxFile([]int{2}, []byte{1, 2})))
			return err
		}},
		{"image batches of size 0", "image batches: batch size 0: need at least 1", false, func() error {
			_, err := data.NewImageBatches(set, 0)
			return err
		}},
		{"image batches of an empty set", "image set is empty", false, func() error {
			_, err := data.NewImageBatches(set.Head(0), 2)
			return err
		}},
		{"image set normalised by 0", "normalize: normalisation: channel 0: standard deviation 0 (a constant channel cannot be standardised)", false, func() error {
			_, err := set.Normalize(data.Normalization{Mean: []float64{0.5}, Std: []float64{0}})
			return err
		}},
		{"image set normalised with a NaN mean", "normalize: normalisation: channel 0: mean NaN is not finite", false, func() error {
			_, err := set.Normalize(data.Normalization{Mean: []float64{math.NaN()}, Std: []float64{1}})
			return err
		}},
		{"image batches of integers", "image batches: dtype int: need float32 or float64", false, func() error {
			_, err := data.NewImageBatches(set, 2, data.Dtype(tensor.Int))
			return err
		}},
		{"image batches larger than the set", "batch size 5 exceeds the 4 images and DropLast leaves no batch", false, func() error {
			_, err := data.NewImageBatches(set, 5, data.DropLast())
			return err
		}},
		{"image set with a negative label", "label -1 at index 2 is outside [0, 10)", false, func() error {
			bad := *set
			bad.Labels = []int{0, 1, -1, 3}
			_, err := data.NewImageBatches(&bad, 2)
			return err
		}},
		{"image batches position of another set", "image batches: state is for 4 images in batches of 2, iterator has 2 in batches of 2", false, func() error {
			it, _ := data.NewImageBatches(set, 2, data.Shuffle(rand.New(rand.NewPCG(1, 2))))
			it.Pass().Next()
			blob, _ := it.MarshalBinary()
			other, _ := data.NewImageBatches(set.Head(2), 2, data.Shuffle(rand.New(rand.NewPCG(1, 2))))
			return other.UnmarshalBinary(blob)
		}},
		{"image folder missing", "image folder: stat " + filepath.Join(dir, "nofolder") + ": no such file or directory", false, func() error {
			_, err := data.ReadImageFolder(filepath.Join(dir, "nofolder"))
			return err
		}},
		{"image folder with an unreadable image", "image folder: open " + filepath.Join(dir, "folder", "cat", "x.png") + ": permission denied", true, func() error {
			os.MkdirAll(filepath.Join(dir, "folder", "cat"), 0o755)
			p := write(filepath.Join("folder", "cat", "x.png"), []byte("\x89PNG"))
			os.Chmod(p, 0)
			_, err := data.ReadImageFolder(filepath.Join(dir, "folder"))
			return err
		}},
		{"image folder of a damaged image", filepath.Join(dir, "damaged", "cat", "x.jpg") + ": not a readable PNG or JPEG image", false, func() error {
			os.MkdirAll(filepath.Join(dir, "damaged", "cat"), 0o755)
			write(filepath.Join("damaged", "cat", "x.jpg"), []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16})
			_, err := data.ReadImageFolder(filepath.Join(dir, "damaged"))
			return err
		}},
		{"image CSV missing file", "missing.csv: no such file or directory", false, func() error {
			_, err := data.ReadImageCSV(filepath.Join(dir, "missing.csv"), data.ImageCSVFormat{H: 8, W: 8, Max: 16, Classes: 10})
			return err
		}},
		{"image CSV of the wrong width", "short.csv: record on line 1: wrong number of fields (need 4 values and a label a line)", false, func() error {
			_, err := data.ReadImageCSV(write("short.csv", []byte("1,2,3\n")), data.ImageCSVFormat{H: 2, W: 2, Max: 16, Classes: 10})
			return err
		}},
		{"image set normalised for 3 channels", "normalize: normalisation of 3 means and 3 standard deviations for 1 channels", false, func() error {
			_, err := set.Normalize(data.Normalization{Mean: []float64{0, 0, 0}, Std: []float64{1, 1, 1}})
			return err
		}},
		{"image folder written from a normalised float set", "write image folder: image 0, value 0 is -1, outside [0, 1]", false, func() error {
			bad := &data.ImageSet{N: 1, H: 1, W: 1, Values: []float32{-1}, Labels: []int{0}}
			return data.WriteImageFolder(bad, filepath.Join(dir, "written"))
		}},
		{"sequences without targets", "sequences: sequence set: need inputs X and targets Y", false, func() error {
			_, err := data.NewSequences(&data.SequenceSet{X: tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float64, 6)))}, 1)
			return err
		}},
		{"adding problem of one step", "adding problem: need at least 1 sequence and 2 steps, got 4 and 1", false, func() error {
			_, err := data.AddingProblem(rand.New(rand.NewPCG(1, 1)), 4, 1, tensor.Float32)
			return err
		}},
		{"text missing file", "missing.txt: no such file or directory", false, func() error {
			_, err := data.ReadText(filepath.Join(dir, "missing.txt"))
			return err
		}},
		{"text unreadable", "unreadable: permission denied", true, func() error {
			_, err := data.ReadText(unreadable)
			return err
		}},
		{"text empty", "empty.txt: empty text", false, func() error {
			_, err := data.ReadText(write("empty.txt", nil))
			return err
		}},
		{"text invalid UTF-8", "bad.txt: invalid UTF-8 at byte 9 (line 2)", false, func() error {
			_, err := data.ReadText(write("bad.txt", []byte("Call me\nI\xffshmael")))
			return err
		}},
		{"text of a byte-order mark only", "bom.txt: empty text", false, func() error {
			_, err := data.ReadText(write("bom.txt", []byte("\uFEFF")))
			return err
		}},
		{"vocabulary of nothing", "vocab: empty text", false, func() error {
			_, err := data.NewCharVocab("")
			return err
		}},
		{"vocabulary of invalid UTF-8", "vocab: invalid UTF-8 at byte 1", false, func() error {
			_, err := data.NewCharVocab("a\xfeb")
			return err
		}},
		{"vocabulary with a frequency nothing reaches", "vocab: no character occurs at least 100 times", false, func() error {
			_, err := data.NewCharVocab("abc", data.MinFreq(100))
			return err
		}},
		{"prompt outside the vocabulary", `vocab: character 'Q' (U+0051) at position 5 is not in the vocabulary`, false, func() error {
			_, err := vocab.EncodeStrict("call Queequeg")
			return err
		}},
		{"prompt of invalid UTF-8", "vocab: invalid UTF-8 at byte 4", false, func() error {
			_, err := vocab.EncodeStrict("call\xc3")
			return err
		}},
		{"vocabulary blob damaged", "vocab: corrupt state", false, func() error {
			blob, _ := vocab.MarshalBinary()
			blob[len(blob)-6] ^= 1
			var v data.Vocab
			return v.UnmarshalBinary(blob)
		}},
		{"sequence batches of zero rows", "sequence batches: batch 0x8: need at least 1 row and 1 step", false, func() error {
			_, err := data.NewSequentialBatches(make([]int, 100), 0, 8)
			return err
		}},
		{"sequence batches of negative ids", "sequence batches: id -3 at position 2 is negative", false, func() error {
			_, err := data.NewSequentialBatches([]int{1, 2, -3, 4}, 1, 1)
			return err
		}},
		{"sequence batches of too few tokens", "sequence batches: 10 tokens are too few for one batch of 4x8", false, func() error {
			_, err := data.NewSequentialBatches(make([]int, 10), 4, 8)
			return err
		}},
		{"random batches without a generator", "random partitioning needs a random generator", false, func() error {
			_, err := data.NewRandomBatches(make([]int, 100), 2, 4, nil)
			return err
		}},
		{"split of everything", "split: fraction 1 is not strictly between 0 and 1", false, func() error {
			_, _, err := data.SplitIDs([]int{1, 2, 3}, 1)
			return err
		}},
		{"split leaving a part empty", "split: fraction 0.1 of 3 values leaves a part empty", false, func() error {
			_, _, err := data.SplitSeries([]float64{1, 2, 3}, 0.1)
			return err
		}},
		{"series missing file", "missing.csv: no such file or directory", false, func() error {
			_, err := data.ReadSeriesCSV(filepath.Join(dir, "missing.csv"), "v", data.FillNone)
			return err
		}},
		{"series unreadable", "unreadable: permission denied", true, func() error {
			_, err := data.ReadSeriesCSV(unreadable, "v", data.FillNone)
			return err
		}},
		{"series empty", "series.csv: empty file, no header", false, func() error { return csv("", "v", data.FillNone) }},
		{"series header only", "series.csv: no data rows", false, func() error { return csv("v\n", "v", data.FillNone) }},
		{"series gap without a fill", "series.csv: column \"v\": 2 missing values (lines 3, 5); choose a fill (FillDrop, FillInterpolate)", false, func() error {
			return csv("t,v\n1,1\n2,NA\n3,3\n4,\n5,5\n", "v", data.FillNone)
		}},
		{"series all missing", "series.csv: column \"v\": all 2 values are missing", false, func() error {
			return csv("v\nNA\nnull\n", "v", data.FillDrop)
		}},
		{"series infinite value", `series.csv: line 3, column "v": "-Inf" is not a finite number`, false, func() error {
			return csv("v\n1\n-Inf\n", "v", data.FillInterpolate)
		}},
		{"series value whose square overflows", `series.csv: line 3, column "v": "1e308" is too large`, false, func() error {
			return csv("v\n1\n1e308\n", "v", data.FillInterpolate)
		}},
		{"series negative value whose square overflows", `series.csv: line 2, column "v": "-2e154" is too large`, false, func() error {
			return csv("v\n-2e154\n1\n", "v", data.FillNone)
		}},
		{"series text value", `series.csv: line 2, column "v": "twelve" is not a finite number`, false, func() error {
			return csv("v\ntwelve\n", "v", data.FillNone)
		}},
		{"series missing column", `series.csv: no column "value"; the columns are ["year" "v"]`, false, func() error {
			return csv("year,v\n1,2\n", "value", data.FillNone)
		}},
		{"series column twice", `series.csv: column "v" appears twice in the header`, false, func() error {
			return csv("v,v\n1,2\n", "v", data.FillNone)
		}},
		{"series ragged row", "series.csv: record on line 3: wrong number of fields", false, func() error {
			return csv("t,v\n1,2\n3\n", "v", data.FillNone)
		}},
		{"series unknown fill", "series.csv: unknown fill Fill(7)", false, func() error { return csv("v\n1\n", "v", data.Fill(7)) }},
		{"windows of order 0", "windows: tau 0: need at least 1", false, func() error {
			_, _, err := data.Windows([]float64{1, 2, 3}, 0)
			return err
		}},
		{"windows longer than the series", "windows: 3 values are too few for windows of 3 and a target", false, func() error {
			_, _, err := data.Windows([]float64{1, 2, 3}, 3)
			return err
		}},
		{"windows over NaN", "windows: value 1 is NaN", false, func() error {
			_, _, err := data.Windows([]float64{1, math.NaN(), 3, 4}, 2)
			return err
		}},
		{"scaler of a constant", "scaler: the 3 values are all 2: standard deviation 0", false, func() error {
			_, err := data.FitScaler([]float64{2, 2, 2})
			return err
		}},
		{"scaler of nothing", "scaler: no values", false, func() error {
			_, err := data.FitScaler(nil)
			return err
		}},
		{"scaler of infinity", "scaler: value 0 is +Inf", false, func() error {
			_, err := data.FitScaler([]float64{math.Inf(1), 1})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.needsMode && rootReads {
				t.Skip("a file with mode 000 is readable here (running as root); demo's TestDemoBadInput reads it as the user nobody")
			}
			err := noPanic(c.f)
			if err == nil || strings.HasPrefix(err.Error(), "panic") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

// TestParseIDXBoundedMemory reads a header that declares 4 GiB of data followed by a few
// bytes: the error comes without allocating anything like the declared size.
func TestParseIDXBoundedMemory(t *testing.T) {
	b := idxFile([]int{65536, 65536}, bytes.Repeat([]byte{1}, 100))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := data.ParseIDX(bytes.NewReader(b), "huge")
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "huge: truncated: header declares 65536x65536 = 4294967296 data bytes, file has 100") {
		t.Fatalf("got %v", err)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Errorf("reading a corrupt header allocated %d bytes", grown)
	}
}
