package data

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// FolderOption configures ReadImageFolder.
type FolderOption func(*folderConfig)

type folderConfig struct {
	channels int
	resize   bool
	h, w     int
}

// Channels sets the channels of the images read: 3 (RGB, the default, as torchvision's
// ImageFolder, whose loader converts every image to RGB) or 1 (grey). A grey image read with
// 3 channels has three equal channels; a colour image read with 1 becomes its luma, as
// torchvision's transforms.Grayscale computes it on a PIL image (PIL's convert("L")):
//
//	L = (19595 R + 38470 G + 7471 B + 32768) >> 16
//
// on 8-bit values, that is 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2) rounded to 8 bits; on
// 16-bit values the same weights without rounding.
func Channels(c int) FolderOption { return func(cfg *folderConfig) { cfg.channels = c } }

// Resize resizes every image to h x w pixels by bilinear interpolation with half-pixel
// centres, as torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
// antialias=False), or torchvision's transforms.Resize((h, w), antialias=False) on a tensor:
// output pixel (y, x) samples the input at ((y+0.5)*H/h - 0.5, (x+0.5)*W/w - 0.5), clamped
// to the image, from its four nearest pixels. Shrinking by more than a factor 2 therefore
// skips pixels (no antialiasing; PIL's resize, which torchvision uses on PIL images, averages
// them, so values differ). Images already h x w are unchanged. Without Resize every image
// must have the size of the first.
func Resize(h, w int) FolderOption {
	return func(cfg *folderConfig) { cfg.resize, cfg.h, cfg.w = true, h, w }
}

// ReadImageFolder reads a folder of PNG and JPEG images with one sub-folder per class, as
// torchvision's ImageFolder does:
//
//	dir/cat/001.png
//	dir/cat/002.jpg
//	dir/dog/a/001.png
//
// The classes are the sub-folders of dir, sorted by name (byte-wise); a class's index in that
// order is its label, and ClassNames holds the names. Each class folder is read with its own
// sub-folders, in the order of torchvision (folders sorted by path, each folder's files by
// name), so the order of the images, which Files records, is deterministic.
//
// Files and folders whose names start with a dot (.DS_Store, .git) are skipped, and so are
// plain files directly in dir. Every other file in a class folder must have the extension
// .png, .jpg or .jpeg (any case) and hold a PNG or JPEG image: any other file is an error
// naming it, so that an image in a format this reader does not know (.gif, .bmp, .webp) is
// never left out silently. A class folder without images, a dir without class folders, an
// unreadable or damaged image and, without Resize, an image whose size differs from the
// first image's are errors that name the files.
//
// The set holds float32 Values in [0, 1] (8-bit values v as v/255, 16-bit as v/65535) in
// the channels of the Channels option, resized by the Resize option, and records no
// normalisation (see ChannelStats and ImageSet.Normalize). Colours are read without alpha,
// as PIL's convert("RGB") does. JPEG files are decoded by Go's decoder, whose values can
// differ from libjpeg's (PIL, torchvision) by a level of 255 or two.
func ReadImageFolder(dir string, opts ...FolderOption) (*ImageSet, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("image folder: %s is not a directory", dir)
	}
	return readImageFolder(os.DirFS(dir), ".", func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }, opts)
}

// ReadImageFolderFS is ReadImageFolder reading directory dir of a file system, such as an
// embed.FS or an fstest.MapFS.
func ReadImageFolderFS(fsys fs.FS, dir string, opts ...FolderOption) (*ImageSet, error) {
	return readImageFolder(fsys, dir, func(p string) string { return p }, opts)
}

// folderFile is one image file of a class.
type folderFile struct {
	path  string // in the file system
	label int
}

