"""Reference values for the recurrent cells (nodes/rnn_test.go, TestCellsMatchPyTorch).

Runs PyTorch's nn.RNNCell (tanh and relu), nn.LSTMCell and nn.GRUCell in float64 for three
steps from a random state and writes the weights (under their state_dict names), the inputs,
the initial state and the state after every step to torch_cells.json.

usage: /usr/bin/python3 torch_cells.py   (run in this folder)
"""
import json

import torch

torch.manual_seed(2024)
B, IN, H, T = 3, 4, 5, 3


def tolist(t):
    return t.detach().reshape(-1).tolist()


cases = {}
for name, make in [
    ("rnn_tanh", lambda: torch.nn.RNNCell(IN, H, nonlinearity="tanh")),
    ("rnn_relu", lambda: torch.nn.RNNCell(IN, H, nonlinearity="relu")),
    ("lstm", lambda: torch.nn.LSTMCell(IN, H)),
    ("gru", lambda: torch.nn.GRUCell(IN, H)),
]:
    cell = make().double()
    xs = torch.randn(T, B, IN, dtype=torch.float64)
    h = torch.randn(B, H, dtype=torch.float64) * 0.5
    c = torch.randn(B, H, dtype=torch.float64) * 0.5
    case = {
        "batch": B, "input": IN, "hidden": H, "steps": T,
        "weights": {k: tolist(v) for k, v in cell.state_dict().items()},
        "x": [tolist(x) for x in xs],
        "h0": tolist(h),
        "h": [], "c": [],
    }
    if name == "lstm":
        case["c0"] = tolist(c)
    with torch.no_grad():
        for t in range(T):
            if name == "lstm":
                h, c = cell(xs[t], (h, c))
                case["c"].append(tolist(c))
            else:
                h = cell(xs[t], h)
            case["h"].append(tolist(h))
    cases[name] = case

with open("torch_cells.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
print("wrote torch_cells.json with", ", ".join(cases))
