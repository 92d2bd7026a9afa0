// The viewer page and the JSON listings cannot be framed by another site
// (clickjacking turned a user's clicks and keys into input), send no
// Referer, and are not sniffed; the page still works under its own
// Content-Security-Policy in real Chromium, and the client bundle stays
// loadable from other origins (the notebook).
import assert from "node:assert/strict";
import { serve } from "../mod.ts";
import { browserMissing, launch, waitForExpression } from "./_browser.ts";
import { quadrants, sleep, until } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping browser tests: ${missing}`);

function assertGuarded(res: Response, what: string): void {
  const h = res.headers;
  assert.match(
    h.get("content-security-policy") ?? "",
    /(^|; )frame-ancestors 'none'(;|$)/,
    `${what}: CSP frame-ancestors`,
  );
  assert.equal(h.get("x-frame-options"), "DENY", `${what}: X-Frame-Options`);
  assert.equal(h.get("referrer-policy"), "no-referrer", `${what}: Referrer`);
  assert.equal(h.get("x-content-type-options"), "nosniff", `${what}: nosniff`);
}

Deno.test("the viewer page, /streams and /metrics carry the anti-framing headers; the client bundle stays public", async () => {
  await using display = await serve(64, 48, { port: 0, logger: () => {} });
  const base = `http://127.0.0.1:${display.port}`;

  const page = await fetch(`${base}/`);
  const html = await page.text();
  assertGuarded(page, "page");
  assert.equal(page.headers.get("cache-control"), "no-store");
  const csp = page.headers.get("content-security-policy")!;
  assert.match(csp, /(^|; )default-src 'none'(;|$)/);
  assert.match(csp, /(^|; )connect-src 'self'(;|$)/);
  const nonce = csp.match(/'nonce-([^']+)'/)?.[1];
  assert.ok(nonce, csp);
  assert.ok(html.includes(`<script type="module" nonce="${nonce}">`), html);
  const again = await fetch(`${base}/`);
  await again.body?.cancel();
  assert.notEqual(
    again.headers.get("content-security-policy"),
    csp,
    "a fresh nonce per page",
  );

  for (const path of ["/streams", "/metrics"]) {
    const res = await fetch(base + path);
    await res.json();
    assertGuarded(res, path);
    assert.match(
      res.headers.get("content-security-policy")!,
      /(^|; )default-src 'none'(;|$)/,
    );
  }

  const bundle = await fetch(`${base}/rfb-client.js`);
  await bundle.body?.cancel();
  assert.equal(bundle.headers.get("access-control-allow-origin"), "*");
  assert.equal(bundle.headers.get("cross-origin-resource-policy"), null);
});

Deno.test({
  name: "Chromium: a page on another origin cannot frame the viewer",
  ignore: missing !== null,
  fn: async () => {
    await using display = await serve(320, 180, {
      port: 0,
      logger: () => {},
    });
    display.publish(quadrants(320, 180));
    const target = `http://127.0.0.1:${display.port}/`;
    // The attacker: a page on another origin (localhost, another port)
    // framing the viewer and the listing.
    await using attacker = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () =>
        new Response(
          `<!doctype html><body>
<iframe id="viewer" src="${target}" style="opacity:0.05" width="640" height="360"></iframe>
<iframe id="streams" src="${target}streams"></iframe>
</body>`,
          { headers: { "content-type": "text/html" } },
        ),
    );
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const messages: string[] = [];
      page.on("console", (m) => messages.push(m.text()));
      await page.goto(`http://localhost:${attacker.addr.port}/`);
      await until(
        () => messages.filter((m) => m.includes("frame-ancestors")).length >= 2,
        10_000,
        "the two refusals",
      );
      assert.ok(
        messages.some((m) =>
          m.includes(`Framing '${target}'`) &&
          m.includes(`"frame-ancestors 'none'"`) && m.includes("blocked")
        ),
        messages.join("\n"),
      );
      await sleep(500); // room for a viewer that would connect
      assert.equal(display.viewers, 0, "the framed viewer never connected");
      for (const frame of page.frames().slice(1)) {
        // a blocked frame is Chromium's error page, not ours
        assert.ok(!frame.url().startsWith(target), frame.url());
        const rfb = await frame.evaluate(() =>
          typeof (globalThis as { rfb?: unknown }).rfb
        ).catch(() => "no access");
        assert.notEqual(rfb, "object");
      }
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name:
    "Chromium: the viewer page works under its own policy, with no violation",
  ignore: missing !== null,
  fn: async () => {
    await using display = await serve(320, 180, {
      port: 0,
      logger: () => {},
    });
    display.publish(quadrants(320, 180));
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 640, height: 360 },
      });
      const violations: string[] = [];
      page.on("console", (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) {
          violations.push(m.text());
        }
      });
      page.on("worker", (w) => {
        w.on("console", (m) => {
          if (/Content Security Policy|Refused to/i.test(m.text())) {
            violations.push(`worker: ${m.text()}`);
          }
        });
      });
      await page.addInitScript(`
        globalThis.cspViolations = [];
        document.addEventListener("securitypolicyviolation", (e) =>
          globalThis.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
      `);
      await page.goto(`${display.url!}?hud`);
      await waitForExpression(
        page,
        `globalThis.rfb?.view.status === "negotiated"`,
        { timeout: 10_000 },
      );
      await waitForExpression(
        page,
        `(globalThis.rfb?.view.stats?.frames ?? 0) > 0`,
        { timeout: 10_000 },
      );
      // input still reaches the app
      display.pollEvents();
      await page.mouse.click(320, 180);
      await until(
        () => display.pollEvents().some((e) => e.type === "pointer_down"),
        5000,
        "a click",
      );
      const seen = await page.evaluate(() =>
        (globalThis as { cspViolations?: string[] }).cspViolations
      );
      assert.deepEqual(seen, [], "securitypolicyviolation events");
      assert.deepEqual(violations, [], "console");
    } finally {
      await browser.close();
    }
  },
});
