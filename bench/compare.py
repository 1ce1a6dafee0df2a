#!/usr/bin/python3
"""Side-by-side speed comparison of unroll and PyTorch (and ONNX Runtime for W1i) on the standard
workloads (WORKLOADS.md).

usage: /usr/bin/python3 bench/compare.py [--pairs 5] [--openblas] [--workloads W1,W1i,W2,W3,W4]
       /usr/bin/python3 bench/compare.py --against gorgonia --workloads W1,W2,W3
       /usr/bin/python3 bench/compare.py --from OUTPUT      # the tables of an earlier run, again

It builds unroll's benchmark binaries once (go test -c) and bench/peak, measures the machine's
peak FMA throughput, then for each workload runs ours and the other side alternately, --pairs
times, each in a process of its own under /usr/bin/time -v. A pair is: unroll, then PyTorch
(torch_reference.py, beside this file) on 1 thread and on 2 threads, then for W1i ONNX Runtime
(ort/, running the W1 net exported by unroll; --ort-model torch for PyTorch's export) on 1 thread
and on 2. For each workload it prints each side's min / median / max over the
pairs, the median of the per-pair ratios (above 1: unroll is faster), the peak memory (maximum
resident set size) of each side, and the achieved GFLOP/s of each side as a share of the peak.
Beside the median ratio it prints the ratio of each side's best run: on a loaded machine a
side that runs 2 threads in lock-step (OpenMP) loses far more to another process than one whose
threads do not wait for each other, and the best runs are the ones the load disturbed least.

The other side is always in its strongest honest configuration: PyTorch with glibc malloc's
thresholds raised (torch_reference.py's default; the effect of the jemalloc/tcmalloc PyTorch's
CPU tuning guide recommends), at whichever of 1 and 2 threads has the higher median in this run
(both are printed), and ONNX Runtime likewise. unroll gets 2 cores (GOMAXPROCS=2). Every timed
step of every side reads a batch no earlier step has seen.

With --against gorgonia the other side is Gorgonia alone (bench/gorgonia: its own ops, the
TapeMachine, gonum's pure-Go BLAS) instead of PyTorch, for W1, W2 and W3.

Setup once: apt-get install -y python3-torch libopenblas0-pthread time (libopenblas-dev for
--openblas); node and npm for ONNX Runtime (compare.py installs onnxruntime-node 1.16.3 into a
temporary directory unless --ort-modules names one). Nothing in CI runs this: the machines are
shared and noisy, so speed is measured here, on demand, always as a ratio of the two measured in
the same run.
"""
import argparse, datetime, json, os, re, shutil, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# workload: (package, benchmark, metric unit, higher is better)
WORKLOADS = {
    'W1': ('./models/cnn', 'BenchmarkW1$', 'images/s', True),
    'W1i': ('./models/cnn', 'BenchmarkW1i$', 'images/s', True),
    'W2': ('./models/rnn', 'BenchmarkW2$', 'tokens/s', True),
    'W3': ('./models/rnn', 'BenchmarkW3$', 'tokens/s', True),
    'W4': ('./nodes', 'BenchmarkW4$', 'ms', False),
}
# FLOPs per unit of the figure (per image, per token, per forward+backward), counting the matrix
# products only (a convolution as its im2col product; the one-hot input product as a dense
# one, although both sides may compute it as a gather); a backward pass is counted as twice
# its forward (input gradient and weight gradient); activations, pooling, the loss and the
# solver are left out. See WORKLOADS.md.
W1_FORWARD = 2 * (28 * 28 * 32 * 1 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 128 + 128 * 10)  # 8.48 MFLOP
FLOPS = {
    'W1': 3 * W1_FORWARD,                               # 25.4 MFLOP per training image
    'W1i': W1_FORWARD,                                  # 8.5 MFLOP per image
    'W2': 3 * 2 * (96 * 4 * 256 + 256 * 4 * 256 + 256 * 96),  # LSTM, 4 gates: 2.31 MFLOP per token
    'W3': 3 * 2 * (96 * 3 * 256 + 256 * 3 * 256 + 256 * 96),  # GRU, 3 gates: 1.77 MFLOP per token
    'W4': 3 * 2 * 64 * 14 * 14 * 64 * 32 * 9,           # 1.39 GFLOP per forward+backward
}
# the Gorgonia-alone programs under bench/gorgonia: (directory, flags)
GORGONIA = {'W1': ('w1', []), 'W2': ('w2', []), 'W3': ('w2', ['-gru'])}
FIGURE = {'W1': r'W1 images/s ([\d.]+)', 'W1i': r'W1i images/s ([\d.]+)', 'W2': r'W2 tokens/s ([\d.]+)',
          'W3': r'W3 tokens/s ([\d.]+)', 'W4': r'W4 ms ([\d.]+)'}
