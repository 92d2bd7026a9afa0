/**
 * The demo site: a Hono app that server-renders Preact pages (laid out like
 * a Fresh app: routes/, islands/, components/, static/) and mounts the
 * library's `handler` at `/rfb` on the same origin. It runs five streams:
 * the `--pattern` scene (`main`), a WebGPU shader (`gpu`), an interactive
 * fractal (`fractal`), a paint canvas behind a session cookie (`private`),
 * and a shared whiteboard (`classroom`: signed-in presenters drive, one at
 * a time, everyone else watches).
 *
 * Who may do what: anyone who can load the demo's pages may watch and retune
 * the public streams (the stream pages' controls do it through
 * `POST /api/streams/:name`); only a signed-in session may watch or retune
 * the private one. Every POST must come from the demo's own pages (`Origin`
 * and `Sec-Fetch-Site`, see guards.ts) and bodies are read to 16 KiB at
 * most; the API also requires `Content-Type: application/json`, which a
 * cross-site page cannot send without a CORS preflight the demo never
 * grants. Sign-in failures are limited per client address (5 a minute);
 * sessions expire (12 h), are capped, and live in a cookie that is
 * `HttpOnly; SameSite=Strict` (and `Secure` with the `__Host-` name over
 * HTTPS, see sessions.ts).
 *
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { renderToString } from "preact-render-to-string";
import type { VNode } from "preact";
import { type Display, handler, RfbServer, timingSafeEqual } from "../mod.ts";
import type { DisplayOptions, TunableOptions } from "../mod.ts";
import { buildIslands } from "./build.ts";
import {
  AttemptLimiter,
  clientKey,
  isJson,
  MAX_BODY,
  sameOrigin,
} from "./guards.ts";
import {
  clearSessionCookie,
  SESSION_TTL_MS,
  SessionStore,
  sessionToken,
  setSessionCookie,
} from "./sessions.ts";
import { Home } from "./routes/home.tsx";
import { ClassroomPage } from "./routes/classroom.tsx";
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
  /** Host names the streams answer to (see `HandlerOptions.allowedHosts`). Default: loopback names. */
  allowedHosts?: readonly string[];
  /** How long a sign-in lasts, in ms. Default 12 hours. */
  sessionTtlMs?: number;
  /** The clock for sessions and the sign-in limit, in ms. Default `Date.now`. */
  now?: () => number;
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
  /**
   * Why the WebGPU scene is off (a clause: "the demo was started with
   * --no-gpu", "Deno's WebGPU failed: …"), or null when it is on.
   */
  gpuUnavailable: string | null;
  /** Stop the scenes and close every stream. */
  close(): Promise<void>;
}

const BASE = "/rfb";
const PASSWORD = "rfb";
/** Wrong passwords (or unreadable sign-in forms) per client a minute. */
const FAILURES_PER_MINUTE = 5;
/** Successful sign-ins per client a minute (each makes a session). */
const SIGN_INS_PER_MINUTE = 10;
/** Client addresses the sign-in limiter tracks at most. */
const MAX_TRACKED_CLIENTS = 10_000;
/** The longest name kept in a session. */
const MAX_NAME = 64;

type Env = { Bindings: Partial<Deno.ServeHandlerInfo> };

function page(
  node: VNode,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(`<!doctype html>${renderToString(node)}`, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", ...headers },
  });
}

/** Where a sign-in form goes back to: its page, one of two (never a URL it names). */
function backTo(form: FormData | null): "/classroom" | "/private" {
  return form?.get("next") === "/classroom" ? "/classroom" : "/private";
}

/** Refuse a POST that did not come from the demo's own pages (403). */
function sameOriginOnly(json: boolean): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (sameOrigin(c.req.raw)) return await next();
    const error = "cross-origin request refused";
    return json ? c.json({ error }, 403) : c.text(error, 403);
  };
}

