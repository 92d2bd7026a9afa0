/**
 * `deno task doctor`: what works on this machine, as a table, and the
 * recommended path. Exits non-zero when the core (image) path is broken.
 *
 * @module
 */

import sharp from "sharp";

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

async function checkSharp(): Promise<Check> {
  try {
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
      name: "sharp (image path)",
      status: "ok",
      detail: `libvips ${sharp.versions.vips}; 1280x720 JPEG q80 in ${
        ms.toFixed(1)
      } ms (${(buf.length / 1024).toFixed(0)} KiB)`,
      core: true,
    };
  } catch (err) {
    return {
      name: "sharp (image path)",
      status: "broken",
      detail: String(err),
      core: true,
    };
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
      detail: (err as Error).message.split("\n")[0],
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
    return {
      check: { name, status: "missing", detail: probe.reason, core: false },
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
        detail: `${probe.reason}, but encoding failed: ${
          (err as Error).message.split("\n")[0]
        }`,
        core: false,
      },
      live: false,
    };
  }
}

/** The H.264 encoder displays will use with `encoder: "auto"`, and why. */
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
  const detail = nvenc.check.detail.replace(/; H\.264 uses libx264$/, "");
  const why = nvenc.check.status === "broken"
    ? `NVENC opens but fails: ${detail}`
    : `no NVENC: ${detail}`;
  return x264.status === "ok"
    ? { name, status: "ok", detail: `libx264 (${why})`, core: false }
    : {
      name,
      status: "missing",
      detail: `none: libx264 is ${x264.status} (${x264.detail}); ${why}`,
      core: false,
    };
}

function checkFile(name: string, path: string, hint: string): Check {
  try {
    Deno.statSync(path);
    return { name, status: "ok", detail: path, core: false };
  } catch {
    return { name, status: "missing", detail: hint, core: false };
  }
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
    checkFile(
      "Chromium (browser tests)",
      Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
      "apt-get install chromium",
    ),
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

/**
 * The doctor's conclusion: an exit code (1 when the core path is broken)
 * and the recommended path.
 *
 * @example
 * ```ts
 * import { verdict } from "./doctor.ts";
 * verdict([{ name: "sharp (image path)", status: "broken", detail: "", core: true }]).code; // 1
 * ```
 */
export function verdict(checks: Check[]): { code: number; message: string } {
  const broken = checks.filter((c) => c.core && c.status !== "ok");
  if (broken.length) {
    return {
      code: 1,
      message: `The core path is broken: ${
        broken.map((c) => c.name).join(", ")
      }.`,
    };
  }
  const route = checks.find((c) => c.name === "H.264 encoder");
  const nvenc = route?.status === "ok" && route.detail.startsWith("NVENC");
  const h264 = nvenc ||
    checks.find((c) => c.name.startsWith("node-av"))?.status === "ok";
  return {
    code: 0,
    message: h264
      ? `Recommended path: H.264 (${
        nvenc ? "NVENC" : "libx264"
      }) for browsers with WebCodecs, JPEG for the rest.`
      : "Recommended path: the image transport (JPEG live, PNG stills) on sharp.",
  };
}

if (import.meta.main) {
  const checks = await runChecks();
  console.log(formatTable(checks));
  const { code, message } = verdict(checks);
  console.log(`\n${message}`);
  Deno.exit(code);
}
