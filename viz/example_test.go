package viz_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/unroll-ml/unroll/viz"
)

func ExampleLines() {
	dir, err := os.MkdirTemp("", "viz")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Loss per epoch of a training run; X is nil, so epochs count from 1.
	path := filepath.Join(dir, "loss.png")
	err = viz.Lines(path, viz.LinePlot{
		Title:  "LeNet-5 on MNIST",
		XLabel: "epoch",
		YLabel: "cross-entropy loss",
		Series: []viz.Series{
			{Name: "train", Y: []float64{0.61, 0.18, 0.12, 0.09, 0.07}},
			{Name: "test", Y: []float64{0.21, 0.13, 0.10, 0.09, 0.08}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(path)
	fmt.Println("loss.png written:", err == nil)

	// An extension other than .png or .svg is an error.
	err = viz.Lines(filepath.Join(dir, "loss.jpg"), viz.LinePlot{Series: []viz.Series{{Y: []float64{1}}}})
	fmt.Println(err)
	// Output:
	// loss.png written: true
	// viz: lines loss.jpg: unknown file extension ".jpg" (want .png or .svg)
}

func ExampleImageGrid() {
	dir, err := os.MkdirTemp("", "viz")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The weight of a conv layer with 2 output channels, 1 input channel and
	// 3x3 kernels, shape (2, 1, 3, 3), flattened row-major.
	weight := []float64{
		-1, 0, 1, -2, 0, 2, -1, 0, 1, // a vertical edge detector
		-1, -2, -1, 0, 0, 0, 1, 2, 1, // a horizontal one
	}
	path := filepath.Join(dir, "kernels.png")
	err = viz.ImageGrid(path, viz.Grid{
		Title:  "conv1 kernels",
		Images: weight,
		N:      2, H: 3, W: 3,
		Cols:   1, // Cols = in channels: one output channel per row
		Titles: []string{"out 0", "out 1"},
		Colors: viz.Diverging,
		Norm:   viz.NormGlobal,
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(path)
	fmt.Println("kernels.png written:", err == nil)
	// Output:
	// kernels.png written: true
}