/** Read at most `MAX_BODY` bytes of the body (413 past that). */
function limitBody(json: boolean): MiddlewareHandler<Env> {
  return bodyLimit({
    maxSize: MAX_BODY,
    onError: (c) => {
      const error = `the body is over ${MAX_BODY} bytes`;
      return json ? c.json({ error }, 413) : c.text(error, 413);
    },
  });
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
  const now = options.now ?? Date.now;
  const sessions = new SessionStore({
    ttlMs: options.sessionTtlMs ?? SESSION_TTL_MS,
    now,
  });
  const session = (request: Request) => sessions.get(sessionToken(request));
  const signedIn = (request: Request) => session(request) !== undefined;
  const failures = new AttemptLimiter({
    limit: FAILURES_PER_MINUTE,
    windowMs: 60_000,
    maxKeys: MAX_TRACKED_CLIENTS,
    now,
  });
  const signIns = new AttemptLimiter({
    limit: SIGN_INS_PER_MINUTE,
    windowMs: 60_000,
    maxKeys: MAX_TRACKED_CLIENTS,
    now,
  });

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
  // The paint canvases take dropped images (up to 8 MiB each).
  const images: DisplayOptions = { maxFileBytes: 8 << 20 };
  add(
    "main",
    width,
    height,
    make(width, height),
    true,
    pattern === "paint" ? images : {},
  );
  add("fractal", 640, 360, fractal(640, 360), false);
  add("private", 640, 360, paint(640, 360), false, {
    ...images,
    authenticate: ({ request }) => signedIn(request),
  });
  // The classroom: roles from the demo's own session cookie. Anyone may
  // watch; signed-in presenters may drive, one at a time.
  add("classroom", 640, 360, paint(640, 360), false, {
    ...images,
    control: "exclusive",
    controlIdle: 5,
    authenticate: ({ request }) => {
      const user = session(request);
      return user ? { name: user.name, role: "control" } : { role: "view" };
    },
  });
  /** Streams only signed-in sessions may retune (and the API does not list). */
  const guarded = new Set(["private", "classroom"]);
  let gpuUnavailable: string | null = "the demo was started with --no-gpu";
  let gpu: Awaited<ReturnType<typeof gpuScene>> | null = null;
  if (!options.noGpu) {
    const display = server.addStream("gpu", 640, 360);
    gpu = await gpuScene(display).catch((err) =>
      `Deno's WebGPU failed: ${(err as Error).message}`
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
  const rfb = handler(server, {
    prefix: BASE,
    allowedHosts: options.allowedHosts,
  });
  const app = new Hono<Env>();
  const formGuard = [sameOriginOnly(false), limitBody(false)] as const;
  const tunable = (name: string) => {
    const s = server.stream(name)!.settings();
    return {
      quality: s.quality,
      bitrate: s.bitrate,
      fps: s.fps,
      stillAfter: s.stillAfter,
    };
  };

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
    if (!display || guarded.has(name)) {
      return page(<NotFound what={`No public stream named “${name}”.`} />, 404);
    }
    return page(
      <StreamPage
        stream={name}
        base={BASE}
        width={display.width}
        height={display.height}
        settings={tunable(name)}
      />,
    );
  });
  app.get(
    "/classroom",
    (c) =>
      page(<ClassroomPage base={BASE} presenter={session(c.req.raw)?.name} />),
  );
  app.get("/api/classroom", (c) => {
    if (!signedIn(c.req.raw)) {
      return c.json({ error: "sign in to see who is in the room" }, 403);
    }
    const viewers = server.stream("classroom")!.presence().map((v) => ({
      id: v.id,
      name: v.name,
      role: v.role,
      control: v.control,
      requested: v.requested,
    }));
    return c.json({ viewers });
  });
  app.get("/private", (c) => {
    const user = session(c.req.raw);
    return page(
      <PrivatePage
        base={BASE}
        signedIn={user !== undefined}
        user={user?.name}
        settings={user ? tunable("private") : undefined}
      />,
    );
  });
  app.post("/login", ...formGuard, async (c) => {
    const addr = c.env?.remoteAddr;
    const client = clientKey(
      addr && "hostname" in addr ? addr.hostname : "unknown",
    );
    // Checked before the password, so a client over the limit learns
    // nothing from its attempts, the right password included.
    const wait = Math.max(failures.wait(client), signIns.wait(client));
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      return page(
        <PrivatePage
          base={BASE}
          signedIn={false}
          error={`Too many sign-in attempts: try again in ${seconds} s.`}
        />,
        429,
        { "retry-after": String(seconds) },
      );
    }
    let form: FormData | null = null;
    try {
      form = await c.req.formData();
    } catch {
      // An unreadable form counts as a failed attempt.
    }
    const name = String(form?.get("name") ?? "").trim();
    const password = String(form?.get("password") ?? "");
    const next = backTo(form);
    // timingSafeEqual compares every byte whatever the first difference.
    if (!name || !timingSafeEqual(password, PASSWORD)) {
      failures.record(client);
      const error = "Wrong name or password.";
      return page(
        next === "/classroom"
          ? <ClassroomPage base={BASE} error={error} />
          : <PrivatePage base={BASE} signedIn={false} error={error} />,
        401,
      );
    }
    signIns.record(client);
    const token = sessions.create(name.slice(0, MAX_NAME));
    return new Response(null, {
      status: 303,
      headers: {
        location: next,
        "set-cookie": setSessionCookie(c.req.raw, token, sessions.ttlMs),
      },
    });
  });
  app.post("/logout", ...formGuard, async (c) => {
    sessions.delete(sessionToken(c.req.raw));
    const form = await c.req.formData().catch(() => null);
    return new Response(null, {
      status: 303,
      headers: {
        location: backTo(form),
        "set-cookie": clearSessionCookie(c.req.raw),
      },
    });
  });
  app.get(
    "/api/streams",
    (c) =>
      c.json(
        server.streams().filter((d) => !guarded.has(d.name)).map((d) => ({
          name: d.name,
          width: d.width,
          height: d.height,
          viewers: d.viewers,
          settings: d.settings(),
        })),
      ),
  );
  app.post(
    "/api/streams/:name",
    sameOriginOnly(true),
    async (c, next) =>
      isJson(c.req.raw) ? await next() : c.json(
        { error: "the body must be sent as application/json" },
        415,
      ),
    limitBody(true),
    async (c) => {
      const display = server.stream(c.req.param("name"));
      if (!display) return c.json({ error: "no such stream" }, 404);
      if (guarded.has(display.name) && !signedIn(c.req.raw)) {
        return c.json({ error: "sign in to retune this stream" }, 403);
      }
      let changes: unknown;
      try {
        changes = await c.req.json();
      } catch {
        return c.json({ error: "the body must be JSON" }, 400);
      }
      if (
        typeof changes !== "object" || changes === null ||
        Array.isArray(changes)
      ) {
        return c.json({ error: "the body must be a JSON object" }, 400);
      }
      try {
        display.configure(changes as TunableOptions);
      } catch (err) {
        return c.json({ error: (err as Error).message }, 400);
      }
      return c.json({ settings: display.settings() });
    },
  );
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
    fetch: (request, info) => app.fetch(request, info ?? {}),
    server,
    gpuUnavailable,
    async close() {
      clearInterval(timer);
      if (gpu && typeof gpu !== "string") gpu.destroy();
      await server.close();
    },
  };
}
