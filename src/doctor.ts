/**
 * `deno task doctor`: what works on this machine, as a table (or JSON with
 * `--json`), and a verdict. Exit status 0 when the core path (sharp, the
 * image transport) works, even if H.264, WebGPU, NVENC or Chromium are
 * missing (warnings: viewers then get images); 1 when the core path is
 * broken; 2 for bad arguments. `--help` says the same.
 *
 * @module
 */

import { closestName } from "./names.ts";

/** One line of the report. */
export interface Check {
  /** What was checked. */
  name: string;
  /** `ok`, `missing` or `broken`. */
  status: "ok" | "missing" | "broken";
  /** What was found. */
  detail: string;
  /** Whether the core path needs it. */
  core: boolean;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, performance.now() - t];
}

/** The 1280x720 settings the encoder self-tests use. */
const SELF_TEST = {
  width: 1280,
  height: 720,
  fps: 60,
  bitrate: 4e6,
  gop: 240,
  preset: "ultrafast",
} as const;

/**
 * Encode `data` as an IDR twice (the first warms up) and time the second;
 * throws when no IDR comes out.
 */
async function timedIdr(
  enc: import("./encoders/video_encoder.ts").VideoEncoder,
  data: Uint8Array,
  layout: "rgba" | "nv12",
): Promise<[import("./encoders/h264.ts").H264Chunk, number]> {
  const { nalTypes } = await import("./encoders/annexb.ts");
  const picture = {
    data,
    width: SELF_TEST.width,
    height: SELF_TEST.height,
    layout,
  };
  await enc.encode(picture, true);
  const [chunk, ms] = await timed(() => enc.encode(picture, true));
  if (!chunk || !nalTypes(chunk.data).includes(5)) {
    throw new Error("no IDR came out");
  }
  return [chunk, ms];
}

/**
 * An error's first lines, joined: what went wrong without the advice that
 * some libraries append (sharp's "Possible solutions: ..."). A line ending
 * in ":" (node-av's "Errors:") is joined to the next.
 */
function firstLines(err: unknown, count = 2): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    if (/^possible solutions/i.test(line)) break;
    const last = lines.length - 1;
    if (last >= 0 && lines[last].endsWith(":")) lines[last] += ` ${line}`;
    else lines.push(line);
  }
  return lines.slice(0, count).join("; ");
}

async function checkSharp(): Promise<Check> {
  const name = "sharp (image path)";
  try {
    // Imported here, so that a sharp that cannot load is a row, not a crash.
    const { default: sharp } = await import("sharp");
    const w = 1280, h = 720;
    const px = new Uint8Array(w * h * 4);
    for (let i = 0; i < px.length; i++) px[i] = (i * 7) & 255;
    const encode = () =>
      sharp(px, { raw: { width: w, height: h, channels: 4 } }).jpeg({
        quality: 80,
      }).toBuffer();
    await encode();
    const [buf, ms] = await timed(encode);
    return {
      name,
      status: "ok",
      detail: `libvips ${sharp.versions.vips}; 1280x720 JPEG q80 in ${
        ms.toFixed(1)
      } ms (${(buf.length / 1024).toFixed(0)} KiB)`,
      core: true,
    };
  } catch (err) {
    return { name, status: "broken", detail: firstLines(err), core: true };
  }
}

async function checkNodeAv(): Promise<Check> {
  try {
    const { H264Encoder } = await import("./encoders/h264.ts");
    const enc = await H264Encoder.open(SELF_TEST);
    try {
      const px = new Uint8Array(SELF_TEST.width * SELF_TEST.height * 4);
      for (let i = 0; i < px.length; i++) px[i] = (i * 13) & 255;
      const [chunk, ms] = await timedIdr(enc, px, "rgba");
      return {
        name: "node-av libx264 (H.264 path)",
        status: "ok",
        detail: `${enc.codec}; 1280x720 IDR in ${
          ms.toFixed(1)
        } ms (conversion ${enc.convertMs.toFixed(1)} ms), ${
          (chunk.data.length / 1024).toFixed(0)
        } KiB`,
        core: false,
      };
    } finally {
      enc.close();
    }
  } catch (err) {
    return {
      name: "node-av libx264 (H.264 path)",
      status: "broken",
      detail: firstLines(err),
      core: false,
    };
  }
}

async function checkWebGpu(): Promise<Check> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) {
    return {
      name: "WebGPU adapter",
      status: "missing",
      detail: "navigator.gpu is absent",
      core: false,
    };
  }
  // Mesa's software adapters complain on stderr without a runtime dir.
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    Deno.env.set("XDG_RUNTIME_DIR", Deno.makeTempDirSync());
  }
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) {
      return {
        name: "WebGPU adapter",
        status: "missing",
        detail:
          "no adapter: install a GPU driver, or Mesa's mesa-vulkan-drivers for a software one",
        core: false,
      };
    }
    const info = adapter.info;
    const name = info.description || info.device || "unnamed";
    const software = /llvmpipe|lavapipe|swiftshader|softpipe/i.test(
      `${name} ${info.vendor}`,
    );
    const backend = Deno.env.get("DENO_WEBGPU_BACKEND") ?? "default";
    return {
      name: "WebGPU adapter",
      status: "ok",
      detail: `${name} (${
        software ? "software" : "hardware"
      }; backend ${backend}; vendor ${info.vendor || "?"})`,
      core: false,
    };
  } catch (err) {
    return {
      name: "WebGPU adapter",
      status: "broken",
      detail: String(err),
      core: false,
    };
  }
}

