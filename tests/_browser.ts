/**
 * Launch Debian's Chromium through playwright-core for browser tests, or
 * explain why the test is skipped.
 *
 * @module
 */

import { type Browser, chromium } from "playwright-core";
import sharp from "sharp";

/** Where Debian installs Chromium. */
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** Why browser tests cannot run here, or null when they can. */
export function browserMissing(): string | null {
  try {
    Deno.statSync(CHROMIUM);
    return null;
  } catch {
    return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
  }
}

/** The flags this sandbox needs. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Start headless Chromium with the flags this sandbox needs, plus `args`
 * (`executablePath` replaces Debian's, e.g. with a wrapper script).
 */
export function launch(
  o: { executablePath?: string; args?: string[] } = {},
): Promise<Browser> {
  return chromium.launch({
    executablePath: o.executablePath ?? CHROMIUM,
    args: [...CHROMIUM_ARGS, ...(o.args ?? [])],
  });
}

/** A page screenshot decoded to RGBA, in CSS pixels. */
export async function screenPixels(
  page: import("playwright-core").Page,
): Promise<{ data: Uint8Array; width: number; height: number }> {
  const png = await page.screenshot({ scale: "css" });
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({
    resolveWithObject: true,
  });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/**
 * Wait until `expression` is truthy in `page`, evaluating it from outside
 * (`page.evaluate` over the DevTools protocol) every 50 ms; a throw counts
 * as not yet. Playwright's `waitForFunction` with a string polls by `eval`
 * inside the page, which the viewer page's Content-Security-Policy (no
 * `'unsafe-eval'`) refuses.
 */
export async function waitForExpression(
  page: import("playwright-core").Page,
  expression: string,
  options: { timeout?: number } = {},
): Promise<void> {
  const timeout = options.timeout ?? 30_000;
  const deadline = performance.now() + timeout;
  let last: unknown = null;
  for (;;) {
    try {
      if (await page.evaluate(expression)) return;
      last = null;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      throw new Error(
        `timed out after ${timeout} ms waiting for ${expression}${
          last ? `: ${(last as Error).message ?? last}` : ""
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
