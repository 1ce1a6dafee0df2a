// Package rnn holds unroll's recurrent models: networks of recurrent cells unrolled over time
// into Gorgonia graphs, trained by backpropagation through time.
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
// loss (softmax cross-entropy or mean squared error, masked). Batches are batch-major:
// inputs (B, T, D) or ids (B, T), targets per step or per sequence, an optional (B, T) mask.
//
// # Truncated backpropagation through time
//
// Gorgonia has no stop-gradient. SegmentTrainer compiles one graph of K steps whose initial
// state is a graph input; it cuts each batch into segments of K steps, makes one update per
// segment and feeds the final state value of a segment as the next segment's initial state, so
// no gradient crosses a segment boundary: the graph form of PyTorch's h.detach(). With K = T
// the whole sequence is one segment (full BPTT). Across batches the state is carried (for
// sequential batches, each continuing the streams of the one before) or reset (ZeroState, for
// random batches or independent sequences); checkpoints save it.
//
// # Sequence models
//
// AR is the autoregressive model with a fixed window: x_t predicted from x_{t-tau}..x_{t-1}
// by an MLP (or, with no hidden layer, a linear map; FitLinearAR fits the linear one
// exactly). LatentAR is the latent autoregressive model: a recurrent cell reads the window and
// its hidden state h_t, a summary of everything seen, predicts the next value. Both forecast
// one step ahead from true values, or k steps ahead by feeding their own predictions back in,
// where errors compound (OneStep and KStep, beside the Persistence baseline). LanguageModel is the character model of
// the course: one-hot or embedded characters, stacked cells, a softmax head at every step,
// trained by the segment trainer with carried state; Evaluate gives the validation loss in
// nats, perplexity and bits per character, and Generate writes text from a prompt at a
// temperature, drawing from the model's seeded random source.
//
// # Vanishing gradients
//
// GradientFlow measures ‖∂ℓ_T/∂h_{T-k}‖ for k = 1..T, how much of the last step's loss reaches
// the hidden state k steps back. For a plain RNN it is a product of k Jacobians
// diag(1 - h_s²) W_hh that shrinks geometrically; the LSTM's memory cell (∂c_t/∂c_{t-1} = f_t)
// and the GRU's update gate (h_t = z_t ⊙ h_{t-1} + ...) give the gradient a path along which it
// can survive. AddingProblem is a task that needs that memory; `demo gradflow` compares the
// three cells on it, at initialisation and after training.
package rnn
