#!/usr/bin/python3
"""Reference figures for the sunspot forecasts of models/rnn (ar_test.go, forecast_test.go).

Sunspots 1700-2008 (data/builtin/timeseries), the first floor(0.8 N) values for training and the
rest for testing, as data.SplitSeries cuts them. It writes sunspots_reference.json beside this
file: the test RMSE of 1-step persistence (x̂_t = x_{t-1}) and of the least-squares AR(9) with an
intercept, fitted with torch.linalg.lstsq on the training windows, with its coefficients.

usage: /usr/bin/python3 models/rnn/testdata/sunspots_reference.py
"""
import csv, json, math, os
import torch

here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, '..', '..', '..', 'data', 'builtin', 'timeseries', 'sunspots-yearly-1700-2008.csv')
v = torch.tensor([float(r['SUNACTIVITY']) for r in csv.DictReader(open(path))], dtype=torch.float64)
n = len(v)
split = int(0.8 * n)
test = v[split:]
persistence = math.sqrt(torch.mean((v[split - 1:n - 1] - test) ** 2).item())

tau = 9
train = v[:split]
X = torch.stack([train[t - tau:t] for t in range(tau, split)])
A = torch.cat([X, torch.ones(len(X), 1, dtype=torch.float64)], 1)
coef = torch.linalg.lstsq(A, train[tau:].unsqueeze(1)).solution.squeeze(1)
Xt = torch.stack([v[t - tau:t] for t in range(split, n)])
pred = Xt @ coef[:tau] + coef[tau]
ls = math.sqrt(torch.mean((pred - test) ** 2).item())

out = {'values': n, 'train': split, 'persistence_rmse': persistence, 'ls_tau': tau,
       'ls_rmse': ls, 'ls_weights': coef[:tau].tolist(), 'ls_intercept': coef[tau].item(),
       'torch': torch.__version__}
json.dump(out, open(os.path.join(here, 'sunspots_reference.json'), 'w'), indent=1)
print(json.dumps(out))
