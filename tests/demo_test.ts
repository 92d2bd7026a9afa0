// The demo site: pages, JSON API, sign-in and the protected stream, the CLI, and the gallery
// live in Chromium (several viewers of one stream in sync); `--nats`: a
// host and two edges through a local nats-server.

import assert from "node:assert/strict";
import { createDemo } from "../demo/app.tsx";
import { startNatsDemo } from "../demo/nats.ts";
import { browserMissing, launch, screenPixels } from "./_browser.ts";
import { decodeImage, pixelAt, TestViewer, until } from "./_viewer.ts";

async function start(noGpu = true) {
  const demo = await createDemo({
    width: 320,
    height: 180,
    noGpu,
    logger: () => {},
  });
  const http = Deno.serve({ port: 0, onListen() {} }, demo.fetch);
  const base = `127.0.0.1:${http.addr.port}`;
  return {
    demo,
    base,
    async [Symbol.asyncDispose]() {
      await demo.close();
      await http.shutdown();
    },
  };
}

async function text(
  url: string,
  init?: RequestInit,
): Promise<[number, string, Headers]> {
  const res = await fetch(url, { redirect: "manual", ...init });
  return [res.status, await res.text(), res.headers];
}

Deno.test("demo: pages render with their islands; unknown pages are 404", async () => {
  await using d = await start();
  const [s1, home] = await text(`http://${d.base}/`);
  assert.equal(s1, 200);
  assert.equal(
    home.match(/data-island="Viewer"/g)?.length,
    3,
    "main + fractal twice (no GPU here)",
  );
  assert.match(home, /This scene is off/);
  assert.match(
    home,
    /Off because the demo was started with <code>--no-gpu<\/code>/,
  );
  assert.match(home, /src="\/static\/islands\.js"/);
  const [s2, stream] = await text(`http://${d.base}/streams/fractal`);
  assert.equal(s2, 200);
  assert.match(stream, /data-island="Controls"/);
  assert.match(stream, /data-island="StatsChart"/);
  assert.equal((await text(`http://${d.base}/streams/private`))[0], 404);
  assert.equal((await text(`http://${d.base}/nowhere`))[0], 404);
  const [s3, js, h3] = await text(`http://${d.base}/static/islands.js`);
  assert.equal(s3, 200);
  assert.match(h3.get("content-type")!, /javascript/);
  assert.ok(js.length > 10_000);
  assert.equal((await text(`http://${d.base}/static/style.css`))[0], 200);
});

Deno.test("demo: the JSON API retunes a stream and refuses bad values", async () => {
  await using d = await start();
  const api = `http://${d.base}/api/streams`;
  const list = JSON.parse((await text(api))[1]);
  assert.deepEqual(list.map((s: { name: string }) => s.name).sort(), [
    "fractal",
    "main",
  ]);
  const post = (name: string, body: string) =>
    text(`${api}/${name}`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
  const [ok, body] = await post(
    "main",
    JSON.stringify({ quality: 55, fps: 24 }),
  );
  assert.equal(ok, 200);
  assert.equal(JSON.parse(body).settings.quality, 55);
  assert.equal(d.demo.server.stream("main")!.settings().fps, 24);
  const [bad, err] = await post("main", JSON.stringify({ quality: 500 }));
  assert.equal(bad, 400);
  assert.match(JSON.parse(err).error, /'quality'/);
  assert.equal((await post("main", "{nope"))[0], 400);
  assert.equal((await post("nowhere", "{}"))[0], 404);
  assert.equal(
    (await post("private", "{}"))[0],
    403,
    "the private stream is tunable only when signed in",
  );
});

Deno.test("demo: the private stream refuses viewers until they sign in", async () => {
  await using d = await start();
  const ws = `ws://${d.base}/rfb/private`;
  const anonymous = await TestViewer.open(ws);
  assert.equal((await anonymous.closed).code, 4401);
  const form = (password: string) =>
    text(`http://${d.base}/login`, {
      method: "POST",
      body: new URLSearchParams({ name: "ada", password }),
    });
  const [wrong] = await form("nope");
  assert.equal(wrong, 401);
  const [status, , headers] = await form("rfb");
  assert.equal(status, 303);
  const cookie = headers.get("set-cookie")!.split(";")[0];
  assert.match(cookie, /^rfb_demo_session=/);
  const member = await TestViewer.open(ws, { headers: { cookie } });
  const frame = await member.nextFrame(10_000);
  assert.equal(frame.header.width, 640);
  const [, page] = await text(`http://${d.base}/private`, {
    headers: { cookie },
  });
  assert.match(page, /signed in/);
  await member.close();
});

Deno.test("demo: the classroom admits anyone to watch and signed-in presenters to drive; its roster and settings need a sign-in", async () => {
  await using d = await start();
  const ws = `ws://${d.base}/rfb/classroom`;
  const [, audiencePage] = await text(`http://${d.base}/classroom`);
  assert.match(audiencePage, /You are in the audience/);
  assert.match(audiencePage, /name="next" value="\/classroom"/);
  const [status, , headers] = await text(`http://${d.base}/login`, {
    method: "POST",
    body: new URLSearchParams({
      name: "Ada",
      password: "rfb",
      next: "/classroom",
    }),
  });
  assert.equal(status, 303);
  assert.equal(headers.get("location"), "/classroom");
  const cookie = headers.get("set-cookie")!.split(";")[0];
  const presenter = await TestViewer.open(ws, { headers: { cookie } });
  const watcher = await TestViewer.open(ws, { hello: { role: "control" } });
  const standing = async (v: TestViewer) => {
    for (;;) {
      const c = await v.nextText("control", 10_000);
      if (c.you !== undefined) return c;
    }
  };
  assert.deepEqual(
    [(await standing(presenter)).driving, (await standing(watcher)).role],
    [true, "view"],
  );
  const board = d.demo.server.stream("classroom")!;
  assert.equal(board.settings().control, "exclusive");
  assert.deepEqual(board.presence().map((v) => [v.name, v.role]), [
    ["Ada", "control"],
    [null, "view"],
  ]);
  const [anonymous] = await text(`http://${d.base}/api/classroom`);
  assert.equal(anonymous, 403);
  const [ok, roster] = await text(`http://${d.base}/api/classroom`, {
    headers: { cookie },
  });
  assert.equal(ok, 200);
  assert.equal(JSON.parse(roster).viewers[0].control, true);
  const [retune] = await text(`http://${d.base}/api/streams/classroom`, {
    method: "POST",
    body: JSON.stringify({ control: "shared" }),
    headers: { "content-type": "application/json" },
  });
  assert.equal(retune, 403, "the audience cannot change who drives");
  const [, presenterPage] = await text(`http://${d.base}/classroom`, {
    headers: { cookie },
  });
  assert.match(presenterPage, /You present as <strong>Ada<\/strong>/);
  assert.match(presenterPage, /data-island="Roster"/);
  await presenter.close();
  await watcher.close();
});

Deno.test("demo: --help, and bad flags fail with a message", async () => {
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "demo/main.ts", ...args],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
  const help = await run("--help");
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /--pattern/);
  const bad = await run("--pattern", "teapot");
  assert.equal(bad.code, 2);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /unknown pattern "teapot"/,
  );
  const transport = await run("--transport", "carrier-pigeon");
  assert.equal(transport.code, 2);
});