ORT_VERSION = '1.16.3'  # newer versions download their binaries at install time, which fails here


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v; returns (stdout, stderr, peak RSS in MiB)."""
    p = subprocess.run(['/usr/bin/time', '-v'] + cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        sys.exit(f'{" ".join(cmd)} failed:\n{p.stdout}\n{p.stderr}')
    m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', p.stderr)
    return p.stdout, p.stderr, int(m.group(1)) / 1024 if m else float('nan')


def machine():
    """The CPU model, its core count and its vector extensions, from lscpu."""
    out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    field = lambda k: (re.search(rf'^{re.escape(k)}:\s*(.*)$', out, re.M) or [None, '?'])[1].strip()
    flags = field('Flags').split()
    isa = [f for f in ('avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_vnni', 'avx512_bf16') if f in flags]
    return f'{field("Model name")} (family {field("CPU family")}, model {field("Model")}), {field("CPU(s)")} cores, {"/".join(isa)}'


def load():
    return subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()


def build(a, names, tmp):
    """Builds the benchmark binaries; returns them by package or program name."""
    binaries = {}
    for w in names:
        pkg = WORKLOADS[w][0]
        if pkg not in binaries:
            out = os.path.join(tmp, pkg.strip('./').replace('/', '_') + '.test')
            subprocess.run(['go', 'test', '-c', '-o', out] + (['-tags', 'openblas'] if a.openblas else []) + [pkg],
                           check=True, cwd=ROOT)
            binaries[pkg] = out
    if a.against == 'gorgonia':
        for prog in sorted({GORGONIA[w][0] for w in names}):
            out = os.path.join(tmp, 'gorgonia_' + prog)
            subprocess.run(['go', 'build', '-o', out, './bench/gorgonia/' + prog], check=True, cwd=ROOT)
            binaries['gorgonia/' + prog] = out
    binaries['peak'] = os.path.join(tmp, 'peak')
    subprocess.run(['go', 'build', '-o', binaries['peak'], './bench/peak'], check=True, cwd=ROOT)
    return binaries


def setup_ort(a, tmp):
    """Exports the W1 net to ONNX and finds or installs onnxruntime-node; returns (model, NODE_PATH)
    or None, saying why, when ONNX Runtime cannot run here."""
    if not shutil.which('node') or (not a.ort_modules and not shutil.which('npm')):
        print('# ONNX Runtime: skipped (node and npm are needed)')
        return None
    modules = a.ort_modules
    if not modules:
        subprocess.run(['npm', 'install', '--no-save', '--silent', '--prefix', tmp, f'onnxruntime-node@{ORT_VERSION}'],
                       check=True, cwd=tmp, stdout=subprocess.DEVNULL)
        modules = os.path.join(tmp, 'node_modules')
    model = os.path.join(tmp, 'w1.onnx')
    if a.ort_model == 'unroll':
        subprocess.run(['go', 'run', './bench/onnxw1', '-out', model], check=True, cwd=ROOT)
    else:
        subprocess.run(['/usr/bin/python3', os.path.join(HERE, 'ort', 'export_w1_onnx.py'), model], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f'# ONNX Runtime runs the W1 net as exported by {"unroll (bench/onnxw1)" if a.ort_model == "unroll" else "PyTorch (bench/ort/export_w1_onnx.py)"}')
    return model, modules


def peak(binaries, peaks):
    """Measures the peak FMA throughput (bench/peak) and keeps in peaks, by (isa, cores), the
    best figure of this and earlier measurements."""
    p = subprocess.run([binaries['peak'], '-json', '-runs', '25', '-seconds', '0.05', '-cores', '1,2'], capture_output=True, text=True)
    if p.returncode != 0:
        print(f'# peak FMA: not measured ({p.stderr.strip()})')
        return
    figs = json.loads(p.stdout)['figures']
    print('# peak float32 FMA throughput (bench/peak, best of 25 runs of 0.05 s; median in brackets): ' +
          ', '.join(f'{f["isa"]} {f["cores"]} core{"s" if f["cores"] > 1 else ""} {f["best_gflops"]:.0f} '
                    f'({f["median_gflops"]:.0f}) GFLOP/s' for f in figs))
    for f in figs:
        k = (f['isa'], f['cores'])
        peaks[k] = max(peaks.get(k, 0), f['best_gflops'])


def two_core_peak(peaks, isa):
    """The 2-core peak of isa: the better of the 2-core figure and twice the 1-core one (each core
    has its own FMA units; on a shared machine two free cores are rarer than one)."""
    v = max(peaks.get((isa, 2), 0), 2 * peaks.get((isa, 1), 0))
    return v or None


class Side:
    """One side's figures over the pairs: a name, its figure and peak memory of each pair."""

    def __init__(self, name):
        self.name, self.figs, self.mem, self.note = name, [], [], ''

    def spread(self):
        return min(self.figs), statistics.median(self.figs), max(self.figs)


