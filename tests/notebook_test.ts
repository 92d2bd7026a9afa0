// Notebooks. The example notebook, executed by Deno's Jupyter kernel (driven headlessly with
// Debian's python3-jupyter-client, cell by cell): its outputs hold viewers pointing at a stream
// that is live, each with a still (image/png) of the newest frame, and its snapshot cell a PNG. widget()'s baseUrl: the client and the socket go through it, on the page's
// origin; in Chromium, the widget's HTML on a page behind a path-prefix proxy on another port
// (as jupyter-server-proxy serves a notebook's ports) shows the frames.

import assert from "node:assert/strict";
import { fileURLToPath, pathToFileURL } from "node:url";
import { notebookBundle, serve, widget } from "../mod.ts";
import { viewerUrls } from "../src/_notebook_urls.ts";
import { browserMissing, launch, screenPixels } from "./_browser.ts";
import { startPathProxy } from "./_path_proxy.ts";
import { near, pixelAt, solid, TestViewer, until } from "./_viewer.ts";

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

interface CellOutput {
  output_type: string;
  data?: Record<string, string>;
  ename?: string;
  evalue?: string;
}

Deno.test({
  name:
    "notebook: demo/notebook.ipynb, copied to a folder outside the checkout, renders live viewers in Deno's Jupyter kernel; widget() with baseUrl routes them through it",
  ignore: why !== null,
  fn: async () => {
    const scratch = await Deno.makeTempDir({ prefix: "rfb_notebook_" });
    const nb = JSON.parse(
      await Deno.readTextFile(`${root}/demo/notebook.ipynb`),
    ) as { cells: { cell_type: string; source: string[] }[] };
    const code = nb.cells.filter((c) => c.cell_type === "code")
      .map((c) => c.source.join("")).join("\n");
    assert.doesNotMatch(
      code,
      /(from\s*|import\(\s*)["']\.{0,2}\//,
      "the notebook imports nothing by path",
    );
    // One more cell: a widget through a jupyter-server-proxy style route.
    nb.cells.push(
      {
        cell_type: "code",
        execution_count: null,
        id: "base-url-check",
        metadata: {},
        outputs: [],
        source: ["widget(display, { baseUrl: `/proxy/${display.port}/` })"],
      } as unknown as (typeof nb.cells)[number],
    );
    await Deno.writeTextFile(`${scratch}/notebook.ipynb`, JSON.stringify(nb));
    // Until the library resolves its own npm imports from another project
    // (issue 14 item 4), the folder maps them as this checkout does.
    const deps = JSON.parse(await Deno.readTextFile(`${root}/deno.json`))
      .imports as Record<string, string>;
    await Deno.writeTextFile(
      `${scratch}/deno.json`,
      JSON.stringify({
        imports: { sharp: deps.sharp, "node-av": deps["node-av"], ws: deps.ws },
      }),
    );
    const child = new Deno.Command(PY, {
      args: [
        `${root}/tests/_run_notebook.py`,
        `${scratch}/notebook.ipynb`,
        scratch,
      ],
      cwd: scratch,
      // The notebook's first cell reads where the library is from RFB_CORE.
      env: { RFB_CORE: pathToFileURL(`${root}/mod.ts`).href },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let stderr = "";
    const errs = child.stderr.pipeThrough(new TextDecoderStream())
      .pipeTo(
        new WritableStream({
          write: (t) => {
            stderr = (stderr + t).slice(-4000);
          },
        }),
      ).catch(() => {});
    let out = "";
    try {
      while (!out.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) break;
        out += value;
      }
      assert.ok(
        out.trim(),
        `the notebook produced its outputs; stderr: ${stderr}`,
      );
      const cells = JSON.parse(out) as CellOutput[][];
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
        3,
        `the display cell and the two widget cells render HTML; outputs per cell: ${
          JSON.stringify(kinds)
        }`,
      );
      for (const h of html) {
        assert.match(h, /new RfbViewer/);
      }
      // Where the live view cannot run (a saved notebook, nbconvert), the
      // display and widget cells carry a still of the newest frame: as
      // image/png and as the picture the viewer replaces; the snapshot cell
      // is a picture alone.
      const withHtml = cells.flat().filter((o) => o.data?.["text/html"]);
      for (const o of withHtml) {
        const png = o.data!["image/png"];
        assert.ok(png, `a still beside ${Object.keys(o.data!)}`);
        assert.match(atob(png).slice(1, 4), /PNG/);
        assert.ok(o.data!["text/html"].includes(`base64,${png}`));
      }
      const snapshot = cells.at(-2)!; // the base-url cell is appended last
      assert.deepEqual(
        snapshot.map((o) => Object.keys(o.data ?? {}).sort()),
        [["image/png"]],
        `the snapshot cell shows a picture: ${JSON.stringify(kinds)}`,
      );
      assert.match(html[1], /"hud":true/);
      const url = html[0].match(/data-rfb-url="([^"]+)"/)![1];
      const port = new URL(url).port;
      const lab = {
        protocol: "http:",
        hostname: "localhost",
        href: "http://localhost:8888/lab/tree/notebook.ipynb",
      };
      assert.deepEqual(scriptUrls(html[0], lab), {
        client: `http://localhost:${port}/rfb-client.js`,
        socket: `ws://localhost:${port}/`,
      });
      // The baseUrl cell: the client and the socket go through the route.
      assert.match(html[2], new RegExp(`data-rfb-base="/proxy/${port}/"`));
      assert.deepEqual(scriptUrls(html[2], lab), {
        client: `http://localhost:8888/proxy/${port}/rfb-client.js`,
        socket: `ws://localhost:8888/proxy/${port}/`,
      });
      // The stream the notebook started is live: a viewer gets a frame of the right size.
      const viewer = await TestViewer.open(url.replace("http:", "ws:"));
      const frame = await viewer.nextFrame(10_000);
      assert.equal(frame.header.width, 480);
      assert.equal(frame.header.height, 270);
      await viewer.close();
      const client = await fetch(`${new URL(url).origin}/rfb-client.js`);
      assert.equal(client.status, 200);
      await client.body?.cancel();
    } finally {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("done\n")).catch(() => {});
      await w.close().catch(() => {});
      await lines.cancel().catch(() => {});
      await child.status;
      await errs;
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("notebook: viewerUrls: through baseUrl on the page's origin (wss: under https), else the display's port", () => {
  const lab = {
    protocol: "http:",
    hostname: "localhost",
    href: "http://localhost:8888/lab/tree/demo.ipynb",
  };
  const hub = {
    protocol: "https:",
    hostname: "hub.example",
    href: "https://hub.example/user/ann/lab/tree/demo.ipynb",
  };
  const webview = {
    protocol: "vscode-webview:",
    hostname: "0a1b2c",
    href: "vscode-webview://0a1b2c/index.html",
  };
  assert.deepEqual(viewerUrls("/proxy/8765/", "", 8765, lab), {
    client: "http://localhost:8888/proxy/8765/rfb-client.js",
    socket: "ws://localhost:8888/proxy/8765/",
  });
  assert.deepEqual(viewerUrls("/user/ann/proxy/8765/", "cam%201", 8765, hub), {
    client: "https://hub.example/user/ann/proxy/8765/rfb-client.js",
    socket: "wss://hub.example/user/ann/proxy/8765/cam%201",
  });
  assert.deepEqual(viewerUrls("https://apps.example/rfb/", "", 0, webview), {
    client: "https://apps.example/rfb/rfb-client.js",
    socket: "wss://apps.example/rfb/",
  });
  // The default, as before: the display's own port on the page's host name.
  assert.deepEqual(viewerUrls(null, "cam", 8765, lab), {
    client: "http://localhost:8765/rfb-client.js",
    socket: "ws://localhost:8765/cam",
  });
  assert.deepEqual(
    viewerUrls(null, "", 8765, { protocol: "file:", hostname: "", href: "" }),
    {
      client: "http://127.0.0.1:8765/rfb-client.js",
      socket: "ws://127.0.0.1:8765/",
    },
  );
});

/** The config object and the URL function a bundle's script runs, run against `page`. */
function scriptUrls(
  html: string,
  page: { protocol: string; hostname: string; href: string },
): { client: string; socket: string } {
  const script = html.match(/<script type="module">([\s\S]*?)<\/script>/)![1];
  const prelude = script.slice(0, script.indexOf("const el ="));
  return new Function("location", `${prelude}; return urls;`)(page);
}

Deno.test("notebook: widget() with baseUrl gives HTML whose client and socket URLs go through it", () => {
  const display = {
    name: "default",
    width: 320,
    height: 180,
    url: "http://127.0.0.1:8765/",
  };
  const hub = {
    protocol: "https:",
    hostname: "hub.example",
    href: "https://hub.example/user/ann/lab",
  };
  const bundle = notebookBundle(display, { baseUrl: "/user/ann/proxy/8765" });
  const html = bundle["text/html"];
  assert.match(html, /data-rfb-base="\/user\/ann\/proxy\/8765\/"/);
  assert.deepEqual(scriptUrls(html, hub), {
    client: "https://hub.example/user/ann/proxy/8765/rfb-client.js",
    socket: "wss://hub.example/user/ann/proxy/8765/",
  });
  assert.match(
    bundle["text/plain"],
    /viewed through \/user\/ann\/proxy\/8765\/$/,
  );
  // Without baseUrl: today's URLs, from the display's port.
  assert.deepEqual(scriptUrls(notebookBundle(display)["text/html"], hub), {
    client: "http://hub.example:8765/rfb-client.js",
    socket: "ws://hub.example:8765/",
  });
  // A display no listener of ours serves (mounted with handler()) shows through baseUrl.
  const mounted = { name: "cam 1", width: 64, height: 48, url: null };
  assert.deepEqual(Object.keys(notebookBundle(mounted)), ["text/plain"]);
  assert.deepEqual(
    scriptUrls(
      notebookBundle(mounted, { baseUrl: "https://apps.example/rfb/" })[
        "text/html"
      ],
      hub,
    ),
    {
      client: "https://apps.example/rfb/rfb-client.js",
      socket: "wss://apps.example/rfb/cam%201",
    },
  );
  // A token cannot end the script element.
  const sneaky = notebookBundle(display, { token: "</script><b>x" })[
    "text/html"
  ];
  assert.equal(sneaky.split("</script>").length, 2);
});

Deno.test("notebook: widget() refuses a bad baseUrl or an unknown option, saying why", () => {
  const display = { name: "default", width: 8, height: 8, url: null };
  const refused = (options: unknown, message: RegExp) =>
    assert.throws(
      () => widget(display, options as Record<string, never>),
      message,
    );
  refused(
    { baseUrl: "proxy/8765/" },
    /^TypeError: widget\(\): option 'baseUrl' must be an absolute path \("\/proxy\/8765\/"\) or an http\(s\) URL \("https:\/\/host\/rfb\/"\), got "proxy\/8765\/": a relative path would resolve against the notebook's own page; start it with "\/"$/,
  );
  refused(
    { baseUrl: "ws://host/rfb/" },
    /got "ws:\/\/host\/rfb\/": the client loads over http\(s\)/,
  );
  refused({ baseUrl: "//host/rfb/" }, /names a host: write "https:\/\/host\/"/);
  refused({ baseUrl: "/rfb/?token=1" }, /no query or fragment/);
  refused({ baseUrl: "https://me:pw@host/" }, /no user or password/);
  refused({ baseUrl: "" }, /option 'baseUrl' must be/);
  refused({ baseUrl: 8765 }, /got 8765$/);
  refused(
    { baseURL: "/proxy/8765/" },
    /unknown option "baseURL" \(did you mean 'baseUrl'\?\)/,
  );
  refused({ height: "300" }, /option 'height' must be a positive number/);
  refused({ fit: "stretch" }, /option 'fit' must be one of contain, cover/);
  // An absolute path or an http(s) URL passes; a missing final "/" is added.
  for (
    const ok of [
      "/proxy/8765",
      "/",
      "https://host/rfb",
      "http://127.0.0.1:9/x/",
    ]
  ) {
    widget(display, { baseUrl: ok });
  }
});

const noBrowser = browserMissing();

Deno.test({
  name:
    "notebook: the widget's HTML behind a path-prefix proxy on another port loads its client and socket through the proxy and shows frames (Chromium)",
  ignore: noBrowser !== null,
  fn: async () => {
    const W = 320, H = 180, COLOUR = [40, 160, 220];
    let html = "";
    await using proxy = startPathProxy(() =>
      new Response(
        `<!doctype html><meta charset="utf-8"><body>${html}</body>`,
        {
          headers: { "content-type": "text/html; charset=utf-8" },
        },
      )
    );
    // The page is on localhost:<proxy>, the listener on 127.0.0.1: this proxy
    // passes the page's Origin on and sets Host to the listener's, so the
    // listener must be told the page's origin (the README says so).
    const page0 = `http://localhost:${proxy.port}`;
    await using display = await serve(W, H, {
      port: 0,
      allowedOrigins: [page0],
      logger: () => {},
    });
    display.publish(solid(W, H, COLOUR));
    html = notebookBundle(display, {
      baseUrl: `/proxy/${display.port}/`,
      height: 240,
    })["text/html"];
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 640, height: 300 },
      });
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      page.on("websocket", (w) => requests.push(w.url()));
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(String(e)));
      await page.goto(`${page0}/`);
      await until(
        () => display.viewers === 1,
        15_000,
        "a viewer through the proxy",
      );
      // The frame shows in the widget (the frame is fitted into 624x240).
      let shot = await screenPixels(page);
      const deadline = performance.now() + 15_000;
      while (!near(pixelAt(shot, 320, 128), COLOUR, 24)) {
        assert.ok(
          performance.now() < deadline,
          `the widget shows the frame: ${pixelAt(shot, 320, 128)}; ${problems}`,
        );
        await new Promise((r) => setTimeout(r, 100));
        shot = await screenPixels(page);
      }
      const base = `${page0}/proxy/${display.port}/`;
      assert.ok(requests.includes(`${base}rfb-client.js`), requests.join("\n"));
      assert.ok(
        requests.includes(base.replace("http:", "ws:")),
        requests.join("\n"),
      );
      assert.deepEqual(
        requests.filter((u) =>
          !u.startsWith("blob:") && new URL(u).port !== String(proxy.port)
        ),
        [],
        "nothing goes to the listener's own port",
      );
      assert.deepEqual(proxy.forwarded, [
        `/proxy/${display.port}/rfb-client.js`,
        `ws /proxy/${display.port}/`,
      ]);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  },
});