Deno.test({
  name:
    "demo: the gallery is live in Chromium, and two viewers of the fractal stay in sync",
  ignore: browserMissing() !== null,
  fn: async () => {
    await using d = await start(false);
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 1280, height: 1400 },
      });
      await page.goto(`http://${d.base}/`);
      const viewers = d.demo.gpuUnavailable ? 3 : 4;
      await page.waitForFunction(
        `[...document.querySelectorAll(".rfb-pill-text")].filter((e) => e.textContent === "live").length === ${viewers}`,
        undefined,
        { timeout: 15_000 },
      );
      await until(
        () => d.demo.server.stream("fractal")!.viewers === 2,
        5000,
        "two fractal viewers",
      );
      // Zoom into the first fractal view; the second must show the same picture.
      const cards = await page.$$(".card .stage");
      const fractals = cards.slice(-2);
      const box = (await fractals[0].boundingBox())!;
      const before = await screenPixels(page);
      const published =
        d.demo.server.stream("fractal")!.stats().framesPublished;
      await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
      for (let i = 0; i < 5; i++) {
        await page.mouse.wheel(0, -200);
        await page.waitForTimeout(100);
      }
      await page.waitForTimeout(2000);
      const shot = await screenPixels(page);
      const other = (await fractals[1].boundingBox())!;
      let same = 0, total = 0, changed = 0;
      for (let fy = 0.2; fy < 0.9; fy += 0.1) {
        for (let fx = 0.1; fx < 0.95; fx += 0.1) {
          const a = pixelAt(
            shot,
            Math.round(box.x + box.width * fx),
            Math.round(box.y + box.height * fy),
          );
          const b = pixelAt(
            shot,
            Math.round(other.x + other.width * fx),
            Math.round(other.y + other.height * fy),
          );
          const was = pixelAt(
            before,
            Math.round(box.x + box.width * fx),
            Math.round(box.y + box.height * fy),
          );
          total++;
          if (a.every((v, i) => Math.abs(v - b[i]) < 40)) same++;
          if (a.some((v, i) => Math.abs(v - was[i]) >= 40)) changed++;
        }
      }
      // The zoom reached the scene (new frames) and changed the picture the
      // first viewer shows; the second shows the same.
      assert.ok(
        d.demo.server.stream("fractal")!.stats().framesPublished > published,
      );
      assert.ok(
        changed / total > 0.1,
        `the zoom changed only ${changed}/${total} points`,
      );
      assert.ok(same / total > 0.9, `${same}/${total} sample points agree`);
    } finally {
      await browser.close();
    }
  },
});

Deno.test("demo --nats: one scene from a host and two edges; drawing at one edge shows at the other", async () => {
  const nats = await startNatsDemo({
    port: 0,
    hostname: "127.0.0.1",
    allowedHosts: ["loopback"],
    pattern: "paint",
    width: 160,
    height: 120,
    fps: 30,
    transport: "image",
  });
  try {
    const [one, two] = nats.edgeUrls.map((u) => u.replace(/^http/, "ws"));
    await using painter = await TestViewer.open(one);
    await using watcher = await TestViewer.open(two);
    // The first pictures wait for both edges to announce and the host to
    // relay (a few hundred ms alone; longer beside the whole suite).
    await painter.nextFrame(15_000);
    const blank = await decodeImage((await watcher.nextFrame(15_000)).payload);
    assert.deepEqual(pixelAt(blank, 80, 60), [255, 255, 255]);
    painter.send({
      type: "event",
      event: { type: "pointer_down", x: 80, y: 60, button: 1, buttons: [1] },
    });
    // The stroke reaches the host through edge one; edge two shows it.
    const end = Date.now() + 5000;
    let px = pixelAt(blank, 80, 60);
    while (!(px[2] > px[0] + 60) && Date.now() < end) {
      px = pixelAt(
        await decodeImage((await watcher.nextFrame(5000)).payload),
        80,
        60,
      );
    }
    assert.ok(px[2] > px[0] + 60, `the stroke at edge two: ${px}`);
  } finally {
    await nats.close();
  }
});
