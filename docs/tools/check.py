"""Check the guides without running them (docs/run.sh --check; CI runs it before executing them).

1. Every guide's notebook and its Markdown agree. For each docs/NN-topic.ipynb: every code cell
   has been executed (it has an execution count); the Markdown rendered again from the notebook,
   as docs/run.sh renders it (tools/notebooks.py), is exactly the committed NN-topic.md, source
   cells and outputs alike; and NN-topic_files/ holds exactly the notebook's figures, byte for
   byte. A NN-topic.md or NN-topic_files/ without its notebook is an error too.
2. Every link and image in docs/*.md and the repository's README.md resolves: a relative target
   names a file or folder that exists (and a #fragment into a Markdown file names one of its
   headings, as GitHub makes anchors); an http(s) link is checked for its form only, since CI
   has no internet. Fenced and indented code, inline code and math are skipped.

Prints every problem, naming the file (and line), and exits with status 1 if there is any.
"""

import argparse
import glob
import os
import re
import sys
import unicodedata
from urllib.parse import unquote, urlsplit

import nbformat

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from notebooks import render_markdown  # noqa: E402  (the renderer docs/run.sh uses)

GUIDE = re.compile(r"^\d\d-[^/]+$")  # NN-topic, the stem of a guide


def check_guides(docs):
    """Compares each notebook with its rendered Markdown and figures; returns the problems."""
    problems = []
    notebooks = sorted(glob.glob(os.path.join(docs, "*.ipynb")))
    stems = {os.path.splitext(os.path.basename(p))[0] for p in notebooks}
    for path in notebooks:
        stem = os.path.splitext(os.path.basename(path))[0]
        name = os.path.basename(path)
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and cell.get("execution_count") is None:
                problems.append(f"{name}: cell {i + 1} has never been executed: run docs/run.sh {stem}")
                break
        text, figures = render_markdown(nb, stem)
        md = os.path.join(docs, f"{stem}.md")
        if not os.path.exists(md):
            problems.append(f"{stem}.md is missing: run docs/run.sh {stem}")
        else:
            with open(md) as f:
                committed = f.read()
            if committed != text:
                problems.append(f"{stem}.md differs from {name} {first_difference(committed, text)}: "
                                f"the notebook was changed without docs/run.sh {stem}, or the Markdown by hand")
        files_dir = os.path.join(docs, f"{stem}_files")
        present = set()
        if os.path.isdir(files_dir):
            present = {os.path.relpath(p, docs) for p in glob.glob(os.path.join(files_dir, "**"), recursive=True)
                       if os.path.isfile(p)}
        for rel in sorted(set(figures) - present):
            problems.append(f"{rel}, a figure of {name}, is missing: run docs/run.sh {stem}")
        for rel in sorted(present - set(figures)):
            problems.append(f"{rel} is not a figure of {name} (a stale file)")
        for rel in sorted(set(figures) & present):
            with open(os.path.join(docs, rel), "rb") as f:
                if f.read() != figures[rel]:
                    problems.append(f"{rel} differs from the figure in {name}: run docs/run.sh {stem}")
    for path in sorted(glob.glob(os.path.join(docs, "*"))):
        base = os.path.basename(path)
        stem = base[:-3] if base.endswith(".md") else base[:-6] if base.endswith("_files") else None
        if stem and GUIDE.match(stem) and stem not in stems:
            problems.append(f"{base} has no notebook {stem}.ipynb")
    return problems


def first_difference(a, b):
    """Says where two texts first differ: "at line N (committed ...; rendered ...)"."""
    al, bl = a.split("\n"), b.split("\n")
    for i in range(max(len(al), len(bl))):
        x = al[i] if i < len(al) else "(end of file)"
        y = bl[i] if i < len(bl) else "(end of file)"
        if x != y:
            return f"at line {i + 1} (the file has {x[:80]!r}, the notebook renders {y[:80]!r})"
    return ""