func readImageFolder(fsys fs.FS, dir string, shown func(string) string, opts []FolderOption) (*ImageSet, error) {
	cfg := folderConfig{channels: 3}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.channels != 1 && cfg.channels != 3 {
		return nil, fmt.Errorf("image folder: %d channels: need 1 (grey) or 3 (RGB)", cfg.channels)
	}
	if cfg.resize && (cfg.h < 1 || cfg.w < 1 || cfg.w > maxImagePixels/cfg.h) {
		return nil, fmt.Errorf("image folder: resize to %dx%d: need 1 to %d pixels", cfg.h, cfg.w, maxImagePixels)
	}
	classes, err := listClasses(fsys, dir, shown)
	if err != nil {
		return nil, err
	}
	var files []folderFile
	for label, name := range classes {
		paths, err := listImages(fsys, path.Join(dir, name), shown)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			files = append(files, folderFile{p, label})
		}
	}
	set := &ImageSet{N: len(files), C: cfg.channels, H: cfg.h, W: cfg.w, Classes: len(classes), ClassNames: classes,
		Labels: make([]int, 0, len(files)), Files: make([]string, 0, len(files))}
	if cfg.resize {
		set.Values = make([]float32, 0, len(files)*cfg.channels*cfg.h*cfg.w)
	}
	for i, f := range files {
		name := shown(f.path)
		b, err := fs.ReadFile(fsys, f.path)
		if err != nil {
			return nil, fmt.Errorf("image folder: %w", showPath(err, shown))
		}
		v, h, w, err := decodeImage(b, name, cfg.channels)
		if err != nil {
			return nil, fmt.Errorf("image folder: %w", err)
		}
		switch {
		case cfg.resize:
			v = resizeBilinear(v, cfg.channels, h, w, cfg.h, cfg.w)
		case i == 0:
			set.H, set.W = h, w
			set.Values = make([]float32, 0, len(files)*len(v))
		case h != set.H || w != set.W:
			return nil, fmt.Errorf("image folder: %s has %dx%d pixels (height x width) but %s has %dx%d: the images differ in size; read them with Resize",
				set.Files[0], set.H, set.W, name, h, w)
		}
		set.Values = append(set.Values, v...)
		set.Labels = append(set.Labels, f.label)
		set.Files = append(set.Files, name)
	}
	return set, nil
}

// isHidden reports whether a file or folder name starts with a dot.
func isHidden(name string) bool { return strings.HasPrefix(name, ".") }

// listClasses returns the names of the class folders of dir, sorted.
func listClasses(fsys fs.FS, dir string, shown func(string) string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", showPath(err, shown))
	}
	var classes []string
	for _, e := range entries {
		if isHidden(e.Name()) {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 { // a link to a folder is a class, as os.scandir sees it
			fi, err := fs.Stat(fsys, path.Join(dir, e.Name()))
			isDir = err == nil && fi.IsDir()
		}
		if isDir {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("image folder: %s has no class folders: put the images of each class in a sub-folder named after it", shown(dir))
	}
	slices.Sort(classes)
	return classes, nil
}

// imageExtensions are the extensions of the files ReadImageFolder reads, in lower case.
var imageExtensions = []string{".png", ".jpg", ".jpeg"}

// listImages returns the image files of a class folder and its sub-folders in torchvision's
// order: folders sorted by path, the files of each sorted by name.
func listImages(fsys fs.FS, dir string, shown func(string) string) ([]string, error) {
	var paths []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && isHidden(d.Name()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !slices.Contains(imageExtensions, strings.ToLower(path.Ext(p))) {
			return fmt.Errorf("%s is not a PNG or JPEG file (.png, .jpg, .jpeg); move it out of the class folder, or hide it with a name that starts with a dot", shown(p))
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", showPath(err, shown))
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("image folder: class folder %s holds no PNG or JPEG images", shown(dir))
	}
	slices.SortFunc(paths, func(a, b string) int {
		return cmp.Or(strings.Compare(path.Dir(a), path.Dir(b)), strings.Compare(path.Base(a), path.Base(b)))
	})
	return paths, nil
}

// showPath replaces the path of a *fs.PathError by the one shown to the user.
func showPath(err error, shown func(string) string) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return &fs.PathError{Op: pe.Op, Path: shown(pe.Path), Err: pe.Err}
	}
	return err
}
