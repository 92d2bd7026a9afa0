/**
 * `deno task demo`: the demo site (gallery, stream pages, a private stream)
 * on one port, and the URL to open.
 *
 * ```sh
 * deno task demo --pattern paint --port 8000 --width 1280 --height 720
 * deno task demo --nats --pattern paint   # a host and two edges through NATS
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createDemo } from "./app.tsx";
import { startNatsDemo } from "./nats.ts";
import { SCENES } from "./scenes/patterns.ts";

const HELP = `Usage: deno task demo [options]

Serves the @rfb/core demo site and prints the URL to open in a browser.

Options:
  --port <n>        TCP port (default 8000; 0 lets the OS pick)
  --host <name>     interface to listen on (default 127.0.0.1)
  --allowed-hosts <a,b>  host names viewers use to reach it (default: loopback
                    names on 127.0.0.1, any name on another interface)
  --pattern <name>  main scene: ${
  Object.keys(SCENES).join(", ")
} (default bounce)
  --width <n>       main scene width (default 1280)
  --height <n>      main scene height (default 720)
  --fps <n>         frames per second for moving scenes (default 30)
  --transport <t>   auto, image or webcodecs (default auto)
  --no-gpu          skip the WebGPU scene
  --seconds <n>     stop after this many seconds (default: run until Ctrl+C)
  --nats            instead of the site: one scene from a render host (--port)
                    and two edge servers (the next two ports) through a local
                    nats-server (Debian's nats-server, started on a free port)
  --nats-url <url>  with --nats: use this NATS server instead
  -h, --help        show this help
`;

function fail(message: string): never {
  console.error(`${message}\n\n${HELP}`);
  Deno.exit(2);
}

function int(
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) {
    fail(`--${name} must be an integer, got ${JSON.stringify(value)}`);
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
        "allowed-hosts": { type: "string" },
        pattern: { type: "string" },
        width: { type: "string" },
        height: { type: "string" },
        fps: { type: "string" },
        transport: { type: "string" },
        "no-gpu": { type: "boolean" },
        seconds: { type: "string" },
        nats: { type: "boolean" },
        "nats-url": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const transport = values.transport ?? "auto";
  if (!["auto", "image", "webcodecs"].includes(transport)) {
    fail(
      `--transport must be auto, image or webcodecs, got ${
        JSON.stringify(transport)
      }`,
    );
  }
  const hostname = values.host ?? "127.0.0.1";
  const loopback = /^(127\.|localhost$|::1$|\[::1\]$)/.test(hostname);
  const allowedHosts = values["allowed-hosts"]?.split(",").map((h) =>
    h.trim()
  ).filter(Boolean) ?? (loopback ? ["loopback"] : ["*"]);
  if (values.nats) {
    let nats;
    try {
      nats = await startNatsDemo({
        port: int("port", values.port, 8000),
        hostname,
        allowedHosts,
        pattern: values.pattern ?? "paint",
        width: int("width", values.width, 1280),
        height: int("height", values.height, 720),
        fps: int("fps", values.fps, 30),
        transport: transport as "auto",
        natsUrl: values["nats-url"],
      });
    } catch (err) {
      fail(`demo: ${(err as Error).message}`);
    }
    console.log(`@rfb/core demo through NATS (${nats.natsUrl})`);
    console.log(`render host: open ${nats.hostUrl}`);
    for (const [i, url] of nats.edgeUrls.entries()) {
      console.log(`edge ${i + 1}:      open ${url}`);
    }
    const stop = async () => {
      await nats.close();
      Deno.exit(0);
    };
    Deno.addSignalListener("SIGINT", stop);
    if (values.seconds !== undefined) {
      setTimeout(stop, int("seconds", values.seconds, 0) * 1000);
    }
  } else {
    let demo;
    try {
      demo = await createDemo({
        allowedHosts,
        pattern: values.pattern,
        width: int("width", values.width, 1280),
        height: int("height", values.height, 720),
        fps: int("fps", values.fps, 30),
        transport: transport as "auto",
        noGpu: values["no-gpu"],
      });
    } catch (err) {
      fail(`demo: ${(err as Error).message}`);
    }
    let http: Deno.HttpServer<Deno.NetAddr>;
    try {
      http = Deno.serve({
        port: int("port", values.port, 8000),
        hostname,
        onListen() {},
      }, demo.fetch);
    } catch (err) {
      await demo.close();
      fail(`demo: cannot listen: ${(err as Error).message}`);
    }
    const shown = hostname === "0.0.0.0" || hostname === "::"
      ? "localhost"
      : hostname;
    console.log(
      `@rfb/core demo${
        demo.gpuUnavailable ? ` (WebGPU scene off: ${demo.gpuUnavailable})` : ""
      }`,
    );
    console.log(`open http://${shown}:${http.addr.port}/`);
    const stop = async () => {
      await demo.close();
      await http.shutdown();
      Deno.exit(0);
    };
    Deno.addSignalListener("SIGINT", stop);
    if (values.seconds !== undefined) {
      setTimeout(stop, int("seconds", values.seconds, 0) * 1000);
    }
  }
}
