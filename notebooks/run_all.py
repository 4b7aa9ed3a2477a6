"""Execute every notebook in this folder top to bottom (what CI does).

    python notebooks/run_all.py --output OUT_ROOT [--executed DIR]

Fails (exit 1) on the first cell error, naming the notebook and the cell.
Executed copies, with their outputs, go to DIR when given.
"""

import argparse
import glob
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", required=True, help="the job's output root (published runs)")
    ap.add_argument("--executed", help="where to write the executed notebooks")
    a = ap.parse_args()
    os.environ["FIDELIS_OUTPUT"] = os.path.abspath(a.output)
    books = sorted(glob.glob(os.path.join(HERE, "*.ipynb")))
    if not books:
        print("no notebooks found", file=sys.stderr)
        return 1
    for path in books:
        nb = nbformat.read(path, as_version=4)
        started = time.time()
        client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": HERE}})
        try:
            client.execute()
        except CellExecutionError as e:
            print(f"{os.path.basename(path)}: {e}", file=sys.stderr)
            return 1
        print(f"{os.path.basename(path)}: {len(nb.cells)} cells ok in {time.time() - started:.1f}s")
        if a.executed:
            os.makedirs(a.executed, exist_ok=True)
            nbformat.write(nb, os.path.join(a.executed, os.path.basename(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
