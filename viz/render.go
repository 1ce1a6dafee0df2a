package viz

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// DPI is the resolution of PNG charts: at 150 dots per inch the default
// 6x4 inch chart is 900x600 pixels. (ImageGrid sizes its pictures in pixels
// instead; SVG output is vector.)
const DPI = 150

// Default chart size in inches, used when a plot leaves Width or Height zero.
const (
	DefaultWidth  = 6.0
	DefaultHeight = 4.0
)

// Output formats, chosen by the file extension of the path.
const (
	formatPNG = "png"
	formatSVG = "svg"
)

// plotError builds the error of one plotting call: it names the function
// (kind) and the file, then the problem.
func plotError(kind, path, format string, args ...any) error {
	return fmt.Errorf("viz: %s %s: "+format, append([]any{kind, filepath.Base(path)}, args...)...)
}

// formatOf returns the output format for path, from its extension.
func formatOf(path string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".png":
		return formatPNG, nil
	case ".svg":
		return formatSVG, nil
	case "":
		return "", fmt.Errorf("path %q has no file extension (want .png or .svg)", path)
	}
	return "", fmt.Errorf("unknown file extension %q (want .png or .svg)", ext)
}

// chartSize checks a width and height in inches, filling in the defaults for
// zero values.
func chartSize(w, h float64) (vg.Length, vg.Length, error) {
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	if !(w > 0 && h > 0 && w <= 100 && h <= 100) {
		return 0, 0, fmt.Errorf("size %gx%g in is out of range (0, 100] inches", w, h)
	}
	return vg.Length(w) * vg.Inch, vg.Length(h) * vg.Inch, nil
}

// savePlot draws p on a w x h canvas of the given format and writes it to
// path atomically.
func savePlot(p *plot.Plot, w, h vg.Length, format, path string) error {
	var out io.WriterTo
	err := safely(func() {
		// A small margin keeps the axes and the last tick label off the
		// edge of the picture.
		margin := func(c draw.Canvas) draw.Canvas {
			return draw.Crop(c, vg.Points(4), -vg.Points(12), vg.Points(4), -vg.Points(8))
		}
		switch format {
		case formatPNG:
			c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI))
			p.Draw(margin(draw.New(c)))
			out = vgimg.PngCanvas{Canvas: c}
		default:
			c := vgsvg.New(w, h)
			p.Draw(margin(draw.New(c)))
			out = svgFixer{c}
		}
	})
	if err != nil {
		return err
	}
	return writeAtomic(path, out)
}

// svgFixer mends two details of the SVG that gonum/plot writes: it names
// fallback fonts after Liberation Serif (Times New Roman has the same
// metrics, so text keeps the width the layout measured), and it labels
// embedded pictures as the PNG they are and asks viewers to upscale them
// without smoothing.
type svgFixer struct{ wt io.WriterTo }

var svgFixes = strings.NewReplacer(
	"font-family:Liberation Serif;", "font-family:'Liberation Serif','Times New Roman',Times,serif;",
	`<image `, `<image style="image-rendering:pixelated" `,
	"data:image/jpg;base64,", "data:image/png;base64,",
)

// WriteTo implements io.WriterTo.
func (f svgFixer) WriteTo(w io.Writer) (int64, error) {
	var buf bytes.Buffer
	if _, err := f.wt.WriteTo(&buf); err != nil {
		return 0, err
	}
	n, err := svgFixes.WriteString(w, buf.String())
	return int64(n), err
}

// safely runs f and turns a panic inside the drawing library into an error,
// so that no input reaches the caller as a panic.
func safely(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing failed: %v", r)
		}
	}()
	f()
	return nil
}

// writeAtomic writes the output of wt to path through a temporary file in
// the same directory, which is synced and then renamed over path: a reader
// never sees a half-written picture, and a failed write leaves any old file
// in place.
func writeAtomic(path string, wt io.WriterTo) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriter(f)
	if _, err = wt.WriteTo(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