def run_pair(a, w, binaries, env, ort, steps, sides):
    """Runs one pair of workload w: unroll, then each configuration of the other side."""
    pkg, bench, unit, higher = WORKLOADS[w]
    out, _, rss = timed([binaries[pkg], '-test.run', '^$', '-test.bench', bench, '-test.benchtime', f'{steps}x', '-test.v'], env)
    m = re.search(r'([\d.]+) ' + re.escape(unit), out)
    if not m:
        sys.exit(f'no {unit} figure in the output of {w}:\n{out}')
    im = re.search(r'gemm (\S+), (\d+) threads', out)
    sides['unroll'].note = f'{im.group(1)}, {im.group(2)} threads' if im else '?'
    sides['unroll'].figs.append(float(m.group(1)))
    sides['unroll'].mem.append(rss)
    line = [f'unroll {float(m.group(1)):.6g} ({rss:.0f} MiB)']
    for key, s in sides.items():
        if key == 'unroll':
            continue
        kind, threads = key
        if kind == 'PyTorch':
            out_t, err_t, rss_t = timed(['/usr/bin/python3', os.path.join(HERE, 'torch_reference.py'), '--w', w,
                                         '--threads', str(threads), '--steps', str(steps)])
            bl = re.search(r"blas=\S+ \[(.*)\]", err_t)
            s.note = (bl.group(1).replace("'", '') if bl else '?')
        elif kind == 'ONNX Runtime':
            out_t, _, rss_t = timed(['node', os.path.join(HERE, 'ort', 'ort_w1i.js'), ort[0], str(threads), str(steps)],
                                    dict(os.environ, NODE_PATH=ort[1]))
            s.note = f'onnxruntime-node {ORT_VERSION}'
        else:
            prog, flags = GORGONIA[w]
            out_t, _, rss_t = timed([binaries['gorgonia/' + prog], '-steps', str(steps)] + flags, env)
            s.note = 'gonum pure Go, TapeMachine'
        t = float(re.search(FIGURE[w], out_t).group(1))
        s.figs.append(t)
        s.mem.append(rss_t)
        line.append(f'{kind}{"" if kind == "Gorgonia" else f" x{threads}"} {t:.6g} ({rss_t:.0f} MiB)')
    print(f'{w} [{unit}]: ' + ', '.join(line), flush=True)


def best(sides, kind, higher):
    """The configuration of kind (by thread count) with the best median, and the others."""
    cands = [k for k in sides if k != 'unroll' and k[0] == kind]
    if not cands:
        return None, []
    pick = (max if higher else min)(cands, key=lambda k: statistics.median(sides[k].figs))
    return pick, [k for k in cands if k != pick]


def ratio(ours, theirs, higher):
    return statistics.median([(o / t if higher else t / o) for o, t in zip(ours, theirs)])


