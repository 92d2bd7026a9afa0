// The example notebook, executed by Deno's Jupyter kernel (driven headlessly with Debian's
// python3-jupyter-client, cell by cell): its outputs hold viewers pointing at a stream that is live.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TestViewer } from "./_viewer.ts";

const root = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const PY = "/usr/bin/python3";

async function missing(): Promise<string | null> {
  try {
    const py = await new Deno.Command(PY, {
      args: ["-c", "import jupyter_client, nbformat"],
      stderr: "null",
      stdout: "null",
    }).output();
    if (!py.success) {
      return "Debian's python3-jupyter-client and python3-nbformat are not installed";
    }
  } catch {
    return `no ${PY}`;
  }
  const specs = await new Deno.Command(PY, {
    args: [
      "-c",
      "from jupyter_client.kernelspec import KernelSpecManager as K; print(' '.join(K().find_kernel_specs()))",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!new TextDecoder().decode(specs.stdout).split(/\s+/).includes("deno")) {
    return "the Deno kernel is not installed (deno jupyter --install)";
  }
  return null;
}

const why = await missing();
if (why) console.warn(`skipping the notebook test: ${why}`);

Deno.test({
  name:
    "notebook: a Display and widget() render live viewers in Deno's Jupyter kernel",
  ignore: why !== null,
  fn: async () => {
    const child = new Deno.Command(PY, {
      args: [
        `${root}/tests/_run_notebook.py`,
        `${root}/demo/notebook.ipynb`,
        `${root}/demo`,
      ],
      cwd: root,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    try {
      while (!out.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) break;
        out += value;
      }
      assert.ok(out.trim(), "the notebook produced its outputs");
      const cells = JSON.parse(out) as Array<
        Array<{ data?: Record<string, string>; output_type: string }>
      >;
      const errors = cells.flat().filter((o) => o.output_type === "error");
      assert.deepEqual(errors, [], "no cell failed");
      const html = cells.flat().map((o) => o.data?.["text/html"]).filter((
        h,
      ): h is string => !!h);
      const kinds = cells.map((c) =>
        c.map((o) => Object.keys(o.data ?? {}).join("+") || o.output_type)
      );
      assert.equal(
        html.length,
        2,
        `the display cell and the widget cell render HTML; outputs per cell: ${
          JSON.stringify(kinds)
        }`,
      );
      for (const h of html) {
        assert.match(h, /rfb-client\.js/);
        assert.match(h, /new RfbViewer/);
      }
      assert.match(html[1], /"hud":true/);
      const url = html[0].match(/data-rfb-url="([^"]+)"/)![1];
      // The stream the notebook started is live: a viewer gets a frame of the right size.
      const viewer = await TestViewer.open(url.replace("http:", "ws:"));
      const frame = await viewer.nextFrame(10_000);
      assert.equal(frame.header.width, 480);
      assert.equal(frame.header.height, 270);
      await viewer.close();
      const page = await fetch(`${new URL(url).origin}/rfb-client.js`);
      assert.equal(page.status, 200);
      await page.body?.cancel();
    } finally {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("done\n")).catch(() => {});
      await w.close().catch(() => {});
      await lines.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      await child.status;
    }
  },
});
