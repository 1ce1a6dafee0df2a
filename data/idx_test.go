package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes builds an IDX file of unsigned bytes with the given dimensions and data.
func idxBytes(dims []uint32, payload []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, payload...)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadIDX(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5, 6}
	plain := idxBytes([]uint32{3, 2}, payload)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"plain.idx", plain},
		{"compressed.idx", gzipBytes(t, plain)}, // gzip without a .gz name
		{"compressed.gz", gzipBytes(t, plain)},
	} {
		got, err := ReadIDX(writeFile(t, dir, tc.name, tc.b))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got.Dims, []int{3, 2}) || !bytes.Equal(got.Data, payload) {
			t.Errorf("%s: got dims %v data %v", tc.name, got.Dims, got.Data)
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes([]uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	gz := gzipBytes(t, good)
	corruptCRC := slices.Clone(gz)
	corruptCRC[len(corruptCRC)-6] ^= 0xff // the CRC-32 in the gzip trailer
	huge := idxBytes([]uint32{0xffffffff, 0x7fffffff}, []byte{1, 2, 3})
	for _, tc := range []struct {
		name string
		b    []byte
		want []string // substrings of the error
	}{
		{"empty", nil, []string{"truncated IDX magic number: 0 bytes"}},
		{"short magic", []byte{0, 0, 8}, []string{"truncated IDX magic number: 3 bytes"}},
		{"not idx", []byte("hello world, this is text"), []string{"not an IDX file", "0x68656c6c"}},
		{"float type", []byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}, []string{"element type 0x0d (float32) is not supported"}},
		{"unknown type", []byte{0, 0, 0x42, 1, 0, 0, 0, 1, 7}, []string{"element type 0x42 (unknown)"}},
		{"no dims", []byte{0, 0, 8, 0}, []string{"declares no dimensions"}},
		{"short header", []byte{0, 0, 8, 3, 0, 0, 0, 2, 0}, []string{"truncated header of 3 dimensions: 5 bytes"}},
		{"zero dim", idxBytes([]uint32{2, 0}, nil), []string{"dimension 1 is 0"}},
		{"overflow", idxBytes([]uint32{1 << 31, 1 << 31, 1 << 31}, nil), []string{"overflow"}},
		{"huge dims", huge[:len(huge)-3], []string{"truncated: header declares"}},
		{"truncated", good[:len(good)-2], []string{"truncated: header declares 2x3 = 6 data bytes, file has 4"}},
		{"trailing", append(slices.Clone(good), 9, 9), []string{"declares 2x3 = 6 data bytes, file has 8 (2 trailing bytes)"}},
		{"gzip trailing", gzipBytes(t, append(slices.Clone(good), 9)), []string{"file has 7 (1 trailing bytes)"}},
		{"gzip truncated stream", gz[:len(gz)-10], []string{"broken or truncated gzip data", "unexpected EOF"}},
		{"gzip bad crc", corruptCRC, []string{"broken or truncated gzip data", "checksum"}},
		{"gzip bad header", []byte{0x1f, 0x8b, 0, 0}, []string{"gzip:"}},
		{"gzip of short data", gzipBytes(t, good[:9]), []string{"truncated header of 2 dimensions: 5 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "f.idx", tc.b)
			_, err := ReadIDX(path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := ReadIDX(filepath.Join(t.TempDir(), "absent")); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing file: %v", err)
	}
}

// mnistDir writes a small MNIST-format data set; mutate can change the files before writing.
func mnistDir(t *testing.T, mutate func(files map[string][]byte)) string {
	t.Helper()
	files := map[string][]byte{
		mnistTrainImages + ".gz": gzipBytes(t, idxBytes([]uint32{3, 2, 2}, make([]byte, 12))),
		mnistTrainLabels + ".gz": gzipBytes(t, idxBytes([]uint32{3}, []byte{0, 9, 4})),
		mnistTestImages:          idxBytes([]uint32{2, 2, 2}, []byte{0, 255, 0, 255, 1, 2, 3, 4}),
		mnistTestLabels:          idxBytes([]uint32{2}, []byte{7, 1}),
	}
	if mutate != nil {
		mutate(files)
	}
	dir := t.TempDir()
	for n, b := range files {
		writeFile(t, dir, n, b)
	}
	return dir
}

func TestLoadMNIST(t *testing.T) {
	train, test, err := LoadMNIST(mnistDir(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 3 || test.Len() != 2 || test.H != 2 || test.W != 2 || test.Classes != 10 {
		t.Fatalf("train %d, test %d of %dx%d", train.Len(), test.Len(), test.H, test.W)
	}
	if !slices.Equal(train.Labels, []int{0, 9, 4}) || !slices.Equal(test.Image(1), []uint8{1, 2, 3, 4}) {
		t.Errorf("labels %v, image 1 %v", train.Labels, test.Image(1))
	}
	sub, err := train.Subset(1, 3)
	if err != nil || sub.Len() != 2 || !slices.Equal(sub.Labels, []int{9, 4}) {
		t.Errorf("Subset(1, 3) = %+v, %v", sub, err)
	}
	if h := train.Head(10); h.Len() != 3 {
		t.Errorf("Head(10) has %d images", h.Len())
	}
	if h := train.Head(1); h.Len() != 1 || len(h.Pixels) != 4 || h.Labels[0] != 0 {
		t.Errorf("Head(1) = %+v", h)
	}
	for _, r := range [][2]int{{-1, 2}, {0, 4}, {2, 2}, {2, 1}} {
		if _, err := train.Subset(r[0], r[1]); err == nil {
			t.Errorf("Subset(%d, %d): no error", r[0], r[1])
		}
	}
}

func TestLoadMNISTErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(map[string][]byte)
		want   string
	}{
		{"missing labels", func(f map[string][]byte) { delete(f, mnistTestLabels) },
			"missing t10k-labels-idx1-ubyte[.gz]"},
		{"count mismatch", func(f map[string][]byte) { f[mnistTestLabels] = idxBytes([]uint32{3}, []byte{1, 2, 3}) },
			"has 2 images but"},
		{"label too big", func(f map[string][]byte) { f[mnistTestLabels] = idxBytes([]uint32{2}, []byte{1, 10}) },
			"label 10 at index 1 is not below 10 classes"},
		{"labels with 2 dims", func(f map[string][]byte) { f[mnistTestLabels] = idxBytes([]uint32{2, 1}, []byte{1, 1}) },
			"labels need 1 dimension (N), file has 2x1"},
		{"images with 2 dims", func(f map[string][]byte) { f[mnistTestImages] = idxBytes([]uint32{2, 4}, make([]byte, 8)) },
			"images need 3 dimensions"},
		{"sizes differ", func(f map[string][]byte) { f[mnistTestImages] = idxBytes([]uint32{2, 1, 4}, make([]byte, 8)) },
			"training images are 2x2, test images 1x4"},
		{"truncated", func(f map[string][]byte) { f[mnistTestImages] = f[mnistTestImages][:20] },
			"t10k-images-idx3-ubyte: truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := LoadMNIST(mnistDir(t, tc.mutate))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	empty := t.TempDir()
	_, _, err := LoadMNIST(empty)
	want := "mnist: " + empty + ": missing train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"
	if err == nil || err.Error() != want {
		t.Errorf("empty dir: %v", err)
	}
	absent := filepath.Join(empty, "nowhere")
	if _, _, err := LoadMNIST(absent); err == nil || !strings.Contains(err.Error(), absent) {
		t.Errorf("absent dir: %v", err)
	}
	file := writeFile(t, empty, "file", []byte("x"))
	if _, _, err := LoadMNIST(file); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("file as dir: %v", err)
	}
}

func TestLoadMNISTReal(t *testing.T) {
	if testing.Short() {
		t.Skip("decompresses 11 MB")
	}
	train, test, err := LoadMNIST(filepath.Join("builtin", "mnist"))
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 60000 || test.Len() != 10000 || train.H != 28 || train.W != 28 {
		t.Fatalf("train %d, test %d, %dx%d", train.Len(), test.Len(), train.H, train.W)
	}
}
