package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers the JPEG decoder
	_ "image/png"  // registers the PNG decoder
	"math"
)

// maxImagePixels bounds the pixels of one image file, checked from its header before it is
// decoded, so that a damaged or hostile header cannot make the decoder allocate gigabytes.
const maxImagePixels = 1 << 24 // 4096 x 4096

// decodeImage decodes a PNG or JPEG file into c channels (1 or 3) of float32 values in
// [0, 1], channel-major (CHW); name is used in error messages.
func decodeImage(b []byte, name string, c int) (values []float32, h, w int, err error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: not a readable PNG or JPEG image: %w", name, err)
	}
	if format != "png" && format != "jpeg" {
		return nil, 0, 0, fmt.Errorf("%s: a %s image: only PNG and JPEG are read", name, format)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxImagePixels/max(cfg.Height, 1) {
		return nil, 0, 0, fmt.Errorf("%s: image of %dx%d pixels: need 1 to %d pixels", name, cfg.Width, cfg.Height, maxImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: damaged %s image: %w", name, format, err)
	}
	r := img.Bounds()
	if r.Dx() != cfg.Width || r.Dy() != cfg.Height {
		return nil, 0, 0, fmt.Errorf("%s: header says %dx%d pixels, image has %dx%d", name, cfg.Width, cfg.Height, r.Dx(), r.Dy())
	}
	return imageValues(img, c), r.Dy(), r.Dx(), nil
}

// imageValues returns the pixels of img as c channels (1 or 3) of float32 values in [0, 1],
// CHW. Colours are taken without premultiplied alpha, and alpha is dropped, as PIL's
// convert("RGB") does. 8-bit values v become v/255 and 16-bit ones v/65535; one channel from
// a colour image is its luma as PIL's convert("L") computes it (see ReadImageFolder).
func imageValues(img image.Image, c int) []float32 {
	r := img.Bounds()
	h, w := r.Dy(), r.Dx()
	out := make([]float32, c*h*w)
	rgb, deep := pixelReader(img)
	for y := range h {
		for x := range w {
			R, G, B := rgb(r.Min.X+x, r.Min.Y+y)
			i := y*w + x
			switch {
			case c == 3 && deep:
				out[i], out[h*w+i], out[2*h*w+i] = float32(float64(R)/65535), float32(float64(G)/65535), float32(float64(B)/65535)
			case c == 3:
				out[i], out[h*w+i], out[2*h*w+i] = pixelValue32[R], pixelValue32[G], pixelValue32[B]
			case R == G && G == B && deep:
				out[i] = float32(float64(R) / 65535)
			case R == G && G == B:
				out[i] = pixelValue32[R]
			case deep:
				out[i] = float32((19595*float64(R) + 38470*float64(G) + 7471*float64(B)) / 65536 / 65535)
			default:
				out[i] = pixelValue32[luma8(R, G, B)]
			}
		}
	}
	return out
}

// luma8 is PIL's conversion of 8-bit RGB to grey (ITU-R 601-2 luma in 16-bit fixed point,
// rounded): L = (19595 R + 38470 G + 7471 B + 32768) >> 16.
func luma8(r, g, b uint32) uint32 { return (19595*r + 38470*g + 7471*b + 1<<15) >> 16 }

// pixelReader returns a function giving the red, green and blue of a pixel without
// premultiplied alpha, as 8-bit values or, when deep, as 16-bit values.
func pixelReader(img image.Image) (rgb func(x, y int) (r, g, b uint32), deep bool) {
	switch m := img.(type) {
	case *image.Gray:
		return func(x, y int) (uint32, uint32, uint32) {
			v := uint32(m.GrayAt(x, y).Y)
			return v, v, v
		}, false
	case *image.Gray16:
		return func(x, y int) (uint32, uint32, uint32) {
			v := uint32(m.Gray16At(x, y).Y)
			return v, v, v
		}, true
	case *image.YCbCr:
		return func(x, y int) (uint32, uint32, uint32) {
			c := m.YCbCrAt(x, y)
			r, g, b := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
			return uint32(r), uint32(g), uint32(b)
		}, false
	case *image.NRGBA:
		return func(x, y int) (uint32, uint32, uint32) {
			c := m.NRGBAAt(x, y)
			return uint32(c.R), uint32(c.G), uint32(c.B)
		}, false
	case *image.NRGBA64, *image.RGBA64:
		return func(x, y int) (uint32, uint32, uint32) {
			c := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
			return uint32(c.R), uint32(c.G), uint32(c.B)
		}, true
	}
	// 8-bit sources: RGBA (premultiplied), Paletted, CMYK, and any other.
	return func(x, y int) (uint32, uint32, uint32) {
		c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
		return uint32(c.R), uint32(c.G), uint32(c.B)
	}, false
}

// resizeBilinear resizes c channels of h x w values (CHW) to oh x ow by bilinear
// interpolation with half-pixel centres, as torch.nn.functional.interpolate(mode="bilinear",
// align_corners=False, antialias=False): output pixel (y, x) samples the input at
// ((y+0.5)*h/oh - 0.5, (x+0.5)*w/ow - 0.5), clamped to the image.
func resizeBilinear(in []float32, c, h, w, oh, ow int) []float32 {
	if h == oh && w == ow {
		return in
	}
	ys, xs := bilinearTaps(h, oh), bilinearTaps(w, ow)
	out := make([]float32, c*oh*ow)
	for ch := range c {
		src := in[ch*h*w : (ch+1)*h*w]
		dst := out[ch*oh*ow : (ch+1)*oh*ow]
		for y, ty := range ys {
			r0, r1 := src[ty.i0*w:(ty.i0+1)*w], src[ty.i1*w:(ty.i1+1)*w]
			for x, tx := range xs {
				top := (1-tx.f)*float64(r0[tx.i0]) + tx.f*float64(r0[tx.i1])
				bottom := (1-tx.f)*float64(r1[tx.i0]) + tx.f*float64(r1[tx.i1])
				dst[y*ow+x] = float32((1-ty.f)*top + ty.f*bottom)
			}
		}
	}
	return out
}

// tap is where an output pixel samples one axis: between inputs i0 and i1, weight f on i1.
type tap struct {
	i0, i1 int
	f      float64
}

// bilinearTaps returns the taps of the n outputs of an axis of in inputs.
func bilinearTaps(in, n int) []tap {
	taps := make([]tap, n)
	scale := float64(in) / float64(n)
	for o := range taps {
		s := max((float64(o)+0.5)*scale-0.5, 0)
		i0 := min(int(math.Floor(s)), in-1)
		taps[o] = tap{i0: i0, i1: min(i0+1, in-1), f: s - float64(i0)}
	}
	return taps
}
