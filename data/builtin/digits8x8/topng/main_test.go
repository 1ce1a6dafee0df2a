package main

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
)

// The folders topng writes read back, through data.ReadImageFolder, as the built-in digits:
// the same classes and labels, and each image's pixels within half a level of 255 of the
// built-in values c/16, exactly round(c*255/16)/255. Written and read a second time they
// are unchanged.
func TestRun(t *testing.T) {
	out := t.TempDir()
	if err := run(out); err != nil {
		t.Fatal(err)
	}
	train, test, err := builtin.Digits8x8()
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []struct {
		name string
		want *data.ImageSet
	}{{"train", train}, {"test", test}} {
		dir := filepath.Join(out, part.name)
		got, err := data.ReadImageFolder(dir, data.Channels(1))
		if err != nil {
			t.Fatal(err)
		}
		if got.Len() != part.want.Len() || got.H != 8 || got.W != 8 || got.C != 1 || strings.Join(got.ClassNames, "") != "0123456789" {
			t.Fatalf("%s: %d images of %dx%dx%d, classes %v", part.name, got.Len(), got.C, got.H, got.W, got.ClassNames)
		}
		for i, f := range got.Files {
			k, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(f), ".png"))
			if err != nil {
				t.Fatalf("file %s is not named by an index", f)
			}
			if got.Labels[i] != part.want.Labels[k] || filepath.Base(filepath.Dir(f)) != strconv.Itoa(part.want.Labels[k]) {
				t.Fatalf("%s has label %d, image %d of the set %d", f, got.Labels[i], k, part.want.Labels[k])
			}
			back, orig := got.Float32s(i), part.want.Float32s(k)
			for j, v := range orig {
				level := math.Round(float64(v) * 255)
				if back[j] != float32(level/255) || math.Abs(float64(back[j]-v)) > 0.5/255+1e-7 {
					t.Fatalf("%s: pixel %d reads %v, was %v", f, j, back[j], v)
				}
			}
		}
		again := filepath.Join(t.TempDir(), part.name)
		if err := data.WriteImageFolder(got, again); err != nil {
			t.Fatal(err)
		}
		third, err := data.ReadImageFolder(again, data.Channels(1))
		if err != nil {
			t.Fatal(err)
		}
		for i := range got.Values {
			if third.Values[i] != got.Values[i] {
				t.Fatalf("%s: a second round trip changed value %d", part.name, i)
			}
		}
	}
	if err := run(out); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("writing over the folders: %v", err)
	}
}
