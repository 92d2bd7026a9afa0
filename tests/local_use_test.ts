// The library used from another project, as the README's "In your own
// project" says: a scratch project in a temp folder outside the repository,
// with its own deno.json (the README's, pointing at this checkout), installs
// without the node-av build-script warning, type-checks, serves a frame that
// a WebSocket viewer reads (an image, and H.264 through node-av, whose
// install scripts never ran), and bundles `@rfb/core/client` for a page that
// shows the frames in Chromium. No network but the npm registry (the cache
// in DENO_DIR is enough once the repository's own dependencies are in).

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { relative } from "node:path";
import { browserMissing, launch, waitForExpression } from "./_browser.ts";
import { TestViewer } from "./_viewer.ts";

const root = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const missing = browserMissing();

/** The README's deno.json for a project that links the checkout. */
async function readmeConfig(): Promise<Record<string, unknown>> {
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const section = readme.split("## In your own project")[1] ?? "";
  const json = section.match(/```json\n([\s\S]*?)```/)?.[1];
  assert.ok(json, "README's 'In your own project' has a deno.json");
  return JSON.parse(json);
}

async function deno(
  cwd: string,
  args: string[],
): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const out = new TextDecoder().decode(stdout) +
    new TextDecoder().decode(stderr);
  return { code, out };
}

/** A project in `dir` with the README's deno.json (its link made to point here). */
async function project(
  dir: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const config = await readmeConfig();
  assert.deepEqual(config.links, ["../rfb"]);
  config.links = [relative(dir, root)];
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({ ...config, ...extra }, null, 2),
  );
}

const SERVER = `import { serve } from "@rfb/core";
import { CLOSE_GOING_AWAY } from "@rfb/core";
import { packEnvelope } from "@rfb/core/protocol";

const display = await serve(64, 48, { port: 0, logger: () => {} });
const rgba = new Uint8Array(64 * 48 * 4).fill(200);
display.publish(rgba);
console.log(\`open \${display.url} \${CLOSE_GOING_AWAY} \${packEnvelope({ type: "x" }, new Uint8Array(2)).length}\`);
`;

const PAGE = `import { RfbViewer } from "@rfb/core/client";

const url = new URLSearchParams(location.search).get("rfb")!;
(globalThis as { rfb?: RfbViewer }).rfb = new RfbViewer(
  document.getElementById("app")!,
  { url, statsInterval: 1 },
);
`;

Deno.test({
  name:
    "a scratch project outside the repository links the checkout, installs quietly, serves a frame, and bundles the client",
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "rfb-scratch-" });
    assert.ok(!tmp.startsWith(root + "/"), "outside the repository");
    const app = `${tmp}/app`;
    const web = `${tmp}/web`;
    let child: Deno.ChildProcess | null = null;
    try {
      await project(app);
      await Deno.writeTextFile(`${app}/main.ts`, SERVER);
      const install = await deno(app, ["install"]);
      assert.equal(install.code, 0, install.out);
      assert.doesNotMatch(install.out, /Ignored build scripts/, install.out);
      const check = await deno(app, ["check", "main.ts"]);
      assert.equal(check.code, 0, check.out);

      child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "main.ts"],
        cwd: app,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      let out = "";
      const pump = (s: ReadableStream<Uint8Array<ArrayBuffer>>) =>
        (async () => {
          for await (const t of s.pipeThrough(new TextDecoderStream())) {
            out += t;
          }
        })().catch(() => {});
      const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
      const deadline = Date.now() + 30_000;
      while (!/open http:\/\/\S+ 1001 \d+/.test(out)) {
        assert.ok(Date.now() < deadline, `no URL in: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.doesNotMatch(out, /Ignored build scripts|Warning/, out);
      const url = out.match(/open (http:\/\/\S+)/)![1];
      const ws = url.replace("http:", "ws:");
      const v = await TestViewer.open(ws);
      const config = await v.nextText("config", 10_000);
      assert.equal(config.width, 64);
      const frame = await v.nextFrame(10_000);
      assert.equal(frame.header.height, 48);
      await v.close();
      // H.264 through node-av, whose install scripts never ran: they only
      // check for the prebuilt binary and download an ffmpeg program.
      const h264 = await TestViewer.open(ws, {
        hello: { supported: ["webcodecs/h264-annexb"] },
      });
      const h264Config = await h264.nextText("config", 20_000);
      assert.equal(
        h264Config.transport,
        "webcodecs",
        JSON.stringify(h264Config),
      );
      const chunk = await h264.nextFrame(20_000);
      assert.equal(chunk.header.type, "video_chunk");
      await h264.close();

      // The browser client through a bundler, type-checked as browser code.
      await project(web, {
        compilerOptions: { lib: ["dom", "dom.iterable", "esnext"] },
      });
      await Deno.writeTextFile(`${web}/page.ts`, PAGE);
      const webCheck = await deno(web, ["check", "page.ts"]);
      assert.equal(webCheck.code, 0, webCheck.out);
      const bundle = await deno(web, [
        "bundle",
        "--platform",
        "browser",
        "-o",
        "dist/app.js",
        "page.ts",
      ]);
      assert.equal(bundle.code, 0, bundle.out);
      await Deno.copyFile(
        `${root}/client/dist/rfb-worker.js`,
        `${web}/dist/rfb-worker.js`,
      );
      await Deno.writeTextFile(
        `${web}/dist/index.html`,
        `<!doctype html><body style="margin:0"><div id="app" style="width:320px;height:240px"></div>
<script type="module" src="app.js"></script></body>`,
      );

      if (!missing) {
        const types: Record<string, string> = {
          html: "text/html",
          js: "text/javascript",
        };
        await using site = Deno.serve(
          { hostname: "127.0.0.1", port: 0, onListen() {} },
          async (req) => {
            const name = new URL(req.url).pathname.slice(1) || "index.html";
            try {
              const body = await Deno.readFile(`${web}/dist/${name}`);
              return new Response(body, {
                headers: { "content-type": types[name.split(".").pop()!] },
              });
            } catch {
              return new Response("not found", { status: 404 });
            }
          },
        );
        const browser = await launch();
        try {
          const page = await browser.newPage();
          await page.goto(
            `http://127.0.0.1:${site.addr.port}/?rfb=${encodeURIComponent(ws)}`,
          );
          await waitForExpression(
            page,
            `(globalThis.rfb?.view.stats?.frames ?? 0) > 0`,
            { timeout: 15_000 },
          );
        } finally {
          await browser.close();
        }
      }
      child.kill("SIGTERM");
      await child.status;
      await pumps;
      child = null;
    } finally {
      if (child) {
        child.kill("SIGKILL");
        await child.status;
      }
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
