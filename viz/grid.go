package viz

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Norm says which values set the colour range of an image in a Grid.
type Norm int

const (
	// NormPerImage stretches each image over the full colour range on its
	// own: best to see the pattern of each kernel or feature map.
	NormPerImage Norm = iota
	// NormGlobal uses one range for all images: best to compare strengths
	// across images.
	NormGlobal
)

// ColorMap maps a normalised value to a colour in a Grid.
type ColorMap int

const (
	// Gray maps the minimum to black and the maximum to white.
	Gray ColorMap = iota
	// Diverging maps 0 to white, negative values to blue and positive ones
	// to red, with the largest absolute value at full colour: the map for
	// signed weights, where the sign matters.
	Diverging
)

// Grid describes N images of H x W values laid out in rows of Cols.
type Grid struct {
	// Title is written above the grid; it may be empty.
	Title string
	// Images holds N*H*W values: image after image, each row-major.
	Images  []float64
	N, H, W int
	// Cols is the number of images per row; 0 means about sqrt(N). For a
	// conv layer's weight of shape (out, in, kH, kW), Cols = in puts one
	// output channel on each row.
	Cols int
	// Titles, when set, holds one short caption per image.
	Titles []string
	// Norm chooses per-image (the default) or global colour ranges.
	Norm Norm
	// Colors chooses Gray (the default) or Diverging.
	Colors ColorMap
	// Scale is the number of pixels (1/96 inch in SVG) drawn per value, in
	// each direction; 0 picks one that makes each image about 64 pixels
	// across, smaller if the picture would pass about 2000 pixels.
	Scale int
}

// Grid layout, in pixels (1/96 inch).
const (
	gridDPI      = 96
	gridMargin   = 8  // around the whole picture
	gridGap      = 2  // between the frames of neighbouring images
	gridTarget   = 64 // preferred size of an image's longer side
	gridMaxSide  = 2000
	gridMaxPixel = 64 << 20 // refuse pictures beyond 64 megapixels
)

var (
	frameColour  = color.RGBA{R: 150, G: 150, B: 150, A: 255}
	badColour    = color.RGBA{R: 255, G: 210, B: 0, A: 255} // NaN and infinities
	negColour    = [3]float64{33, 102, 172}                 // Diverging at -1
	posColour    = [3]float64{178, 24, 43}                  // Diverging at +1
	gridTextGray = color.Gray{Y: 60}
)

// ImageGrid draws the images of g side by side, each value an upscaled
// square pixel, each image framed by a thin gray line with a small gap
// between frames, under an optional title and with optional per-image
// captions, and writes the picture to path (.png or .svg). A line at the
// bottom tells how values map to colours. It is the picture of a conv
// layer's kernels (out*in images of kH x kW, Cols = in, Diverging) and of
// its feature maps for one input (C images of H x W, Gray), used by the CNN
// demos.
//
// NaN and infinite values are drawn in yellow and left out of the colour
// range. With Gray, an image whose values are all equal (over the range in
// use) is drawn mid-gray; with Diverging, zeros are always white.
//
// ImageGrid returns an error when the extension is neither .png nor .svg,
// N, H or W is not positive, Images does not hold N*H*W values, Titles is
// set but not of length N, Cols or Scale is negative, no value is finite,
// the picture would be larger than 64 megapixels, or the file cannot be
// written.
func ImageGrid(path string, g Grid) error {
	const kind = "image grid"
	format, err := formatOf(path)
	if err != nil {
		return plotError(kind, path, "%w", err)
	}
	if err := g.check(); err != nil {
		return plotError(kind, path, "%w", err)
	}
	lay, err := g.layout()
	if err != nil {
		return plotError(kind, path, "%w", err)
	}
	raster := g.raster(lay)
	var out io.WriterTo
	err = safely(func() {
		wPt, hPt := pxToPt(lay.width), pxToPt(lay.height)
		switch format {
		case formatPNG:
			c := vgimg.NewWith(vgimg.UseWH(wPt, hPt), vgimg.UseDPI(gridDPI))
			// Copy the pixels in directly: the canvas would resample a
			// drawn image and blur the edges of the upscaled values.
			draw.Draw(c.Image(), c.Image().Bounds(), raster, image.Point{}, draw.Src)
			g.drawText(vgdraw.New(c), lay)
			out = vgimg.PngCanvas{Canvas: c}
		default:
			c := vgsvg.New(wPt, hPt)
			c.DrawImage(vg.Rectangle{Max: vg.Point{X: wPt, Y: hPt}}, raster)
			g.drawText(vgdraw.New(c), lay)
			out = svgFixer{c}
		}
	})
	if err != nil {
		return plotError(kind, path, "%w", err)
	}
	if err := writeAtomic(path, out); err != nil {
		return plotError(kind, path, "%w", err)
	}
	return nil
}

