"""Execute a notebook with Deno's Jupyter kernel and keep the kernel alive.

Prints one JSON line with every cell's outputs, then waits for a line on
stdin before shutting the kernel down, so the caller can check that the
streams the notebook started are live. Used by tests/notebook_test.ts.
"""
import json
import sys

import nbformat
from nbclient import NotebookClient

path, cwd = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
client = NotebookClient(
    nb,
    kernel_name="deno",
    timeout=120,
    # A loaded machine can deliver a cell's display output late: wait for it.
    iopub_timeout=30,
    resources={"metadata": {"path": cwd}},
)
with client.setup_kernel():
    for index, cell in enumerate(nb.cells):
        client.execute_cell(cell, index)
    print(json.dumps([c.get("outputs", []) for c in nb.cells]), flush=True)
    sys.stdin.readline()
