#!/usr/bin/python3
"""Weights that cross between unroll and PyTorch, checked both ways (README, "Your own data and
model"; docs/09-your-own-model).

  /usr/bin/python3 bench/interop/torch_interop.py           check everything (CI's interop stage)
  /usr/bin/python3 bench/interop/torch_interop.py --write   re-make the PyTorch files in testdata

Needs Debian's python3-torch and python3-numpy, and Go: PyTorch 1.13 cannot read safetensors and
Debian has no python3-safetensors, so this script reads and writes the format itself. Run it from
anywhere; it builds what it runs from this checkout. It checks:

1. unroll -> PyTorch. `demo cnn -out DIR` trains the small CNN of workload W1 (smallcnn),
   LeNet-5 and the 1998 LeNet-5 (-classic) for one epoch on 2,000 MNIST images (6,000 for the
   last). Each checkpoint's parameters
   (its entries without a '/': the others hold the solver, the data position and the like) load
   into the equivalent torch.nn.Module with load_state_dict(strict=True). On the 10,000 test
   images, normalised with the statistics the checkpoint records, PyTorch's logits must agree
   with unroll's (bench/interop/logits prints them) within LOGIT_TOL, every predicted class must
   be the same, and so the test accuracy and, within LOSS_TOL, the test loss that
   `demo cnn -json` reports. Likewise the checkpoint of `demo rnn` (a character LSTM trained on
   Moby Dick) loads into an nn.LSTM with a linear head and gives the validation loss the demo
   reports.
2. PyTorch -> unroll. With fixed seeds and one thread, PyTorch trains three small models and
   writes their state_dict as safetensors under PyTorch's names, with its logits on fixed inputs
   in JSON: the W1 net for 8x8 images trained on the built-in 8x8 digits
   (models/cnn/testdata/torch_smallcnn8.*), an LSTM and a GRU character language model (the GRU
   with an embedding and two layers) trained on the start of Moby Dick
   (models/rnn/testdata/torch_lm.*). The Go tests TestLoadWeightsPyTorch* load them with
   LoadWeights and compare unroll's logits with these, in float32 and float64; they need no
   Python. Here the files are made again in a temporary folder and must equal the committed
   ones (the same weights bit for bit with the same PyTorch version, logits within 1e-6), and
   those Go tests are run.
3. The format. Every safetensors file unroll writes (the checkpoints of demo cnn, rnn, ar and
   gradflow) and every file this script writes must be valid by the safetensors specification:
   an 8-byte little-endian header length, a JSON object of entries {dtype, shape,
   data_offsets} with known dtypes, byte ranges that match the shapes and cover the data
   section exactly, in order, without holes or overlaps, no repeated names, and "__metadata__",
   if present, a map of strings to strings. The checker is first shown to refuse broken files.

Prints what it checked with the largest differences seen, and ends with "interop: ok" (exit 0)
or the first failure (exit 1).
"""
import argparse
import gzip
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
CNN_TESTDATA = os.path.join(ROOT, 'models', 'cnn', 'testdata')
RNN_TESTDATA = os.path.join(ROOT, 'models', 'rnn', 'testdata')
SCRIPT = 'bench/interop/torch_interop.py'

# Tolerances between two float32 implementations (unroll's kernels and PyTorch's, summing in
# different orders): a logit may differ by LOGIT_TOL * max(1, |logit|) (about 2e-6 is seen), a
# mean loss by LOSS_TOL relative (about 1e-8 is seen).
LOGIT_TOL = 2e-5
LOSS_TOL = 1e-6


class Failure(Exception):
    """A check that did not hold."""


def check(ok, msg):
    if not ok:
        raise Failure(msg)


# ---- safetensors ---------------------------------------------------------------------------

