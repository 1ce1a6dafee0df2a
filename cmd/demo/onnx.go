package main

import (
	"fmt"
	"path/filepath"

	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx"
)

// writeONNX writes model as model.onnx in dir (onnx.Export) and returns the file's path.
func writeONNX(dir string, model nodes.ModelExporter) (string, error) {
	path := filepath.Join(dir, "model.onnx")
	if err := onnx.Export(model, path); err != nil {
		return "", err
	}
	return path, nil
}

// cnnONNXNote says what demo cnn's model.onnx takes and gives.
func cnnONNXNote(path string, clf *cnn.Classifier) string {
	in := clf.Model().InputShape()
	return fmt.Sprintf("wrote %s, the classifier as an ONNX file (opset %d) for ONNX Runtime: input \"images\" float32 (batch, %d, %d, %d), pixel values in [0, 1] (the normalisation is in the file); output \"logits\" float32 (batch, %d)",
		path, onnx.Opset, in[0], in[1], in[2], clf.Classes())
}

// lmONNXNote says what demo rnn's model.onnx takes and gives.
func lmONNXNote(path string, lm *rnn.LanguageModel) string {
	cfg := lm.Config()
	inState, outState := `"h0"`, `"h_n"`
	if cfg.Kind == rnn.LSTM {
		inState, outState = `"h0" and "c0"`, `"h_n" and "c_n"`
	}
	return fmt.Sprintf("wrote %s, the language model as an ONNX file (opset %d) for ONNX Runtime: inputs \"ids\" int64 (batch, steps) and %s float32 (%d, batch, %d), zeros to start; outputs \"logits\" float32 (batch, steps, %d) and the final state %s; the vocabulary is in its metadata",
		path, onnx.Opset, inState, cfg.Layers, cfg.Hidden, lm.Vocab().Size(), outState)
}
