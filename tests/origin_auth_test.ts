// Origin check, token auth, cookies, publish-input checks, option validation and the event queue.
import assert from "node:assert/strict";
import { originAllowed } from "../src/http/origin.ts";
import { timingSafeEqual, tokenAuth } from "../src/http/auth.ts";
import { parseCookies } from "../src/http/auth.ts";
import { checkFrame } from "../src/frame.ts";
import {
  type AllowedOrigins,
  type AuthContext,
  checkAllowedOrigins,
  checkSize,
  type DisplayOptions,
  resolveDisplayOptions,
} from "../src/options.ts";
import { type DisplayEvent, EventQueue } from "../src/events.ts";
import { silentLogger } from "../src/log.ts";
import { systemClock } from "../src/clock.ts";

// ---------------------------------------------------------------------------
// originAllowed

interface OriginCase {
  name: string;
  url: string;
  origin?: string;
  host?: string;
  allowed?: AllowedOrigins;
  want: boolean;
}

const originCases: OriginCase[] = [
  {
    name: "no Origin header (not a browser) is allowed",
    url: "http://localhost:8765/",
    want: true,
  },
  {
    name: "same origin is allowed",
    url: "http://localhost:8765/default",
    origin: "http://localhost:8765",
    host: "localhost:8765",
    want: true,
  },
  {
    name: "same origin without a Host header (URL used) is allowed",
    url: "http://127.0.0.1:8765/",
    origin: "http://127.0.0.1:8765",
    want: true,
  },
  {
    name: "same hostname on another port (dev server) is allowed",
    url: "http://localhost:8765/",
    origin: "http://localhost:5173",
    host: "localhost:8765",
    want: true,
  },
  {
    name: "same hostname, https page, other port is allowed",
    url: "http://example.com:8765/",
    origin: "https://example.com",
    host: "example.com:8765",
    want: true,
  },
  {
    name: "hostname compared case-insensitively against Host",
    url: "http://localhost:8765/",
    origin: "http://localhost:5173",
    host: "LocalHost:8765",
    want: true,
  },
  {
    name: "Host without a port matches",
    url: "http://example.com/",
    origin: "http://example.com:3000",
    host: "example.com",
    want: true,
  },
  {
    name: "IPv6 host, same address other port is allowed",
    url: "http://[::1]:8765/",
    origin: "http://[::1]:5173",
    host: "[::1]:8765",
    want: true,
  },
  {
    name: "IPv6 host, other address is refused",
    url: "http://[::1]:8765/",
    origin: "http://[::2]:5173",
    host: "[::1]:8765",
    want: false,
  },
  {
    name: "IPv6 host header without port",
    url: "http://[::1]/",
    origin: "http://[::1]:5173",
    host: "[::1]",
    want: true,
  },
  {
    name: "other host is refused",
    url: "http://localhost:8765/",
    origin: "http://evil.example",
    host: "localhost:8765",
    want: false,
  },
  {
    name: "hostname suffix trick is refused",
    url: "http://localhost:8765/",
    origin: "http://localhost.evil.example:8765",
    host: "localhost:8765",
    want: false,
  },
  {
    name: "hostname prefix trick is refused",
    url: "http://example.com:8765/",
    origin: "http://evilexample.com:8765",
    host: "example.com:8765",
    want: false,
  },
  {
    name: '"null" origin (sandboxed frame, file://) is refused',
    url: "http://localhost:8765/",
    origin: "null",
    host: "localhost:8765",
    want: false,
  },
  {
    name: "non-http scheme origin is refused",
    url: "http://localhost:8765/",
    origin: "chrome-extension://localhost",
    host: "localhost:8765",
    want: false,
  },
  {
    name: "garbage origin is refused",
    url: "http://localhost:8765/",
    origin: "not a url",
    host: "localhost:8765",
    want: false,
  },
  {
    name: "allowedOrigins list admits a listed origin (trailing slash ignored)",
    url: "http://localhost:8765/",
    origin: "https://app.example.com",
    host: "localhost:8765",
    allowed: ["https://app.example.com/"],
    want: true,
  },
  {
    name: "allowedOrigins list refuses an unlisted origin",
    url: "http://localhost:8765/",
    origin: "https://other.example.com",
    host: "localhost:8765",
    allowed: ["https://app.example.com"],
    want: false,
  },
  {
    name: "allowedOrigins list is exact: scheme matters",
    url: "http://localhost:8765/",
    origin: "http://app.example.com",
    host: "localhost:8765",
    allowed: ["https://app.example.com"],
    want: false,
  },
  {
    name: "allowedOrigins list still allows same-host pages",
    url: "http://localhost:8765/",
    origin: "http://localhost:5173",
    host: "localhost:8765",
    allowed: ["https://app.example.com"],
    want: true,
  },
  {
    name: '"*" admits any origin',
    url: "http://localhost:8765/",
    origin: "https://evil.example",
    host: "localhost:8765",
    allowed: "*",
    want: true,
  },
  {
    name: '"*" admits even the "null" origin',
    url: "http://localhost:8765/",
    origin: "null",
    host: "localhost:8765",
    allowed: "*",
    want: true,
  },
  // Origins with schemes other than http(s) have an opaque origin in the URL
  // standard (URL.origin is "null" for all of them): a listed one admits
  // exactly itself, compared as scheme://host[:port].
  ...[
    ["chrome-extension://goodid", true],
    ["chrome-extension://evil", false],
    ["chrome-extension://goodid.evil", false],
    ["chrome-extension://goodid:1", false],
    ["moz-extension://goodid", false],
    ["moz-extension://0b1c5ae5-2f0e-4a1c-9e0c-6b4a2d4c8f11", false],
    ["file://", false],
    ["file:///home/me/page.html", false],
    ["app://evil", false],
    ["null", false],
    ["chrome-extension://goodid/path", false],
  ].map(([origin, want]) => ({
    name: `allowedOrigins ["chrome-extension://goodid"]: ${origin} ${
      want ? "admitted" : "refused"
    }`,
    url: "http://localhost:8765/",
    origin: origin as string,
    host: "localhost:8765",
    allowed: ["chrome-extension://goodid"],
    want: want as boolean,
  })),
  {
    name: "a listed extension origin is compared without case",
    url: "http://localhost:8765/",
    origin: "chrome-extension://goodid",
    host: "localhost:8765",
    allowed: ["Chrome-Extension://GOODID/"],
    want: true,
  },
  {
    name: "a listed app:// origin admits itself, not another app",
    url: "http://localhost:8765/",
    origin: "app://good",
    host: "localhost:8765",
    allowed: ["app://good", "chrome-extension://goodid"],
    want: true,
  },
  {
    name: "an extension origin is not taken for the same host name",
    url: "http://localhost:8765/",
    origin: "chrome-extension://localhost:8765",
    host: "localhost:8765",
    allowed: ["chrome-extension://goodid"],
    want: false,
  },
  {
    name: 'a list holding "null" (unchecked) still refuses the "null" origin',
    url: "http://localhost:8765/",
    origin: "null",
    host: "localhost:8765",
    allowed: ["null"],
    want: false,
  },
  {
    name: "a list holding garbage (unchecked) admits nothing by it",
    url: "http://localhost:8765/",
    origin: "app://evil",
    host: "localhost:8765",
    allowed: ["localhost:5173", "file://", "not a url"],
    want: false,
  },
  {
    name: "an Origin header with a path is not an origin",
    url: "http://localhost:8765/",
    origin: "https://app.example.com/x",
    host: "localhost:8765",
    allowed: ["https://app.example.com"],
    want: false,
  },
  {
    name: "an Origin header with user info is not an origin",
    url: "http://localhost:8765/",
    origin: "https://app.example.com@evil.example",
    host: "localhost:8765",
    allowed: ["https://app.example.com"],
    want: false,
  },
  {
    name: "a listed https origin matches with its default port spelled out",
    url: "http://localhost:8765/",
    origin: "https://app.example.com",
    host: "localhost:8765",
    allowed: ["https://APP.example.com:443"],
    want: true,
  },
];

