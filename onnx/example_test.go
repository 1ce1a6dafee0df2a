package onnx_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/models/rnn"
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
	y, err := m.Layers(x, conv, nodes.ReLU{}, pool, nodes.Flatten{}, fc)
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

// A two-layer bidirectional LSTM (models/rnn's Recurrent) exported as two ONNX LSTM nodes: the
// sequence comes in batch-major (B, T, In), is turned sequence-major for the LSTM nodes, and
// goes out as (B, T, 2·H) with the final states (layers·directions, B, H) beside it. The
// initial state is an input, h0 and c0, as PyTorch's nn.LSTM takes it.
func Example_recurrent() {
	ps := graph.NewParams(graph.Seed(1))
	lstm, err := rnn.NewRecurrent(ps, "lstm", rnn.LSTM, 3, 8, rnn.Layers(2), rnn.Bidirectional())
	if err != nil {
		fmt.Println(err)
		return
	}
	var cells [][]nodes.Cell // one row per layer: the forward cell, then the backward one
	for l := 0; l < lstm.Layers(); l++ {
		cells = append(cells, lstm.Cells()[2*l:2*l+2])
	}

	m := onnx.NewModel(ps, "lstm")
	x, err := m.Input("x", tensor.Float32, nodes.ONNXBatch, 20, 3) // (B, T, In)
	var h0, c0 nodes.ONNXValue
	if err == nil {
		h0, err = m.Input("h0", tensor.Float32, 4, nodes.ONNXBatch, 8) // (layers·directions, B, H)
	}
	if err == nil {
		c0, err = m.Input("c0", tensor.Float32, 4, nodes.ONNXBatch, 8)
	}
	var out nodes.ONNXRecurrent
	if err == nil {
		out, err = nodes.ExportRecurrentONNX(m, cells, x, h0, c0)
	}
	for _, o := range []struct {
		name string
		v    nodes.ONNXValue
	}{{"y", out.Y}, {"h_n", out.H}, {"c_n", out.C}} {
		if err == nil {
			err = m.Output(o.name, o.v)
		}
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(m)
	// Output:
	// input x float32 (batch, 20, 3)
	// input h0 float32 (4, batch, 8)
	// input c0 float32 (4, batch, 8)
	// Transpose(x) -> lstm.time_major
	// Slice(h0, h0.lstm_l0.starts, h0.lstm_l0.ends, h0.lstm_l0.axes) -> h0.lstm_l0
	// Slice(c0, c0.lstm_l0.starts, c0.lstm_l0.ends, c0.lstm_l0.axes) -> c0.lstm_l0
	// LSTM(lstm.time_major, lstm_l0.W, lstm_l0.R, lstm_l0.B, , h0.lstm_l0, c0.lstm_l0) -> lstm_l0.Y, lstm_l0.Y_h, lstm_l0.Y_c
	// Transpose(lstm_l0.Y) -> lstm_l0.next.transpose
	// Reshape(lstm_l0.next.transpose, lstm_l0.next.shape) -> lstm_l0.next
	// Slice(h0, h0.lstm_l1.starts, h0.lstm_l1.ends, h0.lstm_l1.axes) -> h0.lstm_l1
	// Slice(c0, c0.lstm_l1.starts, c0.lstm_l1.ends, c0.lstm_l1.axes) -> c0.lstm_l1
	// LSTM(lstm_l0.next, lstm_l1.W, lstm_l1.R, lstm_l1.B, , h0.lstm_l1, c0.lstm_l1) -> lstm_l1.Y, lstm_l1.Y_h, lstm_l1.Y_c
	// Transpose(lstm_l1.Y) -> lstm.y.transpose
	// Reshape(lstm.y.transpose, lstm.y.shape) -> lstm.y
	// Concat(lstm_l0.Y_h, lstm_l1.Y_h) -> lstm.h_n
	// Concat(lstm_l0.Y_c, lstm_l1.Y_c) -> lstm.c_n
	// Identity(lstm.y) -> y
	// Identity(lstm.h_n) -> h_n
	// Identity(lstm.c_n) -> c_n
	// output y float32 (batch, 20, 16)
	// output h_n float32 (4, batch, 8)
	// output c_n float32 (4, batch, 8)
}

// LeNet-5, a nodes.Sequential, exported with Export as PyTorch's torch.onnx.export would: one
// file for any batch size, input "x" and output "y". Convert gives the same graph in memory;
// its String lists the inputs, the nodes and the outputs. A trained cnn.Classifier exports the
// same way, with the input "images", its normalisation in the graph and the output "logits".
// In ONNX Runtime (Node.js) the file runs as
//
//	const s = await ort.InferenceSession.create('lenet5.onnx');
//	const {y} = await s.run({x: new ort.Tensor('float32', pixels, [n, 1, 28, 28])});
func ExampleExport() {
	net, err := cnn.NewLeNet5(graph.NewParams(graph.Seed(1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "onnx-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if err := onnx.Export(net, filepath.Join(dir, "lenet5.onnx")); err != nil {
		fmt.Println(err)
		return
	}
	m, err := onnx.Convert(net)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(m)
	// Output:
	// input x float32 (batch, 1, 28, 28)
	// Conv(x, conv1.weight, conv1.bias) -> conv1
	// Relu(conv1) -> relu
	// MaxPool(relu) -> pool1
	// Conv(pool1, conv2.weight, conv2.bias) -> conv2
	// Relu(conv2) -> relu_2
	// MaxPool(relu_2) -> pool2
	// Flatten(pool2) -> flatten
	// Gemm(flatten, fc1.weight, fc1.bias) -> fc1
	// Relu(fc1) -> relu_3
	// Gemm(relu_3, fc2.weight, fc2.bias) -> fc2
	// Relu(fc2) -> relu_4
	// Gemm(relu_4, fc3.weight, fc3.bias) -> fc3
	// Identity(fc3) -> y
	// output y float32 (batch, 10)
}

// A character language model exported with Export: token ids and the initial state in, the
// scores of the next character and the final state out, so that a runtime generates text by
// feeding each call's h_n and c_n to the next. The vocabulary is in the file's metadata.
func ExampleExport_languageModel() {
	vocab, err := data.NewCharVocab("the whale")
	if err != nil {
		fmt.Println(err)
		return
	}
	lm, err := rnn.NewLanguageModel(graph.NewParams(graph.Seed(1)), "", vocab, rnn.Config{Kind: rnn.LSTM, Hidden: 16, Layers: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := onnx.Convert(lm)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(m.String(), "\n") {
		if strings.HasPrefix(line, "input ") || strings.HasPrefix(line, "output ") {
			fmt.Println(line)
		}
	}
	// Output:
	// input ids int64 (batch, steps)
	// input h0 float32 (2, batch, 16)
	// input c0 float32 (2, batch, 16)
	// output logits float32 (batch, steps, 8)
	// output h_n float32 (2, batch, 16)
	// output c_n float32 (2, batch, 16)
}
