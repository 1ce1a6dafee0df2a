#!/usr/bin/python3
"""PyTorch side of the character language-model comparison (README, "Language model vs PyTorch").

The task, identical on both sides: Moby Dick with curly quotes and the em dash mapped to ASCII
(’ ‘ -> ', “ ” -> ", — -> --; 80 distinct characters remain), a vocabulary of those 80 plus an
unknown symbol (81 ids), the first 90% of the characters for training and the last 10% for
validation. Training cuts the training text into 32 contiguous streams and takes segments of 64
steps from each (truncated BPTT: the LSTM state is carried from segment to segment, detached at
the boundary, and reset to zero at the start of each pass). The model is the W2 configuration of
WORKLOADS.md: one-hot input, one LSTM layer of 256, Dense(256->81) at every step, softmax
cross-entropy, Adam 2e-3, global-norm clip 5. The validation loss is the mean cross-entropy over
the whole validation text read as one stream (batch 1) in segments of 64 with carried state.

usage: /usr/bin/python3 bench/torch_lm.py [--seeds 0,1,2] [--steps 2000] [--eval-at 500,1000,2000]
Prints one JSON object per seed, then the median over seeds of the final validation loss.
"""
import argparse, json, math, os, statistics, sys, time

p = argparse.ArgumentParser()
p.add_argument('--data', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'builtin', 'text', 'moby-dick.txt'))
p.add_argument('--seeds', default='0,1,2')
p.add_argument('--steps', type=int, default=2000)
p.add_argument('--eval-at', default='500,1000,2000')
p.add_argument('--threads', type=int, default=1)
a = p.parse_args()
if os.environ.get('_LM_EXEC') != '1':
    env = dict(os.environ, _LM_EXEC='1', OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads))
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(a.threads)
V_HIDDEN, T, B = 256, 64, 32

text = open(a.data, encoding='utf-8').read()
for src, dst in (('’', "'"), ('‘', "'"), ('“', '"'), ('”', '"'), ('—', '--')):
    text = text.replace(src, dst)
chars = sorted(set(text))
itos = ['<unk>'] + chars
stoi = {c: i for i, c in enumerate(itos)}
ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
V = len(itos)
split = int(0.9 * len(ids))
train, val = ids[:split], ids[split:]

L = (len(train) - 1) // B
X = train[:B * L].view(B, L)
Y = train[1:B * L + 1].view(B, L)
per_pass = L // T


def evaluate(rnn, head):
    with torch.no_grad():
        h = None
        total, count = 0.0, 0
        n = len(val) - 1
        for s in range(0, n, T):
            e = min(s + T, n)
            x = F.one_hot(val[s:e], V).float().unsqueeze(1)  # (t, 1, V)
            out, h = rnn(x, h)
            logits = head(out.squeeze(1))
            total += F.cross_entropy(logits, val[s + 1:e + 1], reduction='sum').item()
            count += e - s
    return total / count


def run(seed, steps, eval_at):
    torch.manual_seed(seed)
    rnn = nn.LSTM(V, V_HIDDEN)
    head = nn.Linear(V_HIDDEN, V)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    h = None
    curve = {}
    t0 = time.time()
    for step in range(1, steps + 1):
        s = (step - 1) % per_pass
        if s == 0:
            h = None  # a new pass starts from zero state
        x = F.one_hot(X[:, s * T:(s + 1) * T].t(), V).float()  # (T, B, V)
        y = Y[:, s * T:(s + 1) * T].t().reshape(-1)
        if h is not None:
            h = tuple(t.detach() for t in h)
        out, h = rnn(x, h)
        loss = F.cross_entropy(head(out.reshape(-1, V_HIDDEN)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        if step in eval_at:
            curve[step] = evaluate(rnn, head)
    return {'seed': seed, 'vocab': V, 'train_chars': len(train), 'val_chars': len(val),
            'val_loss': curve, 'val_bpc': {k: v / math.log(2) for k, v in curve.items()},
            'seconds': round(time.time() - t0, 1), 'torch': torch.__version__}


eval_at = {int(s) for s in a.eval_at.split(',')} | {a.steps}
finals = []
for seed in [int(s) for s in a.seeds.split(',')]:
    r = run(seed, a.steps, eval_at)
    print(json.dumps(r), flush=True)
    finals.append(r['val_loss'][a.steps])
print(json.dumps({'median_val_loss': statistics.median(finals), 'steps': a.steps, 'seeds': a.seeds}))
