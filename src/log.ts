/**
 * Logging. The library logs rarely (bad input, refused viewers, encoder
 * faults), one line each, through a `Logger` the app can replace.
 *
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from "./clock.ts";

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Receives the library's log lines. */
export type Logger = (level: LogLevel, message: string) => void;

/**
 * The default logger: warnings and errors to the console with an `[rfb]`
 * prefix; debug and info lines are dropped.
 *
 * @example
 * ```ts
 * import { consoleLogger } from "@rfb/core";
 * consoleLogger("warn", "viewer 3 sent bad JSON"); // [rfb] viewer 3 sent bad JSON
 * ```
 */
export const consoleLogger: Logger = (level, message) => {
  if (level === "warn") console.warn(`[rfb] ${message}`);
  else if (level === "error") console.error(`[rfb] ${message}`);
};

/**
 * A logger that drops everything, for tests and quiet apps.
 *
 * @example
 * ```ts
 * import { silentLogger } from "@rfb/core";
 * silentLogger("error", "nobody hears this");
 * ```
 */
export const silentLogger: Logger = () => {};

/** Whether a code point is unsafe in one log line (see `logSafe`). */
function unsafe(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || // C0, DEL, C1 (ESC, CSI…)
    c === 0x2028 || c === 0x2029 || // line and paragraph separators
    c === 0x200e || c === 0x200f || c === 0x061c || // directional marks
    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || // bidi overrides
    (c >= 0xd800 && c <= 0xdfff); // a lone surrogate
}

const NAMED: Record<number, string> = { 9: "\\t", 10: "\\n", 13: "\\r" };

function escaped(c: number): string {
  return NAMED[c] ??
    (c < 0x100
      ? `\\x${c.toString(16).padStart(2, "0")}`
      : `\\u${c.toString(16).padStart(4, "0")}`);
}

/**
 * A string from a peer (a message type, a capability, a header, a stream
 * name), made safe to put in one log line: control characters (newline,
 * carriage return, tab, ESC and the rest of C0, DEL, C1), Unicode line
 * separators, bidirectional overrides and lone surrogates are written as
 * `\n`, `\x1b`, `\u2028`…, and a longer result is cut to `max` UTF-16 units,
 * the last one an ellipsis. A non-string is converted with `String()` first. Nothing
 * a peer sends can then start a new line, forge a log entry or drive the
 * terminal.
 *
 * @example
 * ```ts
 * import { logSafe } from "./log.ts";
 * console.log(logSafe("x\n[rfb] forged\u001b[2J")); // x\n[rfb] forged\x1b[2J
 * console.log(logSafe("a".repeat(100), 10)); // aaaaaaaaa…
 * ```
 */
export function logSafe(value: unknown, max = 80): string {
  let s: string;
  try {
    s = typeof value === "string" ? value : String(value);
  } catch {
    s = "?";
  }
  let out = "";
  let keep = 0; // what stays if an ellipsis must follow
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const piece = unsafe(c) ? escaped(c) : ch;
    if (out.length + piece.length > max) return out.slice(0, keep) + "…";
    out += piece;
    if (out.length < max) keep = out.length;
  }
  return out;
}

/** Caps for {@linkcode limitLogger}, in lines a second. */
export interface LogLimits {
  /** Lines a second of each of `debug`, `info` and `warn`. Default 20. */
  perSecond?: number;
  /** `error` lines a second. Default 100. */
  errorsPerSecond?: number;
}

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/**
 * A logger that passes at most `perSecond` lines of each level a second
 * (`errorsPerSecond` for errors) to `log`, so that many peers together cannot
 * flood the console. Lines over the cap are counted and summarised in one
 * line ("suppressed N log lines…") when the second is over: with the next line
 * logged, or by a timer that does not keep the process alive. `clock` tells
 * the time (a fake clock in tests).
 *
 * @example
 * ```ts
 * import { consoleLogger, limitLogger } from "./log.ts";
 * const log = limitLogger(consoleLogger);
 * for (let i = 0; i < 1000; i++) log("warn", `refused peer ${i}`); // 20 lines, a summary a second later
 * ```
 */
export function limitLogger(
  log: Logger,
  clock: Clock = systemClock,
  limits: LogLimits = {},
): Logger {
  const cap = limits.perSecond ?? 20;
  const errorCap = limits.errorsPerSecond ?? 100;
  const zero = (): Record<LogLevel, number> => ({
    debug: 0,
    info: 0,
    warn: 0,
    error: 0,
  });
  let windowStart = -Infinity;
  let sent = zero();
  let dropped = zero();
  let timer: TimerHandle | null = null;

  const newWindow = (now: number) => {
    if (timer !== null) {
      clock.clearTimeout(timer);
      timer = null;
    }
    const counts = dropped;
    windowStart = now;
    sent = zero();
    dropped = zero();
    const total = LEVELS.reduce((n, l) => n + counts[l], 0);
    if (total === 0) return;
    const worst = LEVELS.filter((l) => counts[l] > 0).at(-1)!;
    const each = LEVELS.filter((l) => counts[l] > 0)
      .map((l) => `${counts[l]} ${l}`).join(", ");
    log(
      worst,
      `suppressed ${total} log line${
        total === 1 ? "" : "s"
      } in the last second (more than ${cap} a second, ${errorCap} for errors): ${each}`,
    );
  };

  return (level, message) => {
    const now = clock.now();
    if (now - windowStart >= 1000) newWindow(now);
    const l: LogLevel = LEVELS.includes(level) ? level : "warn";
    if (sent[l] < (l === "error" ? errorCap : cap)) {
      sent[l]++;
      log(level, message);
      return;
    }
    dropped[l]++;
    if (timer === null) {
      timer = clock.setTimeout(
        () => {
          timer = null;
          newWindow(clock.now());
        },
        Math.max(0, windowStart + 1000 - now),
      );
      // Never keeps the process alive. Read through globalThis: the browser
      // client shares this module and is type-checked without Deno's types.
      const deno = (globalThis as {
        Deno?: { unrefTimer(id: number): void };
      }).Deno;
      if (clock === systemClock && deno) deno.unrefTimer(timer as number);
    }
  };
}

const guarded = new WeakMap<Logger, WeakMap<Clock, Logger>>();
const guards = new WeakSet<Logger>();

/**
 * The wrapper every display's and server's logger goes through: it never
 * throws into the library (a broken logger must not break a stream), writes
 * control characters in a line as escapes (`\n`, `\x1b`; see `logSafe`) so
 * that one call is one line, and caps the lines a second (`limitLogger`: 20
 * a second of each level, 100 errors, the rest summarised). Wrapping the same
 * logger with the same clock again gives the same wrapper, so the streams of
 * a server that share a logger share its cap; a wrapper is returned as is.
 *
 * @example
 * ```ts
 * import { safeLogger } from "./log.ts";
 * import { systemClock } from "./clock.ts";
 * const log = safeLogger(() => {
 *   throw new Error("broken");
 * }, systemClock);
 * log("warn", "no throw"); // the error stays inside
 * ```
 */
export function safeLogger(log: Logger, clock: Clock): Logger {
  if (guards.has(log)) return log;
  let byClock = guarded.get(log);
  if (!byClock) guarded.set(log, byClock = new WeakMap());
  let wrapped = byClock.get(clock);
  if (!wrapped) {
    wrapped = limitLogger((level, message) => {
      try {
        log(level, logSafe(message, 4096));
      } catch { /* a broken logger must not break a stream */ }
    }, clock);
    byClock.set(clock, wrapped);
    guards.add(wrapped);
  }
  return wrapped;
}
