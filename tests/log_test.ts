// Log lines against hostile peers: logSafe (peer strings made safe for one
// line), limitLogger (a flood of lines capped and summarised) and safeLogger
// (the wrapper every display's logger goes through), then a real listener
// that a peer tries to forge log lines through.
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Clock, TimerHandle } from "../src/clock.ts";
import { limitLogger, type LogLevel, logSafe } from "../src/log.ts";
import { resolveDisplayOptions, safeLogger } from "../src/options.ts";
import { serve } from "../mod.ts";
import { HELLO, until } from "./_viewer.ts";

/** Whether `s` holds a character that could break or drive a log line. */
function unsafeChar(s: string): boolean {
  // deno-lint-ignore no-control-regex
  return /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]|\p{Cs}/u
    .test(s);
}

// ---------------------------------------------------------------------------
// logSafe

Deno.test("logSafe: control characters are written as escapes", () => {
  assert.equal(
    logSafe("x\n[rfb] forged\u001b[2J"),
    "x\\n[rfb] forged\\x1b[2J",
  );
  assert.equal(logSafe("a\r\nb\tc"), "a\\r\\nb\\tc");
  assert.equal(logSafe("\u0000\u0007\u007f"), "\\x00\\x07\\x7f");
  // C1: NEL and the one-byte CSI
  assert.equal(logSafe("\u0085\u009b2J"), "\\x85\\x9b2J");
  // Unicode line breaks, bidi overrides (a reversed "evil" reads "live")
  assert.equal(logSafe("a\u2028b\u2029c"), "a\\u2028b\\u2029c");
  assert.equal(logSafe("\u202elive\u202c"), "\\u202elive\\u202c");
  // a lone surrogate; a pair is one character and stays
  assert.equal(logSafe("\ud800!"), "\\ud800!");
  assert.equal(logSafe("ok 😀 é ü 中"), "ok 😀 é ü 中");
});

Deno.test("logSafe: cut to max with an ellipsis, never inside an escape", () => {
  assert.equal(logSafe("a".repeat(80)), "a".repeat(80));
  assert.equal(logSafe("a".repeat(81)), "a".repeat(79) + "…");
  assert.equal(logSafe("a".repeat(100_000)).length, 80);
  assert.equal(logSafe("a".repeat(78) + "\n"), "a".repeat(78) + "\\n");
  assert.equal(logSafe("a".repeat(79) + "\nz"), "a".repeat(79) + "…");
  assert.equal(logSafe("abcdef", 4), "abc…");
  assert.equal(logSafe("\n\n\n", 5), "\\n\\n…");
});

Deno.test("logSafe: any value becomes a string", () => {
  assert.equal(logSafe(42), "42");
  assert.equal(logSafe(null), "null");
  assert.equal(logSafe(Symbol("s")), "Symbol(s)");
  assert.equal(
    logSafe({
      toString() {
        throw new Error("no");
      },
    }),
    "?",
  );
});

Deno.test("logSafe: whatever the input, one safe line of at most max units", () => {
  const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) =>
    String.fromCharCode(c)
  );
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit: anyUnit }), fc.string({ unit: "binary" })),
      fc.integer({ min: 1, max: 200 }),
      (s, max) => {
        const out = logSafe(s, max);
        assert.ok(!unsafeChar(out), JSON.stringify(out));
        assert.ok(out.length <= max, `${out.length} > ${max}`);
        if (!unsafeChar(s) && s.length <= max) assert.equal(out, s);
      },
    ),
    { numRuns: 2000 },
  );
});

// ---------------------------------------------------------------------------
// limitLogger

/** A clock whose time moves only on `advance(ms)`, firing due timers. */
class FakeClock implements Clock {
  t = 0;
  #id = 0;
  timers = new Map<number, { due: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  epochMicros(): number {
    return Math.round(this.t * 1000);
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.timers.set(++this.#id, { due: this.t + ms, fn });
    return this.#id;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.timers].filter(([, t]) => t.due <= end)
        .sort((a, b) => a[1].due - b[1].due)[0];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].due;
      next[1].fn();
    }
    this.t = end;
  }
}