def best_run(figs, higher):
    """The figure of the run the machine's load disturbed least."""
    return max(figs) if higher else min(figs)


def gflops(w, fig):
    per = FLOPS[w]
    return (fig * per if WORKLOADS[w][3] else per / (fig / 1e3)) / 1e9


def cfg(key):
    """How a configuration of the other side is named in the tables."""
    kind, n = key
    return 'GOMAXPROCS=2' if kind == 'Gorgonia' else f'{n} thread{"s" if n > 1 else ""}'


def fmt(v, unit):
    return f'{v:,.1f}' if unit == 'ms' else f'{v:,.0f}'


def report(rows, peaks):
    """Prints the tables: speed with spreads and peak memory, then GFLOP/s and shares of the peak."""
    p512, p256 = two_core_peak(peaks, 'avx512 zmm'), two_core_peak(peaks, 'avx2 ymm')
    print()
    print('| workload | unroll: min / median / max | other side (config): min / median / max | ratio, median of pairs |'
          ' ratio of the best runs (other side: any config) | other config: median | peak memory unroll / other (MiB) |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        w, unit, u = r['w'], r['unit'], r['unroll']
        for kind, (pick, others) in r['kinds'].items():
            s = r['sides'][pick]
            anyc = [f for k in [pick] + others for f in r['sides'][k].figs]
            oth = '; '.join(f'{cfg(k)}: {fmt(statistics.median(r["sides"][k].figs), unit)}' for k in others) or '-'
            print(f'| {w} ({unit}) | {" / ".join(fmt(v, unit) for v in u.spread())} | {kind} ({cfg(pick)}):'
                  f' {" / ".join(fmt(v, unit) for v in s.spread())} | {ratio(u.figs, s.figs, r["higher"]):.2f} |'
                  f' {ratio([best_run(u.figs, r["higher"])], [best_run(anyc, r["higher"])], r["higher"]):.2f} | {oth} | {max(u.mem):.0f} / {max(s.mem):.0f} |')
    print()
    print(f'| workload | GFLOP/s, medians: unroll / other | share of the 2-core AVX-512 peak'
          f'{f" ({p512:.0f} GFLOP/s)" if p512 else ""}: unroll / other |'
          f' unroll, share of the 2-core AVX2 peak{f" ({p256:.0f})" if p256 else ""} |')
    print('|---|---|---|---|')
    for r in rows:
        w, u = r['w'], r['unroll']
        for kind, (pick, _) in r['kinds'].items():
            gu, gt = gflops(w, statistics.median(u.figs)), gflops(w, statistics.median(r['sides'][pick].figs))
            sh = f'{100 * gu / p512:.0f}% / {100 * gt / p512:.0f}%' if p512 else '?'
            sh2 = f'{100 * gu / p256:.0f}%' if p256 else '?'
            print(f'| {w}, {kind} ({cfg(pick)}) | {gu:.0f} / {gt:.0f} | {sh} | {sh2} |')


def retable(path):
    """Prints the tables again from the per-pair lines and peak lines of an earlier run's output."""
    rows, peaks = {}, {}
    for line in open(path):
        if line.startswith('# peak'):
            for isa, c, v in re.findall(r'(avx512 zmm|avx2 ymm) (\d) cores? ([\d.]+) \(', line):
                peaks[(isa, int(c))] = max(peaks.get((isa, int(c)), 0), float(v))
        m = re.match(r'(W\w+) \[([\w/]+)\]: (.*)$', line)
        if not m:
            continue
        w, unit = m.group(1), m.group(2)
        r = rows.setdefault(w, {'w': w, 'unit': unit, 'higher': WORKLOADS[w][3], 'sides': {'unroll': Side('unroll')}})
        for name, th, fig, mem in re.findall(r'(unroll|PyTorch|ONNX Runtime|Gorgonia)(?: x(\d))? ([\d.]+) \(([\d.]+) MiB\)', m.group(3)):
            key = 'unroll' if name == 'unroll' else (name, int(th or 1))
            side = r['sides'].setdefault(key, Side(name))
            side.figs.append(float(fig))
            side.mem.append(float(mem))
    for r in rows.values():
        r['unroll'] = r['sides']['unroll']
        r['kinds'] = {k: best(r['sides'], k, r['higher']) for k in dict.fromkeys(k[0] for k in r['sides'] if k != 'unroll')}
    report(list(rows.values()), peaks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pairs', type=int, default=5)
    ap.add_argument('--openblas', action='store_true', help='build unroll with -tags openblas')
    ap.add_argument('--workloads', default='W1,W1i,W2,W3,W4')
    ap.add_argument('--torch-threads', default='1,2', help='PyTorch thread counts to run; the best median is compared')
    ap.add_argument('--ort-threads', default='1,2', help='ONNX Runtime thread counts for W1i; empty: no ONNX Runtime')
    ap.add_argument('--ort-model', choices=['unroll', 'torch'], default='unroll',
                    help="who exports the W1 net that ONNX Runtime runs for W1i: unroll's onnx.Export or torch.onnx.export")
    ap.add_argument('--ort-modules', default='', help='a node_modules directory holding onnxruntime-node')
    ap.add_argument('--steps', type=int, default=0, help='timed steps per run on every side (default: 20; 10 for W2, W3)')
    ap.add_argument('--against', choices=['torch', 'gorgonia'], default='torch',
                    help='the other side: PyTorch, or Gorgonia alone (bench/gorgonia; W1, W2, W3)')
    ap.add_argument('--from', dest='src', default='', help="print the tables of an earlier run's output file again, and exit")
    a = ap.parse_args()
    if a.src:
        return retable(a.src)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when the output goes to a file
    if not os.path.exists('/usr/bin/time'):
        sys.exit('needs /usr/bin/time (apt-get install -y time)')
    names = a.workloads.split(',')
    for w in names:
        if w not in WORKLOADS or (a.against == 'gorgonia' and w not in GORGONIA):
            sys.exit(f'no workload {w} {"for --against gorgonia (W1, W2, W3)" if a.against == "gorgonia" else ""}')
    tmp = tempfile.mkdtemp(prefix='unroll-bench-')
    binaries = build(a, names, tmp)
    ort = setup_ort(a, tmp) if a.against == 'torch' and 'W1i' in names and a.ort_threads else None
    other = 'PyTorch' if a.against == 'torch' else 'Gorgonia'
    env = dict(os.environ, GOMAXPROCS='2')
    print(f'# {datetime.datetime.now():%Y-%m-%d %H:%M}, {machine()}')
    print(f'# unroll {"-tags openblas" if a.openblas else "pure Go"}, GOMAXPROCS=2; {a.pairs} pairs; '
          f'other side: {other}{" (tuned allocator), threads " + a.torch_threads if other == "PyTorch" else ""}')
    print(f'# load before: {load()}')
    peaks = {}
    peak(binaries, peaks)
    rows = []
    for w in names:
        unit, higher = WORKLOADS[w][2], WORKLOADS[w][3]
        steps = a.steps or (10 if w in ('W2', 'W3') else 20)
        sides = {'unroll': Side('unroll')}
        if a.against == 'torch':
            for t in a.torch_threads.split(','):
                sides[('PyTorch', int(t))] = Side('PyTorch')
            if w == 'W1i' and ort:
                for t in a.ort_threads.split(','):
                    sides[('ONNX Runtime', int(t))] = Side('ONNX Runtime')
        else:
            sides[('Gorgonia', 1)] = Side('Gorgonia')
        for _ in range(a.pairs):
            run_pair(a, w, binaries, env, ort, steps, sides)
        kinds = {k: best(sides, k, higher) for k in dict.fromkeys(k[0] for k in sides if k != 'unroll')}
        for kind, (pick, _) in kinds.items():
            print(f'# {w}: {kind} compared at {cfg(pick)} ({sides[pick].note}); '
                  f'unroll: {sides["unroll"].note}')
        rows.append({'w': w, 'unit': unit, 'higher': higher, 'unroll': sides['unroll'], 'sides': sides, 'kinds': kinds})
    peak(binaries, peaks)
    print(f'# load after: {load()}')
    report(rows, peaks)


if __name__ == '__main__':
    main()