/**
 * NVENC: the driver's libraries (`RFB_CUDA_LIBRARY` / `RFB_NVENC_LIBRARY`
 * when set), API version negotiation, whether an encode session opens, and
 * whether a 1280x720 NV12 frame encodes to an IDR.
 */
async function checkNvenc(): Promise<{ check: Check; live: boolean }> {
  const { probeNvenc } = await import("./encoders/nvenc/driver.ts");
  const name = "NVENC (GPU H.264)";
  const probe = probeNvenc();
  if (!probe.ok) {
    // The fallback is the H.264 encoder row's to say, not this one's.
    const detail = probe.reason.replace(/; H\.264 uses libx264$/, "");
    return {
      check: { name, status: "missing", detail, core: false },
      live: false,
    };
  }
  try {
    const { NvencEncoder } = await import("./encoders/nvenc/encoder.ts");
    const enc = await NvencEncoder.open(SELF_TEST);
    try {
      const nv12 = new Uint8Array(SELF_TEST.width * SELF_TEST.height * 3 / 2);
      for (let i = 0; i < nv12.length; i++) nv12[i] = (i * 13) & 255;
      const [chunk, ms] = await timedIdr(enc, nv12, "nv12");
      return {
        check: {
          name,
          status: "ok",
          detail: `${probe.reason}; ${enc.codec}; 1280x720 NV12 IDR in ${
            ms.toFixed(1)
          } ms (copy ${enc.convertMs.toFixed(1)} ms, pitch ${enc.pitch}), ${
            (chunk.data.length / 1024).toFixed(0)
          } KiB`,
          core: false,
        },
        live: true,
      };
    } finally {
      await enc.close();
    }
  } catch (err) {
    return {
      check: {
        name,
        status: "broken",
        detail: `${probe.reason}, but encoding failed: ${firstLines(err, 1)}`,
        core: false,
      },
      live: false,
    };
  }
}

/**
 * The H.264 encoder displays will use with `encoder: "auto"`. Why NVENC is
 * not used is said once, on the NVENC row; this row points there.
 */
function checkRoute(
  nvenc: { check: Check; live: boolean },
  x264: Check,
): Check {
  const name = "H.264 encoder";
  if (nvenc.live) {
    return {
      name,
      status: "ok",
      detail: "NVENC (preferred over libx264)",
      core: false,
    };
  }
  const why = `NVENC is ${nvenc.check.status}: see its row`;
  return x264.status === "ok"
    ? { name, status: "ok", detail: `libx264 (${why})`, core: false }
    : {
      name,
      status: "missing",
      detail:
        `none: libx264 is ${x264.status} and NVENC is ${nvenc.check.status} (see their rows)`,
      core: false,
    };
}

/** Where the browser tests look for Chromium when `CHROMIUM_PATH` is unset. */
const CHROMIUM_DEFAULT = "/usr/bin/chromium";

/** What is at `path`: a file, a directory, or nothing. */
function fileKind(path: string): "file" | "directory" | "nothing" {
  try {
    return Deno.statSync(path).isDirectory ? "directory" : "file";
  } catch {
    return "nothing";
  }
}

/**
 * Chromium for the browser tests: `CHROMIUM_PATH` when set (and if it points
 * nowhere, say so, and whether the default one is there), else
 * `/usr/bin/chromium`.
 */
function checkChromium(path: string | undefined): Check {
  const name = "Chromium (browser tests)";
  if (path) {
    const kind = fileKind(path);
    if (kind === "file") {
      return { name, status: "ok", detail: path, core: false };
    }
    const fallback = fileKind(CHROMIUM_DEFAULT) === "file"
      ? `${CHROMIUM_DEFAULT} is installed: unset CHROMIUM_PATH to use it`
      : `and ${CHROMIUM_DEFAULT} is missing too: apt-get install chromium`;
    return {
      name,
      status: "missing",
      detail: `CHROMIUM_PATH=${path} ${
        kind === "directory"
          ? "is a directory, not Chromium's executable"
          : "points nowhere (no file there)"
      }; ${fallback}`,
      core: false,
    };
  }
  return fileKind(CHROMIUM_DEFAULT) === "file"
    ? { name, status: "ok", detail: CHROMIUM_DEFAULT, core: false }
    : {
      name,
      status: "missing",
      detail:
        `no ${CHROMIUM_DEFAULT}: apt-get install chromium, or set CHROMIUM_PATH`,
      core: false,
    };
}

/**
 * Run every check.
 *
 * @example
 * ```ts ignore
 * import { runChecks } from "./doctor.ts";
 * for (const c of await runChecks()) console.log(c.name, c.status);
 * ```
 */
