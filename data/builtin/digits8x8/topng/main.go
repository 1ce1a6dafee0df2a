// Command topng writes the built-in 8x8 digits (builtin.Digits8x8) as PNG files, one folder
// per digit, in the layout data.ReadImageFolder reads, for training through the folder
// reader as with one's own images:
//
//	go run github.com/unroll-ml/unroll/data/builtin/digits8x8/topng -out DIR
//
// writes DIR/train/0/0000.png ... DIR/train/9/1436.png (the 1,437 training images) and
// DIR/test/0/000.png ... (the 360 test images), each file named by the image's index in its
// set. The images are 8x8 8-bit grey PNG files: a pixel count c in 0..16 becomes the level
// round(c*255/16), which ReadImageFolder reads back within 0.5/255 of c/16. DIR must not hold
// train or test folders with files in them.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
)

func main() {
	out := flag.String("out", "digits8x8", "the folder to write train/ and test/ into")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "topng: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "topng:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(*out, "train"), filepath.Join(*out, "test"))
}

// run writes the training and test sets under out.
func run(out string) error {
	train, test, err := builtin.Digits8x8()
	if err != nil {
		return err
	}
	if err := data.WriteImageFolder(train, filepath.Join(out, "train")); err != nil {
		return err
	}
	return data.WriteImageFolder(test, filepath.Join(out, "test"))
}