for (const c of originCases) {
  Deno.test(`originAllowed: ${c.name}`, () => {
    const headers = new Headers();
    if (c.origin !== undefined) headers.set("origin", c.origin);
    if (c.host !== undefined) headers.set("host", c.host);
    const req = new Request(c.url, { headers });
    if (c.host !== undefined) assert.equal(req.headers.get("host"), c.host);
    assert.equal(originAllowed(req, c.allowed), c.want);
  });
}

// ---------------------------------------------------------------------------
// timingSafeEqual, tokenAuth, parseCookies

Deno.test("timingSafeEqual: equal and unequal strings", () => {
  assert.equal(timingSafeEqual("secret", "secret"), true);
  assert.equal(timingSafeEqual("", ""), true);
  assert.equal(timingSafeEqual("héllo✓", "héllo✓"), true);
  assert.equal(timingSafeEqual("secret", "secreT"), false);
  assert.equal(timingSafeEqual("secret", "Secret"), false);
  assert.equal(timingSafeEqual("abc", "abcd"), false);
  assert.equal(timingSafeEqual("abcd", "abc"), false);
  assert.equal(timingSafeEqual("", "a"), false);
  // same UTF-16 length, different bytes
  assert.equal(timingSafeEqual("é", "e"), false);
  // prefix padded with NULs must not compare equal
  assert.equal(timingSafeEqual("ab", "ab\0"), false);
});

