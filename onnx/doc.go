// Package onnx writes models built from unroll's layers as ONNX files, the exchange format that
// ONNX Runtime, browsers, phones and accelerators read.
//
// Start with Model: NewModel takes the model's parameters, Input declares a graph input (its
// batch axis dynamic, nodes.ONNXBatch), Layer and Layers write layers in order, Output names the
// results, Save writes the file. Each layer says how it exports through the small interface
// nodes.Exporter: Model implements nodes.ONNXGraph (add an initializer, add a node, fresh
// names) and the layer adds the ONNX operators that compute its evaluation-mode Forward, so no
// operation's insides leak into this package. A layer without an export rule is an error that
// names it. Recurrent layers (stacked, bidirectional LSTM, GRU and RNN cells) are written by
// nodes.ExportRecurrentONNX as ONNX LSTM, GRU and RNN nodes.
//
// Files use ONNX opset 17 (IR version 8): the newest opset that both ONNX 1.12's checker and
// ONNX Runtime 1.16 know, and one that has every operator the layers need in its current form
// (Softmax over one axis, BatchNormalization without training outputs, Slice and Reshape with
// tensor inputs). Float values are written as float32, whatever the parameters' dtype.
//
// The protobuf messages are generated from ONNX's onnx.proto (package internal/onnxpb, with
// generate.sh naming the pinned generator versions). The tests run every exported layer in
// ONNX Runtime and compare it with unroll's own forward pass (see testdata/run_ort.js).
package onnx
