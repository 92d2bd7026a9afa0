// The demo site under attack (issue 13, finding 11), against a real demo
// server on 127.0.0.1: cross-site and cross-origin posts to the retune API,
// oversized bodies, sign-in guessing, session expiry and cookie attributes;
// then the controls still retune streams from the demo's own pages in
// Chromium (set DEMO_SHOT_DIR to keep screenshots).

import assert from "node:assert/strict";
import { createDemo, type DemoOptions } from "../demo/app.tsx";
import { AttemptLimiter, clientKey, MAX_BODY } from "../demo/guards.ts";
import { SessionStore } from "../demo/sessions.ts";
import { browserMissing, launch } from "./_browser.ts";
import { TestViewer, until } from "./_viewer.ts";

/** A clock the test moves by hand. */
class Clock {
  t = 1_700_000_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

async function start(options: DemoOptions = {}) {
  const demo = await createDemo({
    width: 320,
    height: 180,
    noGpu: true,
    logger: () => {},
    ...options,
  });
  const http = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    demo.fetch,
  );
  const origin = `http://127.0.0.1:${http.addr.port}`;
  return {
    demo,
    origin,
    settings: (name: string) => demo.server.stream(name)!.settings(),
    async [Symbol.asyncDispose]() {
      await demo.close();
      await http.shutdown();
    },
  };
}

async function send(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { redirect: "manual", ...init });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

function signIn(
  origin: string,
  password: string,
  headers: Record<string, string> = {},
) {
  return send(`${origin}/login`, {
    method: "POST",
    headers: { origin, "sec-fetch-site": "same-origin", ...headers },
    body: new URLSearchParams({ name: "ada", password }),
  });
}

/** The `name=value` part of a Set-Cookie header. */
function cookiePair(headers: Headers): string {
  const line = headers.get("set-cookie");
  assert.ok(line, "a Set-Cookie header");
  return line.split(";")[0];
}

Deno.test("demo security: cross-site and cross-origin posts cannot retune a stream", async () => {
  await using d = await start();
  const api = `${d.origin}/api/streams/main`;
  const before = d.settings("main");
  const evil = JSON.stringify({ imageFormat: "png", fps: 240 });
  const attempts: Array<[string, Record<string, string>, number]> = [
    // A cross-site <form enctype="text/plain"> or no-cors fetch.
    ["text/plain, cross-site", {
      "content-type": "text/plain",
      origin: "http://evil.example",
      "sec-fetch-site": "cross-site",
    }, 403],
    // A cross-origin fetch with JSON (a browser preflights it; this is what
    // would follow if the preflight were granted).
    ["JSON, cross-origin", {
      "content-type": "application/json",
      origin: "http://evil.example",
    }, 403],
    // Another port of the same host is another origin.
    ["JSON, another port", {
      "content-type": "application/json",
      origin: "http://127.0.0.1:1",
    }, 403],
    ["JSON, same-site", {
      "content-type": "application/json",
      origin: d.origin,
      "sec-fetch-site": "same-site",
    }, 403],
    ["JSON, opaque origin", {
      "content-type": "application/json",
      origin: "null",
    }, 403],
    // Without a browser's headers, still not without the JSON type.
    ["text/plain, no origin", { "content-type": "text/plain" }, 415],
    ["form, same origin", {
      "content-type": "application/x-www-form-urlencoded",
      origin: d.origin,
    }, 415],
  ];
  for (const [what, headers, status] of attempts) {
    const res = await send(api, { method: "POST", headers, body: evil });
    assert.equal(res.status, status, what);
    assert.deepEqual(d.settings("main"), before, `${what} changed nothing`);
  }
  // No CORS preflight is granted.
  const preflight = await send(api, {
    method: "OPTIONS",
    headers: {
      origin: "http://evil.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
  });
  assert.equal(preflight.headers.get("access-control-allow-origin"), null);
  // The demo's own page may.
  const ok = await send(api, {
    method: "POST",
    headers: {
      "content-type": "application/json; charset=utf-8",
      origin: d.origin,
      "sec-fetch-site": "same-origin",
    },
    body: JSON.stringify({ fps: 24 }),
  });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(d.settings("main").fps, 24);
  for (const body of ["null", "[1]", '"fps"']) {
    const res = await send(api, {
      method: "POST",
      headers: { "content-type": "application/json", origin: d.origin },
      body,
    });
    assert.equal(res.status, 400, body);
  }
  // A cross-site form cannot sign anyone in or out either.
  for (const path of ["/login", "/logout"]) {
    const res = await send(`${d.origin}${path}`, {
      method: "POST",
      headers: {
        origin: "http://evil.example",
        "sec-fetch-site": "cross-site",
      },
      body: new URLSearchParams({ name: "ada", password: "rfb" }),
    });
    assert.equal(res.status, 403, path);
    assert.equal(res.headers.get("set-cookie"), null);
  }
});

Deno.test("demo security: the private stream is retuned only by a signed-in session", async () => {
  await using d = await start();
  const api = `${d.origin}/api/streams/private`;
  const post = (cookie?: string) =>
    send(api, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        origin: d.origin,
        ...(cookie ? { cookie } : {}),
      },
      body: JSON.stringify({ quality: 33 }),
    });
  const before = d.settings("private");
  assert.equal((await post()).status, 403);
  assert.equal((await post("rfb_demo_session=" + "0".repeat(64))).status, 403);
  assert.deepEqual(d.settings("private"), before);
  const cookie = cookiePair((await signIn(d.origin, "rfb")).headers);
  const res = await post(cookie);
  assert.equal(res.status, 200, res.body);
  assert.equal(d.settings("private").quality, 33);
  const page = await send(`${d.origin}/private`, { headers: { cookie } });
  assert.match(page.body, /data-island="Controls"/);
  assert.match(page.body, /signed in as ada/);
});

