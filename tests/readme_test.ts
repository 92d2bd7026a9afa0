// The README's TypeScript snippets, run as written: every ```ts block not
// marked `ignore` either runs to its end on its own (within a timeout) or,
// for the two that serve until stopped (the quick start and the app that
// mounts a handler), is driven by a test below and then stopped. Listening
// ports in those two become 0 so tests never collide.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TestViewer } from "./_viewer.ts";

const root = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const RUN_TIMEOUT_MS = 60_000;

/** A fenced ```ts block of the README. */
interface Snippet {
  /** The `##`/`###` heading it is under. */
  section: string;
  /** The info string after ```ts (e.g. "ignore"). */
  info: string;
  /** The code. */
  code: string;
  /** Its first line in README.md. */
  line: number;
}

async function snippets(): Promise<Snippet[]> {
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const out: Snippet[] = [];
  let section = "";
  const lines = readme.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const heading = lines[i].match(/^#{2,3} (.*)/);
    if (heading) section = heading[1];
    const fence = lines[i].match(/^```ts(?:\s+(.*))?$/);
    if (!fence) continue;
    const start = i + 1;
    while (i + 1 < lines.length && lines[i + 1] !== "```") i++;
    out.push({
      section,
      info: fence[1] ?? "",
      code: lines.slice(start, i + 1).join("\n") + "\n",
      line: start,
    });
    i++;
  }
  return out;
}

/** Snippets that serve until stopped, and the test that drives each. */
function servesUntilStopped(s: Snippet): string | null {
  if (s.section === "Quick start") return "the README quick start";
  if (s.code.includes("Deno.serve(") && s.code.includes("new RfbServer(")) {
    return "the README's mounting example";
  }
  return null;
}

/** Write `code` beside mod.ts (so `@rfb/core` and the npm names resolve). */
async function scratchFile(code: string): Promise<string> {
  const file = await Deno.makeTempFile({
    dir: root,
    prefix: "_readme_",
    suffix: ".ts",
  });
  await Deno.writeTextFile(file, code);
  return file;
}

/** Run a snippet that serves until stopped; read its output as it comes. */
async function start(code: string) {
  const file = await scratchFile(code);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", file],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // stdout and stderr together (Deno.serve says where it listens on stderr).
  let out = "";
  let ended = false;
  const pump = (stream: ReadableStream<Uint8Array<ArrayBuffer>>) =>
    (async () => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        out += text;
      }
    })().catch(() => {});
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]).then(
    () => ended = true,
  );
  const waitFor = async (re: RegExp): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + 30_000;
    while (!re.test(out)) {
      if (ended) throw new Error(`program ended; output: ${out}`);
      if (Date.now() > deadline) throw new Error(`no ${re} in output: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return out.match(re)!;
  };
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already ended */ }
    await child.status;
    await pumps;
    await Deno.remove(file);
  };
  return { child, waitFor, stop, output: () => out };
}

/** The TCP ports a process listens on (Linux: its socket inodes in /proc/net). */
async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for await (const fd of Deno.readDir(`/proc/${pid}/fd`)) {
    try {
      const target = await Deno.readLink(`/proc/${pid}/fd/${fd.name}`);
      const m = target.match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const ports: number[] = [];
  for (const table of ["tcp", "tcp6"]) {
    const text = await Deno.readTextFile(`/proc/${pid}/net/${table}`);
    for (const row of text.trim().split("\n").slice(1)) {
      const f = row.trim().split(/\s+/);
      // f[1] local address:port (hex), f[3] state (0A: LISTEN), f[9] inode
      if (f[3] === "0A" && inodes.has(f[9])) {
        ports.push(parseInt(f[1].split(":").pop()!, 16));
      }
    }
  }
  return ports.sort();
}

Deno.test("every README TypeScript snippet not marked ignore runs as written and ends on its own", async () => {
  const all = await snippets();
  const run = all.filter((s) => !/\bignore\b/.test(s.info));
  assert.ok(run.length >= 4, `README has runnable snippets: ${run.length}`);
  const driven = run.map(servesUntilStopped).filter(Boolean);
  assert.deepEqual(driven.sort(), [
    "the README quick start",
    "the README's mounting example",
  ]);
  for (const s of run) {
    if (servesUntilStopped(s)) continue;
    const file = await scratchFile(s.code);
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", file],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
      const { code, signal, stdout, stderr } = await child.output();
      clearTimeout(timer);
      const text = new TextDecoder().decode(stdout) +
        new TextDecoder().decode(stderr);
      const where = `README.md:${s.line} (${s.section})`;
      assert.equal(
        signal,
        null,
        `${where} did not end on its own in ${RUN_TIMEOUT_MS} ms: ${text}`,
      );
      assert.equal(code, 0, `${where} failed: ${text}`);
    } finally {
      await Deno.remove(file);
    }
  }
});

Deno.test("the README quick start serves frames and prints clicks", async () => {
  const quick = (await snippets()).find((s) => s.section === "Quick start");
  assert.ok(quick, "README has a Quick start ts block");
  assert.match(quick.code, /port: 8765/);
  const app = await start(quick.code.replace("port: 8765", "port: 0"));
  try {
    const [, url] = await app.waitFor(/open (http:\/\/\S+)/);
    const v = await TestViewer.open(url.replace("http:", "ws:"));
    const f = await v.nextFrame(10_000);
    assert.equal(f.header.width, 640);
    assert.equal(f.header.height, 360);
    v.send({
      type: "event",
      event: {
        type: "pointer_down",
        x: 6.4,
        y: -12,
        inside: false,
        button: 1,
        buttons: [1],
        modifiers: [],
      },
    });
    v.send({
      type: "event",
      event: {
        type: "pointer_down",
        x: 12.7,
        y: 34.2,
        inside: true,
        button: 1,
        buttons: [1],
        modifiers: [],
      },
    });
    // A click on the letterbox bars is not reported; a click on the frame
    // is, in whole pixels.
    await app.waitFor(/click at 12, 34/);
    assert.doesNotMatch(app.output(), /click at 6|click at -|12\.7/);
    await v.close();
  } finally {
    await app.stop();
  }
});

Deno.test("the README's mounting example: the streams answer only through the app, and only with the cookie", async () => {
  const mount = (await snippets()).find((s) =>
    servesUntilStopped(s)?.includes("mounting")
  );
  assert.ok(mount, "README has the mounting example");
  assert.match(mount.code, /port: 8000/);
  assert.doesNotMatch(mount.code, /serveServer|listen\(/);
  const app = await start(mount.code.replace("port: 8000", "port: 0"));
  try {
    const [, base] = await app.waitFor(
      /Listening on (http:\/\/127\.0\.0\.1:\d+)\//,
    );
    const port = Number(new URL(base).port);
    assert.deepEqual(
      await listeningPorts(app.child.pid),
      [port],
      "the app's port is the only one the program listens on",
    );
    const home = await fetch(`${base}/`);
    assert.match(await home.text(), /href="\/rfb\/cam"/);

    const anonymous = await fetch(`${base}/rfb/streams`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const cookie = { cookie: "session=ok" };
    const listed =
      await (await fetch(`${base}/rfb/streams`, { headers: cookie }))
        .json();
    assert.deepEqual(listed.map((s: { path: string }) => s.path), ["/rfb/cam"]);
    const list = await (await fetch(`${base}/rfb`, { headers: cookie })).text();
    assert.match(list, /href="\/rfb\/cam"/);

    const stranger = await TestViewer.open(
      `${base.replace("http:", "ws:")}/rfb/cam`,
    );
    assert.equal((await stranger.closed).code, 4401);
    const v = await TestViewer.open(`${base.replace("http:", "ws:")}/rfb/cam`, {
      headers: { ...cookie, origin: base },
    });
    const config = await v.nextText("config", 10_000);
    assert.equal(config.width, 640);
    const f = await v.nextFrame(10_000);
    assert.equal(f.header.width, 640);
    await v.close();
  } finally {
    await app.stop();
  }
});

Deno.test("the README's API section names every export of mod.ts", async () => {
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const api = readme.split("## API")[1]?.split("\n## ")[0] ?? "";
  const mod = await import("../mod.ts");
  const missing = Object.keys(mod).filter((name) => !api.includes(`\`${name}`));
  assert.deepEqual(
    missing,
    [],
    "exports missing from the README's API section",
  );
});
