/**
 * `deno task demo`: serve a live scene and print the page to open.
 *
 * ```sh
 * deno task demo --pattern paint --port 8765 --width 1280 --height 720
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { serve } from "../mod.ts";
import { SCENES } from "./patterns.ts";

const HELP = `Usage: deno task demo [options]

Serves a live scene with @rfb/core and prints the URL to open in a browser.

Options:
  --port <n>        TCP port (default 8765; 0 lets the OS pick)
  --host <name>     interface to listen on (default 127.0.0.1)
  --pattern <name>  scene: ${Object.keys(SCENES).join(", ")} (default bounce)
  --width <n>       frame width (default 1280)
  --height <n>      frame height (default 720)
  --fps <n>         frames per second for moving scenes (default 30)
  --transport <t>   auto, image or webcodecs (default auto)
  --format <f>      image format: jpeg, png or webp (default jpeg)
  --quality <n>     JPEG/WebP quality 1-100 (default 80)
  --seconds <n>     stop after this many seconds (default: run until Ctrl+C)
  -h, --help        show this help
`;

function int(
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) {
    console.error(
      `--${name} must be an integer, got ${JSON.stringify(value)}\n\n${HELP}`,
    );
    Deno.exit(2);
  }
  return n;
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        pattern: { type: "string" },
        width: { type: "string" },
        height: { type: "string" },
        fps: { type: "string" },
        transport: { type: "string" },
        format: { type: "string" },
        quality: { type: "string" },
        seconds: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${HELP}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const pattern = values.pattern ?? "bounce";
  const make = SCENES[pattern];
  if (!make) {
    console.error(`unknown --pattern ${JSON.stringify(pattern)}\n\n${HELP}`);
    Deno.exit(2);
  }
  const width = int("width", values.width, 1280);
  const height = int("height", values.height, 720);
  const fps = int("fps", values.fps, 30);
  let display;
  try {
    display = await serve(width, height, {
      port: int("port", values.port, 8765),
      hostname: values.host ?? "127.0.0.1",
      transport: values.transport as "auto" | undefined,
      imageFormat: values.format as "jpeg" | undefined,
      quality: values.quality === undefined
        ? undefined
        : int("quality", values.quality, 80),
    });
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    Deno.exit(1);
  }
  const scene = make(width, height);
  const rgba = new Uint8Array(width * height * 4);
  const start = performance.now();
  console.log(`@rfb/core demo: '${pattern}' ${width}x${height}`);
  console.log(`open ${display.url}`);
  const timer = setInterval(() => {
    for (const ev of display.pollEvents()) scene.input(ev);
    if (scene.draw(rgba, (performance.now() - start) / 1000)) {
      display.publish(rgba);
    }
  }, 1000 / Math.max(1, Math.min(240, fps)));
  const stop = async () => {
    clearInterval(timer);
    await display.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  if (values.seconds !== undefined) {
    setTimeout(stop, int("seconds", values.seconds, 0) * 1000);
  }
}