Deno.test("demo security: bodies over 16 KiB are refused with 413 while being read", async () => {
  await using d = await start();
  const api = `${d.origin}/api/streams/main`;
  const json = { "content-type": "application/json", origin: d.origin };
  // Just under the limit passes.
  const padded = JSON.stringify({ fps: 15 }).padEnd(MAX_BODY - 1, " ");
  const small = await send(api, {
    method: "POST",
    headers: json,
    body: padded,
  });
  assert.equal(small.status, 200, small.body);
  const before = d.settings("main");
  const mib = new Uint8Array(1 << 20).fill(0x20);
  mib.set(new TextEncoder().encode('{"fps":60}'));
  // One round first, so what the first refusal allocates is not counted.
  await send(api, { method: "POST", headers: json, body: mib });
  const rss0 = Deno.memoryUsage().rss;
  // 1 MiB with a Content-Length: refused from the header.
  for (let i = 0; i < 8; i++) {
    const res = await send(api, { method: "POST", headers: json, body: mib });
    assert.equal(res.status, 413);
    const form = await send(`${d.origin}/login`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: d.origin,
      },
      body: mib,
    });
    assert.equal(form.status, 413);
  }
  // 64 MiB streamed without a length (chunked): the server stops reading
  // at the limit; the sender gives up when the answer comes.
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= 64) c.close();
      else {
        sent++;
        c.enqueue(mib);
      }
    },
  });
  const res = await send(`${d.origin}/login`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: d.origin,
    },
    body: stream,
  });
  assert.equal(res.status, 413);
  assert.ok(sent < 64, `the sender got all ${sent} MiB through`);
  const grew = (Deno.memoryUsage().rss - rss0) / 2 ** 20;
  console.log(
    `RSS +${grew.toFixed(1)} MiB after 16 x 1 MiB and a streamed body ` +
      `(${sent} MiB offered)`,
  );
  // Measured here: +18 MiB (a stub server that reads no body at all shows
  // the same: the sending side's buffers); the demo before the limit +138.
  assert.ok(grew < 40, `RSS grew ${grew.toFixed(1)} MiB`);
  assert.deepEqual(d.settings("main"), before);
});

Deno.test("demo security: the 6th wrong password in a minute gets 429, and so does the right one", async () => {
  const clock = new Clock();
  await using d = await start({ now: clock.now });
  for (let i = 0; i < 5; i++) {
    assert.equal((await signIn(d.origin, `guess${i}`)).status, 401);
  }
  const sixth = await signIn(d.origin, "guess5");
  assert.equal(sixth.status, 429);
  assert.equal(sixth.headers.get("retry-after"), "60");
  assert.match(sixth.body, /Too many sign-in attempts/);
  clock.advance(20_000);
  const right = await signIn(d.origin, "rfb");
  assert.equal(right.status, 429, "even the right password waits");
  assert.equal(right.headers.get("retry-after"), "40");
  assert.equal(right.headers.get("set-cookie"), null);
  // A guessing loop gets nowhere: every answer is 429.
  let tried = 0;
  for (; tried < 200; tried++) {
    const res = await signIn(d.origin, `more${tried}`);
    assert.equal(res.status, 429);
  }
  // Another client address is not held up (same server, its handler).
  const other = await d.demo.fetch(
    new Request(`${d.origin}/login`, {
      method: "POST",
      headers: { origin: d.origin },
      body: new URLSearchParams({ name: "bob", password: "rfb" }),
    }),
    {
      remoteAddr: { transport: "tcp", hostname: "10.0.0.2", port: 5555 },
      completed: Promise.resolve(),
    },
  );
  assert.equal(other.status, 303);
  // A minute after the first failure the right password works again.
  clock.advance(40_000);
  assert.equal((await signIn(d.origin, "rfb")).status, 303);
});

