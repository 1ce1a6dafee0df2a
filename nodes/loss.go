package nodes

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// SoftmaxCrossEntropy is the mean over the batch of the cross-entropy between the softmax of
// logits z (B, K) and integer class labels y (B):
//
//	loss = (1/B) Σ_i ce_i,   ce_i = -log softmax(z_i)_{y_i} = m_i + log Σ_k e^(z_ik - m_i) - z_{i,y_i}
//
// with m_i = max_k z_ik, so that no exponential overflows however large the logits (PyTorch's
// cross_entropy). It is one fused op; its gradient is dz_ik = (softmax(z_i)_k - [k = y_i]) / B.
//
// The labels are a float node holding class ids, fed like any input (b.Input("y", B) with the
// values 0, 1, ..., K-1; float32 holds every integer up to 2^24 exactly). A label that is not
// an integer in [0, K) makes the run fail with an error naming the example. The labels get no
// gradient.
func SoftmaxCrossEntropy(b *graph.Builder, logits, labels *gorgonia.Node) (*gorgonia.Node, error) {
	return crossEntropy(b, logits, labels, nil)
}

// WeightedSoftmaxCrossEntropy is SoftmaxCrossEntropy with a weight w_i ≥ 0 per example (B):
//
//	loss = Σ_i w_i ce_i / Σ_i w_i,   dz_ik = w_i (softmax(z_i)_k - [k = y_i]) / Σ_i w_i
//
// A mask of ones and zeros leaves padded steps of variable-length sequences out of the mean.
// When every weight is 0 the loss and its gradient are 0. A negative or non-finite weight makes
// the run fail. The weights get no gradient.
func WeightedSoftmaxCrossEntropy(b *graph.Builder, logits, labels, weights *gorgonia.Node) (*gorgonia.Node, error) {
	if weights == nil {
		return nil, fmt.Errorf("softmax cross-entropy: nil weights")
	}
	return crossEntropy(b, logits, labels, weights)
}

func crossEntropy(b *graph.Builder, logits, labels, weights *gorgonia.Node) (*gorgonia.Node, error) {
	const what = "softmax cross-entropy"
	if logits == nil || labels == nil {
		return nil, fmt.Errorf("%s: nil logits or labels", what)
	}
	if logits.Dims() != 2 {
		return nil, fmt.Errorf("%s: logits must be (batch, classes), have shape %v", what, logits.Shape())
	}
	batch := logits.Shape()[0]
	if labels.Dims() != 1 || labels.Shape()[0] != batch {
		return nil, fmt.Errorf("%s: labels must be (%d), one class id per example, have shape %v", what, batch, labels.Shape())
	}
	if weights != nil {
		if weights.Dims() != 1 || weights.Shape()[0] != batch {
			return nil, fmt.Errorf("%s: weights must be (%d), one per example, have shape %v", what, batch, weights.Shape())
		}
	}
	loss, err := ops.CrossEntropy(logits, labels, weights, b.Name("cross_entropy"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return loss, nil
}

// MSE is the mean squared error over all elements of pred and target (same shape):
//
//	loss = (1/N) Σ (pred - target)²,   dpred = 2 (pred - target) / N = -dtarget
//
// as PyTorch's mse_loss. Both inputs get a gradient.
func MSE(b *graph.Builder, pred, target *gorgonia.Node) (*gorgonia.Node, error) {
	if pred == nil || target == nil {
		return nil, fmt.Errorf("mse: nil prediction or target")
	}
	if !pred.Shape().Eq(target.Shape()) || pred.Dims() < 1 {
		return nil, fmt.Errorf("mse: prediction %v and target %v must have the same shape", pred.Shape(), target.Shape())
	}
	loss, err := ops.MSE(pred, target, b.Name("mse"))
	if err != nil {
		return nil, fmt.Errorf("mse: %w", err)
	}
	return loss, nil
}