function recorder(): {
  lines: Array<[LogLevel, string]>;
  log: (level: LogLevel, message: string) => void;
} {
  const lines: Array<[LogLevel, string]> = [];
  return { lines, log: (level, message) => lines.push([level, message]) };
}

Deno.test("limitLogger: 20 lines a second pass, the rest are summarised with the next line", () => {
  const clock = new FakeClock();
  const r = recorder();
  const log = limitLogger(r.log, clock);
  for (let i = 0; i < 1000; i++) log("warn", `refused ${i}`);
  assert.equal(r.lines.length, 20);
  assert.deepEqual(r.lines[19], ["warn", "refused 19"]);
  clock.t = 999;
  log("warn", "still the same second");
  assert.equal(r.lines.length, 20);
  clock.t = 1000;
  log("warn", "a new second");
  assert.equal(r.lines.length, 22);
  assert.equal(r.lines[20][0], "warn");
  assert.match(r.lines[20][1], /^suppressed 981 log lines in the last second/);
  assert.match(r.lines[20][1], /: 981 warn$/);
  assert.deepEqual(r.lines[21], ["warn", "a new second"]);
  assert.equal(clock.timers.size, 0, "the summary timer is cleared");
});

Deno.test("limitLogger: a flood that stops is summarised by the timer a second later", () => {
  const clock = new FakeClock();
  const r = recorder();
  const log = limitLogger(r.log, clock);
  clock.t = 5000;
  for (let i = 0; i < 50; i++) log("info", "x");
  clock.advance(300);
  for (let i = 0; i < 50; i++) log("warn", "y");
  assert.equal(r.lines.length, 40);
  assert.equal(clock.timers.size, 1, "one timer, however many lines");
  clock.advance(699);
  assert.equal(r.lines.length, 40);
  clock.advance(1);
  assert.equal(r.lines.length, 41);
  assert.deepEqual(r.lines[40], [
    "warn",
    "suppressed 60 log lines in the last second (more than 20 a second, 100 for errors): 30 info, 30 warn",
  ]);
  assert.equal(clock.timers.size, 0);
  // the next second starts fresh
  for (let i = 0; i < 25; i++) log("warn", "z");
  assert.equal(r.lines.length, 61);
});

Deno.test("limitLogger: each level has its own cap; errors a higher one", () => {
  const clock = new FakeClock();
  const r = recorder();
  const log = limitLogger(r.log, clock);
  for (let i = 0; i < 500; i++) log("debug", "noise");
  log("warn", "a real warning");
  for (let i = 0; i < 500; i++) log("error", "boom");
  const count = (l: LogLevel) => r.lines.filter(([x]) => x === l).length;
  assert.equal(count("debug"), 20);
  assert.equal(count("warn"), 1, "a debug flood does not hide a warning");
  assert.equal(count("error"), 100);
  clock.advance(1000);
  const summary = r.lines.at(-1)!;
  assert.equal(summary[0], "error", "the summary has the worst level dropped");
  assert.match(summary[1], /suppressed 880 log lines.*: 480 debug, 400 error$/);
});

Deno.test("limitLogger: custom caps", () => {
  const clock = new FakeClock();
  const r = recorder();
  const log = limitLogger(r.log, clock, { perSecond: 2, errorsPerSecond: 3 });
  for (let i = 0; i < 10; i++) log("warn", "w");
  for (let i = 0; i < 10; i++) log("error", "e");
  assert.equal(r.lines.length, 5);
});

Deno.test("limitLogger: a program that floods exits at once, then prints no summary", async () => {
  const code = `
    import { consoleLogger, limitLogger } from ${
    JSON.stringify(new URL("../src/log.ts", import.meta.url).href)
  };
    const log = limitLogger(consoleLogger);
    for (let i = 0; i < 1000; i++) log("warn", "flood " + i);
  `;
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  const err = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, err);
  assert.equal(err.trim().split("\n").length, 20, err);
  assert.ok(ms < 5000, `exited after ${ms.toFixed(0)} ms`);
});