function ctx(
  token?: string,
  cookies: Record<string, string> = {},
): AuthContext {
  const request = new Request("http://localhost:8765/default");
  return {
    token,
    stream: "default",
    headers: request.headers,
    cookies,
    request,
  };
}

Deno.test("tokenAuth: admits the right hello token, refuses wrong or missing", () => {
  const auth = tokenAuth("s3cret");
  assert.equal(auth(ctx("s3cret")), true);
  assert.equal(auth(ctx("s3cre")), false);
  assert.equal(auth(ctx("s3cret!")), false);
  assert.equal(auth(ctx("")), false);
  assert.equal(auth(ctx(undefined)), false);
  // without a cookie option, a cookie is not consulted
  assert.equal(auth(ctx(undefined, { rfb_token: "s3cret" })), false);
});

Deno.test("tokenAuth: any of several tokens", () => {
  const auth = tokenAuth(["alpha", "beta"]);
  assert.equal(auth(ctx("alpha")), true);
  assert.equal(auth(ctx("beta")), true);
  assert.equal(auth(ctx("gamma")), false);
});

Deno.test("tokenAuth: named cookie admits when no hello token is given", () => {
  const auth = tokenAuth(["alpha", "beta"], { cookie: "rfb_token" });
  assert.equal(auth(ctx(undefined, { rfb_token: "beta" })), true);
  assert.equal(auth(ctx(undefined, { rfb_token: "nope" })), false);
  assert.equal(auth(ctx(undefined, { other: "beta" })), false);
  assert.equal(auth(ctx("alpha", {})), true);
});

Deno.test("tokenAuth: rejects empty token lists and empty tokens", () => {
  assert.throws(() => tokenAuth([]), TypeError);
  assert.throws(() => tokenAuth(""), TypeError);
  assert.throws(() => tokenAuth(["ok", ""]), TypeError);
});

Deno.test("parseCookies: parses, trims, decodes, and skips junk", () => {
  assert.deepEqual(parseCookies(null), {});
  assert.deepEqual(parseCookies(""), {});
  assert.deepEqual(parseCookies("a=1; b=two"), { a: "1", b: "two" });
  assert.deepEqual(parseCookies("  a = 1 ;b=2;;"), { a: "1", b: "2" });
  assert.deepEqual(parseCookies("t=hello%20world"), { t: "hello world" });
  assert.deepEqual(parseCookies("t=a=b=c"), { t: "a=b=c" });
  assert.deepEqual(parseCookies("flag; k=v"), { k: "v" });
  assert.deepEqual(parseCookies("=orphan; k=v"), { k: "v" });
  // malformed escapes are kept raw
  assert.deepEqual(parseCookies("bad=%E0%A4%A"), { bad: "%E0%A4%A" });
  // the last of a repeated name wins
  assert.deepEqual(parseCookies("x=1; x=2"), { x: "2" });
});

Deno.test("parseCookies: a pair with an empty name is skipped wherever it appears", () => {
  // The first pair has no leading space, later ones do ("; =x"): both must be skipped.
  assert.deepEqual(parseCookies("=first; k=v"), { k: "v" });
  assert.deepEqual(parseCookies("k=v; =orphan"), { k: "v" });
  assert.deepEqual(parseCookies("k=v;  =orphan"), { k: "v" });
});

// ---------------------------------------------------------------------------
// checkFrame

