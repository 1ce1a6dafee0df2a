// Command onnxw1 writes the W1 net of bench/WORKLOADS.md as an ONNX file exported by unroll
// (cnn.NewSmallCNN, weights drawn from -seed, onnx.Export), for the ONNX Runtime side of W1i:
// input "x", float32 (batch, 1, 28, 28) with a dynamic batch axis, output "y", float32
// (batch, 10), the names bench/ort/ort_w1i.js feeds and reads.
//
//	go run ./bench/onnxw1 -out w1.onnx [-seed 1] [-opset 17]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/onnx"
)

func main() {
	out := flag.String("out", "w1.onnx", "the ONNX file to write")
	seed := flag.Uint64("seed", 1, "seed of the random weights")
	opset := flag.Int("opset", onnx.Opset, fmt.Sprintf("ONNX opset version, %d to %d", onnx.MinOpset, onnx.Opset))
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "onnxw1: unexpected arguments %v\n", flag.Args())
		os.Exit(2)
	}
	net, err := cnn.NewSmallCNN(graph.NewParams(graph.Seed(*seed)))
	if err == nil {
		err = onnx.Export(net, *out, onnx.OpsetVersion(*opset))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "onnxw1:", err)
		os.Exit(1)
	}
	st, err := os.Stat(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "onnxw1:", err)
		os.Exit(1)
	}
	fmt.Printf("exported %s %d bytes (unroll, opset %d)\n", *out, st.Size(), *opset)
}
