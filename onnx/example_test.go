package onnx_test

import (
	"fmt"
	"os"
	"path/filepath"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx"
)

// A small CNN written from layers, exported to one ONNX file that runs any batch size: the
// model's parameters become initializers under their own names, each layer one or two ONNX
// nodes. In ONNX Runtime (Python) the file runs as
//
//	ort.InferenceSession("cnn.onnx").run(None, {"images": x})  # x: float32 (B, 1, 8, 8)
func ExampleModel() {
	ps := graph.NewParams(graph.Seed(1))
	conv, err := nodes.NewConv2D(ps, "conv1", 1, 4, 3, nodes.Padding(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	pool, err := nodes.NewMaxPool2D("pool1", 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fc, err := nodes.NewDense(ps, "fc1", 4*4*4, 10)
	if err != nil {
		fmt.Println(err)
		return
	}

	m := onnx.NewModel(ps, "cnn")
	x, err := m.Input("images", tensor.Float32, nodes.ONNXBatch, 1, 8, 8)
	if err != nil {
		fmt.Println(err)
		return
	}
	y, err := m.Layers(x, conv, nodes.ReLU, pool, nodes.Flatten, fc)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := m.Output("logits", y); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(m)

	dir, err := os.MkdirTemp("", "onnx-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if err := m.Save(filepath.Join(dir, "cnn.onnx")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("saved cnn.onnx, opset", onnx.Opset)
	// Output:
	// input images float32 (batch, 1, 8, 8)
	// Conv(images, conv1.weight, conv1.bias) -> conv1
	// Relu(conv1) -> relu
	// MaxPool(relu) -> pool1
	// Flatten(pool1) -> flatten
	// Gemm(flatten, fc1.weight, fc1.bias) -> fc1
	// Identity(fc1) -> logits
	// output logits float32 (batch, 10)
	// saved cnn.onnx, opset 17
}
