/**
 * A clock the server reads and sets timers on. The system clock is the
 * default; tests pass a fake one to drive flow-control timeouts by hand.
 *
 * @module
 */

/** An opaque timer handle from `Clock.setTimeout`. */
export type TimerHandle = unknown;

/** Time and timers, as the server uses them. */
export interface Clock {
  /** Monotonic time in milliseconds. */
  now(): number;
  /** Wall-clock time in microseconds since the epoch (frame timestamps). */
  epochMicros(): number;
  /** Run `fn` after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancel a timer made by `setTimeout`. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock: `performance.now()` and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * console.log(systemClock.epochMicros() > 0); // true
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  epochMicros: () =>
    Math.round((performance.timeOrigin + performance.now()) * 1000),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};