Deno.test("checkFrame: RGBA, RGB and gray sizes give channels 4, 3, 1", () => {
  assert.equal(checkFrame(new Uint8Array(2 * 3 * 4), 2, 3).channels, 4);
  assert.equal(checkFrame(new Uint8Array(2 * 3 * 3), 2, 3).channels, 3);
  assert.equal(checkFrame(new Uint8Array(2 * 3), 2, 3).channels, 1);
});

Deno.test("checkFrame: Uint8ClampedArray is viewed as Uint8Array without a copy", () => {
  const clamped = new Uint8ClampedArray(16);
  clamped[5] = 200;
  const { bytes, channels } = checkFrame(clamped, 2, 2);
  assert.equal(channels, 4);
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(bytes.buffer, clamped.buffer);
  assert.equal(bytes[5], 200);
});

Deno.test("checkFrame: wrong byte count names the expected size", () => {
  assert.throws(() => checkFrame(new Uint8Array(10), 4, 2), (err: unknown) => {
    assert.ok(err instanceof TypeError);
    assert.match(err.message, /4x2x4 = 32 bytes \(RGBA\)/);
    assert.match(err.message, /24 \(RGB\)/);
    assert.match(err.message, /8 \(gray\)/);
    assert.match(err.message, /got 10 bytes/);
    return true;
  });
});

Deno.test("checkFrame: non-typed-array input names what it got", () => {
  assert.throws(
    () => checkFrame([1, 2, 3, 4] as unknown as Uint8Array, 1, 1),
    { name: "TypeError", message: /1x1x4 = 4 bytes \(RGBA\), got Array/ },
  );
  assert.throws(
    () => checkFrame(null as unknown as Uint8Array, 1, 1),
    { name: "TypeError", message: /got null/ },
  );
  assert.throws(
    () => checkFrame("pixels" as unknown as Uint8Array, 1, 1),
    { name: "TypeError", message: /got string/ },
  );
  assert.throws(
    () => checkFrame(new Float32Array(4) as unknown as Uint8Array, 1, 1),
    { name: "TypeError", message: /got Float32Array/ },
  );
});

Deno.test("checkFrame: ImageData-like object with matching size is accepted", () => {
  const data = new Uint8ClampedArray(3 * 2 * 4);
  const { channels, bytes } = checkFrame({ data, width: 3, height: 2 }, 3, 2);
  assert.equal(channels, 4);
  assert.equal(bytes.length, 24);
});

Deno.test("checkFrame: ImageData-like object with wrong dims names both sizes", () => {
  const data = new Uint8ClampedArray(3 * 2 * 4);
  assert.throws(
    () => checkFrame({ data, width: 3, height: 2 }, 2, 3),
    {
      name: "TypeError",
      message:
        /frame is 3x2 but the display is 2x3; call display\.resize\(3, 2\) first/,
    },
  );
});

Deno.test("checkFrame: ImageData-like object with right dims but wrong data length", () => {
  assert.throws(
    () => checkFrame({ data: new Uint8Array(5), width: 2, height: 2 }, 2, 2),
    { name: "TypeError", message: /2x2x4 = 16 bytes.*got 5 bytes/ },
  );
});

// ---------------------------------------------------------------------------
// resolveDisplayOptions

const defaults = { logger: silentLogger, clock: systemClock };

Deno.test("resolveDisplayOptions: a throwing logger never throws into the library", () => {
  const o = resolveDisplayOptions(
    {
      logger: () => {
        throw new Error("broken logger");
      },
    },
    "test",
    defaults,
  );
  o.logger("error", "still fine");
});

Deno.test("resolveDisplayOptions: H.264 options are checked", () => {
  assert.throws(
    () => resolveDisplayOptions({ preset: "warp" }, "serve()", defaults),
    /'preset' must be one of ultrafast/,
  );
  assert.throws(
    () => resolveDisplayOptions({ fps: 0 }, "serve()", defaults),
    /'fps'/,
  );
  assert.throws(
    () => resolveDisplayOptions({ bitrate: 10 }, "serve()", defaults),
    /'bitrate'/,
  );
  const o = resolveDisplayOptions({ fps: 30 }, "serve()", defaults);
  assert.equal(o.gop, 120, "four seconds of frames");
  assert.equal(o.bitrate, null, "derived from the size");
});

