"""Reference values for stacked, bidirectional recurrent layers (models/rnn/recurrent_test.go,
TestRecurrentMatchesPyTorch).

Runs PyTorch's nn.RNN, nn.LSTM and nn.GRU (2 layers, bidirectional, batch_first) in float64
from a random initial state, once on full sequences and once on sequences of different
lengths packed with pack_padded_sequence, and writes the state_dict (PyTorch's names, e.g.
weight_ih_l0_reverse), the inputs, the initial state, the lengths, the outputs (zero at padded
steps) and h_n (and c_n) to torch_recurrent.json.

usage: /usr/bin/python3 torch_recurrent.py   (run in this folder)
"""
import json

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.manual_seed(7)
B, T, IN, H, L = 3, 5, 3, 4, 2
lengths = [5, 2, 4]


def flat(t):
    return t.detach().reshape(-1).tolist()


cases = {}
for name, cls in [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)]:
    net = cls(IN, H, num_layers=L, bidirectional=True, batch_first=True).double()
    x = torch.randn(B, T, IN, dtype=torch.float64)
    h0 = torch.randn(L * 2, B, H, dtype=torch.float64) * 0.5
    c0 = torch.randn(L * 2, B, H, dtype=torch.float64) * 0.5
    init = (h0, c0) if name == "lstm" else h0
    case = {
        "batch": B, "steps": T, "input": IN, "hidden": H, "layers": L, "lengths": lengths,
        "weights": {k: flat(v) for k, v in net.state_dict().items()},
        "x": flat(x), "h0": flat(h0),
    }
    if name == "lstm":
        case["c0"] = flat(c0)
    with torch.no_grad():
        out, hn = net(x, init)
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        pout, phn = net(packed, init)
        pout, _ = pad_packed_sequence(pout, batch_first=True, total_length=T)
    for key, o, s in [("full", out, hn), ("packed", pout, phn)]:
        case[key] = {"out": flat(o)}
        if name == "lstm":
            case[key]["h_n"], case[key]["c_n"] = flat(s[0]), flat(s[1])
        else:
            case[key]["h_n"] = flat(s)
    cases[name] = case

with open("torch_recurrent.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
print("wrote torch_recurrent.json with", ", ".join(cases))
