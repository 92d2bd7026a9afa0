/**
 * The demo site: a Hono app that server-renders Preact pages (laid out like
 * a Fresh app: routes/, islands/, components/, static/) and mounts the
 * library's `handler` at `/rfb` on the same origin. It runs four streams:
 * the `--pattern` scene (`main`), a WebGPU shader (`gpu`), an interactive
 * fractal (`fractal`) and a paint canvas behind a session cookie
 * (`private`).
 *
 * @module
 */

import { Hono } from "hono";
import { renderToString } from "preact-render-to-string";
import type { VNode } from "preact";
import { type Display, handler, RfbServer, timingSafeEqual } from "../mod.ts";
import type { DisplayOptions, TunableOptions } from "../mod.ts";
import { buildIslands } from "./build.ts";
import { Home } from "./routes/home.tsx";
import { PrivatePage } from "./routes/private.tsx";
import { NotFound, StreamPage } from "./routes/stream.tsx";
import { fractal } from "./scenes/fractal.ts";
import { gpuScene } from "./scenes/gpu.ts";
import { paint, type Scene, SCENES } from "./scenes/patterns.ts";

/** How the demo starts. */
export interface DemoOptions {
  /** The main scene: a name from `SCENES`. Default `"bounce"`. */
  pattern?: string;
  /** Main scene width. Default 1280. */
  width?: number;
  /** Main scene height. Default 720. */
  height?: number;
  /** Frames per second for moving scenes. Default 30. */
  fps?: number;
  /** Server-side transport setting for every stream. Default `"auto"`. */
  transport?: DisplayOptions["transport"];
  /** Where log lines go. */
  logger?: DisplayOptions["logger"];
  /** Skip the WebGPU scene (tests on machines without an adapter). */
  noGpu?: boolean;
}

/** A running demo. */
export interface Demo {
  /** The request handler (give it to `Deno.serve`). */
  fetch: (
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ) => Response | Promise<Response>;
  /** The streams' hub. */
  server: RfbServer;
  /** Why the WebGPU scene is off, or null. */
  gpuUnavailable: string | null;
  /** Stop the scenes and close every stream. */
  close(): Promise<void>;
}

const BASE = "/rfb";
const PASSWORD = "rfb";
const COOKIE = "rfb_demo_session";

function page(node: VNode, status = 200): Response {
  return new Response(`<!doctype html>${renderToString(node)}`, {
    status,
    headers: { "content-type": "text/html; charset=utf-8" },
  });
}