Deno.test("demo security: sessions expire, sign-out ends them, the cookie says so", async () => {
  const clock = new Clock();
  await using d = await start({ now: clock.now, sessionTtlMs: 60_000 });
  const res = await signIn(d.origin, "rfb");
  assert.equal(res.status, 303);
  assert.match(
    res.headers.get("set-cookie")!,
    /^rfb_demo_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=60$/,
  );
  const cookie = cookiePair(res.headers);
  const page = () =>
    send(`${d.origin}/private`, { headers: { cookie } }).then((r) => r.body);
  const ws = `ws://127.0.0.1:${new URL(d.origin).port}/rfb/private`;
  assert.match(await page(), /signed in as ada/);
  {
    await using v = await TestViewer.open(ws, { headers: { cookie } });
    assert.equal((await v.nextFrame(10_000)).header.width, 640);
  }
  clock.advance(59_000);
  assert.match(await page(), /signed in as ada/);
  clock.advance(1_000);
  assert.match(await page(), /Signed out/);
  const late = await TestViewer.open(ws, { headers: { cookie } });
  assert.equal((await late.closed).code, 4401);

  // Sign-out deletes the session: the old cookie no longer works.
  const fresh = cookiePair((await signIn(d.origin, "rfb")).headers);
  assert.match(
    (await send(`${d.origin}/private`, { headers: { cookie: fresh } })).body,
    /signed in/,
  );
  const out = await send(`${d.origin}/logout`, {
    method: "POST",
    headers: { cookie: fresh, origin: d.origin },
  });
  assert.equal(out.status, 303);
  assert.equal(
    out.headers.get("set-cookie"),
    "rfb_demo_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
  );
  assert.match(
    (await send(`${d.origin}/private`, { headers: { cookie: fresh } })).body,
    /Signed out/,
  );
});

Deno.test("demo security: cookies are Secure with the __Host- name over HTTPS only", async () => {
  await using d = await start();
  // Plain HTTP (this listener): no Secure, 12 h, a new 32-byte token each time.
  const a = await signIn(d.origin, "rfb");
  const b = await signIn(d.origin, "rfb", { "x-forwarded-proto": "https" });
  for (const res of [a, b]) {
    assert.match(
      res.headers.get("set-cookie")!,
      /^rfb_demo_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/,
      "X-Forwarded-Proto from a client is not trusted",
    );
  }
  assert.notEqual(cookiePair(a.headers), cookiePair(b.headers));
  // A request that came over HTTPS (as Deno.serve with a certificate gives
  // it to the handler).
  const info = {
    remoteAddr: { transport: "tcp" as const, hostname: "10.0.0.3", port: 1 },
    completed: Promise.resolve(),
  };
  const https = "https://demo.example";
  const res = await d.demo.fetch(
    new Request(`${https}/login`, {
      method: "POST",
      headers: { origin: https },
      body: new URLSearchParams({ name: "ada", password: "rfb" }),
    }),
    info,
  );
  assert.equal(res.status, 303);
  const line = res.headers.get("set-cookie")!;
  assert.match(
    line,
    /^__Host-rfb_demo_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/,
  );
  const token = line.split(";")[0].split("=")[1];
  const view = async (cookie: string) =>
    await (await d.demo.fetch(
      new Request(`${https}/private`, { headers: { cookie } }),
      info,
    )).text();
  assert.match(await view(`__Host-rfb_demo_session=${token}`), /signed in/);
  // Over HTTPS the plain name does not count (it could have been planted).
  assert.match(await view(`rfb_demo_session=${token}`), /Signed out/);
  const out = await d.demo.fetch(
    new Request(`${https}/logout`, {
      method: "POST",
      headers: { origin: https, cookie: `__Host-rfb_demo_session=${token}` },
    }),
    info,
  );
  assert.equal(
    out.headers.get("set-cookie"),
    "__Host-rfb_demo_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
  );
});

