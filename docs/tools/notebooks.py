"""Execute unroll's guides headless and render them to Markdown (called by docs/run.sh).

For each notebook given on the command line:

1. Execute every code cell in order in a fresh GoNB kernel started in the notebook's folder,
   with a per-cell timeout. This is what `jupyter nbconvert --to notebook --execute` does
   (nbconvert's ExecutePreprocessor is this same nbclient.NotebookClient); calling nbclient
   directly lets a failure name the notebook and the cell. A cell fails when GoNB reports an
   error (a compile error, a non-zero exit, a panic) or runs past the timeout.
2. Check, in the same kernel, that the notebook's Go module replaces github.com/unroll-ml/unroll
   with this checkout, so a guide never runs a published version by accident.
3. Clean the outputs: lines that report time or progress (see drop_line) and the Go tool's
   module download chatter are dropped, consecutive stream outputs merged, so that running a
   guide twice changes no text but real results.
4. Write the executed notebook back over the .ipynb, and render <name>.md beside it with the
   figures in <name>_files/ (the folder is replaced as a whole, so no stale figure stays).

Nothing is written for a notebook that failed; the exit status is 1 when any failed.
"""

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import MarkdownExporter

MODULE = "github.com/unroll-ml/unroll"

# A Go duration as time.Duration prints it (1.5s, 350ms, 2m3.5s, 1h0m0s, 12µs).
GO_DURATION = re.compile(r"(?<![\w.])(?:\d+h)?(?:\d+m)?\d+(?:\.\d+)?(?:ns|µs|μs|us|ms|s)(?!\w)")
# A number followed by a unit of time written out (3 s, 1.2 seconds, 4 min).
SPELLED_DURATION = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?\s+(?:ns|µs|μs|us|ms|s|sec|secs|seconds?|min|mins|minutes?)(?!\w)")
# A rate per second (12.5 it/s, 3000 images/s, 1.2e+04 tokens/s).
RATE = re.compile(r"\d(?:[\d.,eE+-]*)\s*[A-Za-z]*/s(?!\w)")
# A progress bar: 45% |####   |, or the block characters bars are drawn with.
PROGRESS = re.compile(r"\d+%\s*\||[█▏▎▍▌▋▊▉░▒▓]")
# What the go command prints while it fetches modules (first run only).
GO_FETCH = re.compile(r"^go: (?:downloading|added|upgraded|downgraded|finding|extracting|found) ")


def drop_line(line):
    """Reports whether an output line is about time or progress rather than results."""
    return bool(GO_FETCH.match(line) or GO_DURATION.search(line) or SPELLED_DURATION.search(line)
                or RATE.search(line) or PROGRESS.search(line))


def clean_text(text):
    """Drops timing, progress and module-download lines; a line redrawn with a carriage return
    (a terminal progress display) is dropped too."""
    kept = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        line = line.removesuffix("\r")
        if "\r" in line or drop_line(line):
            continue
        if i == len(lines) - 1 and line == "":
            continue  # the text's final newline, added back below
        kept.append(line)
    out = "\n".join(kept)
    if kept and text.endswith("\n"):
        out += "\n"
    return out


def clean_outputs(nb):
    """Cleans the stream outputs of every code cell, merging consecutive ones of the same
    stream (how a program's output is cut into messages depends on timing)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.outputs:
            if out.output_type == "stream":
                if merged and merged[-1].output_type == "stream" and merged[-1].name == out.name:
                    merged[-1].text += out.text
                    continue
                out.text = str(out.text)
            merged.append(out)
        cleaned = []
        for out in merged:
            if out.output_type == "stream":
                out.text = clean_text(out.text)
                if not out.text:
                    continue
            cleaned.append(out)
        cell.outputs = cleaned
        cell.metadata.pop("execution", None)


def cell_label(nb, index):
    """Names a cell for error messages: its number among all cells and among code cells."""
    code = sum(1 for c in nb.cells[: index + 1] if c.cell_type == "code")
    return f"cell {index + 1} (code cell {code})"


def output_text(cell, limit=60):
    """The text a failed cell printed, for the error message."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append("\n".join(out.get("traceback", [])) or f"{out.ename}: {out.evalue}")
        elif "text/plain" in out.get("data", {}):
            parts.append(out.data["text/plain"])
        elif "text/html" in out.get("data", {}):
            parts.append(re.sub(r"<[^>]+>", "", out.data["text/html"]))
    lines = "".join(p if p.endswith("\n") else p + "\n" for p in parts).splitlines()
    if len(lines) > limit:
        lines = [f"... ({len(lines) - limit} lines left out)"] + lines[-limit:]
    return "\n".join(lines)


def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.splitlines())


def check_replace(client, nb, root):
    """Runs `go mod edit -json` in the kernel's module and checks that unroll, when required,
    is replaced by the checkout at root. Returns an error string or None."""
    probe = nbformat.v4.new_code_cell("!*go mod edit -json", id="unroll-docs-replace-check")
    nb.cells.append(probe)
    try:
        client.execute_cell(probe, len(nb.cells) - 1)
    finally:
        nb.cells.pop()
    text = "".join(o.text for o in probe.outputs if o.output_type == "stream" and o.name == "stdout")
    try:
        mod = json.loads(text)
    except ValueError:
        return f"cannot read the notebook's go.mod (go mod edit -json printed {text[:200]!r})"
    required = any(r["Path"] == MODULE for r in mod.get("Require") or [])
    targets = [r["New"]["Path"] for r in mod.get("Replace") or [] if r["Old"]["Path"] == MODULE]
    if not required and not targets:
        return None
    if not targets:
        return f"the notebook's go.mod requires {MODULE} without replacing it by the checkout {root}"
    if os.path.realpath(targets[-1]) != os.path.realpath(root):
        return f"the notebook's go.mod replaces {MODULE} by {targets[-1]}, not by the checkout {root}"
    return None


