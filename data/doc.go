// Package data reads the data sets of unroll and cuts them into minibatches.
//
// # Images
//
// ReadIDX and ParseIDX read IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed;
// LoadMNIST reads the four files of a training and a test set into ImageSets. ImageBatches
// serves an ImageSet in minibatches whose X is a tensor of shape (B, 1, H, W), NCHW: image b,
// channel 0, row y, column x is element ((b*1+0)*H+y)*W+x, normalised as
// (pixel/255 - mean) / std (MNIST's mean 0.1307 and std 0.3081 by default).
//
// # Text and sequences
//
// ReadText and ParseText read UTF-8 text, and Vocab maps its characters to ids, with
// UnknownID (0) for characters it does not hold. SeqBatches partitions a sequence of ids into
// minibatches as d2l does, sequentially (the state can be carried from batch to batch) or
// randomly; this package is the one place of the project where partitioning lives. A batch
// holds B rows of T ids, batch-major: X and Y are flat slices of length B*T, element (b, t)
// at index b*T+t, and Y is X shifted by one token (the next character to predict). An
// unrolled network takes column t of X, one (B) vector per step.
//
// # Time series
//
// ReadSeriesCSV and ParseSeriesCSV read one column of a CSV file. Missing values are an error
// unless the caller chooses a Fill; they are never read as 0. Scaler standardises a series
// with statistics fitted on its training part, and Windows builds the (N-tau, tau) inputs and
// N-tau targets of an autoregressive model of order tau.
//
// # Checkpoints
//
// ImageBatches, SeqBatches and Vocab implement encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler, so a checkpoint can hold the iterators' positions and orders and
// the vocabulary, and a resumed run sees the same data in the same order. The iterators draw
// their shuffles from the *rand.Rand (math/rand/v2) they are given, the run's one generator,
// whose state the caller saves; nothing here uses a global generator or the clock.
//
// Package builtin embeds the data sets that ship with unroll (MNIST, Moby Dick, sunspots and
// Mauna Loa CO2), so programs find them offline and from any working directory.
package data