export async function runChecks(): Promise<Check[]> {
  const x264 = await checkNodeAv();
  const nvenc = await checkNvenc();
  return [
    { name: "Deno", status: "ok", detail: Deno.version.deno, core: true },
    await checkSharp(),
    x264,
    await checkWebGpu(),
    nvenc.check,
    checkRoute(nvenc, x264),
    checkChromium(Deno.env.get("CHROMIUM_PATH")),
  ];
}

/**
 * Format checks as a Markdown table.
 *
 * @example
 * ```ts
 * import { formatTable } from "./doctor.ts";
 * console.log(formatTable([{ name: "Deno", status: "ok", detail: "2.9.6", core: true }]));
 * ```
 */
export function formatTable(checks: Check[]): string {
  const rows = checks.map((c) =>
    `| ${c.name} | ${c.status} | ${c.detail.replaceAll("|", "/")} |`
  );
  return ["| check | status | detail |", "|---|---|---|", ...rows].join("\n");
}

/** The doctor's conclusion. */
export interface Verdict {
  /** Exit status: 0 when the core path works, 1 when it is broken. */
  code: number;
  /** `ok`; `warning` (works, but without H.264); `broken` (core path). */
  level: "ok" | "warning" | "broken";
  /** One line: what is broken, or the recommended path. */
  message: string;
}

/**
 * The doctor's conclusion: exit status 1 when the core path (a `core`
 * check: Deno, sharp) is broken, naming what; else 0, with the recommended
 * path. No H.264 encoder at all is a warning, not a failure: viewers then get
 * the image transport.
 *
 * @example
 * ```ts
 * import { verdict } from "./doctor.ts";
 * const v = verdict([{ name: "sharp (image path)", status: "broken", detail: "", core: true }]);
 * console.log(v.code, v.message); // 1 "Broken: sharp (image path) ..."
 * ```
 */
export function verdict(checks: Check[]): Verdict {
  const broken = checks.filter((c) => c.core && c.status !== "ok");
  if (broken.length) {
    return {
      code: 1,
      level: "broken",
      message: `Broken: ${
        broken.map((c) => c.name).join(", ")
      }, so no display can send a frame (see ${
        broken.length > 1 ? "their rows" : "its row"
      }).`,
    };
  }
  const route = checks.find((c) => c.name === "H.264 encoder");
  const nvenc = route?.status === "ok" && route.detail.startsWith("NVENC");
  const h264 = nvenc ||
    checks.find((c) => c.name.startsWith("node-av"))?.status === "ok";
  if (!h264) {
    return {
      code: 0,
      level: "warning",
      message:
        "Warning: no H.264 encoder (see its row), so viewers get the image transport (JPEG live, PNG stills) on sharp, which works.",
    };
  }
  return {
    code: 0,
    level: "ok",
    message: `Recommended path: H.264 (${
      nvenc ? "NVENC" : "libx264"
    }) for browsers with WebCodecs, JPEG for the rest.`,
  };
}

/** `--help`. */
const USAGE = `deno task doctor [--json] [--help]
(or: deno run -A src/doctor.ts ...)

Checks what works on this machine and prints a table and a verdict:
  Deno, sharp (image path)      core: a display needs them to send any frame
  node-av libx264 (H.264 path)  optional: H.264 on the CPU
  WebGPU adapter                optional: GPU scenes (RenderTarget)
  NVENC (GPU H.264)             optional: H.264 on an NVIDIA GPU
  H.264 encoder                 the one displays use with encoder "auto"
  Chromium (browser tests)      optional: $CHROMIUM_PATH, else /usr/bin/chromium

Options:
  --json      print the checks and the verdict as one JSON object instead:
              {"code", "level", "verdict", "checks": [{"name", "status",
              "detail", "core"}]}; status is "ok", "missing" or "broken"
  -h, --help  print this and exit

Exit status:
  0  the core path works. A missing H.264 encoder (no libx264 and no NVENC)
     is a warning, not a failure: viewers get images (JPEG live, PNG stills).
     WebGPU, NVENC or Chromium missing only turn those features off.
  1  the core path is broken (sharp cannot load or encode): no display can
     send a frame
  2  bad arguments`;

/** The command line, or why it is wrong. */
function parseArgs(
  args: readonly string[],
): { json: boolean; help: boolean } | string {
  const out = { json: false, help: false };
  for (const a of args) {
    if (a === "--json") out.json = true;
    else if (a === "--help" || a === "-h") out.help = true;
    else {
      const near = closestName(a, ["--json", "--help"]);
      return `unknown argument ${JSON.stringify(a)}${
        near ? ` (did you mean ${near}?)` : ""
      }; see --help`;
    }
  }
  return out;
}

if (import.meta.main) {
  const args = parseArgs(Deno.args);
  if (typeof args === "string") {
    console.error(`doctor: ${args}`);
    Deno.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const checks = await runChecks();
  const { code, level, message } = verdict(checks);
  if (args.json) {
    console.log(JSON.stringify({ code, level, verdict: message, checks }));
  } else {
    console.log(formatTable(checks));
    console.log(`\n${message}`);
  }
  Deno.exit(code);
}