# Markdown scanning. Links: [text](target "title"), ![alt](target), <http://...>, reference
# definitions [label]: target, and HTML src= / href= attributes.
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
AUTOLINK = re.compile(r"<((?:https?|mailto):[^\s>]+)>")
REFDEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)")
HTML_ATTR = re.compile(r"""<(?:img|a|source)\b[^>]*?\s(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
FENCE = re.compile(r"^ {0,3}(```+|~~~+)")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text):
    """Yields (line number, line) for the lines of a Markdown text outside code blocks, with
    inline code and math replaced by placeholders."""
    fence = None
    in_list = False
    prev_blank = True
    indented_code = False
    in_math = False
    for n, line in enumerate(text.split("\n"), 1):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        if line.strip() == "":
            prev_blank = True
            indented_code = False
            continue
        indented = line.startswith("    ") or line.startswith("\t")
        if indented and (indented_code or (prev_blank and not in_list)):
            indented_code = True  # an indented code block (the guides' outputs)
            prev_blank = False
            continue
        if LIST_ITEM.match(line):
            in_list = True
        elif not line.startswith(" ") and prev_blank:
            in_list = False
        prev_blank = False
        if in_math or "$$" in line:  # display math, $$ ... $$ over one line or several
            if line.count("$$") % 2 == 1:
                in_math = not in_math
            continue
        line = re.sub(r"(`+)(.+?)\1", " code ", line)
        line = re.sub(r"\$[^$]+\$", " math ", line)
        yield n, line


def slug(heading, seen):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens,
    and -1, -2, ... for repeats."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").lower()
    out = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    out = out.replace(" ", "-")
    base, i = out, 0
    while out in seen:
        i += 1
        out = f"{base}-{i}"
    seen.add(out)
    return out


def anchors(path, cache={}):
    """The anchors of the headings of the Markdown file at path."""
    if path not in cache:
        with open(path) as f:
            text = f.read()
        seen = set()
        fence = None
        for line in text.split("\n"):
            m = FENCE.match(line)
            if fence:
                if m and m.group(1)[0] == fence[0]:
                    fence = None
                continue
            if m:
                fence = m.group(1)
                continue
            h = HEADING.match(line)
            if h:
                slug(h.group(2), seen)
        cache[path] = seen
    return cache[path]


def check_target(md, n, target, root):
    """Checks one link target of the Markdown file md (line n); returns a problem or None."""
    where = f"{os.path.relpath(md, root)}:{n}"
    target = target.strip("<>")
    if not target:
        return f"{where}: an empty link"
    parts = urlsplit(target)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        if not host or " " in target or ("." not in host and host != "localhost"):
            return f"{where}: malformed web address {target!r}"
        return None
    if parts.scheme == "mailto":
        return None if "@" in target else f"{where}: malformed address {target!r}"
    if parts.scheme:
        return f"{where}: unknown kind of link {target!r}"
    path = unquote(parts.path)
    dest = md if path == "" else os.path.normpath(os.path.join(os.path.dirname(md), path))
    if not os.path.exists(dest):
        return f"{where}: {target!r} does not exist ({os.path.relpath(dest, root)})"
    if os.path.relpath(dest, root).startswith(".."):
        return f"{where}: {target!r} leaves the repository"
    if parts.fragment and dest.endswith(".md") and os.path.isfile(dest):
        if unquote(parts.fragment).lower() not in anchors(dest):
            return f"{where}: {os.path.relpath(dest, root)} has no heading for #{parts.fragment}"
    return None


def check_links(files, root):
    """Checks every link and image of the Markdown files; returns the problems."""
    problems = []
    for md in files:
        with open(md) as f:
            text = f.read()
        for n, line in prose_lines(text):
            targets = [m.group(1) for m in INLINE.finditer(line)]
            targets += [m.group(1) for m in AUTOLINK.finditer(line)]
            targets += [m.group(1) for m in HTML_ATTR.finditer(line)]
            m = REFDEF.match(line)
            if m:
                targets.append(m.group(1))
            for t in targets:
                p = check_target(md, n, t, root)
                if p:
                    problems.append(p)
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="the repository's root")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    docs = os.path.join(root, "docs")
    problems = check_guides(docs)
    mds = sorted(glob.glob(os.path.join(docs, "*.md"))) + [os.path.join(root, "README.md")]
    problems += check_links(mds, root)
    n = len(glob.glob(os.path.join(docs, "*.ipynb")))
    if problems:
        for p in problems:
            print(f"docs check: {p}", file=sys.stderr)
        print(f"docs check: {len(problems)} problems", file=sys.stderr)
        return 1
    print(f"docs check: {n} guides agree with their notebooks; the links of {len(mds)} Markdown files resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
