// Package onnx writes models built from unroll's layers as ONNX files, the exchange format that
// ONNX Runtime, browsers, phones and accelerators read.
//
// Start with Export, PyTorch's torch.onnx.export for unroll: Export(model, "model.onnx") writes
// a nodes.Sequential, a cnn.Classifier (its input normalisation written into the graph), an
// rnn.Net or an rnn.LanguageModel (ids and initial state in, logits and final state out) as
// one file whose batch axis, and time axis for sequences, is dynamic. Each model documents the
// names and shapes of its inputs and outputs (its ExportONNXModel method, and Export below);
// Convert gives the same graph in memory, whose String lists its nodes.
//
// Underneath, Model is the graph being written: NewModel takes the model's parameters, Input
// declares a graph input (its batch axis dynamic, nodes.ONNXBatch; a sequence's time axis,
// nodes.ONNXSteps), Layer and Layers write layers in order, Output names the results, Save
// writes the file. Each layer says how it exports through the small interface
// nodes.Exporter, and a whole model through nodes.ModelExporter: Model implements
// nodes.ONNXModelGraph (add an initializer, add a node, declare inputs and outputs, fresh
// names) and the layer adds the ONNX operators that compute its evaluation-mode Forward, so no
// operation's insides leak into this package. A layer without an export rule is an error that
// names it. Recurrent layers (stacked, bidirectional LSTM, GRU and RNN cells) are written by
// nodes.ExportRecurrentONNX as ONNX LSTM, GRU and RNN nodes.
//
// Files use ONNX opset 17 (IR version 8) unless OpsetVersion asks for 13 to 16: opset 17 is
// the newest that both ONNX 1.12's checker (up to 17) and ONNX Runtime 1.16 (up to 19) know,
// and every operator the layers write has the same form from opset 13 on (Softmax over one
// axis since 13; LSTM, GRU and BatchNormalization gained only attributes unroll does not use).
// Float values are written as float32, whatever the parameters' dtype.
//
// The protobuf messages are generated from ONNX's onnx.proto (package internal/onnxpb, with
// generate.sh naming the pinned generator versions). The tests run every exported layer and
// model in ONNX Runtime and compare it with unroll's own forward pass, and pass every file
// through ONNX's checker; they skip unless both are installed (CI installs them, and fails
// instead of skipping):
//
//	apt-get install python3-onnx     # the checker, for /usr/bin/python3
//	npm install --no-save --prefix /tmp/ort onnxruntime-node@1.16.3
//	NODE_PATH=/tmp/ort/node_modules go test ./onnx/
package onnx