Deno.test("resolveDisplayOptions: defaults", () => {
  const o = resolveDisplayOptions({}, "test", defaults);
  assert.equal(o.transport, "auto");
  assert.equal(o.imageFormat, "jpeg");
  assert.equal(o.quality, 80);
  assert.equal(o.maxInflight, 2);
  assert.equal(o.inflightTimeout, 2);
  assert.equal(o.stillAfter, 0.5);
  assert.equal(o.statsInterval, 0);
  assert.equal(o.pixelRatio, 1);
  assert.equal(o.helloTimeout, 10);
  assert.equal(o.authTimeout, 10);
  assert.equal(o.maxBufferedBytes, 16 * 1024 * 1024);
  assert.equal(o.maxQueuedEvents, 4096);
  assert.equal(o.authenticate, undefined);
  assert.equal(typeof o.logger, "function"); // silentLogger, wrapped so it cannot throw
  assert.equal(o.clock, systemClock);
});

Deno.test("resolveDisplayOptions: given values are kept; stillAfter false allowed", () => {
  const lines: string[] = [];
  const logger = (_l: string, m: string) => {
    lines.push(m);
  };
  const o = resolveDisplayOptions(
    {
      quality: 100,
      maxInflight: 64,
      stillAfter: false,
      statsInterval: 0.1,
      imageFormat: "webp",
      transport: "image",
      logger,
    },
    "test",
    defaults,
  );
  assert.equal(o.quality, 100);
  assert.equal(o.maxInflight, 64);
  assert.equal(o.stillAfter, false);
  assert.equal(o.statsInterval, 0.1);
  assert.equal(o.imageFormat, "webp");
  assert.equal(o.transport, "image");
  o.logger("warn", "hello");
  assert.deepEqual(lines, ["hello"], "the given logger receives the lines");
});

const badOptions: Array<[DisplayOptions, string, RegExp]> = [
  [{ quality: 0 }, "quality", /an integer in \[1, 100\], got 0/],
  [{ quality: 101 }, "quality", /got 101/],
  [{ quality: 50.5 }, "quality", /got 50\.5/],
  [{ quality: NaN }, "quality", /got NaN/],
  [{ quality: "80" as unknown as number }, "quality", /got "80"/],
  [{ maxInflight: 0 }, "maxInflight", /an integer in \[1, 64\]/],
  [{ maxInflight: 65 }, "maxInflight", /got 65/],
  [{ inflightTimeout: 0 }, "inflightTimeout", /a number in \[0\.05, 3600\]/],
  [{ stillAfter: 0 }, "stillAfter", /got 0/],
  [{ stillAfter: -1 }, "stillAfter", /got -1/],
  [{ statsInterval: -1 }, "statsInterval", /got -1/],
  [{ statsInterval: 0.05 }, "statsInterval", /\[0\.1, 3600\], got 0\.05/],
  [{ pixelRatio: 0 }, "pixelRatio", /got 0/],
  [{ pixelRatio: Infinity }, "pixelRatio", /got Infinity/],
  [{ helloTimeout: 0 }, "helloTimeout", /got 0/],
  [{ authTimeout: 99999 }, "authTimeout", /got 99999/],
  [{ maxBufferedBytes: 100 }, "maxBufferedBytes", /\[1024, 4294967296\]/],
  [{ maxQueuedEvents: 0 }, "maxQueuedEvents", /got 0/],
  [
    { transport: "video" as unknown as "auto" },
    "transport",
    /"auto", "image" or "webcodecs", got "video"/,
  ],
  [
    { imageFormat: "gif" as unknown as "png" },
    "imageFormat",
    /"jpeg", "png" or "webp", got "gif"/,
  ],
  [
    { authenticate: "yes" as unknown as () => boolean },
    "authenticate",
    /a function, got "?string"?/,
  ],
];

for (const [opts, name, detail] of badOptions) {
  Deno.test(`resolveDisplayOptions: bad ${name} ${Deno.inspect(opts, { compact: true, breakLength: Infinity })} → RangeError naming it`, () => {
    assert.throws(() => resolveDisplayOptions(opts, "serve()", defaults), (
      err: unknown,
    ) => {
      assert.ok(err instanceof RangeError, String(err));
      assert.match(
        err.message,
        new RegExp(`^serve\\(\\): option '${name}' must be `),
      );
      assert.match(err.message, detail);
      return true;
    });
  });
}