// ---------------------------------------------------------------------------
// safeLogger

Deno.test("safeLogger: one call is one line, a broken logger never throws, one cap per logger", () => {
  const clock = new FakeClock();
  const r = recorder();
  const log = safeLogger(r.log, clock);
  log("warn", "viewer 1: supports x\n[rfb] forged\u001b[2J");
  assert.deepEqual(r.lines, [[
    "warn",
    "viewer 1: supports x\\n[rfb] forged\\x1b[2J",
  ]]);
  assert.equal(safeLogger(r.log, clock), log, "same logger, same clock");
  assert.equal(safeLogger(log, new FakeClock()), log, "a wrapper as is");
  assert.notEqual(safeLogger(r.log, new FakeClock()), log);
  // the streams of a server share their logger's cap
  const a = resolveDisplayOptions({ logger: r.log, clock }, "a", {
    logger: r.log,
    clock,
  });
  const b = resolveDisplayOptions({ logger: r.log, clock }, "b", {
    logger: r.log,
    clock,
  });
  for (let i = 0; i < 30; i++) a.logger("warn", "a");
  for (let i = 0; i < 30; i++) b.logger("warn", "b");
  assert.equal(r.lines.length, 20);
  // long lines are cut
  clock.advance(1000);
  log("warn", "z".repeat(10_000));
  assert.equal(r.lines.at(-1)![1].length, 4096);
  const broken = safeLogger(() => {
    throw new Error("broken");
  }, clock);
  for (let i = 0; i < 50; i++) broken("error", "no throw");
  clock.advance(2000); // the summary goes to the broken logger too
});

// ---------------------------------------------------------------------------
// A real listener

Deno.test("serve(): a peer cannot forge log lines through hello, event or message types", async () => {
  const lines: Array<[LogLevel, string]> = [];
  await using display = await serve(64, 48, {
    port: 0,
    logger: (level, message) => lines.push([level, message]),
  });
  display.publish(new Uint8Array(64 * 48 * 4));
  const url = `ws://127.0.0.1:${display.port}/`;
  const forged = "x\n[rfb] forged\u001b[2J";

  // A hello with nothing in common: logged with what it supports.
  const a = new WebSocket(url);
  const aClosed = new Promise((r) => a.onclose = r);
  a.onopen = () =>
    a.send(JSON.stringify({ type: "hello", supported: [forged] }));
  await aClosed;

  // An admitted viewer sending an event and a message with forged types.
  const b = new WebSocket(url);
  const configured = Promise.withResolvers<void>();
  b.onmessage = (e) => {
    if (typeof e.data === "string" && e.data.includes('"config"')) {
      configured.resolve();
    }
  };
  b.onopen = () => b.send(HELLO);
  await configured.promise;
  b.send(JSON.stringify({ type: "event", event: { type: forged } }));
  b.send(JSON.stringify({ type: forged }));
  b.send(JSON.stringify({
    type: "event",
    event: { type: "pointer_down", x: 1, y: 1, touches: [forged] },
  }));
  await until(
    () =>
      lines.some(([, m]) => m.includes("unknown event type")) &&
      lines.some(([, m]) => m.includes("ignored message type")) &&
      lines.some(([, m]) => m.includes("'touches'")),
    5000,
    "the log lines",
  );
  const bClosed = new Promise((r) => b.onclose = r);
  b.close();
  await bClosed;

  const text = lines.map(([l, m]) => `${l} ${m}`).join("\n");
  for (const [, m] of lines) {
    assert.ok(
      !unsafeChar(m),
      `a raw control character in ${JSON.stringify(m)}`,
    );
  }
  const escaped = "x\\n[rfb] forged\\x1b[2J";
  assert.ok(
    lines.some(([, m]) =>
      m.includes("no common transport") && m.includes(escaped)
    ),
    text,
  );
  assert.ok(
    lines.some(([, m]) => m.includes(`unknown event type '${escaped}'`)),
    text,
  );
  assert.ok(
    lines.some(([, m]) => m.includes(`ignored message type '${escaped}'`)),
    text,
  );
});
