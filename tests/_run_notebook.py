"""Execute a notebook with Deno's Jupyter kernel and keep the kernel alive.

Prints one JSON line with every cell's outputs (as nbformat writes them:
output_type, data / text / ename), then waits for a line on stdin before
shutting the kernel down, so the caller can check that the streams the
notebook started are live. Used by tests/notebook_test.ts.

It talks to the kernel with jupyter_client directly: each cell's outputs are
the iopub messages whose parent is that cell's execute request, collected
until the kernel is idle and a short quiet spell has passed. (nbclient
dropped a cell's output now and then with this kernel.)
"""
import json
import queue
import sys
import time

import nbformat
from jupyter_client.manager import start_new_kernel

QUIET_S = 0.5  # after idle, wait this long for late messages
CELL_TIMEOUT_S = 120

path, cwd = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
km, kc = start_new_kernel(kernel_name="deno", cwd=cwd, startup_timeout=120)
try:
    results = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            results.append([])
            continue
        msg_id = kc.execute(cell.source)
        outputs = []
        idle = False
        deadline = time.time() + CELL_TIMEOUT_S
        last = time.time()
        while time.time() < deadline:
            if idle and time.time() - last > QUIET_S:
                break
            try:
                msg = kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id")
            kind, content = msg["msg_type"], msg["content"]
            if parent != msg_id:
                continue
            last = time.time()
            if kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind in ("execute_result", "display_data"):
                outputs.append({"output_type": kind, "data": content["data"]})
            elif kind == "stream":
                outputs.append(
                    {"output_type": "stream", "name": content["name"], "text": content["text"]}
                )
            elif kind == "error":
                outputs.append(
                    {"output_type": "error", "ename": content["ename"], "evalue": content["evalue"]}
                )
        else:
            outputs.append({"output_type": "error", "ename": "Timeout", "evalue": "cell did not finish"})
        results.append(outputs)
    print(json.dumps(results), flush=True)
    sys.stdin.readline()
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