def log_tail(log, n=15):
    """The end of GoNB's log, for failures that the cell's output does not explain."""
    with open(log, errors="replace") as f:
        tail = f.read().splitlines()[-n:]
    return "\n  GoNB's log ends with:\n" + indent("\n".join(tail)) if tail else ""


def execute(path, root, timeout, log):
    """Executes the notebook at path; returns (notebook, None) or (None, error message). The
    message of a failed cell shows what the cell printed; other failures add the end of GoNB's
    own log."""
    nb = nbformat.read(path, as_version=4)
    name = os.path.basename(path)
    kernel = nb.metadata.get("kernelspec", {}).get("name", "gonb")
    nb.metadata.setdefault("language_info", {"name": "go"})  # code blocks in the Markdown are Go
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": os.path.dirname(path)}},
        record_timing=False,
        # Compile errors as plain text rather than HTML, so that they read well here.
        extra_arguments=["--raw_error"],
    )
    with open(log, "w") as klog:
        try:
            with client.setup_kernel(stderr=klog):
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    start = time.monotonic()
                    try:
                        client.execute_cell(cell, index)
                    except CellTimeoutError:
                        return None, (f"{name}: {cell_label(nb, index)} ran past the timeout of {timeout} s "
                                      f"(UNROLL_DOCS_TIMEOUT):\n{indent(cell.source)}\n"
                                      f"  its output so far:\n{indent(output_text(cell) or '(none)')}")
                    except CellExecutionError:
                        out = output_text(cell)
                        return None, (f"{name}: {cell_label(nb, index)} failed:\n{indent(cell.source)}\n"
                                      f"  its output:\n{indent(out)}" + ("" if out else log_tail(log)))
                    print(f"  {cell_label(nb, index)}: {time.monotonic() - start:.1f} s", flush=True)
                err = check_replace(client, nb, root)
                if err:
                    return None, f"{name}: {err}"
        except DeadKernelError as e:
            return None, f"{name}: the GoNB kernel died: {e}" + log_tail(log)
    return nb, None


def tidy_markdown(body):
    """Drops trailing spaces and the runs of blank lines nbconvert's template leaves around
    outputs (outside fenced code), and gives figures a better alternative text than "png"."""
    out, fenced, blank = [], False, 0
    for line in body.strip("\n").split("\n"):
        line = line.rstrip()
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line == "":
            blank += 1
            if blank > 1:
                continue
        else:
            blank = 0
        out.append(re.sub(r"^!\[(?:png|jpeg|svg)\]\(", "![figure](", line))
    return "\n".join(out) + "\n"


def render_markdown(nb, stem):
    """Renders a notebook named stem (its file name without .ipynb) to the text of <stem>.md and
    its figures, a map from their paths relative to the notebook's folder (<stem>_files/...) to
    their bytes. tools/check.py renders the committed notebooks with it to compare."""
    body, resources = MarkdownExporter().from_notebook_node(
        nb, resources={"output_files_dir": f"{stem}_files", "unique_key": stem})
    header = (f"<!-- Rendered from {stem}.ipynb by docs/run.sh, with the outputs of a real run: "
              f"edit the notebook, not this file. -->\n\n")
    return header + tidy_markdown(body), dict(resources.get("outputs", {}))


def render(nb, path):
    """Writes the executed notebook back to path and renders <name>.md and <name>_files/."""
    folder = os.path.dirname(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    text, figures = render_markdown(nb, stem)
    nbformat.write(nb, path)
    with open(os.path.join(folder, f"{stem}.md"), "w") as f:
        f.write(text)
    shutil.rmtree(os.path.join(folder, f"{stem}_files"), ignore_errors=True)
    for rel, data in sorted(figures.items()):
        dst = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(data)
    return [f"{stem}.md"] + sorted(figures)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="the checkout's root, which notebooks must use")
    ap.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args()
    # Leave through the kernel's clean-up (it runs in a process group of its own) when stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    failures = []
    for path in args.notebooks:
        path = os.path.abspath(path)
        name = os.path.basename(path)
        print(f"docs: executing {name}", flush=True)
        start = time.monotonic()
        fd, log = tempfile.mkstemp(prefix="unroll-docs-kernel-", suffix=".log")
        os.close(fd)
        try:
            nb, err = execute(path, args.root, args.timeout, log)
        except Exception as e:  # a kernel that cannot start, an unreadable notebook
            nb, err = None, f"{name}: {type(e).__name__}: {e}" + log_tail(log)
        if err:
            failures.append(err)
            print(f"docs: FAILED {name}", flush=True)
        else:
            clean_outputs(nb)
            written = render(nb, path)
            print(f"docs: {name} passed in {time.monotonic() - start:.0f} s; wrote {', '.join(written)}",
                  flush=True)
        os.remove(log)
    for f in failures:
        print("\ndocs: " + f, file=sys.stderr)
    if failures:
        print(f"\ndocs: {len(failures)} of {len(args.notebooks)} notebooks failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
