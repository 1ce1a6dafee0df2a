#!/usr/bin/python3
"""Writes reference.json: PyTorch's results for the solver tests of package solvers.

Run from this folder with Debian's PyTorch (apt-get install python3-torch):

    /usr/bin/python3 make_reference.py > reference.json

Every solver case minimises the quadratic f(w, b) = sum(a/2 * (theta - c)^2) over a 2x3 weight
"w" and a 3-element bias "b", whose gradient a * (theta - c) is set by hand (no autograd) so that
the Go test can compute it with the same rounding. The file records the parameters after every
step and the solver's buffers after the last step, in float32 and float64.
"""

import json
import sys

import torch

STEPS = 5

PROBLEM = {
    "w0": [[0.5, -1.25, 2.0], [1.5, 0.25, -0.75]],
    "wa": [[1.0, 2.0, 0.5], [3.0, 1.5, 0.25]],
    "wc": [[0.1, 0.2, -0.3], [-0.4, 0.5, 0.6]],
    "b0": [0.3, -0.2, 1.1],
    "ba": [2.0, 0.75, 1.25],
    "bc": [-0.5, 0.0, 0.25],
}

# Each case: name, torch optimizer class and keyword arguments, optional scheduler.
CASES = [
    ("sgd", "SGD", {"lr": 0.1}, None),
    ("sgd_weight_decay", "SGD", {"lr": 0.1, "weight_decay": 0.01}, None),
    ("sgd_momentum", "SGD", {"lr": 0.05, "momentum": 0.9}, None),
    ("sgd_dampening", "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}, None),
    ("sgd_nesterov", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.001}, None),
    ("adam", "Adam", {"lr": 0.01}, None),
    ("adam_weight_decay", "Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}, None),
    ("adamw", "AdamW", {"lr": 0.01}, None),
    ("adamw_weight_decay", "AdamW", {"lr": 0.01, "betas": (0.85, 0.995), "weight_decay": 0.1}, None),
    ("rmsprop", "RMSprop", {"lr": 0.01}, None),
    ("rmsprop_momentum", "RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.9, "weight_decay": 0.01}, None),
    ("rmsprop_centered", "RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}, None),
    ("adagrad", "Adagrad", {"lr": 0.1}, None),
    ("adagrad_decay", "Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.01,
                                  "initial_accumulator_value": 0.1, "eps": 1e-8}, None),
    ("sgd_step_decay", "SGD", {"lr": 0.1, "momentum": 0.9}, ("StepLR", {"step_size": 2, "gamma": 0.5})),
    ("sgd_multi_step", "SGD", {"lr": 0.1}, ("MultiStepLR", {"milestones": [1, 3], "gamma": 0.1})),
    ("adam_cosine", "Adam", {"lr": 0.01}, ("CosineAnnealingLR", {"T_max": STEPS, "eta_min": 0.001})),
]

# Learning rates of the schedules alone, for steps 0 .. len-1, from a base rate of 0.1.
SCHEDULES = [
    ("step_decay", "StepLR", {"step_size": 3, "gamma": 0.5}, 10),
    ("multi_step", "MultiStepLR", {"milestones": [2, 5, 5, 7], "gamma": 0.1}, 10),
    ("cosine", "CosineAnnealingLR", {"T_max": 8, "eta_min": 0.001}, 9),
]

CLIPS = [
    ("clipped", 1.0),
    ("unclipped", 100.0),
]

CLIP_GRADS = [
    [[0.5, -1.0, 2.0], [0.25, 3.0, -0.125]],
    [1.5, -0.5, 0.75],
]

BUFFERS = ["momentum_buffer", "exp_avg", "exp_avg_sq", "square_avg", "grad_avg", "sum"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def flatten(rows):
    """Flattens a list or a list of lists of Python floats, keeping them in float64."""
    return [float(x) for r in rows for x in (r if isinstance(r, list) else [r])]


def flat(t):
    return [float(x) for x in t.detach().reshape(-1)]


def run_case(opt_name, kwargs, sched, dtype):
    w = torch.tensor(PROBLEM["w0"], dtype=dtype, requires_grad=True)
    b = torch.tensor(PROBLEM["b0"], dtype=dtype, requires_grad=True)
    consts = {
        "w": (torch.tensor(PROBLEM["wa"], dtype=dtype), torch.tensor(PROBLEM["wc"], dtype=dtype)),
        "b": (torch.tensor(PROBLEM["ba"], dtype=dtype), torch.tensor(PROBLEM["bc"], dtype=dtype)),
    }
    params = {"w": w, "b": b}
    # foreach=False: the single-tensor code path, which follows the documented algorithm.
    extra = {"foreach": False}
    opt = getattr(torch.optim, opt_name)([w, b], **kwargs, **extra)
    scheduler = None
    if sched is not None:
        scheduler = getattr(torch.optim.lr_scheduler, sched[0])(opt, **sched[1])
    trajectory = []
    for _ in range(STEPS):
        for name, p in params.items():
            a, c = consts[name]
            p.grad = a * (p.detach() - c)
        opt.step()
        if scheduler is not None:
            scheduler.step()
        trajectory.append({name: flat(p) for name, p in params.items()})
    state = {}
    for name, p in params.items():
        for buf in BUFFERS:
            if opt.state[p].get(buf) is not None:
                state[buf + "/" + name] = flat(opt.state[p][buf])
    return trajectory, state


def schedule_lrs(sched_name, kwargs, n):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = getattr(torch.optim.lr_scheduler, sched_name)(opt, **kwargs)
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def clip_case(max_norm, dtype):
    grads = [torch.tensor(g, dtype=dtype) for g in CLIP_GRADS]
    ps = [torch.zeros_like(g) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = g
    norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    return float(norm), [flat(p.grad) for p in ps]


def main():
    torch.set_num_threads(1)
    out = {
        "torch_version": torch.__version__,
        "steps": STEPS,
        "problem": {k: flatten(v) for k, v in PROBLEM.items()},
        "solvers": [],
        "schedules": [],
        "clips": [],
    }
    for name, opt_name, kwargs, sched in CASES:
        for dname, dtype in DTYPES.items():
            trajectory, state = run_case(opt_name, kwargs, sched, dtype)
            out["solvers"].append({
                "name": name,
                "dtype": dname,
                "torch": opt_name,
                "settings": kwargs,
                "schedule": None if sched is None else {"torch": sched[0], "settings": sched[1]},
                "trajectory": trajectory,
                "state": state,
            })
    for name, sched_name, kwargs, n in SCHEDULES:
        out["schedules"].append({
            "name": name, "torch": sched_name, "settings": kwargs, "base": 0.1,
            "lrs": schedule_lrs(sched_name, kwargs, n),
        })
    for name, max_norm in CLIPS:
        for dname, dtype in DTYPES.items():
            norm, grads = clip_case(max_norm, dtype)
            out["clips"].append({
                "name": name, "dtype": dname, "max_norm": max_norm,
                "grads": [flatten(g) for g in CLIP_GRADS],
                "norm": norm, "clipped": grads,
            })
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
