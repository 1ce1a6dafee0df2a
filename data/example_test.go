package data_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
)

// d2l's sequential partitioning of the tokens 0..34 into batches of 2 rows of 5 steps: row b
// of each batch continues row b of the batch before, so the recurrent state can be carried.
func ExampleNewSequentialBatches() {
	ids := make([]int, 35)
	for i := range ids {
		ids[i] = i
	}
	batches, err := data.NewSequentialBatches(ids, 2, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	pass := batches.Pass() // epoch 0
	for b, ok := pass.Next(); ok; b, ok = pass.Next() {
		fmt.Println("X:", b.X[:b.T], b.X[b.T:])
		fmt.Println("Y:", b.Y[:b.T], b.Y[b.T:])
	}
	// Output:
	// X: [0 1 2 3 4] [17 18 19 20 21]
	// Y: [1 2 3 4 5] [18 19 20 21 22]
	// X: [5 6 7 8 9] [22 23 24 25 26]
	// Y: [6 7 8 9 10] [23 24 25 26 27]
	// X: [10 11 12 13 14] [27 28 29 30 31]
	// Y: [11 12 13 14 15] [28 29 30 31 32]
}

// Random partitioning: each row is a run of T tokens from a random place; consecutive
// batches are unrelated, so each starts from a zero state.
func ExampleNewRandomBatches() {
	ids := make([]int, 35)
	for i := range ids {
		ids[i] = i
	}
	rng := rand.New(rand.NewPCG(1, 2)) // the run's one generator
	batches, err := data.NewRandomBatches(ids, 2, 5, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(batches.NumBatches(), "batches of", 2, "x", 5)
	// Output:
	// 3 batches of 2 x 5
}

func ExampleNewCharVocab() {
	v, err := data.NewCharVocab("hello, world")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Id 0 is the unknown symbol, then the most frequent characters; ties go by code point.
	var symbols []string
	for id := range v.Size() {
		symbols = append(symbols, fmt.Sprintf("%q", v.Symbol(id)))
	}
	fmt.Println(strings.Join(symbols, " "))
	ids := v.Encode("hello, whale")
	fmt.Println(ids)
	fmt.Println(v.Decode(ids)) // 'a' is not in the vocabulary: it decodes to U+FFFD
	_, err = v.EncodeStrict("whale")
	fmt.Println(err)
	// Output:
	// '�' 'l' 'o' ' ' ',' 'd' 'e' 'h' 'r' 'w'
	// [7 6 1 1 2 4 3 9 7 0 1 6]
	// hello, wh�le
	// vocab: character 'a' (U+0061) at position 2 is not in the vocabulary
}

func ExampleParseSeriesCSV() {
	csv := "year,value\n2000,1\n2001,\n2002,NA\n2003,4\n"
	_, err := data.ParseSeriesCSV(strings.NewReader(csv), "demo.csv", "value", data.FillNone)
	fmt.Println(err)
	s, err := data.ParseSeriesCSV(strings.NewReader(csv), "demo.csv", "value", data.FillInterpolate)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Labels, s.Values, "missing on lines", s.Missing)
	// Output:
	// demo.csv: column "value": 2 missing values (lines 3, 4); choose a fill (FillDrop, FillInterpolate)
	// [2000 2001 2002 2003] [1 2 3 4] missing on lines [3 4]
}

func ExampleWindows() {
	x, y, err := data.Windows([]float64{1, 2, 3, 4, 5, 6}, 4)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range y {
		fmt.Println(x[i*4:(i+1)*4], "->", y[i])
	}
	// Output:
	// [1 2 3 4] -> 5
	// [2 3 4 5] -> 6
}

func ExampleNewImageBatches() {
	// An IDX file of three 2x2 images and one of their labels.
	images := []byte{0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 255, 0, 255, 1, 2, 3, 4, 9, 9, 9, 9}
	labels := []byte{0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 4}
	im, err := data.ParseIDX(bytes.NewReader(images), "images")
	if err != nil {
		fmt.Println(err)
		return
	}
	lb, err := data.ParseIDX(bytes.NewReader(labels), "labels")
	if err != nil {
		fmt.Println(err)
		return
	}
	set, err := data.NewImageSet(im, lb, 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	batches, err := data.NewImageBatches(set, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	pass := batches.Pass() // one epoch
	for b, ok := pass.Next(); ok; b, ok = pass.Next() {
		fmt.Println(b.X.Shape(), b.Labels)
	}
	// Output:
	// (2, 1, 2, 2) [7 1]
	// (1, 1, 2, 2) [4]
}

// A folder of PNG and JPEG images with one sub-folder per class, read as grey images and
// normalised with the statistics of the set itself (for a training set; a test set takes
// the training set's).
func ExampleReadImageFolder() {
	set, err := data.ReadImageFolder("testdata/imagefolder/tree", data.Channels(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("classes:", set.ClassNames)
	for i, f := range set.Files {
		fmt.Println(set.Labels[i], filepath.ToSlash(f))
	}
	norm, err := data.ChannelStats(set)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("mean %.4f, std %.4f\n", norm.Mean[0], norm.Std[0])
	set, err = set.Normalize(norm)
	if err != nil {
		fmt.Println(err)
		return
	}
	batches, err := data.NewImageBatches(set, 4)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := batches.Pass().Next()
	fmt.Println("first batch:", b.X.Shape(), b.Labels)
	// Output:
	// classes: [ants bees]
	// 0 testdata/imagefolder/tree/ants/grey.png
	// 0 testdata/imagefolder/tree/ants/palette.png
	// 0 testdata/imagefolder/tree/ants/photo.jpg
	// 0 testdata/imagefolder/tree/ants/rgb.png
	// 0 testdata/imagefolder/tree/ants/rgba.png
	// 1 testdata/imagefolder/tree/bees/bee.PNG
	// 1 testdata/imagefolder/tree/bees/sub/deep.png
	// mean 0.4896, std 0.2041
	// first batch: (4, 1, 4, 5) [0 0 0 0]
}

// Sequences of the adding problem in shuffled batches of 4, three epochs. Each call of Pass
// is one epoch; its Next returns false exactly at the end of that epoch.
func ExampleNewSequences() {
	set, err := data.AddingProblem(rand.New(rand.NewPCG(1, 2)), 10, 6, tensor.Float32)
	if err != nil {
		fmt.Println(err)
		return
	}
	rng := rand.New(rand.NewPCG(3, 4)) // the run's one generator
	seqs, err := data.NewSequences(set, 4, data.Shuffle(rng), data.DropLast())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(seqs.NumBatches(), "batches of X", set.X.Shape(), "per epoch")
	for range 3 {
		pass := seqs.Pass()
		for b, ok := pass.Next(); ok; b, ok = pass.Next() {
			fmt.Println("epoch", pass.Epoch(), "X", b.X.Shape(), "Y", b.Y.Shape(), "sequences", b.Indices)
		}
	}
	// Output:
	// 2 batches of X (10, 6, 2) per epoch
	// epoch 0 X (4, 6, 2) Y (4, 1) sequences [6 2 0 7]
	// epoch 0 X (4, 6, 2) Y (4, 1) sequences [3 5 4 1]
	// epoch 1 X (4, 6, 2) Y (4, 1) sequences [0 1 4 5]
	// epoch 1 X (4, 6, 2) Y (4, 1) sequences [7 3 9 6]
	// epoch 2 X (4, 6, 2) Y (4, 1) sequences [5 3 1 6]
	// epoch 2 X (4, 6, 2) Y (4, 1) sequences [2 9 0 7]
}

// The statistics of the training set normalise the training set and the test set alike.
func ExampleChannelStats() {
	// Two 2-channel training images of 1x2 pixels, and one test image.
	train := &data.ImageSet{N: 2, C: 2, H: 1, W: 2, Labels: []int{0, 1}, Values: []float32{0, 0.5, 1, 1, 1, 0.5, 3, 1}}
	test := &data.ImageSet{N: 1, C: 2, H: 1, W: 2, Labels: []int{1}, Values: []float32{1, 0, 3, 1.5}}
	norm, err := data.ChannelStats(train)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("mean %.4f, std %.4f\n", norm.Mean, norm.Std)
	for _, s := range []**data.ImageSet{&train, &test} {
		if *s, err = (*s).Normalize(norm); err != nil {
			fmt.Println(err)
			return
		}
	}
	b, err := data.NewImageBatches(test, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	x, _ := b.Pass().Next()
	fmt.Printf("test image %v: %.4f\n", x.X.Shape(), x.X.Data())
	// Output:
	// mean [0.5000 1.5000], std [0.3536 0.8660]
	// test image (1, 2, 1, 2): [1.4142 -1.4142 1.7321 0.0000]
}

// A set written as a folder of PNG files, one sub-folder per class, and read back.
func ExampleWriteImageFolder() {
	dir, err := os.MkdirTemp("", "digits")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	set := &data.ImageSet{N: 3, H: 2, W: 2, Classes: 2, ClassNames: []string{"cross", "dot"},
		Labels: []int{1, 0, 1}, Pixels: []uint8{0, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 0}}
	if err := data.WriteImageFolder(set, dir); err != nil {
		fmt.Println(err)
		return
	}
	back, err := data.ReadImageFolder(dir, data.Channels(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, f := range back.Files {
		rel, _ := filepath.Rel(dir, f)
		fmt.Println(filepath.ToSlash(rel), back.ClassNames[back.Labels[i]], back.Float32s(i))
	}
	// Output:
	// cross/1.png cross [1 0 0 1]
	// dot/0.png dot [0 0 0 1]
	// dot/2.png dot [1 0 0 0]
}
