/**
 * The fake NVENC driver (tests/fixtures/fake_nvenc), built with gcc into a
 * temporary directory once per test process, and node-av's decoder giving
 * back exact NV12 planes (the fake writes I_PCM macroblocks, so a decoded
 * picture must equal what the encoder copied in).
 *
 * The fake checks our side of the NVENC ABI; it is not NVENC.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { loadAv } from "./_h264.ts";

const SOURCES = new URL("./fixtures/fake_nvenc/", import.meta.url);

const CONTROL = {
  fake_nvenc_last_error: { parameters: [], result: "pointer" },
  fake_nvenc_live_objects: { parameters: [], result: "i32" },
  fake_nvenc_leaks: { parameters: [], result: "i32" },
  fake_nvenc_encodes: { parameters: [], result: "i32" },
  fake_nvenc_layouts: { parameters: [], result: "pointer" },
} as const;

const CUDA_CONTROL = {
  fake_cuda_live_contexts: { parameters: [], result: "i32" },
} as const;

/** The built fake and its test hooks. */
export interface FakeNvenc {
  /** Path of the fake libcuda. */
  cuda: string;
  /** Path of the fake libnvidia-encode. */
  encode: string;
  /** The environment that points the library at the fake. */
  env: { RFB_CUDA_LIBRARY: string; RFB_NVENC_LIBRARY: string };
  /** Sessions and buffers alive in the fake now. */
  liveObjects(): number;
  /** Buffers a session still had when it was destroyed. */
  leaks(): number;
  /** Pictures encoded so far. */
  encodes(): number;
  /** CUDA contexts alive in the fake now. */
  liveContexts(): number;
  /** Why the fake last refused a call. */
  lastError(): string;
  /** gcc's layout of each structure: name → { $size, field: offset }. */
  layouts(): Record<string, Record<string, number>>;
}

let building: Promise<FakeNvenc | string> | null = null;

async function gcc(args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command("gcc", {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return out.success ? null : new TextDecoder().decode(out.stderr);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "gcc not found";
    throw err;
  }
}

/**
 * Build the fake (once): the two libraries, or the reason it cannot be
 * built (no gcc), for `ignore`.
 */
export function buildFakeNvenc(): Promise<FakeNvenc | string> {
  building ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "rfb_fake_nvenc_" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
    const src = (name: string) => new URL(name, SOURCES).pathname;
    // A soname of its own per build: \`deno test --parallel\` runs test files
    // in one process, and the dynamic linker would bind a second build's
    // NVENC to the first build's libcuda (same soname), not its own.
    const tag = dir.split("/").pop()!;
    const cudaName = `libfakecuda_${tag}.so`;
    const cuda = `${dir}/${cudaName}`, encode = `${dir}/libfakenvenc.so`;
    const flags = ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror"];
    let err = await gcc([
      ...flags,
      `-Wl,-soname,${cudaName}`,
      "-o",
      cuda,
      src("fake_cuda.c"),
    ]);
    if (err === "gcc not found") {
      return "gcc is not installed: the fake NVENC driver cannot be built";
    }
    if (err) throw new Error(`building the fake libcuda failed:\n${err}`);
    err = await gcc([
      ...flags,
      "-o",
      encode,
      src("fake_nvenc.c"),
      `-L${dir}`,
      `-l:${cudaName}`,
      "-Wl,-rpath,$ORIGIN",
    ]);
    if (err) throw new Error(`building the fake NVENC failed:\n${err}`);
    const lib = Deno.dlopen(encode, CONTROL).symbols;
    const cudaLib = Deno.dlopen(cuda, CUDA_CONTROL).symbols;
    const cString = (p: Deno.PointerValue) =>
      p ? Deno.UnsafePointerView.getCString(p) : "";
    return {
      cuda,
      encode,
      env: { RFB_CUDA_LIBRARY: cuda, RFB_NVENC_LIBRARY: encode },
      liveObjects: () => lib.fake_nvenc_live_objects(),
      leaks: () => lib.fake_nvenc_leaks(),
      encodes: () => lib.fake_nvenc_encodes(),
      liveContexts: () => cudaLib.fake_cuda_live_contexts(),
      lastError: () => cString(lib.fake_nvenc_last_error()),
      layouts: () => JSON.parse(cString(lib.fake_nvenc_layouts())),
    };
  })();
  return building;
}

/** Run `fn` with environment variables set, restoring them after. */
export async function withEnv<T>(
  vars: Record<string, string>,
  fn: () => Promise<T> | T,
): Promise<T> {
  const old = Object.keys(vars).map((k) => [k, Deno.env.get(k)] as const);
  for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
  try {
    return await fn();
  } finally {
    for (const [k, v] of old) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

/**
 * Decode Annex B access units with node-av; each picture comes back as
 * packed NV12 (Y rows, then interleaved U/V rows, no padding), with the
 * stream's colour space and range.
 */
export async function decodeNv12(chunks: Uint8Array[]): Promise<
  Array<{
    nv12: Uint8Array;
    width: number;
    height: number;
    colorSpace: number;
    colorRange: number;
  }>
> {
  const av = await loadAv();
  const codec = av.Codec.findDecoder(av.AV_CODEC_ID_H264);
  if (!codec) throw new Error("node-av has no H.264 decoder");
  const ctx = new av.CodecContext();
  ctx.allocContext3(codec);
  ctx.threadCount = 1;
  const opened = await ctx.open2(codec, null);
  if (opened < 0) throw new Error(`the H.264 decoder did not open (${opened})`);
  const packet = new av.Packet();
  packet.alloc();
  const frame = new av.Frame();
  frame.alloc();
  const out = [];
  try {
    for (const chunk of chunks) {
      packet.data = Buffer.from(chunk);
      const sent = await ctx.sendPacket(packet);
      packet.unref();
      if (sent < 0) throw new Error(`the decoder refused a packet (${sent})`);
      while (await ctx.receiveFrame(frame) >= 0) {
        const { width, height } = frame;
        if (frame.format !== av.AV_PIX_FMT_YUV420P) {
          throw new Error(`decoded format ${frame.format}, want yuv420p`);
        }
        const [y, u, v] = (frame.data ?? []).map((p) => new Uint8Array(p));
        const [ys, us, vs] = frame.linesize;
        const nv12 = new Uint8Array(width * height * 3 / 2);
        for (let r = 0; r < height; r++) {
          nv12.set(y.subarray(r * ys, r * ys + width), r * width);
        }
        for (let r = 0; r < height / 2; r++) {
          for (let c = 0; c < width / 2; c++) {
            nv12[width * height + r * width + 2 * c] = u[r * us + c];
            nv12[width * height + r * width + 2 * c + 1] = v[r * vs + c];
          }
        }
        out.push({
          nv12,
          width,
          height,
          colorSpace: frame.colorSpace as number,
          colorRange: frame.colorRange as number,
        });
        frame.unref();
      }
    }
  } finally {
    ctx.freeContext();
    packet.free();
    frame.free();
  }
  return out;
}

/** Where two byte arrays first differ, or -1. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