// check validates the sizes and values of g.
func (g *Grid) check() error {
	if g.N <= 0 || g.H <= 0 || g.W <= 0 {
		return fmt.Errorf("grid: N, H and W must be positive, have N=%d H=%d W=%d", g.N, g.H, g.W)
	}
	if g.N > math.MaxInt32/g.H/g.W {
		return fmt.Errorf("grid: N=%d images of %dx%d values is too many", g.N, g.H, g.W)
	}
	if want := g.N * g.H * g.W; len(g.Images) != want {
		return fmt.Errorf("%d images of %dx%d need %d values, have %d", g.N, g.H, g.W, want, len(g.Images))
	}
	if g.Titles != nil && len(g.Titles) != g.N {
		return fmt.Errorf("%d titles for %d images", len(g.Titles), g.N)
	}
	if g.Cols < 0 {
		return fmt.Errorf("cols %d is negative", g.Cols)
	}
	if g.Scale < 0 {
		return fmt.Errorf("scale %d is negative", g.Scale)
	}
	switch g.Norm {
	case NormPerImage, NormGlobal:
	default:
		return fmt.Errorf("unknown norm %d", g.Norm)
	}
	switch g.Colors {
	case Gray, Diverging:
	default:
		return fmt.Errorf("unknown colour map %d", g.Colors)
	}
	for _, v := range g.Images {
		if finite(v) {
			return nil
		}
	}
	return fmt.Errorf("no finite values among %d", len(g.Images))
}

// gridLayout places the parts of the picture, in pixels from the top left.
type gridLayout struct {
	width, height int
	cols, rows    int
	scale         int
	slotW         int // width of one column: the framed image or its caption
	imgW, imgH    int // an image with its frame
	titleH        int // the heading, 0 if none
	captionH      int // a per-image caption, 0 if none
	footerH       int
	footer        string
}

// Text styles of the grid: heading, per-image captions, footer.
func gridStyle(size vg.Length) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, size),
		Handler: plot.DefaultTextHandler,
		XAlign:  text.XCenter,
		YAlign:  text.YTop,
	}
}

var (
	headingStyle = gridStyle(12)
	captionStyle = gridStyle(9)
	footerStyle  = gridStyle(9)
)

func pxToPt(px int) vg.Length { return vg.Length(float64(px) * 72 / gridDPI) }

func ptToPx(l vg.Length) int { return int(math.Ceil(float64(l) * gridDPI / 72)) }

// layout sizes the picture: the scale, the columns, the text rows.
func (g *Grid) layout() (gridLayout, error) {
	var lay gridLayout
	lay.cols = g.Cols
	if lay.cols == 0 {
		lay.cols = int(math.Ceil(math.Sqrt(float64(g.N))))
	}
	lay.cols = min(lay.cols, g.N)
	lay.rows = (g.N + lay.cols - 1) / lay.cols

	var capW int
	if g.Titles != nil {
		for _, t := range g.Titles {
			capW = max(capW, ptToPx(captionStyle.Width(t))*11/10)
		}
		lay.captionH = ptToPx(captionStyle.Height("Mg")) + 2
	}
	if g.Title != "" {
		lay.titleH = ptToPx(headingStyle.Height(g.Title)) + 6
	}
	lay.footer = g.footer()
	lay.footerH = ptToPx(footerStyle.Height(lay.footer)) + 4

	side := max(g.H, g.W)
	size := func(scale int) (w, h int) {
		imgW, imgH := g.W*scale+2, g.H*scale+2
		slotW := max(imgW, capW+4)
		w = 2*gridMargin + lay.cols*slotW + (lay.cols-1)*gridGap
		h = 2*gridMargin + lay.titleH + lay.rows*(lay.captionH+imgH) + (lay.rows-1)*gridGap + lay.footerH
		return w, h
	}
	lay.scale = g.Scale
	if lay.scale == 0 {
		lay.scale = max(1, (gridTarget+side-1)/side)
		for lay.scale > 1 {
			w, h := size(lay.scale)
			if w <= gridMaxSide && h <= gridMaxSide {
				break
			}
			lay.scale--
		}
	}
	if side > gridMaxPixel/lay.scale {
		return lay, fmt.Errorf("scale %d is too large for %dx%d images", lay.scale, g.H, g.W)
	}
	lay.imgW, lay.imgH = g.W*lay.scale+2, g.H*lay.scale+2
	lay.slotW = max(lay.imgW, capW+4)
	lay.width, lay.height = size(lay.scale)
	// Text gets a tenth more room than measured, for viewers of the SVG
	// that lack the font and fall back to a wider one.
	textW := max(ptToPx(headingStyle.Width(g.Title)), ptToPx(footerStyle.Width(lay.footer)))*11/10 + 2*gridMargin
	lay.width = max(lay.width, textW)
	if lay.width > gridMaxPixel/lay.height {
		return lay, fmt.Errorf("picture of %dx%d pixels is too large; lower Scale or change Cols", lay.width, lay.height)
	}
	return lay, nil
}

