/**
 * Bundle the demo's islands (Preact components plus the rfb client) with
 * esbuild, in memory, when the demo starts.
 *
 * @module
 */

import * as esbuild from "esbuild";
import { bundleWorker, inlineWorker } from "../client/build.ts";

const root = new URL("..", import.meta.url).pathname;

/**
 * Build `demo/islands/main.ts` into one ES module.
 *
 * @example
 * ```ts ignore
 * const js = await buildIslands();
 * ```
 */
export async function buildIslands(): Promise<string> {
  try {
    const result = await esbuild.build({
      entryPoints: [`${root}demo/islands/main.ts`],
      bundle: true,
      format: "esm",
      target: "es2022",
      minify: true,
      write: false,
      jsx: "automatic",
      jsxImportSource: "preact",
      nodePaths: [`${root}node_modules`],
      logLevel: "warning",
      legalComments: "none",
      // The viewers' worker travels inside the bundle, as a blob URL.
      plugins: [inlineWorker(await bundleWorker())],
    });
    return result.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}