function cookieOf(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

/**
 * Build the demo: streams, scenes and the web app.
 *
 * @example
 * ```ts ignore
 * const demo = await createDemo({ pattern: "bounce" });
 * Deno.serve({ port: 8000 }, demo.fetch);
 * ```
 */
export async function createDemo(options: DemoOptions = {}): Promise<Demo> {
  const pattern = options.pattern ?? "bounce";
  const make = SCENES[pattern];
  if (!make) {
    throw new RangeError(
      `unknown pattern ${JSON.stringify(pattern)}; one of ${
        Object.keys(SCENES).join(", ")
      }`,
    );
  }
  const width = options.width ?? 1280, height = options.height ?? 720;
  const fps = options.fps ?? 30;
  const sessions = new Set<string>();
  const signedIn = (request: Request) => {
    const token = cookieOf(request, COOKIE);
    return token !== undefined &&
      [...sessions].some((s) => timingSafeEqual(s, token));
  };

  const server = new RfbServer({
    transport: options.transport,
    fps,
    logger: options.logger,
  });
  const streams: Array<{ display: Display; scene: Scene; moving: boolean }> =
    [];
  const add = (
    name: string,
    w: number,
    h: number,
    scene: Scene,
    moving: boolean,
    extra: DisplayOptions = {},
  ) => {
    const display = server.addStream(name, w, h, extra);
    streams.push({ display, scene, moving });
    return display;
  };
  add("main", width, height, make(width, height), true);
  add("fractal", 640, 360, fractal(640, 360), false);
  add("private", 640, 360, paint(640, 360), false, {
    authenticate: ({ request }) => signedIn(request),
  });
  let gpuUnavailable: string | null = "disabled";
  let gpu: Awaited<ReturnType<typeof gpuScene>> | null = null;
  if (!options.noGpu) {
    const display = server.addStream("gpu", 640, 360);
    gpu = await gpuScene(display).catch((err) =>
      `WebGPU failed: ${(err as Error).message}`
    );
    if (typeof gpu === "string") {
      gpuUnavailable = gpu;
      await server.removeStream("gpu");
    } else {
      gpuUnavailable = null;
    }
  }

  // One loop drives every scene: input first, then a frame if it changed.
  const buffers = new Map<Display, Uint8Array>();
  const start = performance.now();
  const timer = setInterval(() => {
    const t = (performance.now() - start) / 1000;
    for (const { display, scene } of streams) {
      if (display.closed) continue;
      for (const ev of display.pollEvents()) scene.input(ev);
      let rgba = buffers.get(display);
      if (!rgba) {
        buffers.set(
          display,
          rgba = new Uint8Array(display.width * display.height * 4),
        );
      }
      if (scene.draw(rgba, t)) display.publish(rgba);
    }
    if (gpu && typeof gpu !== "string") {
      const display = server.stream("gpu");
      if (display) {
        for (const ev of display.pollEvents()) gpu.input(ev);
        gpu.frame(t);
      }
    }
  }, 1000 / fps);

  const islands = await buildIslands();
  const rfb = handler(server, { prefix: BASE });
  const app = new Hono();

  app.get("/", () =>
    page(
      <Home
        base={BASE}
        pattern={pattern}
        gpuUnavailable={gpuUnavailable ?? undefined}
        gpuAdapter={gpu && typeof gpu !== "string" ? gpu.adapter : undefined}
      />,
    ));
  app.get("/streams/:name", (c) => {
    const name = c.req.param("name");
    const display = server.stream(name);
    if (!display || name === "private") {
      return page(<NotFound what={`No public stream named “${name}”.`} />, 404);
    }
    const s = display.settings();
    return page(
      <StreamPage
        stream={name}
        base={BASE}
        width={display.width}
        height={display.height}
        settings={{
          quality: s.quality,
          bitrate: s.bitrate,
          fps: s.fps,
          stillAfter: s.stillAfter,
        }}
      />,
    );
  });
  app.get(
    "/private",
    (c) => page(<PrivatePage base={BASE} signedIn={signedIn(c.req.raw)} />),
  );
  app.post("/login", async (c) => {
    const form = await c.req.formData();
    const name = String(form.get("name") ?? "").trim();
    if (
      !name || !timingSafeEqual(String(form.get("password") ?? ""), PASSWORD)
    ) {
      return page(
        <PrivatePage
          base={BASE}
          signedIn={false}
          error="Wrong name or password."
        />,
        401,
      );
    }
    const token = crypto.randomUUID();
    sessions.add(token);
    return new Response(null, {
      status: 303,
      headers: {
        location: "/private",
        "set-cookie": `${COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax`,
      },
    });
  });
  app.post("/logout", (c) => {
    const token = cookieOf(c.req.raw, COOKIE);
    if (token) sessions.delete(token);
    return new Response(null, {
      status: 303,
      headers: {
        location: "/private",
        "set-cookie": `${COOKIE}=; Path=/; Max-Age=0`,
      },
    });
  });
  app.get(
    "/api/streams",
    (c) =>
      c.json(
        server.streams().filter((d) => d.name !== "private").map((d) => ({
          name: d.name,
          width: d.width,
          height: d.height,
          viewers: d.viewers,
          settings: d.settings(),
        })),
      ),
  );
  app.post("/api/streams/:name", async (c) => {
    const display = server.stream(c.req.param("name"));
    if (!display || display.name === "private") {
      return c.json({ error: "no such stream" }, 404);
    }
    let changes: TunableOptions;
    try {
      changes = await c.req.json();
    } catch {
      return c.json({ error: "the body must be JSON" }, 400);
    }
    try {
      display.configure(changes);
    } catch (err) {
      return c.json({ error: (err as Error).message }, 400);
    }
    return c.json({ settings: display.settings() });
  });
  app.get("/static/islands.js", () =>
    new Response(islands, {
      headers: {
        "content-type": "text/javascript; charset=utf-8",
        "cache-control": "no-cache",
      },
    }));
  app.get(
    "/static/style.css",
    async () =>
      new Response(
        await Deno.readTextFile(new URL("./static/style.css", import.meta.url)),
        {
          headers: { "content-type": "text/css; charset=utf-8" },
        },
      ),
  );
  app.get("/favicon.ico", () => new Response(null, { status: 204 }));
  app.all(`${BASE}/*`, (c) => rfb(c.req.raw));
  app.all(BASE, (c) => rfb(c.req.raw));
  app.notFound(() => page(<NotFound what="There is no page here." />, 404));

  return {
    fetch: (request) => app.fetch(request),
    server,
    gpuUnavailable,
    async close() {
      clearInterval(timer);
      if (gpu && typeof gpu !== "string") gpu.destroy();
      await server.close();
    },
  };
}
