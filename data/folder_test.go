package data

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const folderTree = "testdata/imagefolder/tree"

// folderExpected is what testdata/imagefolder.py computed with PIL and torch.
type folderExpected struct {
	Classes []string
	Files   []string
	Labels  []int
	RGB     [][]float64 `json:"rgb"`
	Grey    [][]float64 `json:"grey"`
	RGB3x7  [][]float64 `json:"rgb_3x7"`
	Grey8x2 [][]float64 `json:"grey_8x2"`
}

// ReadImageFolder gives the classes, order, labels and values of torchvision's ImageFolder
// (with Grayscale and a bilinear Resize) on the same files: exactly for PNG files, within
// 2/255 for the JPEG file, which Go and libjpeg decode differently.
func TestReadImageFolderMatchesTorchvision(t *testing.T) {
	b, err := os.ReadFile("testdata/imagefolder/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want folderExpected
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opts    []FolderOption
		c, h, w int
		values  [][]float64
		tol     float64 // for the PNG files; resizing rounds to float32 after float64 sums
	}{
		{"rgb", nil, 3, 4, 5, want.RGB, 0},
		{"grey", []FolderOption{Channels(1)}, 1, 4, 5, want.Grey, 0},
		{"rgb resized", []FolderOption{Channels(3), Resize(3, 7)}, 3, 3, 7, want.RGB3x7, 1e-7},
		{"grey resized", []FolderOption{Resize(8, 2), Channels(1)}, 1, 8, 2, want.Grey8x2, 1e-7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ReadImageFolder(folderTree, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := set.check(); err != nil {
				t.Fatal(err)
			}
			if set.N != 7 || set.C != tc.c || set.H != tc.h || set.W != tc.w || set.Classes != 2 || set.Pixels != nil || !set.Norm.IsZero() {
				t.Fatalf("%d images of %dx%dx%d, %d classes", set.N, set.C, set.H, set.W, set.Classes)
			}
			if !slices.Equal(set.ClassNames, want.Classes) || !slices.Equal(set.Labels, want.Labels) {
				t.Errorf("classes %v labels %v, want %v %v", set.ClassNames, set.Labels, want.Classes, want.Labels)
			}
			for i, f := range set.Files {
				if f != filepath.Join(folderTree, want.Files[i]) {
					t.Errorf("file %d is %s, want %s", i, f, want.Files[i])
				}
			}
			for i := range set.N {
				got, tol := set.Float32s(i), tc.tol
				if strings.HasSuffix(set.Files[i], ".jpg") {
					tol = 2.0 / 255
				}
				if len(got) != len(tc.values[i]) {
					t.Fatalf("%s: %d values, want %d", set.Files[i], len(got), len(tc.values[i]))
				}
				for j, v := range tc.values[i] {
					if tol == 0 && got[j] != float32(v) || tol > 0 && math.Abs(float64(got[j])-v) > tol {
						t.Fatalf("%s: value %d is %v, want %v", set.Files[i], j, got[j], v)
					}
				}
			}
		})
	}
}

// A 16-bit grey PNG is read as v/65535; a 16-bit colour one as grey from float weights.
func TestReadImageFolderSixteenBits(t *testing.T) {
	g := image.NewGray16(image.Rect(0, 0, 2, 1))
	g.SetGray16(1, 0, color.Gray16{Y: 1000})
	c := image.NewNRGBA64(image.Rect(0, 0, 2, 1))
	c.SetNRGBA64(0, 0, color.NRGBA64{R: 65535, A: 65535})
	c.SetNRGBA64(1, 0, color.NRGBA64{R: 300, G: 300, B: 300, A: 1}) // alpha is dropped
	fsys := fstest.MapFS{"d/a/grey.png": {Data: pngBytes(t, g)}, "d/b/colour.png": {Data: pngBytes(t, c)}}
	set, err := ReadImageFolderFS(fsys, "d", Channels(1))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, float32(1000.0 / 65535), float32(19595.0 / 65536), float32(300.0 / 65535)}
	if !slices.Equal(set.Values, want) || set.Files[1] != "d/b/colour.png" {
		t.Errorf("values %v, want %v (files %v)", set.Values, want, set.Files)
	}
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// grey returns a PNG of h x w grey pixels of value v.
func greyPNG(t testing.TB, h, w int, v uint8) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = v
	}
	return pngBytes(t, img)
}

