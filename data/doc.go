// Package data reads the data sets of unroll and cuts them into minibatches. Start with
// ImageSet and NewImageBatches for images, SequenceSet and NewSequences for sequences of
// values, SeqBatches for a stream of token ids; package builtin holds the data that ships.
//
// # Images
//
// An ImageSet holds N images of C channels of H x W pixels and their labels, stored as bytes
// (value p/255) or float32 values, before normalisation. Its readers: ReadIDX and ParseIDX
// read IDX files, plain or gzip-compressed, and LoadMNIST the four files of MNIST or
// Fashion-MNIST; ReadImageFolder reads a folder of PNG and JPEG images with one sub-folder
// per class, as torchvision's ImageFolder, in grey or RGB, resized if asked; ReadImageCSV
// reads images written one a line. WriteImageFolder writes a set as such a folder.
//
// Normalisation is an explicit step. ChannelStats computes the mean and standard deviation of
// each channel of a set, MNISTNormalization gives MNIST's published ones, and
// ImageSet.Normalize records a Normalization on a set; its batches then hold
// (v - mean[c]) / std[c]. A model is trained, tested and used with the statistics of its
// training set: normalise the test set with them too, never with its own.
//
// ImageBatches serves an ImageSet in minibatches whose X is a tensor of shape (B, C, H, W),
// NCHW: image b, channel c, row y, column x is element ((b*C+c)*H+y)*W+x, shuffled or not, one
// explicit pass per epoch as Sequences serves sequences (below).
//
// # Sequences
//
// A SequenceSet holds N sequences in the batch-major layout of the recurrent models: X
// (N, T, D) values or (N, T) ids, Y targets, and an optional (N, T) Mask for padded
// sequences. Sequences serves it in (B, T, D) minibatches, shuffled or not, one explicit pass
// per epoch: Pass returns the epoch's pass, whose Next returns false exactly at its end, and
// the next call of Pass starts the next epoch. AddingProblem draws the adding problem;
// RowSequences reads images row by row.
//
// # Text and token sequences
//
// ReadText and ParseText read UTF-8 text, and Vocab maps its characters to ids, with
// UnknownID (0) for characters it does not hold. SeqBatches partitions a sequence of ids into
// minibatches as d2l does, sequentially (the state can be carried from batch to batch) or
// randomly; this package is the one place of the project where partitioning lives. It serves
// its batches in the same explicit passes as Sequences, and a batch says whether it continues
// the streams of the batch before (SeqBatch.Continues). A batch holds B rows of T ids,
// batch-major: X and Y are flat slices of length B*T, element (b, t) at index b*T+t, and Y is
// X shifted by one token (the next character to predict). An unrolled network takes column t
// of X, one (B) vector per step.
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
// ImageBatches, Sequences, SeqBatches and Vocab implement encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler, so a checkpoint can hold the iterators' positions and orders and
// the vocabulary, and a resumed run sees the same data in the same order. The iterators draw
// their shuffles from the *rand.Rand (math/rand/v2) they are given, the run's one generator,
// whose state the caller saves; nothing here uses a global generator or the clock.
//
// Package builtin embeds the data sets that ship with unroll (MNIST, the 8x8 digits, Moby
// Dick, sunspots and Mauna Loa CO2), so programs find them offline and from any working
// directory.
package data
