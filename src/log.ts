/**
 * Logging. The library logs rarely (bad input, refused viewers, encoder
 * faults), one line each, through a `Logger` the app can replace.
 *
 * @module
 */

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