DTYPES = {  # the specification's dtypes and their sizes in bytes
    'BOOL': 1, 'U8': 1, 'I8': 1, 'F8_E5M2': 1, 'F8_E4M3': 1, 'I16': 2, 'U16': 2, 'F16': 2,
    'BF16': 2, 'I32': 4, 'U32': 4, 'F32': 4, 'I64': 8, 'U64': 8, 'F64': 8,
}
NUMPY = {'U8': '<u1', 'I8': '<i1', 'I16': '<i2', 'U16': '<u2', 'F16': '<f2', 'I32': '<i4',
         'U32': '<u4', 'F32': '<f4', 'I64': '<i8', 'U64': '<u8', 'F64': '<f8', 'BOOL': '?'}
TORCH = {torch.float32: 'F32', torch.float64: 'F64', torch.uint8: 'U8', torch.int64: 'I64'}


def _no_repeats(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError('repeated name %s' % dup[0])
    return dict(pairs)


def validate(blob, name):
    """Checks blob against the safetensors format; returns (header, data offset) or raises
    Failure naming the file and the fault."""
    def bad(msg):
        raise Failure('%s: not valid safetensors: %s' % (name, msg))
    if len(blob) < 8:
        bad('%d bytes, too short for the header length' % len(blob))
    n = struct.unpack('<Q', blob[:8])[0]
    if n > len(blob) - 8:
        bad('header length %d but only %d bytes follow' % (n, len(blob) - 8))
    raw = blob[8:8 + n]
    if not raw.startswith(b'{'):
        bad('the header does not start with "{"')
    try:
        header = json.loads(raw.decode('utf-8'), object_pairs_hook=_no_repeats)
    except (UnicodeDecodeError, ValueError) as e:
        bad('the header is not a JSON object: %s' % e)
    if not isinstance(header, dict):
        bad('the header is not a JSON object')
    meta = header.get('__metadata__', {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        bad('__metadata__ is not a map of strings to strings')
    size = len(blob) - 8 - n
    spans = []
    for key, e in header.items():
        if key == '__metadata__':
            continue
        if not isinstance(e, dict) or set(e) != {'dtype', 'shape', 'data_offsets'}:
            bad('entry %r is not {dtype, shape, data_offsets}' % key)
        if e['dtype'] not in DTYPES:
            bad('entry %r has unknown dtype %r' % (key, e['dtype']))
        shape, off = e['shape'], e['data_offsets']
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            bad('entry %r has shape %r' % (key, shape))
        if not isinstance(off, list) or len(off) != 2 or not all(isinstance(o, int) for o in off) or not 0 <= off[0] <= off[1]:
            bad('entry %r has data_offsets %r' % (key, off))
        want = math.prod(shape) * DTYPES[e['dtype']]
        if off[1] - off[0] != want:
            bad('entry %r: shape %s of %s needs %d bytes, its range holds %d' % (key, shape, e['dtype'], want, off[1] - off[0]))
        spans.append((off[0], off[1], key))
    at = 0
    for begin, end, key in sorted(spans):
        if begin != at:
            bad('entry %r starts at byte %d, expected %d (a hole or an overlap)' % (key, begin, at))
        at = end
    if at != size:
        bad('the entries cover %d bytes of a data section of %d' % (at, size))
    return header, 8 + n


def read_safetensors(path):
    """Reads a safetensors file, validated, into ({name: numpy array}, metadata)."""
    with open(path, 'rb') as f:
        blob = f.read()
    header, start = validate(blob, path)
    out = {}
    for key, e in header.items():
        if key == '__metadata__':
            continue
        if e['dtype'] not in NUMPY:
            raise Failure('%s: %s is %s, which this reader does not convert' % (path, key, e['dtype']))
        b, c = e['data_offsets']
        out[key] = np.frombuffer(blob[start + b:start + c], dtype=NUMPY[e['dtype']]).reshape(e['shape'])
    return out, header.get('__metadata__', {})


def write_safetensors(path, tensors, meta):
    """Writes tensors (name: torch tensor) in name order, as safetensors with string metadata;
    the header is padded with spaces to a multiple of 8 bytes, as the safetensors package does."""
    header, chunks, at = {}, [], 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous().cpu()
        b = t.numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()
        header[key] = {'dtype': TORCH[t.dtype], 'shape': list(t.shape), 'data_offsets': [at, at + len(b)]}
        chunks.append(b)
        at += len(b)
    header['__metadata__'] = dict(meta)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    blob = struct.pack('<Q', len(h)) + h + b''.join(chunks)
    validate(blob, path)
    with open(path, 'wb') as f:
        f.write(blob)


def validator_refuses_broken_files():
    """The checker is shown to catch each fault it looks for, on a valid two-tensor file."""
    good = {'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},
            'b': {'dtype': 'U8', 'shape': [3], 'data_offsets': [8, 11]},
            '__metadata__': {'format': 'pt'}}

    def blob(h, data=bytes(11)):
        raw = json.dumps(h).encode() if isinstance(h, dict) else h
        return struct.pack('<Q', len(raw)) + raw + data

    validate(blob(good), 'good')
    faults = {
        'non-string metadata': dict(good, __metadata__={'step': 3}),
        'unknown dtype': dict(good, a=dict(good['a'], dtype='F31')),
        'shape against range': dict(good, a=dict(good['a'], shape=[3])),
        'hole': dict(good, b=dict(good['b'], data_offsets=[9, 12])),
        'overlap': dict(good, b=dict(good['b'], data_offsets=[7, 10])),
        'extra key': dict(good, a=dict(good['a'], offset=0)),
    }
    for what, h in faults.items():
        try:
            validate(blob(h), what)
        except Failure:
            continue
        raise Failure('the safetensors checker accepted a file with a fault: %s' % what)
    for what, b in {'trailing bytes': blob(good, bytes(12)), 'truncated': blob(good)[:-1],
                    'repeated name': blob(b'{"a":{"dtype":"U8","shape":[11],"data_offsets":[0,11]},'
                                          b'"a":{"dtype":"U8","shape":[11],"data_offsets":[0,11]}}'),
                    'header past the end': struct.pack('<Q', 1 << 20) + b'{}'}.items():
        try:
            validate(b, what)
        except Failure:
            continue
        raise Failure('the safetensors checker accepted a file with a fault: %s' % what)
    return len(faults) + 4


# ---- the models, in PyTorch ----------------------------------------------------------------

class SmallCNN(nn.Module):
    """cnn.NewSmallCNN: the W1 net. conv 32@3x3 pad 1, ReLU, max pool 2, conv 64@3x3 pad 1,
    ReLU, max pool 2, dense 128, ReLU, dense 10."""

    def __init__(self, hw=28, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (hw // 4) ** 2, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class LeNet5(nn.Module):
    """cnn.NewLeNet5 in d2l's layout: conv 6@5x5 pad 2, pool, conv 16@5x5, pool, dense 120, 84,
    10; ReLU and max pooling, or with classic (cnn.Classic) sigmoid and average pooling."""

    def __init__(self, classic=False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.act = torch.sigmoid if classic else F.relu
        self.pool = F.avg_pool2d if classic else F.max_pool2d

    def forward(self, x):
        x = self.pool(self.act(self.conv1(x)), 2)
        x = self.pool(self.act(self.conv2(x)), 2)
        x = self.act(self.fc1(x.flatten(1)))
        return self.fc3(self.act(self.fc2(x)))


class CharLM(nn.Module):
    """rnn.LanguageModel with an empty name: embed (nn.Embedding, when embedding > 0; one-hot
    input otherwise), rnn (nn.RNN, nn.LSTM or nn.GRU, batch_first) and head (nn.Linear), so that
    its state_dict names are unroll's: rnn.weight_ih_l0, ..., head.weight."""

    def __init__(self, kind, vocab, hidden, layers=1, embedding=0):
        super().__init__()
        self.vocab = vocab
        self.embed = nn.Embedding(vocab, embedding) if embedding else None
        cell = {'rnn': nn.RNN, 'lstm': nn.LSTM, 'gru': nn.GRU}[kind]
        self.rnn = cell(embedding or vocab, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):
        """ids (B, T) -> logits (B, T, V) and the final state."""
        if self.embed is not None:
            x = self.embed(ids)
        else:
            x = F.one_hot(ids, self.vocab).to(self.head.weight.dtype)
        out, state = self.rnn(x, state)
        return self.head(out), state


def load_strict(module, path):
    """Loads a safetensors file's parameters (its entries without a '/') into module with
    load_state_dict(strict=True); returns the names loaded."""
    tensors, _ = read_safetensors(path)
    params = {k: torch.from_numpy(v.copy()) for k, v in tensors.items() if '/' not in k}
    module.load_state_dict(params, strict=True)
    return sorted(params)


# ---- data, read as unroll reads it ---------------------------------------------------------

def read_idx(path):
    with gzip.open(path, 'rb') as f:
        b = f.read()
    dims = b[3]
    shape = struct.unpack('>' + 'I' * dims, b[4:4 + 4 * dims])
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist_test(mean, std):
    """The 10,000 MNIST test images (N, 1, 28, 28), normalised as unroll's batches are:
    (p/255 - mean) / std in float64, then float32; and their labels."""
    d = os.path.join(ROOT, 'data', 'builtin', 'mnist')
    x = read_idx(os.path.join(d, 't10k-images-idx3-ubyte.gz')).astype(np.float64) / 255
    y = read_idx(os.path.join(d, 't10k-labels-idx1-ubyte.gz')).astype(np.int64)
    x = ((x - mean) / std).astype(np.float32)
    return torch.from_numpy(x[:, None]), torch.from_numpy(y)


def digits8x8():
    """The built-in 8x8 digits as builtin.Digits8x8 splits them: values c/16 as float32, the
    first 1,437 images for training, the last 360 for testing."""
    with gzip.open(os.path.join(ROOT, 'data', 'builtin', 'digits8x8', 'digits.csv.gz'), 'rt') as f:
        rows = np.array([[int(v) for v in line.split(',')] for line in f if line.strip()])
    x = (rows[:, :64] / np.float32(16)).astype(np.float32).reshape(-1, 1, 8, 8)
    y = rows[:, 64].astype(np.int64)
    return (x[:1437], y[:1437]), (x[1437:], y[1437:])


def normalise(x, mean, std):
    """data.ImageSet.Normalize's values for float32 images: (v - mean)/std in float64, then
    float32."""
    return torch.from_numpy(((x.astype(np.float64) - mean) / std).astype(np.float32))


def moby_dick():
    """Moby Dick with curly quotes and the em dash mapped to ASCII (data.ASCIIQuotes)."""
    with open(os.path.join(ROOT, 'data', 'builtin', 'text', 'moby-dick.txt'), encoding='utf-8', newline='') as f:
        text = f.read()
    for a, b in (('\u2019', "'"), ('\u2018', "'"), ('\u201c', '"'), ('\u201d', '"'), ('\u2014', '--')):
        text = text.replace(a, b)
    return text


def char_vocab(text):
    """data.NewCharVocab's ids: 0 the unknown symbol, then the characters by descending
    frequency, at equal frequency by code point."""
    counts = {}
    for c in text:
        counts[c] = counts.get(c, 0) + 1
    chars = sorted(counts, key=lambda c: (-counts[c], ord(c)))
    return {c: i + 1 for i, c in enumerate(chars)}


# ---- 2. PyTorch -> unroll: the files of the Go tests ---------------------------------------

def f32(values):
    """Float32 values as JSON numbers: 9 significant digits, which give back each float32."""
    return [float('%.9g' % v) for v in np.asarray(values, dtype=np.float32).reshape(-1)]


def f64(values):
    return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
        f.write('\n')


def make_smallcnn8(out):
    """The W1 net for 8x8 images, trained for 3 epochs on the built-in 8x8 digits, and its
    logits on their 360 test images (float32), and on the first 32 in float64."""
    torch.manual_seed(0)
    (xtr, ytr), (xte, yte) = digits8x8()
    mean, std = float(np.mean(xtr, dtype=np.float64)), float(np.std(xtr, dtype=np.float64))
    xtr_n, xte_n = normalise(xtr, mean, std), normalise(xte, mean, std)
    ytr = torch.from_numpy(ytr)
    model = SmallCNN(hw=8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(0)
    for _ in range(3):
        perm = torch.randperm(len(ytr), generator=order)
        for i in range(0, len(perm) - 31, 32):
            idx = perm[i:i + 32]
            loss = F.cross_entropy(model(xtr_n[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(xte_n)
        logits64 = model.double()(xte_n[:32].double())
    model.float()
    write_safetensors(os.path.join(out, 'torch_smallcnn8.safetensors'), model.state_dict(),
                      {'format': 'pt', 'made_by': SCRIPT})
    classes = logits.argmax(1).numpy()
    write_json(os.path.join(out, 'torch_smallcnn8.json'), {
        'made_by': SCRIPT, 'torch': torch.__version__, 'seed': 0,
        'what': 'cnn.NewSmallCNN(ps, cnn.Input(1, 8, 8)) trained by PyTorch for 3 epochs (Adam 1e-3, batch 32) '
                'on builtin.Digits8x8 normalised with its training set\'s statistics; logits of the test set',
        'normalization': {'mean': [mean], 'std': [std]},
        'test_accuracy': float(np.mean(classes == yte)),
        'classes': [int(c) for c in classes],
        'logits': f32(logits.numpy()),
        'logits64_images': 32,
        'logits64': f64(logits64.numpy()),
    })


LM_TEXT = (0, 3000)       # the characters of Moby Dick the language models train on
LM_INPUT = (0, 1000)      # starts of the two rows of the fixed input
LM_STEPS = 16             # its steps
LM_EVAL = (2000, 2400)    # the passage whose loss Evaluate must give
LM_MODELS = {
    'lstm': {'kind': 'lstm', 'hidden': 32, 'layers': 1, 'embedding': 0},
    'gru': {'kind': 'gru', 'hidden': 24, 'layers': 2, 'embedding': 16},
}


def make_lms(out):
    """An LSTM (one-hot input) and a GRU (embedding, two layers) character language model, each
    trained for 150 steps on the start of Moby Dick; their logits on a fixed input of two rows
    (float32, and in float64 the first row) and their mean loss on a passage read from a zero
    state."""
    text = moby_dick()[LM_TEXT[0]:LM_TEXT[1]]
    vocab = char_vocab(text)
    V = len(vocab) + 1
    ids = torch.tensor([vocab[c] for c in text])
    x_in = torch.stack([ids[s:s + LM_STEPS] for s in LM_INPUT])
    ev = ids[LM_EVAL[0]:LM_EVAL[1]]
    record = {'made_by': SCRIPT, 'torch': torch.__version__, 'seed': 0,
              'what': 'rnn.NewLanguageModel(ps, "", vocab, config) trained by PyTorch for 150 steps '
                      '(Adam 1e-2, 16 random windows of 32 characters) on text',
              'text': text, 'vocab_size': V, 'input_ids': [int(i) for i in x_in.reshape(-1)],
              'batch': len(LM_INPUT), 'steps': LM_STEPS, 'eval_from': LM_EVAL[0], 'eval_to': LM_EVAL[1],
              'models': {}}
    for name, cfg in LM_MODELS.items():
        torch.manual_seed(0)
        model = CharLM(cfg['kind'], V, cfg['hidden'], cfg['layers'], cfg['embedding'])
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        draw = torch.Generator().manual_seed(0)
        for _ in range(150):
            starts = torch.randint(0, len(ids) - 33, (16,), generator=draw)
            w = torch.stack([ids[s:s + 33] for s in starts])
            logits, _ = model(w[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, V), w[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            logits, _ = model(x_in)
            ev_logits, _ = model(ev[None, :-1])
            ev_loss = F.cross_entropy(ev_logits[0].double(), ev[1:]).item()
            logits64, _ = model.double()(x_in[:1])
        model.float()
        path = 'torch_lm_%s.safetensors' % name
        write_safetensors(os.path.join(out, path), model.state_dict(), {'format': 'pt', 'made_by': SCRIPT})
        record['models'][name] = {'file': path, 'config': cfg, 'logits': f32(logits.numpy()),
                                  'logits64': f64(logits64.numpy()), 'eval_loss': ev_loss}
    write_json(os.path.join(out, 'torch_lm.json'), record)


def make_pytorch_files(cnn_dir, rnn_dir):
    torch.set_num_threads(1)  # one thread: the same sums in the same order, run after run
    make_smallcnn8(cnn_dir)
    make_lms(rnn_dir)
    return ([os.path.join(cnn_dir, f) for f in ('torch_smallcnn8.safetensors', 'torch_smallcnn8.json')] +
            [os.path.join(rnn_dir, f) for f in ('torch_lm_lstm.safetensors', 'torch_lm_gru.safetensors', 'torch_lm.json')])


# ---- 1. unroll -> PyTorch ------------------------------------------------------------------

def run(cmd, **kw):
    """Runs cmd from the repository's root and returns its standard output; its standard error
    is shown when it fails."""
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise Failure('%s failed (exit %d):\n%s' % (' '.join(cmd), p.returncode, p.stderr[-3000:]))
    return p.stdout


# The demo cnn runs: model, -classic, training flags (the sigmoid net of 1998 learns slowly:
# it gets more steps and a larger learning rate).
CNN_CASES = [('smallcnn', False, ['-train', '2000']), ('lenet', False, ['-train', '2000']),
             ('lenet', True, ['-train', '6000', '-batch', '32', '-lr', '0.01'])]


def cnn_to_torch(bins, tmp, model, classic, train_flags):
    """demo cnn's checkpoint in PyTorch: strict load, then logits, classes, accuracy, loss and
    confusion matrix on the MNIST test set against unroll's."""
    label = model + (' -classic' if classic else '')
    out = os.path.join(tmp, 'cnn-' + label.replace(' -', '-'))
    flags = ['-model', model, '-epochs', '1', '-seed', '1', '-out', out, '-json'] + train_flags
    res = json.loads(run([bins['demo'], 'cnn'] + flags + (['-classic'] if classic else [])))
    ckpt = res['checkpoint']
    net = SmallCNN() if model == 'smallcnn' else LeNet5(classic)
    names = load_strict(net, ckpt)
    mine = json.loads(run([bins['logits'], '-model', model, '-weights', ckpt] + (['-classic'] if classic else [])))
    norm = mine['normalization']
    x, y = mnist_test(norm['mean'][0], norm['std'][0])
    net.eval()
    with torch.no_grad():  # in batches of 500: one batch of 10,000 takes 1 GB and far longer
        logits = torch.cat([net(x[i:i + 500]) for i in range(0, len(x), 500)])
    theirs = np.asarray(mine['logits'], dtype=np.float64).reshape(logits.shape)
    ours = logits.numpy().astype(np.float64)
    err = np.max(np.abs(ours - theirs) / np.maximum(1, np.abs(theirs)))
    check(err <= LOGIT_TOL, '%s: a logit differs by %.3g relative (tolerance %g)' % (label, err, LOGIT_TOL))
    classes = logits.argmax(1).numpy()
    differ = int(np.sum(classes != np.asarray(mine['classes'])))
    check(differ == 0, '%s: %d of %d predicted classes differ' % (label, differ, len(classes)))
    correct = int(np.sum(classes == y.numpy()))
    check(abs(correct / len(y) - res['test_accuracy']) < 1e-12,
          '%s: PyTorch\'s test accuracy %.4f, unroll\'s %.4f' % (label, correct / len(y), res['test_accuracy']))
    loss = F.cross_entropy(logits.double(), y).item()
    rel = abs(loss - res['test_loss']) / res['test_loss']
    check(rel <= LOSS_TOL, '%s: PyTorch\'s test loss %.7f, unroll\'s %.7f' % (label, loss, res['test_loss']))
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (y.numpy(), classes), 1)
    check(confusion.tolist() == res['confusion'], '%s: the confusion matrices differ' % label)
    print('  demo cnn -model %-15s %d tensors loaded strictly; %d test images: the same %d classes '
          '(accuracy %.2f%%), logits within %.1e relative, loss %.7f vs %.7f (%.1e)'
          % (label, len(names), len(y), len(y), 100 * correct / len(y), err, loss, res['test_loss'], rel))
    return ckpt


def rnn_to_torch(bins, tmp):
    """demo rnn's checkpoint (a character LSTM on Moby Dick) in PyTorch: strict load, then the
    loss on the validation text read from a zero state, against the demo's."""
    out = os.path.join(tmp, 'rnn')
    res = json.loads(run([bins['demo'], 'rnn', '-hidden', '32', '-steps', '30', '-batch', '8', '-sample-every', '0',
                          '-sample-len', '20', '-seed', '1', '-out', out, '-json']))
    ckpt = os.path.join(out, 'rnn.safetensors')
    text = moby_dick()
    vocab = char_vocab(text)
    V = len(vocab) + 1
    check(V == res['vocab'], 'demo rnn: a vocabulary of %d ids, %d here' % (res['vocab'], V))
    lm = CharLM('lstm', V, 32)
    names = load_strict(lm, ckpt)
    ids = torch.tensor([vocab[c] for c in text])
    val = ids[math.floor((1 - 0.1) * len(ids)):]
    total, state = 0.0, None
    with torch.no_grad():
        for s in range(0, len(val) - 1, 4096):
            e = min(s + 4096, len(val) - 1)
            logits, state = lm(val[None, s:e], state)
            total += F.cross_entropy(logits[0].double(), val[s + 1:e + 1], reduction='sum').item()
    loss = total / (len(val) - 1)
    rel = abs(loss - res['val_loss']) / res['val_loss']
    check(rel <= LOSS_TOL, 'demo rnn: PyTorch\'s validation loss %.7f, unroll\'s %.7f' % (loss, res['val_loss']))
    print('  demo rnn -hidden %-14d %d tensors loaded strictly; validation loss over %d characters %.7f vs %.7f (%.1e)'
          % (32, len(names), len(val) - 1, loss, res['val_loss'], rel))
    return ckpt


# ---- 3. the files unroll writes ------------------------------------------------------------

def other_checkpoints(bins, tmp):
    """The checkpoints of demo ar and demo gradflow, on short runs."""
    ar, gf = os.path.join(tmp, 'ar'), os.path.join(tmp, 'gradflow')
    run([bins['demo'], 'ar', '-epochs', '3', '-latent-epochs', '1', '-out', ar, '-json'])
    run([bins['demo'], 'gradflow', '-iters', '10', '-steps', '10', '-out', gf, '-json'])
    return [os.path.join(ar, 'ar.safetensors')] + [os.path.join(gf, 'gradflow-%s.safetensors' % c) for c in ('rnn', 'lstm', 'gru')]


def check_format(paths):
    for p in paths:
        with open(p, 'rb') as f:
            blob = f.read()
        header, _ = validate(blob, p)
        dtypes = sorted({e['dtype'] for k, e in header.items() if k != '__metadata__'})
        print('  %-52s %2d tensors (%s), %2d metadata strings, %7d bytes' % (
            os.path.relpath(p, ROOT) if p.startswith(ROOT) else os.path.basename(os.path.dirname(p)) + '/' + os.path.basename(p),
            len(header) - ('__metadata__' in header), ', '.join(dtypes), len(header.get('__metadata__', {})), len(blob)))


# ---- 2 (continued): the committed files ----------------------------------------------------

def same_as_committed(fresh_cnn, fresh_rnn):
    """The PyTorch files made again must be the committed ones: the logits within 1e-6, and,
    with the PyTorch version that made them, the same weights bit for bit."""
    for fresh_dir, dest, record in ((fresh_cnn, CNN_TESTDATA, 'torch_smallcnn8.json'), (fresh_rnn, RNN_TESTDATA, 'torch_lm.json')):
        for name in os.listdir(fresh_dir):
            old = os.path.join(dest, name)
            check(os.path.exists(old), '%s is not committed: run %s --write' % (os.path.relpath(old, ROOT), SCRIPT))
        with open(os.path.join(fresh_dir, record)) as f:
            new = json.load(f)
        with open(os.path.join(dest, record)) as f:
            old = json.load(f)
        models = [(new, old)] if 'logits' in new else [(new['models'][m], old['models'][m]) for m in new['models']]
        for a, b in models:
            for key in ('logits', 'logits64'):
                d = np.max(np.abs(np.asarray(a[key]) - np.asarray(b[key]))) if len(a[key]) == len(b[key]) else math.inf
                check(d <= 1e-6, '%s: %s differ by %.3g from the committed ones' % (record, key, d))
        if new['torch'] != old['torch']:
            print('  note: %s was made by PyTorch %s, this is %s: logits compared, weights not'
                  % (record, old['torch'], new['torch']))
            continue
        for name in sorted(os.listdir(fresh_dir)):
            if name.endswith('.safetensors'):
                t_new, _ = read_safetensors(os.path.join(fresh_dir, name))
                t_old, _ = read_safetensors(os.path.join(dest, name))
                check(t_new.keys() == t_old.keys() and all(np.array_equal(t_new[k], t_old[k]) for k in t_new),
                      '%s: the weights PyTorch %s makes differ from the committed ones' % (name, torch.__version__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--write', action='store_true', help='re-make the PyTorch files in models/*/testdata and stop')
    a = ap.parse_args()
    start = time.time()
    if a.write:
        for p in make_pytorch_files(CNN_TESTDATA, RNN_TESTDATA):
            print('wrote', os.path.relpath(p, ROOT))
        return
    print('interop: PyTorch %s, NumPy %s' % (torch.__version__, np.__version__))
    with tempfile.TemporaryDirectory(prefix='unroll-interop-') as tmp:
        bins = {}
        for name, pkg in (('demo', './cmd/demo'), ('logits', './bench/interop/logits')):
            bins[name] = os.path.join(tmp, name)
            run(['go', 'build', '-o', bins[name], pkg])
        print('3. the safetensors checker refuses %d kinds of broken file' % validator_refuses_broken_files())
        print('1. unroll -> PyTorch (load_state_dict(strict=True), MNIST test set / Moby Dick validation text)')
        written = [cnn_to_torch(bins, tmp, *case) for case in CNN_CASES]
        written.append(rnn_to_torch(bins, tmp))
        print('2. PyTorch -> unroll (the files of the Go tests TestLoadWeightsPyTorch*)')
        fresh_cnn, fresh_rnn = os.path.join(tmp, 'torch-cnn'), os.path.join(tmp, 'torch-rnn')
        os.makedirs(fresh_cnn)
        os.makedirs(fresh_rnn)
        made = make_pytorch_files(fresh_cnn, fresh_rnn)
        same_as_committed(fresh_cnn, fresh_rnn)
        print('  made again with fixed seeds: the same as the committed files')
        out = run(['go', 'test', '-count=1', '-run', 'TestLoadWeightsPyTorch', '-v', './models/cnn/', './models/rnn/'])
        for line in out.splitlines():
            if 'largest difference' in line or "Evaluate's loss" in line or line.startswith('ok'):
                print('  ' + line.strip())
        print('3. every safetensors file unroll writes, and those made here, is valid by the format')
        written += other_checkpoints(bins, tmp)
        check_format(written + [p for p in made if p.endswith('.safetensors')])
    print('interop: ok (%.0f s)' % (time.time() - start))


if __name__ == '__main__':
    try:
        main()
    except Failure as e:
        print('interop: FAIL:', e, file=sys.stderr)
        sys.exit(1)
