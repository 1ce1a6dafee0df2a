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
// Files use ONNX opset 17 (IR version 8): the newest opset that both ONNX 1.12's checker (up
// to 17) and ONNX Runtime 1.16 (up to 19) know, with every operator the layers need in its
// current form (Softmax over one axis since opset 13, LSTM and GRU 14, BatchNormalization 15).
// Float values are written as float32, whatever the parameters' dtype.
//
// The protobuf messages are generated from ONNX's onnx.proto (package internal/onnxpb, with
// generate.sh naming the pinned generator versions). The tests run every exported layer in
// ONNX Runtime and compare it with unroll's own forward pass, and pass every file through ONNX's
// checker; they skip unless both are installed (CI installs them):
//
//	apt-get install python3-onnx     # the checker, for /usr/bin/python3
//	npm install --no-save --prefix /tmp/ort onnxruntime-node@1.16.3
//	NODE_PATH=/tmp/ort/node_modules go test ./onnx/
package onnx
