// Package rnn holds unroll's recurrent models: networks of recurrent cells unrolled over time
// into Gorgonia graphs, trained by backpropagation through time with graph.Fit, the training
// loop every model of unroll uses.
//
// Where to look first: Net for sequence classification and regression (Fit on a
// data.SequenceSet, Evaluate, Predict; ExampleNet_Fit reads the 8x8 digits row by row with a
// GRU), LanguageModel for the character model (Fit on data.SeqBatches, Evaluate, Generate;
// ExampleLanguageModel trains one on Moby Dick), AR and LatentAR for time series (Fit on a
// series, Predict, and the forecasts OneStep and KStep). Recurrent is the layer under all of
// them; GradientFlow is the vanishing-gradient probe.
//
// Every trainable model has the same verbs and options: Fit(train, opts...) with the options
// of package graph (graph.Epochs, a number of epochs to run in this call, graph.Steps,
// graph.Batch, graph.Segment, graph.Solver, graph.ClipNorm, graph.Schedule,
// graph.Validation, graph.OnStep, graph.OnEpoch, graph.Checkpoints, graph.EarlyStopping);
// Evaluate and Predict; SaveCheckpoint and LoadCheckpoint (everything an exact resume needs:
// parameters, solver state, random source, the training data's position, the carried state)
// and LoadWeights (the parameters only, for inference, from unroll's checkpoints or PyTorch's
// state_dict under the same names). Each is a graph.Learner: TrainBatch trains on one batch,
// Validate scores a validation set, and Run gives the training run's counters and history.
//
// # Unrolling
//
// A recurrent cell (package nodes: RNNCell, LSTMCell, GRUCell) takes one step,
// h_t = cell(x_t, h_{t-1}). Recurrent stacks cells into layers (PyTorch's num_layers, with
// dropout between them), optionally bidirectional, and Forward unrolls them over T steps: the
// graph gets one (B, D) input node per step and one Step per cell and step, the hidden states
// are nodes of the graph, and the gradient Gorgonia derives from it is backpropagation through
// time. Parameters carry the names of PyTorch's nn.RNN, nn.LSTM and nn.GRU
// ("lstm.weight_ih_l0", "lstm.weight_hh_l1_reverse", ...), so weights are exchanged with
// PyTorch both ways. A mask of shape (B) per step lets sequences of different lengths share a
// batch: on a padded step a layer keeps its state and its output is zero.
//
// Net adds what a trainable model needs around a Recurrent: an optional embedding of token
// ids, a dense head at every step (EveryStep) or on the sequence (LastState, MeanPool), and the
// loss (softmax cross-entropy or mean squared error, masked). Data is batch-major
// (data.SequenceSet): inputs (N, T, D) or ids (N, T), targets per step or per sequence, an
// optional (N, T) mask. Predict decodes the graph's time-major every-step output back into
// batch-major classes and probabilities, or values.
//
// # Truncated backpropagation through time
//
// Gorgonia has no stop-gradient. With graph.Segment(K), K below the T steps of a batch, the
// models compile one graph of K steps whose initial state is a graph input; each batch is cut
// into segments of K steps, one update each, and the final state value of a segment is fed as
// the next segment's initial state, so no gradient crosses a segment boundary: the graph form
// of PyTorch's h.detach(). With K = T (the default) a batch is one segment: full BPTT. Across
// batches a Net starts every batch from zero (its sequences are independent), and a
// LanguageModel carries the state on where a batch continues the streams of the one before
// (sequential partitioning) and starts from zero otherwise (random partitioning, the first
// batch of an epoch). A readout with one loss at the end of the sequence (LastState,
// MeanPool) and a bidirectional network need the whole sequence: Fit refuses a shorter
// segment before it trains.
//
// # Sequence models
//
// AR is the autoregressive model with a fixed window: x_t predicted from x_{t-tau}..x_{t-1}
// by an MLP (or, with no hidden layer, a linear map; FitLinearAR fits the linear one
// exactly). LatentAR is the latent autoregressive model: a recurrent cell reads the window and
// its hidden state h_t, a summary of everything seen, predicts the next value. Both forecast
// one step ahead from true values, or k steps ahead by feeding their own predictions back in,
// where errors compound (OneStep and KStep, beside the Persistence baseline). LanguageModel
// is the character model of the course: one-hot or embedded characters, stacked cells, a
// softmax head at every step, trained with the state carried across batches; Evaluate gives
// the loss in nats, perplexity and bits per character, and Generate writes text from a
// prompt at a temperature, drawing from the model's seeded random source.
// LanguageModelFromCheckpoint builds a model back from its checkpoint (architecture and
// vocabulary), for LoadCheckpoint to resume or LoadWeights to generate.
//
// # Vanishing gradients
//
// GradientFlow measures ‖∂ℓ_T/∂h_{T-k}‖ for k = 1..T, how much of the last step's loss reaches
// the hidden state k steps back. For a plain RNN it is a product of k Jacobians
// diag(1 - h_s²) W_hh that shrinks geometrically; the LSTM's memory cell (∂c_t/∂c_{t-1} = f_t)
// and the GRU's update gate (h_t = z_t ⊙ h_{t-1} + ...) give the gradient a path along which it
// can survive. data.AddingProblem is a task that needs that memory; `demo gradflow` compares
// the three cells on it, at initialisation and after training.
package rnn