// slot returns the top left pixel of the i-th framed image.
func (lay gridLayout) slot(i int) (x, y int) {
	r, c := i/lay.cols, i%lay.cols
	x = gridMargin + c*(lay.slotW+gridGap) + (lay.slotW-lay.imgW)/2
	y = gridMargin + lay.titleH + r*(lay.captionH+lay.imgH+gridGap) + lay.captionH
	return x, y
}

// ranges returns the value range of each image: its own or the global one.
func (g *Grid) ranges() (lo, hi []float64) {
	n := g.H * g.W
	lo, hi = make([]float64, g.N), make([]float64, g.N)
	for i := range g.N {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
		for _, v := range g.Images[i*n : (i+1)*n] {
			if finite(v) {
				lo[i], hi[i] = math.Min(lo[i], v), math.Max(hi[i], v)
			}
		}
	}
	if g.Norm == NormGlobal {
		glo, ghi := math.Inf(1), math.Inf(-1)
		for i := range g.N {
			glo, ghi = math.Min(glo, lo[i]), math.Max(ghi, hi[i])
		}
		for i := range g.N {
			lo[i], hi[i] = glo, ghi
		}
	}
	return lo, hi
}

// colour maps v to a colour within the range [lo, hi].
func (g *Grid) colour(v, lo, hi float64) color.RGBA {
	if !finite(v) {
		return badColour
	}
	if g.Colors == Diverging {
		m := math.Max(math.Abs(lo), math.Abs(hi))
		if m == 0 {
			return color.RGBA{R: 255, G: 255, B: 255, A: 255}
		}
		t := math.Max(-1, math.Min(1, v/m))
		end := posColour
		if t < 0 {
			end, t = negColour, -t
		}
		mix := func(e float64) uint8 { return uint8(math.Round(255 + t*(e-255))) }
		return color.RGBA{R: mix(end[0]), G: mix(end[1]), B: mix(end[2]), A: 255}
	}
	t := 0.5
	if hi > lo {
		t = (v - lo) / (hi - lo)
	}
	y := uint8(math.Round(255 * math.Max(0, math.Min(1, t))))
	return color.RGBA{R: y, G: y, B: y, A: 255}
}

// raster paints the framed, upscaled images on a white picture.
func (g *Grid) raster(lay gridLayout) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, lay.width, lay.height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	lo, hi := g.ranges()
	n, s := g.H*g.W, lay.scale
	for i := range g.N {
		x0, y0 := lay.slot(i)
		frame := image.Rect(x0, y0, x0+lay.imgW, y0+lay.imgH)
		draw.Draw(img, frame, image.NewUniform(frameColour), image.Point{}, draw.Src)
		for r := range g.H {
			for c := range g.W {
				v := g.Images[i*n+r*g.W+c]
				px := image.Rect(x0+1+c*s, y0+1+r*s, x0+1+(c+1)*s, y0+1+(r+1)*s)
				draw.Draw(img, px, image.NewUniform(g.colour(v, lo[i], hi[i])), image.Point{}, draw.Src)
			}
		}
	}
	return img
}

// footer explains the colours.
func (g *Grid) footer() string {
	var s string
	switch {
	case g.Colors == Gray && g.Norm == NormPerImage:
		s = "each image from its min (black) to its max (white)"
	case g.Colors == Gray:
		lo, hi := g.ranges()
		s = fmt.Sprintf("black = %.3g, white = %.3g", lo[0], hi[0])
	case g.Norm == NormPerImage:
		s = "each image: white = 0, red/blue = its largest |value|"
	default:
		lo, hi := g.ranges()
		m := math.Max(math.Abs(lo[0]), math.Abs(hi[0]))
		s = fmt.Sprintf("blue = %.3g, white = 0, red = %.3g", -m, m)
	}
	for _, v := range g.Images {
		if !finite(v) {
			return s + "; yellow = NaN or infinite"
		}
	}
	return s
}

// drawText writes the heading, the captions and the footer on c, whose
// coordinates are in points from the bottom left.
func (g *Grid) drawText(c vgdraw.Canvas, lay gridLayout) {
	at := func(xPx, yPx int) vg.Point {
		return vg.Point{X: pxToPt(xPx), Y: pxToPt(lay.height - yPx)}
	}
	if g.Title != "" {
		c.FillText(headingStyle, at(lay.width/2, gridMargin), g.Title)
	}
	for i, t := range g.Titles {
		x, y := lay.slot(i)
		sty := captionStyle
		sty.Color = gridTextGray
		c.FillText(sty, at(x+lay.imgW/2, y-lay.captionH), t)
	}
	sty := footerStyle
	sty.Color = gridTextGray
	c.FillText(sty, at(lay.width/2, lay.height-gridMargin-lay.footerH+4), lay.footer)
}
