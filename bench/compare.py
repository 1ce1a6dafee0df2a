#!/usr/bin/python3
"""Side-by-side speed comparison of unroll and PyTorch on the standard workloads (WORKLOADS.md).

usage: /usr/bin/python3 bench/compare.py [--pairs 3] [--openblas] [--workloads W1,W1i,W2,W3,W4]
       /usr/bin/python3 bench/compare.py --against gorgonia --workloads W1,W2,W3

It builds unroll's benchmark binaries once (go test -c), then for each workload runs ours and
PyTorch's (torch_reference.py, beside this file) alternately, --pairs times, each in a process
of its own under /usr/bin/time -v, and prints per workload: the median figure of each side, the
median of the per-pair ratios (above 1: unroll is faster), peak memory (maximum resident set
size) of each side, and the BLAS each side loaded. PyTorch runs at its best thread count for
the workload (WORKLOADS.md: 2 threads for the CNN workloads, 1 for the recurrent ones) unless
--torch-threads says otherwise; unroll gets the same 2 cores (GOMAXPROCS=2).

With --against gorgonia the other side is Gorgonia alone (bench/gorgonia: its own ops, the
TapeMachine, gonum's pure-Go BLAS) instead of PyTorch, for W1, W2 and W3.

Setup once: apt-get install -y python3-torch libopenblas0-pthread (and libopenblas-dev for
--openblas). Nothing in CI runs this: the machines are shared and noisy, so speed is measured
here, on demand, always as a ratio of the two measured in the same run.
"""
import argparse, datetime, os, platform, re, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# workload: (package, benchmark, metric unit, higher is better, torch threads)
WORKLOADS = {
    'W1': ('./models/cnn', 'BenchmarkW1$', 'images/s', True, 2),
    'W1i': ('./models/cnn', 'BenchmarkW1i$', 'images/s', True, 2),
    'W2': ('./models/rnn', 'BenchmarkW2$', 'tokens/s', True, 1),
    'W3': ('./models/rnn', 'BenchmarkW3$', 'tokens/s', True, 1),
    'W4': ('./nodes', 'BenchmarkW4$', 'ms', False, 2),
}
# the Gorgonia-alone programs under bench/gorgonia: (directory, flags)
GORGONIA = {'W1': ('w1', []), 'W2': ('w2', []), 'W3': ('w2', ['-gru'])}
TORCH_FIGURE = {'W1': r'W1 images/s ([\d.]+)', 'W1i': r'W1i images/s ([\d.]+)', 'W2': r'W2 tokens/s ([\d.]+)',
                'W3': r'W3 tokens/s ([\d.]+)', 'W4': r'W4 ms ([\d.]+)'}


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v; returns (stdout, stderr, peak RSS in MiB)."""
    p = subprocess.run(['/usr/bin/time', '-v'] + cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        sys.exit(f'{" ".join(cmd)} failed:\n{p.stdout}\n{p.stderr}')
    m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', p.stderr)
    return p.stdout, p.stderr, int(m.group(1)) / 1024 if m else float('nan')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pairs', type=int, default=3)
    ap.add_argument('--openblas', action='store_true', help='build unroll with -tags openblas')
    ap.add_argument('--workloads', default='W1,W1i,W2,W3,W4')
    ap.add_argument('--torch-threads', type=int, default=0, help='override the per-workload thread count')
    ap.add_argument('--steps', type=int, default=0, help='timed steps per run on both sides (default: the reference\'s)')
    ap.add_argument('--against', choices=['torch', 'gorgonia'], default='torch',
                    help='the other side: PyTorch, or Gorgonia alone (bench/gorgonia; W1, W2, W3)')
    a = ap.parse_args()
    if not os.path.exists('/usr/bin/time'):
        sys.exit('needs /usr/bin/time (apt-get install -y time)')
    tmp = tempfile.mkdtemp(prefix='unroll-bench-')
    names = a.workloads.split(',')
    binaries = {}
    for w in names:
        pkg = WORKLOADS[w][0]
        if pkg in binaries:
            continue
        out = os.path.join(tmp, pkg.strip('./').replace('/', '_') + '.test')
        cmd = ['go', 'test', '-c', '-o', out] + (['-tags', 'openblas'] if a.openblas else []) + [pkg]
        subprocess.run(cmd, check=True, cwd=ROOT)
        binaries[pkg] = out
    if a.against == 'gorgonia':
        for w in names:
            if w not in GORGONIA:
                sys.exit(f'--against gorgonia: no Gorgonia-alone program for {w} (W1, W2, W3)')
        for prog in sorted({GORGONIA[w][0] for w in names}):
            out = os.path.join(tmp, 'gorgonia_' + prog)
            subprocess.run(['go', 'build', '-o', out, './bench/gorgonia/' + prog], check=True, cwd=ROOT)
            binaries['gorgonia/' + prog] = out
    other = 'PyTorch' if a.against == 'torch' else 'Gorgonia'
    env = dict(os.environ, GOMAXPROCS='2')
    print(f'# {datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores, '
          f'load {os.getloadavg()[0]:.1f}, unroll {"-tags openblas" if a.openblas else "pure Go"}')
    rows = []
    for w in names:
        pkg, bench, unit, higher, tthreads = WORKLOADS[w]
        tthreads = a.torch_threads or tthreads
        steps = a.steps or (10 if w in ('W2', 'W3') else 20)
        ours, theirs, ratios, mem_o, mem_t = [], [], [], [], []
        impl = tblas = ''
        for _ in range(a.pairs):
            out, _, rss = timed([binaries[pkg], '-test.run', '^$', '-test.bench', bench, '-test.benchtime', f'{steps}x', '-test.v'], env)
            m = re.search(r'([\d.]+) ' + re.escape(unit), out)
            if not m:
                sys.exit(f'no {unit} figure in the output of {w}:\n{out}')
            o = float(m.group(1))
            im = re.search(r'gemm (\S+), (\d+) threads', out)
            impl = f'{im.group(1)} x{im.group(2)}' if im else '?'
            if a.against == 'torch':
                out_t, err_t, rss_t = timed(['/usr/bin/python3', os.path.join(HERE, 'torch_reference.py'), '--w', w,
                                             '--threads', str(tthreads), '--steps', str(steps)])
                bl = re.search(r"blas=\S+ \[(.*)\]", err_t)
                tblas = (bl.group(1).replace("'", '') if bl else '?') + f', {tthreads} thread{"s" if tthreads > 1 else ""}'
            else:
                prog, flags = GORGONIA[w]
                out_t, _, rss_t = timed([binaries['gorgonia/' + prog], '-steps', str(steps)] + flags, env)
                tblas = 'gonum pure Go, TapeMachine'
            t = float(re.search(TORCH_FIGURE[w], out_t).group(1))
            ours.append(o); theirs.append(t); mem_o.append(rss); mem_t.append(rss_t)
            ratios.append(o / t if higher else t / o)
            print(f'{w}: unroll {o:.1f} {unit} ({rss:.0f} MiB), {other} {t:.1f} {unit} ({rss_t:.0f} MiB), ratio {ratios[-1]:.2f}', flush=True)
        rows.append((w, unit, statistics.median(ours), statistics.median(theirs), statistics.median(ratios),
                     max(mem_o), max(mem_t), impl, tblas))
    print()
    print(f'| workload | unroll | {other} | ratio (median of pairs) | peak memory unroll / {other} | unroll BLAS | {other} BLAS |')
    print('|---|---|---|---|---|---|---|')
    for w, unit, o, t, r, mo, mt, impl, tb in rows:
        print(f'| {w} | {o:.1f} {unit} | {t:.1f} {unit} | {r:.2f} | {mo:.0f} / {mt:.0f} MiB | {impl} | {tb} |')


if __name__ == '__main__':
    main()
