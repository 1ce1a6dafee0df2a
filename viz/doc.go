// Package viz draws the pictures of unroll: training curves, gradient flow
// through time, forecasts of a time series, and grids of kernels or feature
// maps. It takes plain Go slices, never tensors, so the packages that train
// models hand it numbers they have already copied out, and it depends only on
// the standard library and gonum/plot.
//
// Every function writes one file, as PNG or as SVG by the extension of the
// path (.png, .svg; any other extension is an error). Files are written
// atomically: the picture goes to a temporary file in the same directory,
// which is then renamed over the path. Anything a caller can get wrong (no
// data, NaN-only data, slices of different lengths, a path that cannot be
// written) is an error that names the function, the file and the problem;
// nothing panics.
//
// The functions and the demos that use them:
//
//   - [Lines] draws one or more named series as a line chart with a legend,
//     on a linear or log y axis: training and test loss and accuracy per
//     epoch of the CNN classifier (models/cnn) in the CNN demos, and loss per
//     step of the segment trainer and the language model (models/rnn) in the
//     RNN demos.
//   - [GradientFlow] draws the norm of dL_T/dH_{T-k} against k on a log
//     scale, one line per cell (rnn, lstm, gru): the picture of the
//     gradient-flow probe in models/rnn, for the demo on vanishing gradients
//     and gated cells (COURSE.md, points 11 to 13).
//   - [Forecast] draws an observed series, any number of forecasts over it
//     (1-step, k-step) and the start of the test part: the picture of the AR
//     and latent AR models in the time-series demos (points 8 and 9).
//   - [ImageGrid] draws N small images side by side, upscaled so that a 3x3
//     kernel is visible, in gray or in a blue-white-red map for signed
//     weights: a conv layer's kernels and its feature maps for one input, in
//     the CNN demos (points 1 to 4).
//
// Charts are DefaultWidth x DefaultHeight inches unless the plot says
// otherwise; PNG charts have DPI dots per inch. Text is set in Liberation
// Serif, which gonum/plot carries; SVG files name it with Times New Roman,
// which has the same metrics, as a fallback.
package viz