// Every bad folder gives an error naming the folder or the file, and none panics.
func TestReadImageFolderErrors(t *testing.T) {
	ok := greyPNG(t, 2, 3, 10)
	file := func(b []byte) *fstest.MapFile { return &fstest.MapFile{Data: b} }
	dir := &fstest.MapFile{Mode: os.ModeDir | 0o755}
	truncated := ok[:len(ok)-20]
	damaged := slices.Clone(ok)
	damaged[len(damaged)-30] ^= 0xff // inside the compressed data: its checksum fails
	huge := pngBytes(t, image.NewGray(image.Rect(0, 0, 1, 1)))
	copy(huge[16:24], []byte{0, 1, 0, 0, 0, 1, 0, 0}) // IHDR says 65536 x 65536, with its checksum
	binary.BigEndian.PutUint32(huge[29:33], crc32.ChecksumIEEE(huge[12:29]))
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		opts []FolderOption
		want string
	}{
		{"missing folder", fstest.MapFS{}, nil, "image folder: open d: file does not exist"},
		{"no classes", fstest.MapFS{"d/x.png": file(ok), "d/.hidden/y.png": file(ok)}, nil,
			"image folder: d has no class folders: put the images of each class in a sub-folder named after it"},
		{"empty class", fstest.MapFS{"d/a/x.png": file(ok), "d/b": dir}, nil, "image folder: class folder d/b holds no PNG or JPEG images"},
		{"class of hidden files", fstest.MapFS{"d/a/x.png": file(ok), "d/b/.x.png": file(ok), "d/b/.sub/y.png": file(ok)}, nil,
			"image folder: class folder d/b holds no PNG or JPEG images"},
		{"not an image", fstest.MapFS{"d/a/x.png": file(ok), "d/a/notes.txt": file([]byte("hi"))}, nil,
			"image folder: d/a/notes.txt is not a PNG or JPEG file (.png, .jpg, .jpeg)"},
		{"other image format", fstest.MapFS{"d/a/x.gif": file([]byte("GIF89a"))}, nil, "image folder: d/a/x.gif is not a PNG or JPEG file"},
		{"text named png", fstest.MapFS{"d/a/x.png": file([]byte("not an image"))}, nil,
			"image folder: d/a/x.png: not a readable PNG or JPEG image: image: unknown format"},
		{"empty file", fstest.MapFS{"d/a/x.png": file(nil)}, nil, "image folder: d/a/x.png: not a readable PNG or JPEG image"},
		{"truncated png", fstest.MapFS{"d/a/x.png": file(truncated)}, nil, "image folder: d/a/x.png: damaged png image: png: invalid format: unexpected EOF"},
		{"damaged png", fstest.MapFS{"d/a/x.png": file(damaged)}, nil, "image folder: d/a/x.png: damaged png image"},
		{"truncated jpeg", fstest.MapFS{"d/a/x.jpg": file(jpegHead(t))}, nil, "image folder: d/a/x.jpg: damaged jpeg image"},
		{"huge header", fstest.MapFS{"d/a/x.png": file(huge)}, nil, "image folder: d/a/x.png: image of 65536x65536 pixels: need 1 to 16777216 pixels"},
		{"mixed sizes", fstest.MapFS{"d/a/1.png": file(ok), "d/b/2.png": file(greyPNG(t, 3, 2, 0))}, nil,
			"image folder: d/a/1.png has 2x3 pixels (height x width) but d/b/2.png has 3x2: the images differ in size; read them with Resize"},
		{"two channels", fstest.MapFS{"d/a/x.png": file(ok)}, []FolderOption{Channels(2)}, "image folder: 2 channels: need 1 (grey) or 3 (RGB)"},
		{"resize to nothing", fstest.MapFS{"d/a/x.png": file(ok)}, []FolderOption{Resize(0, 4)}, "image folder: resize to 0x4: need 1 to 16777216 pixels"},
		{"resize too large", fstest.MapFS{"d/a/x.png": file(ok)}, []FolderOption{Resize(1<<20, 1<<20)}, "need 1 to 16777216 pixels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := catchPanic(func() error {
				_, err := ReadImageFolderFS(tc.fsys, "d", tc.opts...)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Mixed sizes are read with Resize; the paths ReadImageFolder names are the caller's.
	fsys := fstest.MapFS{"d/a/1.png": file(ok), "d/b/2.png": file(greyPNG(t, 3, 2, 0))}
	if set, err := ReadImageFolderFS(fsys, "d", Resize(2, 2)); err != nil || set.H != 2 || set.W != 2 || set.C != 3 {
		t.Errorf("mixed sizes with Resize: %v", err)
	}
	tmp := t.TempDir()
	if _, err := ReadImageFolder(filepath.Join(tmp, "none")); err == nil || !strings.Contains(err.Error(), "image folder: stat "+filepath.Join(tmp, "none")) {
		t.Errorf("missing folder: %v", err)
	}
	os.WriteFile(filepath.Join(tmp, "f"), nil, 0o644)
	if _, err := ReadImageFolder(filepath.Join(tmp, "f")); err == nil || err.Error() != "image folder: "+filepath.Join(tmp, "f")+" is not a directory" {
		t.Errorf("a file: %v", err)
	}
	os.MkdirAll(filepath.Join(tmp, "d", "a"), 0o755)
	os.WriteFile(filepath.Join(tmp, "d", "a", "x.png"), []byte("junk"), 0o644)
	if _, err := ReadImageFolder(filepath.Join(tmp, "d")); err == nil || !strings.Contains(err.Error(), filepath.Join(tmp, "d", "a", "x.png")+": not a readable") {
		t.Errorf("a damaged file on disk is not named by its path: %v", err)
	}
}

// jpegHead returns the first bytes of a JPEG file: a header without the image data.
func jpegHead(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join(folderTree, "ants/photo.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return b[:len(b)/2]
}

// Resizing to the same size changes nothing; the taps of bilinear interpolation stay inside
// the image and their weights in [0, 1].
func TestResizeBilinear(t *testing.T) {
	in := []float32{1, 2, 3, 4, 5, 6}
	if out := resizeBilinear(in, 1, 2, 3, 2, 3); !slices.Equal(out, in) {
		t.Errorf("same size: %v", out)
	}
	// Doubling 1 x 2 to 1 x 4: samples at -0.25 (clamped to 0), 0.25, 0.75, 1.25.
	if out := resizeBilinear([]float32{0, 1}, 1, 1, 2, 1, 4); !slices.Equal(out, []float32{0, 0.25, 0.75, 1}) {
		t.Errorf("1x2 to 1x4: %v", out)
	}
	for _, n := range [][2]int{{1, 7}, {7, 1}, {5, 3}, {3, 5}, {100, 9}} {
		for _, tp := range bilinearTaps(n[0], n[1]) {
			if tp.i0 < 0 || tp.i1 >= n[0] || tp.i1 < tp.i0 || tp.f < 0 || tp.f >= 1 {
				t.Errorf("%d to %d: tap %+v", n[0], n[1], tp)
			}
		}
	}
}

// catchPanic runs f and turns a panic into an error, so that a table test reports the case.
func catchPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}