Deno.test("resolveDisplayOptions: non-object options is a TypeError", () => {
  assert.throws(
    () =>
      resolveDisplayOptions(
        null as unknown as DisplayOptions,
        "serve()",
        defaults,
      ),
    { name: "TypeError", message: "serve(): options must be an object" },
  );
});

Deno.test("checkSize and checkAllowedOrigins: errors name the value", () => {
  checkSize("resize()", 1, 16383);
  assert.throws(
    () => checkSize("resize()", 16384, 1),
    /\[1, 16383\], got 16384/,
  );
  assert.throws(() => checkSize("resize()", 0, 10), {
    name: "RangeError",
    message: "resize(): width must be an integer in [1, 16383], got 0",
  });
  assert.throws(() => checkSize("resize()", 10, 1.5), {
    name: "RangeError",
    message: /height must be an integer in \[1, 16383\], got 1\.5/,
  });
  checkAllowedOrigins("serve()", "*");
  checkAllowedOrigins("serve()", ["https://a.example"]);
  checkAllowedOrigins("serve()", undefined);
  assert.throws(
    () => checkAllowedOrigins("serve()", "https://a.example"),
    { name: "RangeError", message: /option 'allowedOrigins'/ },
  );
  assert.throws(() => checkAllowedOrigins("serve()", [1]), RangeError);
  checkAllowedOrigins("serve()", [
    "chrome-extension://goodid",
    "moz-extension://0b1c5ae5-2f0e-4a1c-9e0c-6b4a2d4c8f11",
    "app://good",
    "http://localhost:5173/",
  ]);
  for (
    const bad of [
      "null",
      "file://",
      "file:///x",
      "localhost:5173",
      "nope",
      "https://a.example/x",
      "https://u@a.example",
      "",
    ]
  ) {
    assert.throws(
      () => checkAllowedOrigins("serve()", ["https://a.example", bad]),
      (e: Error) =>
        e instanceof RangeError &&
        e.message.startsWith(
          "serve(): option 'allowedOrigins' must be a list of origins",
        ) && e.message.endsWith(`got ${JSON.stringify(bad)}`),
      bad,
    );
  }
});

// ---------------------------------------------------------------------------
// EventQueue

function key(k: string): DisplayEvent {
  return { type: "key_down", key: k, modifiers: [], timestamp: 0, viewer: 1 };
}

Deno.test("EventQueue: bounded, drops the oldest and counts", () => {
  const q = new EventQueue(3);
  for (const k of ["a", "b", "c", "d", "e"]) q.push(key(k));
  assert.equal(q.size, 3);
  assert.equal(q.dropped, 2);
  const got = q.drain().map((e) => (e as { key: string }).key);
  assert.deepEqual(got, ["c", "d", "e"]);
  assert.equal(q.size, 0);
  assert.deepEqual(q.drain(), []);
  q.push(key("f"));
  assert.equal(q.dropped, 2);
  assert.equal(q.size, 1);
});

Deno.test("EventQueue: async iteration yields queued and later events, ends on close", async () => {
  const q = new EventQueue(10);
  q.push(key("a"));
  const seen: string[] = [];
  const done = (async () => {
    for await (const ev of q.iterate()) seen.push((ev as { key: string }).key);
  })();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(seen, ["a"]);
  q.push(key("b"));
  q.push(key("c"));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(seen, ["a", "b", "c"]);
  q.close();
  await done; // the loop must finish
  assert.deepEqual(seen, ["a", "b", "c"]);
  // pushes after close are ignored
  q.push(key("z"));
  assert.equal(q.size, 0);
});

Deno.test("EventQueue: iteration over a closed queue still drains remaining events then ends", async () => {
  const q = new EventQueue(10);
  q.push(key("x"));
  q.close();
  const seen: string[] = [];
  for await (const ev of q.iterate()) seen.push((ev as { key: string }).key);
  assert.deepEqual(seen, ["x"]);
});

Deno.test("EventQueue: close wakes every waiting iterator", async () => {
  const q = new EventQueue();
  const a = (async () => {
    let n = 0;
    for await (const _ of q.iterate()) n++;
    return n;
  })();
  const b = (async () => {
    let n = 0;
    for await (const _ of q.iterate()) n++;
    return n;
  })();
  await new Promise((r) => setTimeout(r, 0));
  q.close();
  const [na, nb] = await Promise.all([a, b]);
  assert.equal(na + nb, 0);
});
