package data

import (
	"bytes"
	"compress/gzip"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A set of bytes written with WriteImageFolder reads back with the same values, the same
// labels and class names, and its images in class order; a set of float values read from
// PNG files (levels/255) does too.
func TestWriteImageFolderRoundTrip(t *testing.T) {
	px := &ImageSet{N: 12, C: 1, H: 3, W: 2, Classes: 11, Labels: []int{10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0}, Pixels: make([]uint8, 72)}
	for i := range px.Pixels {
		px.Pixels[i] = uint8(i * 37)
	}
	rgb, err := ReadImageFolder(folderTree)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		set     *ImageSet
		opts    []FolderOption
		folders []string
	}{
		{"bytes of 11 classes", px, []FolderOption{Channels(1)}, []string{"00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10"}},
		{"rgb floats", rgb, nil, []string{"ants", "bees"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := WriteImageFolder(tc.set, dir); err != nil {
				t.Fatal(err)
			}
			back, err := ReadImageFolder(dir, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.ClassNames, tc.folders) || back.N != tc.set.N || back.C != tc.set.Channels() {
				t.Fatalf("read back %d images of %d channels, classes %v", back.N, back.C, back.ClassNames)
			}
			seen := map[string]bool{}
			for i, f := range back.Files {
				var k int
				for _, r := range strings.TrimSuffix(filepath.Base(f), ".png") {
					k = 10*k + int(r-'0')
				}
				seen[f] = true
				if back.Labels[i] != tc.set.Labels[k] || !slices.Equal(back.Float32s(i), tc.set.Float32s(k)) {
					t.Fatalf("%s: label %d, values %v; image %d had %d, %v", f, back.Labels[i], back.Float32s(i), k, tc.set.Labels[k], tc.set.Float32s(k))
				}
			}
			if len(seen) != tc.set.N {
				t.Fatalf("%d files for %d images", len(seen), tc.set.N)
			}
		})
	}
}

func TestWriteImageFolderErrors(t *testing.T) {
	good := func() *ImageSet {
		return &ImageSet{N: 2, C: 1, H: 1, W: 2, Classes: 2, Labels: []int{0, 1}, Values: []float32{0, 0.5, 1, 0.25}}
	}
	with := func(f func(s *ImageSet)) *ImageSet {
		s := good()
		f(s)
		return s
	}
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	for _, tc := range []struct {
		name string
		set  *ImageSet
		dir  string
		want string
	}{
		{"empty set", good().Head(0), "", "write image folder: image set is empty"},
		{"two channels", &ImageSet{N: 1, C: 2, H: 1, W: 1, Labels: []int{0}, Values: []float32{0, 0}}, "", "images of 2 channels: PNG files hold 1 (grey) or 3 (RGB)"},
		{"normalised values", with(func(s *ImageSet) { s.Values[1] = -0.4 }), "", "image 0, value 1 is -0.4, outside [0, 1]"},
		{"class without images", with(func(s *ImageSet) { s.Classes = 3 }), "", "class 2 has no images"},
		{"unsorted names", with(func(s *ImageSet) { s.ClassNames = []string{"dog", "cat"} }), "", `class names "dog" and "cat" are not in sorted order`},
		{"equal names", with(func(s *ImageSet) { s.ClassNames = []string{"cat", "cat"} }), "", `class names "cat" and "cat" are not in sorted order`},
		{"hidden name", with(func(s *ImageSet) { s.ClassNames = []string{".a", "b"} }), "", `class name ".a" cannot be a folder name`},
		{"path in name", with(func(s *ImageSet) { s.ClassNames = []string{"a", "b/c"} }), "", `class name "b/c" cannot be a folder name`},
		{"folder not empty", good(), full, "write image folder: " + full + " is not empty"},
		{"folder is a file", good(), filepath.Join(full, "x"), "write image folder: mkdir " + filepath.Join(full, "x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = t.TempDir()
			}
			err := catchPanic(func() error { return WriteImageFolder(tc.set, dir) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseImageCSV(t *testing.T) {
	text := "0,16,8,4,1\n16,0,2,2,0\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(text))
	zw.Close()
	format := ImageCSVFormat{H: 2, W: 2, Max: 16, Classes: 2}
	for name, b := range map[string][]byte{"plain": []byte(text), "gzip": gz.Bytes()} {
		set, err := ParseImageCSV(bytes.NewReader(b), name, format)
		if err != nil {
			t.Fatal(err)
		}
		if err := set.check(); err != nil {
			t.Fatal(err)
		}
		if set.N != 2 || set.C != 1 || !slices.Equal(set.Labels, []int{1, 0}) || !slices.Equal(set.Values, []float32{0, 1, 0.5, 0.25, 1, 0, 0.125, 0.125}) {
			t.Errorf("%s: %d images, labels %v, values %v", name, set.N, set.Labels, set.Values)
		}
	}
	truncated := gz.Bytes()[:gz.Len()-6]
	for _, tc := range []struct {
		name   string
		text   string
		format ImageCSVFormat
		want   string
	}{
		{"empty", "", format, "f.csv: no images"},
		{"short line", "0,16,8,4,1\n1,2,3,1\n", format, "f.csv: record on line 2: wrong number of fields (need 4 values and a label a line)"},
		{"text value", "0,x,8,4,1\n", format, `f.csv: line 1, column 2: "x" is not a number in [0, 16]`},
		{"value above the maximum", "0,1,17,4,1\n", format, `f.csv: line 1, column 3: "17" is not a number in [0, 16]`},
		{"negative value", "0,16,8,4,1\n0,-1,8,4,1\n", format, `f.csv: line 2, column 2: "-1" is not a number in [0, 16]`},
		{"NaN value", "NaN,1,2,3,1\n", format, `f.csv: line 1, column 1: "NaN" is not a number in [0, 16]`},
		{"label too large", "0,1,2,3,2\n", format, `f.csv: line 1, column 5: label "2" is not an integer in [0, 2)`},
		{"fractional label", "0,1,2,3,0.5\n", format, `f.csv: line 1, column 5: label "0.5" is not an integer in [0, 2)`},
		{"broken gzip", string(truncated), format, "f.csv: broken or truncated gzip data after 2 images: gzip: unexpected EOF"},
		{"no pixels", "1\n", ImageCSVFormat{W: 1, Max: 1, Classes: 1}, "f.csv: images of 0 channels of 0x1: need at least 1 of each"},
		{"no maximum", "1\n", ImageCSVFormat{H: 1, W: 1, Classes: 1}, "f.csv: maximum value 0: need a positive finite maximum"},
		{"no classes", "1\n", ImageCSVFormat{H: 1, W: 1, Max: 1}, "f.csv: 0 classes: need at least 1"},
		{"infinite maximum", "1\n", ImageCSVFormat{H: 1, W: 1, Max: math.Inf(1), Classes: 1}, "f.csv: maximum value +Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := catchPanic(func() error {
				_, err := ParseImageCSV(strings.NewReader(tc.text), "f.csv", tc.format)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := ReadImageCSV(filepath.Join(t.TempDir(), "none.csv"), format); err == nil || !strings.Contains(err.Error(), "none.csv: no such file") {
		t.Errorf("missing file: %v", err)
	}
}
