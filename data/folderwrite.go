package data

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// WriteImageFolder writes set as PNG files in the layout ReadImageFolder reads: one
// sub-folder of dir per class, named by ClassNames or, without them, by the class id padded
// with zeros to a common width ("0".."9", or "00".."11" for 12 classes), so that sorting the
// names gives back the class ids; in it one file per image, named by the image's index in the
// set, padded likewise ("0042.png"). dir is created if needed and must be empty.
//
// Images of 1 channel become 8-bit grey PNG files, of 3 channels 8-bit RGB ones. A set of
// Pixels is written byte for byte, so ReadImageFolder reads back the same values; a set of
// Values has them rounded to the nearest of the 256 levels, round(v*255), which ReadImageFolder
// reads back as that level/255 (within 0.5/255 of v). The values are the set's, before any
// normalisation it records; a value outside [0, 1] is an error, as is a class without images
// (reading the folder back would number the classes differently) and class names that are not
// sorted, distinct, and usable as folder names.
func WriteImageFolder(set *ImageSet, dir string) error {
	if err := set.check(); err != nil {
		return fmt.Errorf("write image folder: %w", err)
	}
	if c := set.Channels(); c != 1 && c != 3 {
		return fmt.Errorf("write image folder: images of %d channels: PNG files hold 1 (grey) or 3 (RGB)", c)
	}
	names, err := classFolders(set)
	if err != nil {
		return fmt.Errorf("write image folder: %w", err)
	}
	if j := outsideUnit(set.Values); j >= 0 {
		n := set.size()
		return fmt.Errorf("write image folder: image %d, value %d is %g, outside [0, 1]: write the values before any scaling", j/n, j%n, set.Values[j])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write image folder: %w", err)
	}
	if entries, err := os.ReadDir(dir); err != nil {
		return fmt.Errorf("write image folder: %w", err)
	} else if len(entries) > 0 {
		return fmt.Errorf("write image folder: %s is not empty", dir)
	}
	for _, name := range names {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			return fmt.Errorf("write image folder: %w", err)
		}
	}
	width := len(strconv.Itoa(set.N - 1))
	enc := &png.Encoder{BufferPool: new(pngBuffer)} // one compressor for every file
	for i := range set.N {
		p := filepath.Join(dir, names[set.Labels[i]], fmt.Sprintf("%0*d.png", width, i))
		if err := writePNG(enc, p, toImage(set, i)); err != nil {
			return fmt.Errorf("write image folder: %w", err)
		}
	}
	return nil
}

// classFolders returns the folder name of each class of set.
func classFolders(set *ImageSet) ([]string, error) {
	classes := set.Classes
	if classes == 0 {
		classes = slices.Max(set.Labels) + 1
	}
	count := make([]int, classes)
	for _, l := range set.Labels {
		count[l]++
	}
	if k := slices.Index(count, 0); k >= 0 {
		return nil, fmt.Errorf("class %d has no images, so a folder reader would not see it and would number the classes after it differently", k)
	}
	if set.ClassNames == nil {
		names := make([]string, classes)
		width := len(strconv.Itoa(classes - 1))
		for k := range names {
			names[k] = fmt.Sprintf("%0*d", width, k)
		}
		return names, nil
	}
	for k, name := range set.ClassNames {
		switch {
		case name == "" || name == "." || name == ".." || isHidden(name) || strings.ContainsAny(name, `/\`+"\x00"):
			return nil, fmt.Errorf("class name %q cannot be a folder name", name)
		case k > 0 && name <= set.ClassNames[k-1]:
			return nil, fmt.Errorf("class names %q and %q are not in sorted order, so a folder reader would number the classes differently", set.ClassNames[k-1], name)
		}
	}
	return set.ClassNames, nil
}

// outsideUnit returns the index of the first value outside [0, 1], or -1.
func outsideUnit(v []float32) int {
	for i, x := range v {
		if !(x >= 0 && x <= 1) {
			return i
		}
	}
	return -1
}

// toImage returns image i of set as an 8-bit grey or RGB image.
func toImage(set *ImageSet, i int) image.Image {
	h, w, hw := set.H, set.W, set.H*set.W
	level := func(j int) uint8 {
		if set.Pixels != nil {
			return set.Pixels[i*set.size()+j]
		}
		return uint8(math.Round(float64(set.Values[i*set.size()+j]) * 255))
	}
	r := image.Rect(0, 0, w, h)
	if set.Channels() == 1 {
		g := image.NewGray(r)
		for j := range hw {
			g.Pix[j] = level(j)
		}
		return g
	}
	m := image.NewRGBA(r) // opaque: written as RGB without alpha
	for j := range hw {
		m.Pix[4*j], m.Pix[4*j+1], m.Pix[4*j+2], m.Pix[4*j+3] = level(j), level(hw+j), level(2*hw+j), 255
	}
	return m
}

func writePNG(enc *png.Encoder, path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = enc.Encode(f, img)
	return errors.Join(err, f.Close())
}

// pngBuffer keeps the PNG encoder's buffers (its compressor holds most of a megabyte) from
// one file to the next.
type pngBuffer struct{ b *png.EncoderBuffer }

func (p *pngBuffer) Get() *png.EncoderBuffer  { return p.b }
func (p *pngBuffer) Put(b *png.EncoderBuffer) { p.b = b }
