package data

import (
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
