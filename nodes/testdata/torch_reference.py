#!/usr/bin/python3
"""Writes torch_reference.json beside this file: forward values (and a few gradients) that
PyTorch computes for the same inputs and weights as unroll's tests feed, in float64.

Run from anywhere with Debian's interpreter (PyTorch installed):  /usr/bin/python3 torch_reference.py
The tests read the JSON; they do not need PyTorch.

Each case: name, op, args (in unroll's terms: padding as 1, 2 or 4 values, top/bottom/left/right
for 2-D and left/right for 1-D; same for "same" padding), inputs, output and extra tensors
(gradients for an upstream gradient "dy", running statistics after a batch norm step).
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
cases = []


def t(x):
    return {"shape": list(x.shape), "values": [float(v) for v in x.detach().reshape(-1).tolist()]}


def add(name, op, args, inputs, output, extra=None):
    cases.append({"name": name, "op": op, "args": args,
                  "inputs": {k: t(v) for k, v in inputs.items()},
                  "output": t(output),
                  "extra": {k: t(v) for k, v in (extra or {}).items()}})


def pad4(x, p, value=0.0):
    """Pads the last two axes of x by (top, bottom, left, right)."""
    top, bottom, left, right = p
    return F.pad(x, (left, right, top, bottom), value=value)


# Convolutions: output and the gradients for an upstream gradient dy.
def conv2d_case(name, x_shape, w_shape, stride=1, padding=(0, 0, 0, 0), dilation=1, bias=True, same=False):
    x = torch.randn(*x_shape, requires_grad=True)
    w = torch.randn(*w_shape, requires_grad=True)
    b = torch.randn(w_shape[0], requires_grad=True) if bias else None
    if same:
        y = F.conv2d(x, w, b, stride=stride, padding="same", dilation=dilation)
    else:
        y = F.conv2d(pad4(x, padding), w, b, stride=stride, dilation=dilation)
    dy = torch.randn(*y.shape)
    (y * dy).sum().backward()
    inputs = {"x": x, "weight": w}
    extra = {"dy": dy, "grad_x": x.grad, "grad_weight": w.grad}
    if bias:
        inputs["bias"] = b
        extra["grad_bias"] = b.grad
    args = {"stride": stride, "dilation": dilation}
    if same:
        args["same"] = True
    else:
        args["padding"] = list(padding)
    add(name, "conv2d", args, inputs, y, extra)


conv2d_case("conv2d 3x3", (2, 3, 6, 7), (4, 3, 3, 3))
conv2d_case("conv2d stride 2 pad 1", (2, 3, 7, 7), (4, 3, 3, 3), stride=2, padding=(1, 1, 1, 1))
conv2d_case("conv2d asymmetric padding", (2, 2, 5, 6), (3, 2, 3, 3), padding=(0, 1, 2, 0))
conv2d_case("conv2d dilation 2", (1, 2, 7, 8), (3, 2, 3, 3), dilation=2, padding=(2, 2, 2, 2))
conv2d_case("conv2d rectangular stride (2, 1) dilation (1, 2) no bias", (2, 2, 7, 9), (3, 2, 2, 3),
            stride=(2, 1), dilation=(1, 2), padding=(1, 0, 1, 1), bias=False)
conv2d_case("conv2d same even kernel", (1, 2, 5, 6), (2, 2, 4, 4), same=True)


def conv1d_case(name, x_shape, w_shape, stride=1, padding=(0, 0), dilation=1, bias=True):
    x = torch.randn(*x_shape)
    w = torch.randn(*w_shape)
    b = torch.randn(w_shape[0]) if bias else None
    y = F.conv1d(F.pad(x, padding), w, b, stride=stride, dilation=dilation)
    inputs = {"x": x, "weight": w}
    if bias:
        inputs["bias"] = b
    add(name, "conv1d", {"stride": stride, "dilation": dilation, "padding": list(padding)}, inputs, y)


conv1d_case("conv1d", (2, 3, 10), (4, 3, 3))
conv1d_case("conv1d stride 2 padding (2, 1) dilation 2", (2, 2, 11), (3, 2, 3), stride=2, padding=(2, 1), dilation=2)


# Pooling. Asymmetric padding is applied by hand (-inf for max, 0 for average with the
# padding counted, PyTorch's default).
def pool_case(name, op, x_shape, kernel, stride=None, padding=(0, 0, 0, 0), dilation=1, include_pad=True):
    x = torch.randn(*x_shape, requires_grad=True)
    p = list(padding)
    symmetric = p[0] == p[1] and p[2] == p[3]
    args = {"kernel": kernel, "padding": p}
    if stride is not None:
        args["stride"] = stride
    if op == "max_pool2d":
        args["dilation"] = dilation
        if symmetric:
            y = F.max_pool2d(x, kernel, stride, (p[0], p[2]), dilation)
        else:
            y = F.max_pool2d(pad4(x, p, float("-inf")), kernel, stride, 0, dilation)
    else:
        args["include_pad"] = include_pad
        assert symmetric or include_pad
        if symmetric:
            y = F.avg_pool2d(x, kernel, stride, (p[0], p[2]), count_include_pad=include_pad)
        else:
            y = F.avg_pool2d(pad4(x, p), kernel, stride, 0)
    dy = torch.randn(*y.shape)
    (y * dy).sum().backward()
    add(name, op, args, {"x": x}, y, {"dy": dy, "grad_x": x.grad})


pool_case("max 2x2", "max_pool2d", (2, 3, 6, 7), 2)
pool_case("max 3x3 stride 2 pad 1", "max_pool2d", (2, 2, 7, 7), 3, 2, (1, 1, 1, 1))
pool_case("max 3x3 stride 1 dilation 2 pad 1", "max_pool2d", (1, 2, 7, 6), 3, 1, (1, 1, 1, 1), dilation=2)
pool_case("max 3x3 stride 2 asymmetric padding", "max_pool2d", (2, 2, 6, 7), 3, 2, (0, 1, 1, 0))
pool_case("avg 2x2", "avg_pool2d", (2, 3, 6, 7), 2)
pool_case("avg 3x3 stride 2 pad 1", "avg_pool2d", (2, 2, 7, 7), 3, 2, (1, 1, 1, 1))
pool_case("avg 3x3 stride 2 pad 1 exclude padding", "avg_pool2d", (2, 2, 7, 7), 3, 2, (1, 1, 1, 1), include_pad=False)
pool_case("avg 3x3 stride 1 asymmetric padding", "avg_pool2d", (1, 2, 5, 6), 3, 1, (1, 0, 0, 1))

x = torch.randn(2, 3, 9)
add("max 1d 3 stride 2 pad 1", "max_pool1d", {"kernel": 3, "stride": 2, "padding": [1]}, {"x": x},
    F.max_pool1d(x, 3, 2, 1))
add("avg 1d 3 stride 2 pad 1", "avg_pool1d", {"kernel": 3, "stride": 2, "padding": [1]}, {"x": x},
    F.avg_pool1d(x, 3, 2, 1))


# Batch norm: one training step (output and running statistics after it) and evaluation.
def bn_case(name, x_shape, training):
    c = x_shape[1]
    x = torch.randn(*x_shape) * 2 + 0.5
    w = torch.randn(c)
    b = torch.randn(c)
    rm = torch.randn(c) * 0.1
    rv = torch.rand(c) + 0.5
    rm_after, rv_after = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm_after, rv_after, w, b, training=training, momentum=0.1, eps=1e-5)
    add(name, "batch_norm", {"training": training},
        {"x": x, "weight": w, "bias": b, "running_mean": rm, "running_var": rv}, y,
        {"running_mean_after": rm_after, "running_var_after": rv_after})


bn_case("batch norm 2d train", (4, 3, 3, 2), True)
bn_case("batch norm 2d eval", (4, 3, 3, 2), False)
bn_case("batch norm 1d train (N, C)", (5, 4), True)
bn_case("batch norm 1d train (N, C, L)", (3, 2, 4), True)
bn_case("batch norm 1d eval (N, C)", (5, 4), False)

# Losses: softmax cross-entropy (mean, and weighted per example), MSE.
logits = torch.randn(5, 4, requires_grad=True)
labels = torch.tensor([0, 3, 1, 1, 2])
loss = F.cross_entropy(logits, labels)
loss.backward()
add("cross entropy", "cross_entropy", {}, {"logits": logits, "labels": labels.double()}, loss.reshape(1),
    {"grad_logits": logits.grad})

logits = torch.randn(5, 4, requires_grad=True) * 30  # large logits: the stable form matters
logits.retain_grad()
weights = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.0])
ce = F.cross_entropy(logits, labels, reduction="none")
loss = (weights * ce).sum() / weights.sum()
loss.backward()
add("weighted cross entropy, large logits", "cross_entropy", {}, {"logits": logits, "labels": labels.double(), "weights": weights},
    loss.reshape(1), {"grad_logits": logits.grad})

pred = torch.randn(3, 4)
target = torch.randn(3, 4)
add("mse", "mse", {}, {"pred": pred, "target": target}, F.mse_loss(pred, target).reshape(1))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference.json")
with open(out, "w") as f:
    f.write("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n")
print(f"wrote {len(cases)} cases to {out} (torch {torch.__version__})")
