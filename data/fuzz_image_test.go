package data

import (
	"bytes"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeImage feeds arbitrary bytes to the decoder behind ReadImageFolder, seeded with
// the PNG and JPEG files of testdata/imagefolder and a few made here (16-bit, paletted with
// transparency). A file is refused with an error naming it, or read into whole images of
// values in [0, 1] and of at most maxImagePixels pixels.
func FuzzDecodeImage(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(folderTree, "*", "*"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, uint8(1))
			f.Add(b, uint8(3))
		}
	}
	g := image.NewGray16(image.Rect(0, 0, 3, 2))
	g.SetGray16(1, 1, color.Gray16{Y: 40000})
	f.Add(pngBytes(f, g), uint8(1))
	p := image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.NRGBA{10, 20, 30, 0}, color.NRGBA{200, 100, 0, 128}})
	p.Pix[3] = 1
	f.Add(pngBytes(f, p), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, channels uint8) {
		c := 1 + 2*int(channels%2) // 1 or 3
		v, h, w, err := decodeImage(b, "fuzz.png", c)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.png: ") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if h < 1 || w < 1 || h*w > maxImagePixels || len(v) != c*h*w {
			t.Fatalf("%d values for %d channels of %dx%d", len(v), c, h, w)
		}
		for i, x := range v {
			if !(x >= 0 && x <= 1) {
				t.Fatalf("value %d is %v", i, x)
			}
		}
		if r := resizeBilinear(v, c, h, w, 3, 2); len(r) != c*6 {
			t.Fatalf("resized to %d values", len(r))
		}
	})
}

// FuzzParseImageCSV feeds arbitrary text to the CSV image reader of the 8x8 digits, seeded with
// the first lines of the real file. A file is refused with an error naming it, or read into
// whole images of values in [0, 1] with labels in [0, 10).
func FuzzParseImageCSV(f *testing.F) {
	f.Add([]byte("0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,0,9,8,0,0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0,0\n"), uint8(8))
	f.Add([]byte("1,2,3,4,5\n16,16,16,16,9\n"), uint8(2))
	f.Add([]byte("\"1\",2,3,4,5\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, side uint8) {
		n := 1 + int(side%8)
		set, err := ParseImageCSV(bytes.NewReader(b), "fuzz.csv", ImageCSVFormat{H: n, W: n, Max: 16, Classes: 10})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv: ") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if err := set.check(); err != nil {
			t.Fatal(err)
		}
		if set.N < 1 || set.H != n || set.W != n || outsideUnit(set.Values) >= 0 {
			t.Fatalf("%d images of %dx%d", set.N, set.H, set.W)
		}
		for _, l := range set.Labels {
			if l < 0 || l >= 10 {
				t.Fatalf("label %d", l)
			}
		}
	})
}