Deno.test("demo security: sessions and sign-in counters are bounded", () => {
  const clock = new Clock();
  const sessions = new SessionStore({ ttlMs: 1000, max: 100, now: clock.now });
  const tokens = Array.from(
    { length: 250 },
    (_, i) => sessions.create(`u${i}`),
  );
  assert.equal(sessions.size, 100);
  assert.equal(sessions.get(tokens[0]), undefined, "the oldest were evicted");
  assert.equal(sessions.get(tokens[249])?.name, "u249");
  assert.equal(sessions.get("not a token"), undefined);
  clock.advance(1000);
  sessions.create("late");
  assert.equal(sessions.size, 1, "expired sessions are swept");

  // Lookups do not scan: 10,000 live sessions, 30,000 lookups.
  const many = new SessionStore({ max: 10_000, now: clock.now });
  const live = Array.from({ length: 30_000 }, () => many.create("x"));
  assert.equal(many.size, 10_000);
  const t0 = performance.now();
  for (const t of live) many.get(t);
  const each = (performance.now() - t0) / live.length;
  console.log(`session lookup: ${(each * 1000).toFixed(2)} µs`);
  assert.ok(each < 0.5, `${each} ms a lookup`);

  const limiter = new AttemptLimiter({
    limit: 5,
    windowMs: 60_000,
    maxKeys: 1000,
    now: clock.now,
  });
  for (let i = 0; i < 5000; i++) limiter.record(`10.0.${i >> 8}.${i & 255}`);
  assert.equal(limiter.size, 1000, "tracked addresses are capped");
  for (let i = 0; i < 5; i++) limiter.record("10.9.9.9");
  assert.equal(limiter.wait("10.9.9.9"), 60_000);
  clock.advance(60_000);
  assert.equal(limiter.wait("10.9.9.9"), 0);
  assert.equal(limiter.size, 0, "ended windows are swept");

  assert.equal(clientKey("127.0.0.1"), "127.0.0.1");
  assert.equal(clientKey("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(clientKey("2001:db8:0:1::5"), "2001:db8:0:1::/64");
  assert.equal(clientKey("2001:db8:0:1:aaaa::9"), "2001:db8:0:1::/64");
  assert.equal(clientKey("::1"), "0:0:0:0::/64");
});

Deno.test({
  name:
    "demo security: in Chromium the controls still retune public and (signed in) private streams",
  ignore: browserMissing() !== null,
  fn: async () => {
    await using d = await start();
    const shots = Deno.env.get("DEMO_SHOT_DIR");
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 1280, height: 900 },
      });
      await page.goto(`${d.origin}/streams/main`);
      await page.waitForFunction(
        `document.querySelector(".rfb-pill-text")?.textContent === "live"`,
        undefined,
        { timeout: 15_000 },
      );
      await page.selectOption("select[name=fps]", "15");
      await until(() => d.settings("main").fps === 15, 5000, "fps 15");
      await page.selectOption("select[name=stillAfter]", "false");
      await until(
        () => d.settings("main").stillAfter === false,
        5000,
        "stillAfter never",
      );
      await page.locator("input[name=quality]").fill("40");
      await until(() => d.settings("main").quality === 40, 5000, "quality 40");
      assert.equal(await page.locator(".error").count(), 0);
      if (shots) await page.screenshot({ path: `${shots}/main.png` });

      // Sign in with the page's form, then retune the private stream.
      await page.goto(`${d.origin}/private`);
      await page.fill("input[name=name]", "ada");
      await page.fill("input[name=password]", "rfb");
      await page.click("button[type=submit]");
      await page.waitForSelector("select[name=fps]");
      await page.waitForFunction(
        `document.querySelector(".rfb-pill-text")?.textContent === "live"`,
        undefined,
        { timeout: 15_000 },
      );
      await page.selectOption("select[name=fps]", "60");
      await until(() => d.settings("private").fps === 60, 5000, "private 60");
      assert.equal(await page.locator(".error").count(), 0);
      if (shots) await page.screenshot({ path: `${shots}/private.png` });
      await page.click("button[type=submit]");
      await page.waitForSelector("input[name=password]");
      const cookies = await page.context().cookies();
      assert.deepEqual(cookies.map((c) => c.name), [], "signed out");
    } finally {
      await browser.close();
    }
  },
});
