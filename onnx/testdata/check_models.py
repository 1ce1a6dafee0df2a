"""check_models.py runs ONNX's model checker, with full shape inference, on ONNX files.

Package onnx's tests call it with /usr/bin/python3 (Debian's python3-onnx).
usage: check_models.py FILE...   checks each file; exit status 1 if one fails
       check_models.py           reads one path per line on stdin and prints one line each,
                                 "ok" or "error: ...", so that a test suite imports onnx once
"""
import sys

import onnx


def check(path):
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
    except Exception as e:  # the checker's and the loader's errors alike
        return "error: " + " ".join(str(e).split())
    return "ok"


def main():
    if len(sys.argv) > 1:
        results = [(p, check(p)) for p in sys.argv[1:]]
        for p, r in results:
            print(p, r)
        return 0 if all(r == "ok" for _, r in results) else 1
    for line in sys.stdin:
        if line.strip():
            print(check(line.strip()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
