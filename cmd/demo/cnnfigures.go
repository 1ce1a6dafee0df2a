package main

import (
	"fmt"
	"path/filepath"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/viz"
)

// cnnFigures writes demo cnn's figures in res.out and lists them in res.figures: the loss and
// accuracy curves, the first convolution's kernels and the feature maps of the first test
// digit after each convolution.
func cnnFigures(res *cnnResult) error {
	loss, acc := cnnCurves(res)
	for _, fig := range []struct {
		name string
		plot viz.LinePlot
	}{{"loss.png", loss}, {"accuracy.png", acc}} {
		if err := viz.Lines(filepath.Join(res.out, fig.name), fig.plot); err != nil {
			return err
		}
		res.figures = append(res.figures, fig.name)
	}
	w := res.clf.Params().Value("conv1.weight")
	s := w.Shape() // (out, in, kH, kW)
	if err := viz.ImageGrid(filepath.Join(res.out, "kernels.png"), viz.Grid{Title: "conv1 kernels", Images: graph.Float64s(w),
		N: s[0] * s[1], H: s[2], W: s[3], Colors: viz.Diverging, Norm: viz.NormGlobal}); err != nil {
		return err
	}
	res.figures = append(res.figures, "kernels.png")
	wrote, err := cnnFeatureMaps(res.out, res.clf, res.test)
	if wrote {
		res.figures = append(res.figures, "featuremaps.png")
	}
	return err
}

// cnnCurves returns the loss and accuracy curves over epochs, which a run that stops in
// mid-epoch (-steps) ends between two: the loss of every step this process trained, the
// training figures of every completed epoch (across resumes), and the test set's score after
// every epoch and at the end. The test set is scored at the end of every run, so both figures
// have at least that point.
func cnnCurves(res *cnnResult) (loss, acc viz.LinePlot) {
	at := func(step int) float64 { return float64(step) / float64(max(res.perEpoch, 1)) }
	var stepX, stepY, epX, trL, trA, teX, teL, teA []float64
	for _, s := range res.stepLoss {
		stepX, stepY = append(stepX, at(s.step)), append(stepY, s.loss)
	}
	done := 0 // steps at the end of each epoch
	for _, st := range res.hist.Epochs {
		done += st.Steps
		epX, trL, trA = append(epX, at(done)), append(trL, st.TrainLoss), append(trA, 100*st.TrainAccuracy)
		if st.Validation != nil {
			teX, teL, teA = append(teX, at(done)), append(teL, st.Validation.Loss), append(teA, 100*st.Validation.Accuracy)
		}
	}
	if done != res.Steps || len(teX) == 0 { // the final score, unless the last epoch's is it
		teX, teL, teA = append(teX, at(res.Steps)), append(teL, res.TestLoss), append(teA, 100*res.TestAccuracy)
	}
	loss = viz.LinePlot{Title: "Softmax cross-entropy", XLabel: "epoch", YLabel: "loss"}
	acc = viz.LinePlot{Title: "Accuracy", XLabel: "epoch", YLabel: "accuracy (%)"}
	if len(stepX) > 0 {
		loss.Series = append(loss.Series, viz.Series{Name: "train, each step of this run", X: stepX, Y: stepY})
	}
	if len(epX) > 0 {
		loss.Series = append(loss.Series, viz.Series{Name: "train, epoch mean", X: epX, Y: trL})
		acc.Series = append(acc.Series, viz.Series{Name: "train, epoch", X: epX, Y: trA})
	}
	loss.Series = append(loss.Series, viz.Series{Name: "test", X: teX, Y: teL})
	acc.Series = append(acc.Series, viz.Series{Name: "test", X: teX, Y: teA})
	return loss, acc
}

// cnnFeatureMaps draws the first test digit and its feature maps after each convolution; it
// reports whether it wrote the figure (a test set without images has none to draw).
func cnnFeatureMaps(dir string, clf *cnn.Classifier, test *data.ImageSet) (bool, error) {
	if test.Len() == 0 {
		return false, nil
	}
	it, err := data.NewImageBatches(test.Head(1), 1, data.Dtype(clf.Params().Dtype()))
	if err != nil {
		return false, err
	}
	first, ok := it.Pass().Next()
	if !ok {
		return false, nil
	}
	maps, err := clf.FeatureMaps(first.X)
	if err != nil {
		return false, err
	}
	grid := viz.Grid{Title: fmt.Sprintf("a test digit (%d) and its feature maps", first.Labels[0]), Images: graph.Float64s(first.X), N: 1, H: test.H, W: test.W, Titles: []string{"input"}}
	for _, m := range maps {
		grid.Images = append(grid.Images, upsample(m, test.H, test.W)...)
		for ch := 0; ch < m.C; ch++ {
			grid.N++
			grid.Titles = append(grid.Titles, fmt.Sprintf("%s[%d]", m.Name, ch))
		}
	}
	grid.Cols = 8
	if err := viz.ImageGrid(filepath.Join(dir, "featuremaps.png"), grid); err != nil {
		return false, err
	}
	return true, nil
}

// upsample repeats each pixel of every channel of m so that each becomes h x w (nearest
// neighbour), so maps of different sizes share one grid.
func upsample(m cnn.FeatureMap, h, w int) []float64 {
	out := make([]float64, 0, m.C*h*w)
	for ch := 0; ch < m.C; ch++ {
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				out = append(out, m.Values[(ch*m.H+i*m.H/h)*m.W+j*m.W/w])
			}
		}
	}
	return out
}
