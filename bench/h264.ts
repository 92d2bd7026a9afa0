/**
 * The H.264 part of the benchmarks (`deno task bench h264`): Markdown
 * tables, printed and handed to bench/main.ts.
 *
 * 1. x264 time per frame at 1280x720 and 1920x1080 with the default settings:
 *    `H264Encoder` on RGBA (the RGBA → I420 conversion shown apart), on
 *    I420 converted beforehand (x264 alone), and the whole server (publish →
 *    chunk at a WebSocket viewer), interleaved in one run.
 * 2. Bytes per frame and PSNR of that stream (decoded back with node-av's
 *    H.264 decoder) against JPEG q80 on the same frames.
 * 3. Server CPU per published frame with 1, 8 and 32 H.264 viewers (in a
 *    separate process), against the encoder's own CPU time per frame.
 * 4. Sustained frame rate with one H.264 viewer: 1280x720 at 60 fps,
 *    1920x1080 at 30 fps.
 *    The same against pdum.rfb's approach, one encoder per viewer.
 *
 * Frames come from `renderScene()`, pre-rendered: a ring of 60 frames (one
 * second of the scene at 60 fps) played forward then backward, so the motion
 * never jumps; a stream at 30 fps takes every second frame, so the scene
 * moves at the same speed.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import process from "node:process";
import sharp from "sharp";
import { serve, silentLogger } from "../mod.ts";
import {
  H264Encoder,
  type H264Settings,
  probeH264,
} from "../src/encoders/h264.ts";
import { defaultBitrate } from "../src/options.ts";
import { cpuCells, serverCpu, type ServerUnderTest } from "./cost.ts";
import { Player, renderRing, RING } from "./scene.ts";
import {
  checkTarget,
  cpuModel,
  cpuMs,
  f1,
  f2,
  loadavg,
  LoadMeter,
  mean,
  publishAt,
  quantile,
  sizeName,
  SIZES,
  sleep,
  table,
  wsUrl,
} from "./util.ts";
import { openViewer, spawnViewers } from "./viewers.ts";
import { servePerViewerEncoders } from "./baseline.ts";

type Lib = typeof import("node-av/lib");
type Consts = typeof import("node-av/constants");
interface Av {
  lib: Lib;
  c: Consts;
}

const DEFAULT_FPS = 60; // the display's default `fps`
const ROUNDS_1 = 16; // part 1: interleaved rounds (plus one warm-up round)
const PER_ROUND_1 = 12; // frames per method per round
const PSNR_EVERY = 4; // part 2: every 4th measured frame is compared
const JPEG = {
  quality: 80,
  chromaSubsampling: "4:2:0",
  mozjpeg: false,
} as const;
const VIEWERS_3 = [1, 8, 32];
const FPS_3 = 30;
const SECONDS_3 = 4;
const REF_WARM_3 = 15; // part 3: warm-up encodes per reference row
const REF_FRAMES_3 = 75; // part 3: measured encodes per reference row
const RATES_4: ReadonlyArray<{ width: number; height: number; fps: number }> = [
  { width: 1280, height: 720, fps: 60 },
  { width: 1920, height: 1080, fps: 30 },
];
const SECONDS_4 = 4;
const WARM_MS = 1000;

const asBuffer = (u: Uint8Array) =>
  Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** The encoder settings a display uses by default at this size and rate. */
export function defaults(
  width: number,
  height: number,
  fps: number,
): H264Settings {
  return {
    width,
    height,
    fps,
    bitrate: defaultBitrate(width, height, fps),
    gop: Math.round(fps * 4),
    preset: "ultrafast",
  };
}

const mbps = (bps: number) => `${f2(bps / 1e6)} Mbit/s`;

/** RGBA → I420 with FFmpeg's scaler, as `H264Encoder` converts. */
async function toI420(
  av: Av,
  ring: Uint8Array[],
  width: number,
  height: number,
): Promise<Uint8Array[]> {
  const { lib, c } = av;
  const sws = new lib.SoftwareScaleContext();
  sws.getContext(
    width,
    height,
    c.AV_PIX_FMT_RGBA,
    width,
    height,
    c.AV_PIX_FMT_YUV420P,
    c.SWS_BILINEAR,
  );
  if (sws.initContext() < 0) throw new Error("swscale init failed");
  const dst = new lib.Frame();
  dst.alloc();
  dst.width = width;
  dst.height = height;
  dst.format = c.AV_PIX_FMT_YUV420P;
  if (dst.allocBuffer() < 0) throw new Error("frame alloc failed");
  const out: Uint8Array[] = [];
  for (const rgba of ring) {
    const src = lib.Frame.fromVideoBuffer(asBuffer(rgba), {
      width,
      height,
      format: c.AV_PIX_FMT_RGBA,
    });
    await sws.scaleFrame(dst, src);
    out.push(new Uint8Array(dst.toBuffer()));
    src.free();
  }
  dst.free();
  sws.freeContext();
  return out;
}

/** node-av's H.264 decoder, plus a scaler to RGBA for RGB PSNR. */
class Decoder {
  #ctx: InstanceType<Lib["CodecContext"]>;
  #pkt: InstanceType<Lib["Packet"]>;
  #frame: InstanceType<Lib["Frame"]>;
  #rgba: InstanceType<Lib["Frame"]>;
  #sws: InstanceType<Lib["SoftwareScaleContext"]>;
  readonly width: number;
  readonly height: number;

  private constructor(av: Av, width: number, height: number) {
    const { lib, c } = av;
    this.width = width;
    this.height = height;
    this.#ctx = new lib.CodecContext();
    this.#pkt = new lib.Packet();
    this.#pkt.alloc();
    this.#frame = new lib.Frame();
    this.#frame.alloc();
    this.#rgba = new lib.Frame();
    this.#rgba.alloc();
    this.#rgba.width = width;
    this.#rgba.height = height;
    this.#rgba.format = c.AV_PIX_FMT_RGBA;
    if (this.#rgba.allocBuffer() < 0) throw new Error("frame alloc failed");
    this.#sws = new lib.SoftwareScaleContext();
    this.#sws.getContext(
      width,
      height,
      c.AV_PIX_FMT_YUV420P,
      width,
      height,
      c.AV_PIX_FMT_RGBA,
      (c.SWS_BILINEAR | c.SWS_FULL_CHR_H_INT |
        c.SWS_ACCURATE_RND) as Consts["SWS_BILINEAR"],
    );
    if (this.#sws.initContext() < 0) throw new Error("swscale init failed");
  }

  static async open(av: Av, width: number, height: number): Promise<Decoder> {
    const d = new Decoder(av, width, height);
    const codec = av.lib.Codec.findDecoder(av.c.AV_CODEC_ID_H264);
    if (!codec) throw new Error("node-av has no H.264 decoder");
    d.#ctx.allocContext3(codec);
    const r = await d.#ctx.open2(codec, null);
    if (r < 0) throw new Error(`H.264 decoder did not open (${r})`);
    return d;
  }

  /**
   * Decode one access unit; calls `got` for each picture out (Y plane,
   * its stride, and a getter for the picture as RGBA).
   */
  async decode(
    data: Uint8Array | null,
    got: (
      y: Uint8Array,
      stride: number,
      rgba: () => Promise<{ data: Uint8Array; stride: number }>,
    ) => Promise<void>,
  ): Promise<void> {
    if (data) {
      this.#pkt.data = asBuffer(data);
      const r = await this.#ctx.sendPacket(this.#pkt);
      this.#pkt.unref();
      if (r < 0) throw new Error(`decoder refused a packet (${r})`);
    } else {
      await this.#ctx.sendPacket(null);
    }
    while (await this.#ctx.receiveFrame(this.#frame) >= 0) {
      const y = this.#frame.data![0];
      const stride = this.#frame.linesize[0];
      await got(y, stride, async () => {
        await this.#sws.scaleFrame(this.#rgba, this.#frame);
        return { data: this.#rgba.data![0], stride: this.#rgba.linesize[0] };
      });
      this.#frame.unref();
    }
  }

  close(): void {
    this.#ctx.freeContext();
    this.#pkt.free();
    this.#frame.free();
    this.#rgba.free();
    this.#sws.freeContext();
  }
}

/** BT.601 limited-range luma of packed RGB(A) pixels, unrounded. */
function luma(
  px: Uint8Array,
  channels: number,
  width: number,
  height: number,
): Float32Array {
  const out = new Float32Array(width * height);
  for (let i = 0, p = 0; i < out.length; i++, p += channels) {
    out[i] = 16 +
      (65.481 * px[p] + 128.553 * px[p + 1] + 24.966 * px[p + 2]) / 255;
  }
  return out;
}

const psnr = (sse: number, n: number) =>
  sse === 0 ? 99 : 10 * Math.log10(255 * 255 * n / sse);

/** Y-PSNR of a plane (with `stride`) against a reference luma. */
function psnrPlane(
  ref: Float32Array,
  y: Uint8Array,
  stride: number,
  width: number,
  height: number,
): number {
  let sse = 0;
  for (let r = 0; r < height; r++) {
    const o = r * stride, ro = r * width;
    for (let x = 0; x < width; x++) {
      const d = y[o + x] - ref[ro + x];
      sse += d * d;
    }
  }
  return psnr(sse, width * height);
}

/** Y-PSNR of two lumas of the same size. */
function psnrLuma(ref: Float32Array, got: Float32Array): number {
  let sse = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = got[i] - ref[i];
    sse += d * d;
  }
  return psnr(sse, ref.length);
}

/** RGB PSNR of `got` (`channels` per pixel, rows `stride` bytes) against RGBA `ref`. */
function psnrRgb(
  ref: Uint8Array,
  got: Uint8Array,
  channels: number,
  stride: number,
  width: number,
  height: number,
): number {
  let sse = 0;
  for (let r = 0; r < height; r++) {
    let p = r * width * 4, q = r * stride;
    for (let x = 0; x < width; x++, p += 4, q += channels) {
      const a = got[q] - ref[p], b = got[q + 1] - ref[p + 1];
      const d = got[q + 2] - ref[p + 2];
      sse += a * a + b * b + d * d;
    }
  }
  return psnr(sse, width * height * 3);
}

/** One encoded access unit from the RGBA encoder of part 1. */
interface Chunk {
  /** Ring index of the source frame. */
  index: number;
  data: Uint8Array;
  keyframe: boolean;
  /** Counted in the results (not warm-up). */
  kept: boolean;
}

interface SizeData {
  width: number;
  height: number;
  ring: Uint8Array[];
  i420: Uint8Array[];
}

// ---------------------------------------------------------------- part 1

interface Part1 {
  text: string;
  /** The RGBA encoder's stream per size, for part 2. */
  streams: Map<string, Chunk[]>;
}

async function part1(sizes: SizeData[]): Promise<Part1> {
  const rows: string[][] = [];
  const streams = new Map<string, Chunk[]>();
  for (const { width, height, ring, i420 } of sizes) {
    const settings = defaults(width, height, DEFAULT_FPS);
    const rgbaEnc = await H264Encoder.open(settings);
    const i420Enc = await H264Encoder.open(settings);
    const display = await serve(width, height, {
      port: 0,
      logger: silentLogger,
      stillAfter: false,
      transport: "webcodecs",
    });
    const viewer = await openViewer(wsUrl(display), "h264");
    const r = {
      total: [] as number[],
      convert: [] as number[],
      codec: [] as number[],
      cpu: 0,
    };
    const i = { total: [] as number[], cpu: 0 };
    const s = { total: [] as number[], wall: 0, keys: 0 };
    const chunks: Chunk[] = [];
    const players = [new Player(RING), new Player(RING), new Player(RING)];
    let nRgba = 0, nI420 = 0;

    const viaRgba = async (keep: boolean) => {
      const c0 = process.cpuUsage();
      for (let k = 0; k < PER_ROUND_1; k++) {
        const index = players[0].next();
        const t0 = performance.now();
        const chunk = await rgbaEnc.encode({
          data: ring[index],
          width,
          height,
          layout: "rgba",
        }, nRgba++ === 0);
        const dt = performance.now() - t0;
        if (chunk) chunks.push({ index, ...chunk, kept: keep });
        if (keep) {
          r.total.push(dt);
          r.convert.push(rgbaEnc.convertMs);
          r.codec.push(dt - rgbaEnc.convertMs);
        }
      }
      if (keep) r.cpu += cpuMs(c0);
    };
    const viaI420 = async (keep: boolean) => {
      const c0 = process.cpuUsage();
      for (let k = 0; k < PER_ROUND_1; k++) {
        const index = players[1].next();
        const t0 = performance.now();
        await i420Enc.encode({
          data: i420[index],
          width,
          height,
          layout: "i420",
        }, nI420++ === 0);
        if (keep) i.total.push(performance.now() - t0);
      }
      if (keep) i.cpu += cpuMs(c0);
    };
    const viaServer = async (keep: boolean) => {
      const start = performance.now();
      for (let k = 0; k < PER_ROUND_1; k++) {
        const got = viewer.nextFrame();
        const t0 = performance.now();
        display.publish(ring[players[2].next()]);
        const frame = await got;
        if (frame.mime !== "video/h264") {
          throw new Error(`expected a video chunk, got ${frame.mime}`);
        }
        if (keep) {
          s.total.push(performance.now() - t0);
          if (frame.keyframe) s.keys++;
        }
      }
      if (keep) s.wall += performance.now() - start;
    };
    const methods = [viaRgba, viaI420, viaServer];
    for (let round = -1; round < ROUNDS_1; round++) {
      const keep = round >= 0; // round -1 warms up (and holds the first IDR)
      for (let j = 0; j < methods.length; j++) {
        await methods[(j + round + 1) % methods.length](keep);
      }
    }
    await viewer.close();
    await display.close();
    rgbaEnc.close();
    i420Enc.close();
    streams.set(sizeName(width, height), chunks);

    const n = ROUNDS_1 * PER_ROUND_1;
    const p50 = (xs: number[]) => f1(quantile(xs, 0.5));
    const p95 = (xs: number[]) => f1(quantile(xs, 0.95));
    const ratio = quantile(s.total, 0.5) / quantile(r.total, 0.5);
    const size = sizeName(width, height);
    rows.push(
      [
        size,
        "`H264Encoder`, RGBA in",
        p50(r.total),
        p95(r.total),
        p50(r.convert),
        p95(r.convert),
        p50(r.codec),
        p95(r.codec),
        f1(r.cpu / n),
        f1(1000 / quantile(r.total, 0.5)),
        "",
      ],
      [
        size,
        "`H264Encoder`, I420 in (x264 alone)",
        p50(i.total),
        p95(i.total),
        "0",
        "0",
        p50(i.total),
        p95(i.total),
        f1(i.cpu / n),
        f1(1000 / quantile(i.total, 0.5)),
        "",
      ],
      [
        size,
        "whole server, publish → chunk at viewer",
        p50(s.total),
        p95(s.total),
        "",
        "",
        "",
        "",
        "",
        f1(s.total.length / s.wall * 1000),
        checkTarget(
          `H.264: server time <= 1.5x the encoder's (RGBA in), ${size}`,
          `${f2(ratio)}x`,
          ratio <= 1.5,
        ),
      ],
    );
  }
  const s720 = defaults(1280, 720, DEFAULT_FPS);
  const s1080 = defaults(1920, 1080, DEFAULT_FPS);
  const text = [
    "## 1. H.264 encode time per frame (ms), x264 vs the whole server",
    "",
    `Default settings (as a display uses them): preset ${s720.preset}, ` +
    "tune zerolatency, constrained baseline, no B-frames, " +
    `${DEFAULT_FPS} fps, bitrate \`defaultBitrate()\` = ${
      mbps(s720.bitrate)
    } at 1280x720, ${mbps(s1080.bitrate)} at 1920x1080, ` +
    `GOP ${s720.gop}. Median and p95 over ${
      ROUNDS_1 * PER_ROUND_1
    } frames per row ` +
    `after one warm-up round (which holds the first IDR); the three paths are ` +
    `interleaved in rounds of ${PER_ROUND_1} frames, their order rotating, ` +
    "each on its own encoder fed the same frame sequence. " +
    "Encode = wall time of `await encoder.encode()`; RGBA→I420 = " +
    "`encoder.convertMs` (FFmpeg's scaler, on a libuv thread); codec = encode " +
    "− conversion. I420 in: the frames converted beforehand, so the row is " +
    "x264's own time. CPU = this process's user + system time over the " +
    "row's batches / frames. Whole server: a `serve()` display " +
    "(transport webcodecs, stillAfter false) with one in-process WebSocket " +
    "viewer that acks every chunk, timed from `publish()` until the viewer " +
    "has the chunk, the next publish right after (closed loop), like the " +
    "image benchmark's table A. Target: server <= 1.5x the encoder (RGBA in).",
    "",
    table(
      [
        "size",
        "path",
        "encode p50",
        "p95",
        "RGBA→I420 p50",
        "p95",
        "codec p50",
        "p95",
        "CPU ms/frame",
        "fps (1000/p50; server: measured)",
        "server/encoder p50, target <= 1.5x",
      ],
      rows,
    ),
  ].join("\n");
  return { text, streams };
}

// ---------------------------------------------------------------- part 2

async function part2(
  av: Av,
  sizes: SizeData[],
  streams: Map<string, Chunk[]>,
): Promise<string> {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const { width, height, ring } of sizes) {
    const chunks = streams.get(sizeName(width, height))!;
    const kept = chunks.filter((c) => c.kept);
    const bytes = kept.map((c) => c.data.length);
    const hY: number[] = [], hRgb: number[] = [];
    const jY: number[] = [], jRgb: number[] = [], jBytes: number[] = [];
    const jMs: number[] = [];
    let first: { bytes: number; y: number } | null = null;
    const decoder = await Decoder.open(av, width, height);
    const pending: Chunk[] = []; // sent to the decoder, no picture yet
    let keptSeen = 0;
    const onPicture = async (
      y: Uint8Array,
      stride: number,
      rgba: () => Promise<{ data: Uint8Array; stride: number }>,
    ) => {
      const chunk = pending.shift();
      if (!chunk) throw new Error("decoder produced an extra picture");
      const src = ring[chunk.index];
      const isFirst = first === null;
      const compare = chunk.kept && keptSeen++ % PSNR_EVERY === 0;
      if (!isFirst && !compare) return;
      const ref = luma(src, 4, width, height);
      const py = psnrPlane(ref, y, stride, width, height);
      if (isFirst) first = { bytes: chunk.data.length, y: py };
      if (!compare) return;
      hY.push(py);
      const pic = await rgba();
      hRgb.push(psnrRgb(src, pic.data, 4, pic.stride, width, height));
      // JPEG q80 of the same frame, encoded and decoded with sharp.
      const t0 = performance.now();
      const jpeg = await sharp(src, { raw: { width, height, channels: 4 } })
        .jpeg(JPEG).toBuffer();
      jMs.push(performance.now() - t0);
      jBytes.push(jpeg.length);
      const { data, info } = await sharp(jpeg).raw().toBuffer({
        resolveWithObject: true,
      });
      const px = new Uint8Array(data.buffer, data.byteOffset, data.length);
      jY.push(psnrLuma(ref, luma(px, info.channels, width, height)));
      jRgb.push(
        psnrRgb(src, px, info.channels, width * info.channels, width, height),
      );
    };
    for (const chunk of chunks) {
      pending.push(chunk);
      await decoder.decode(chunk.data, onPicture);
    }
    await decoder.decode(null, onPicture);
    decoder.close();
    if (pending.length) throw new Error(`${pending.length} chunks not decoded`);

    const size = sizeName(width, height);
    const bps = defaultBitrate(width, height, DEFAULT_FPS);
    const ps = (xs: number[]) => `${f1(mean(xs))} (min ${f1(Math.min(...xs))})`;
    rows.push(
      [
        size,
        `H.264 ${mbps(bps)} @ ${DEFAULT_FPS} fps`,
        f1(mean(bytes) / 1024),
        f1(quantile(bytes, 0.95) / 1024),
        f1(Math.max(...bytes) / 1024),
        f2(mean(bytes) * 8 * DEFAULT_FPS / 1e6),
        ps(hY),
        ps(hRgb),
        `${hY.length}`,
      ],
      [
        size,
        "JPEG q80 4:2:0 (sharp)",
        f1(mean(jBytes) / 1024),
        f1(quantile(jBytes, 0.95) / 1024),
        f1(Math.max(...jBytes) / 1024),
        f2(mean(jBytes) * 8 * DEFAULT_FPS / 1e6),
        ps(jY),
        ps(jRgb),
        `${jY.length}`,
      ],
    );
    const f = first as { bytes: number; y: number } | null;
    notes.push(
      `${size}: H.264 is ${f1(mean(jBytes) / mean(bytes))}x smaller than ` +
        `JPEG per frame, at ${f2(mean(hY) - mean(jY))} dB Y-PSNR ` +
        `difference; the first IDR (what a joining viewer gets) is ` +
        `${f1((f?.bytes ?? 0) / 1024)} KiB at ${f1(f?.y ?? 0)} dB; ` +
        `JPEG encode p50 ${f1(quantile(jMs, 0.5))} ms.`,
    );
  }
  return [
    "## 2. Bytes per frame and quality: H.264 at the default bitrate vs JPEG q80",
    "",
    "The RGBA encoder's stream from table 1 (warm-up excluded) is decoded " +
    "back with node-av's H.264 decoder (FFmpeg) and compared with its source " +
    `frames; every ${PSNR_EVERY}th measured frame is compared, and the same ` +
    "frames are encoded as JPEG q80 4:2:0 (the image path's settings) and " +
    "decoded with sharp. Y-PSNR: against the source's BT.601 limited-range " +
    "luma (the matrix the encoder signals), from the decoded Y plane (H.264) " +
    "or the decoded RGB (JPEG). RGB-PSNR: H.264 converted back to RGB with " +
    "FFmpeg's scaler (full chroma interpolation). PSNR is the mean (and " +
    "minimum) of per-frame values. Mbit/s: mean bytes at 60 frames a second.",
    "",
    table(
      [
        "size",
        "codec",
        "KiB/frame mean",
        "p95",
        "max",
        "Mbit/s at 60 fps",
        "Y-PSNR dB",
        "RGB-PSNR dB",
        "frames compared",
      ],
      rows,
    ),
    "",
    ...notes.map((n) => `- ${n}`),
  ].join("\n");
}

// ---------------------------------------------------------------- part 3

/**
 * `H264Encoder` alone on a frame sequence, one frame every `1 / fps` s
 * (paced like the server rows: back to back, caches stay warm and the
 * codec looks cheaper than it is at 30 fps): CPU time of this process per
 * frame over the paced window, and wall time per encode.
 */
async function referenceRun(
  settings: H264Settings,
  frames: Uint8Array[],
  layout: "rgba" | "i420",
  step: number,
): Promise<{ cpu: number; p50: number }> {
  const enc = await H264Encoder.open(settings);
  const player = new Player(frames.length, step);
  const { width, height, fps } = settings;
  let k = 0;
  const ms: number[] = [];
  const encode = async () => {
    const data = frames[player.next()];
    const t0 = performance.now();
    await enc.encode({ data, width, height, layout }, k++ === 0);
    ms.push(performance.now() - t0);
  };
  const paced = async (n: number) => {
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const wait = start + i * 1000 / fps - performance.now();
      if (wait > 0) await sleep(wait);
      await encode();
    }
    // The window ends where the next frame would start, as in `publishAt`.
    const end = start + n * 1000 / fps - performance.now();
    if (end > 0) await sleep(end);
  };
  await paced(REF_WARM_3); // warm-up, first IDR
  ms.length = 0;
  const c0 = process.cpuUsage();
  await paced(REF_FRAMES_3);
  const cpu = cpuMs(c0) / REF_FRAMES_3;
  enc.close();
  return { cpu, p50: quantile(ms, 0.5) };
}

/** Server CPU per frame and frames per viewer: ours against pdum.rfb's way. */
export interface CostRow {
  viewers: number;
  /** Our server's CPU ms per published frame. */
  oursMsPerFrame: number;
  /** Chunks per second each of our viewers received (mean). */
  oursFps: number;
  /** The per-viewer-encoder server's CPU ms per published frame. */
  baselineMsPerFrame: number;
  /** Chunks per second each of its viewers received (mean). */
  baselineFps: number;
  /** Its CPU time / wall time (2.0 = both cores busy). */
  baselineCpuShare: number;
}

async function part3(
  size: SizeData,
): Promise<{ text: string; cost: CostRow[] }> {
  const { width, height, ring, i420 } = size;
  const step = DEFAULT_FPS / FPS_3;
  const settings = defaults(width, height, FPS_3);
  const refRgba = await referenceRun(settings, ring, "rgba", step);
  const refI420 = await referenceRun(settings, i420, "i420", step);
  // One server, N viewers in another process: CPU per published frame.
  const measure = async (server: ServerUnderTest, n: number) => {
    const player = new Player(RING, step);
    const r = await serverCpu(server, {
      viewers: n,
      mode: "h264",
      next: () => ring[player.next()],
      fps: FPS_3,
      warmMs: WARM_MS,
      ms: SECONDS_3 * 1000,
    });
    return { n, ...r };
  };
  const results: Array<Awaited<ReturnType<typeof measure>>> = [];
  for (const n of VIEWERS_3) {
    const display = await serve(width, height, {
      port: 0,
      logger: silentLogger,
      stillAfter: false,
      transport: "webcodecs",
      fps: FPS_3,
    });
    results.push(
      await measure({
        url: wsUrl(display),
        publish: (f) => display.publish(f),
        encodes: () => display.stats().encodes,
        close: () => display.close(),
      }, n),
    );
  }
  // pdum.rfb's approach in the same run: one encoder per viewer.
  const perViewer: typeof results = [];
  for (const n of VIEWERS_3) {
    const server = servePerViewerEncoders(settings);
    perViewer.push(
      await measure({ ...server, encodes: () => server.encodes }, n),
    );
  }
  const base = results[0].cpu / results[0].published;
  const cost: CostRow[] = results.map((r, i) => {
    const b = perViewer[i];
    const seconds = (x: typeof r) => x.wall / 1000;
    return {
      viewers: r.n,
      oursMsPerFrame: r.cpu / r.published,
      oursFps: mean(r.frames) / seconds(r),
      baselineMsPerFrame: b.cpu / b.published,
      baselineFps: mean(b.frames) / seconds(b),
      baselineCpuShare: b.cpu / b.wall,
    };
  });
  const rows = results.map((r) =>
    cpuCells(r, base, {
      keyframes: true,
      target: "H.264: 32 viewers <= 2x the server CPU per frame of one",
      max: 2,
    })
  );
  const vsRgba = base / refRgba.cpu, vsI420 = base / refI420.cpu;
  const baselineRows = cost.map((c) => [
    `${c.viewers}`,
    `${f2(c.oursMsPerFrame)} / ${f2(c.baselineMsPerFrame)}`,
    f2(c.baselineMsPerFrame / c.oursMsPerFrame),
    `${f1(c.oursFps)} / ${f1(c.baselineFps)}`,
    `${Math.round(c.baselineCpuShare * 100)}%`,
  ]);
  const text = [
    `## 3. Server CPU per frame against H.264 viewers (${
      sizeName(width, height)
    }, ${FPS_3} fps)`,
    "",
    `A \`serve()\` display (transport webcodecs, fps ${FPS_3}, so ` +
    `${mbps(settings.bitrate)}, GOP ${settings.gop}; stillAfter false) in ` +
    "this process; N viewers in a separate Deno process (bench/viewers.ts, " +
    "H.264 dialect: they read each `video_chunk` header and ack it, no " +
    `decoding). Frames published at ${FPS_3} fps for ${SECONDS_3} s after a ` +
    `${WARM_MS / 1000} s warm-up. CPU = user + system time of the server ` +
    "process (all threads: x264, the scaler, libuv) / frames published. " +
    "Keyframes = IDRs each viewer received in the window (the periodic IDR " +
    "plus any made for viewers that fell behind). Target: 32 viewers <= 2x " +
    "one viewer.",
    "",
    table(
      [
        "viewers",
        "published",
        "encodes",
        "chunks/viewer",
        "keyframes/viewer",
        "CPU ms/frame",
        "of which system",
        "server CPU",
        "vs 1 viewer",
        "target <= 2x",
      ],
      rows,
    ),
    "",
    `Server time per frame against the codec's own, same settings and frames, ` +
    `same run: \`H264Encoder\` alone in this process, paced at ${FPS_3} fps ` +
    `like the server rows, ${REF_FRAMES_3} frames after ${REF_WARM_3} ` +
    "warm-up frames; CPU time of the process per frame. Target: server " +
    "(1 viewer) <= 1.5x the codec.",
    "",
    table(
      [
        "codec alone",
        "CPU ms/frame",
        "wall p50 ms",
        "server (1 viewer) CPU ms/frame",
        "ratio, target <= 1.5x",
      ],
      [
        [
          "`H264Encoder`, RGBA in (conversion included)",
          f2(refRgba.cpu),
          f1(refRgba.p50),
          f2(base),
          checkTarget(
            "H.264: server CPU <= 1.5x the encoder's, RGBA in (conversion included)",
            `${f2(vsRgba)}x`,
            vsRgba <= 1.5,
          ),
        ],
        [
          "x264 alone (I420 in)",
          f2(refI420.cpu),
          f1(refI420.p50),
          f2(base),
          checkTarget(
            "H.264: server CPU <= 1.5x x264 alone (I420 in)",
            `${f2(vsI420)}x`,
            vsI420 <= 1.5,
          ),
        ],
      ],
    ),
    "",
    "Baseline in the same run, pdum.rfb's approach: one encoder per viewer " +
    "(bench/baseline.ts `servePerViewerEncoders`: an `H264Encoder` with the " +
    "same settings per connection, fed the newest frame whenever its encode " +
    "and its 2-frame window allow; same frames, same rate, same viewers). " +
    "Per-viewer fps = chunks each viewer received per second (the frames " +
    `published: ${FPS_3}/s).`,
    "",
    table(
      [
        "viewers",
        "CPU ms/frame, ours / one encoder per viewer",
        "baseline ÷ ours",
        "fps per viewer, ours / baseline",
        "baseline server CPU",
      ],
      baselineRows,
    ),
  ].join("\n");
  return { text, cost };
}

// ---------------------------------------------------------------- part 4

async function part4(sizes: SizeData[]): Promise<string> {
  const rows: string[][] = [];
  for (const { width, height, fps } of RATES_4) {
    const { ring } = sizes.find((s) => s.width === width)!;
    const display = await serve(width, height, {
      port: 0,
      logger: silentLogger,
      stillAfter: false,
      transport: "webcodecs",
      fps,
    });
    const player = new Player(RING, DEFAULT_FPS / fps);
    const publish = (f: Uint8Array) => display.publish(f);
    const next = () => ring[player.next()];
    const viewers = await spawnViewers(wsUrl(display), 1, "h264");
    await publishAt(publish, next, fps, WARM_MS);
    const m0 = await viewers.mark();
    const s0 = display.stats();
    const c0 = process.cpuUsage();
    const published = await publishAt(publish, next, fps, SECONDS_4 * 1000);
    const m1 = await viewers.mark();
    const cpu = cpuMs(c0);
    const s1 = display.stats();
    await viewers.quit();
    await display.close();
    const secs = (m1.at - m0.at) / 1000;
    const delivered = (m1.frames[0] - m0.frames[0]) / secs;
    const encMs =
      (s1.encodeMsMean * s1.encodes - s0.encodeMsMean * s0.encodes) /
      (s1.encodes - s0.encodes);
    const kib = (m1.bytes[0] - m0.bytes[0]) / (m1.frames[0] - m0.frames[0]) /
      1024;
    rows.push([
      `${sizeName(width, height)} @ ${fps}`,
      `${published}`,
      f1((s1.encodes - s0.encodes) / secs),
      f1(delivered),
      `${m1.keyframes[0] - m0.keyframes[0]}`,
      f1(encMs),
      f1(kib),
      `${Math.round(cpu / (secs * 1000) * 100)}%`,
      checkTarget(
        `H.264: sustained ${fps} fps at ${sizeName(width, height)}, one viewer`,
        `${f1(delivered)} fps`,
        delivered >= fps * 0.98,
      ),
    ]);
  }
  return [
    "## 4. Sustained frame rate, one H.264 viewer",
    "",
    `A \`serve()\` display (transport webcodecs, its \`fps\` set to the ` +
    "publish rate, default bitrate for it, stillAfter false); one viewer in " +
    "a separate process that acks every chunk. Frames published on a fixed " +
    `schedule for ${SECONDS_4} s after ${WARM_MS / 1000} s warm-up; ` +
    "delivered = chunks the viewer received per second between two marks. " +
    "Encode ms = the display's mean encode time (conversion included, from " +
    "`stats()`). Target: delivered >= 98% of the rate (60 at 1280x720, 30 " +
    "at 1920x1080).",
    "",
    table(
      [
        "size @ fps",
        "published",
        "encodes/s",
        "delivered fps",
        "keyframes",
        "encode ms mean",
        "KiB/chunk",
        "server CPU",
        "target",
      ],
      rows,
    ),
  ].join("\n");
}

// ---------------------------------------------------------------- part 5

// ---------------------------------------------------------------- main

async function header(render: string[]): Promise<string> {
  const probe = await probeH264();
  let nodeAv = "?";
  try {
    const pkg = JSON.parse(
      await Deno.readTextFile(
        new URL("../node_modules/node-av/package.json", import.meta.url),
      ),
    );
    nodeAv = pkg.version;
  } catch { /* not installed locally */ }
  return [
    "## H.264 path",
    "",
    `- date: ${new Date().toISOString()}`,
    `- Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${Deno.build.os}/${Deno.build.arch}`,
    `- CPU: ${await cpuModel()}`,
    `- encoder: ${probe.reason}, node-av ${nodeAv}; sharp ${sharp.versions.sharp}`,
    `- load average at start (1/5/15 min): ${loadavg()} (other work on ` +
    "this machine skews every figure below)",
    `- test scene (bench/scene.ts): ${RING} frames per size pre-rendered ` +
    `(${render.join(", ")})`,
  ].join("\n");
}

/** What the H.264 part hands back to the full run. */
export interface H264Report {
  /** Markdown: the setup, then one section per part. */
  text: string;
  /** Part 3: server CPU per frame, ours against one encoder per viewer. */
  cost: CostRow[];
  /** The pre-rendered frames per size ("1280x720"), for later parts. */
  rings: Map<string, Uint8Array[]>;
}

/**
 * Run the H.264 benchmark and print its tables; `rings` may bring frames
 * already rendered. Resolves to null when libx264 is missing (said why).
 *
 * @example
 * ```ts ignore
 * const report = await h264Benchmark();
 * if (report) await Deno.writeTextFile("h264.md", report.text);
 * ```
 */
export async function h264Benchmark(
  rings: Map<string, Uint8Array[]> = new Map(),
): Promise<H264Report | null> {
  const probe = await probeH264();
  if (!probe.ok) {
    console.log(`## H.264 path\n\nSkipped: ${probe.reason}.\n`);
    return null;
  }
  const [lib, c] = await Promise.all([
    import("node-av/lib"),
    import("node-av/constants"),
  ]);
  lib.Log.setLevel(c.AV_LOG_ERROR);
  const av: Av = { lib, c };
  const started = performance.now();
  const render: string[] = [];
  const sizes: SizeData[] = [];
  for (const [width, height] of SIZES) {
    const key = sizeName(width, height);
    const t0 = performance.now();
    const ring = rings.get(key) ?? renderRing(width, height);
    rings.set(key, ring);
    render.push(`${key} ${f1((performance.now() - t0) / RING)} ms each`);
    sizes.push({
      width,
      height,
      ring,
      i420: await toI420(av, ring, width, height),
    });
  }
  const sections: string[] = [await header(render)];
  console.log(sections[0] + "\n");
  const background: string[] = [];
  const run = async <T extends string | { text: string }>(
    name: string,
    section: () => Promise<T>,
  ): Promise<T> => {
    const meter = await LoadMeter.start();
    const result = await section();
    const load = await meter.stop();
    const pct = (v: number) => `${Math.round(v * 100)}%`;
    background.push(`${name}: ${pct(load.others)}`);
    const text = typeof result === "string" ? result : result.text;
    const note = `Share of the machine's CPU time during this section: ` +
      `this benchmark (its viewer processes included) ` +
      `${pct(load.ours)}, other processes ${pct(load.others)}.`;
    sections.push(`${text}\n\n${note}`);
    console.log(`${text}\n\n${note}\n`);
    return result;
  };
  const one = await run("1", () => part1(sizes));
  await run("2", () => part2(av, sizes, one.streams));
  const three = await run("3", () => part3(sizes[0]));
  await run("4", () => part4(sizes));
  const total =
    `Time for the H.264 part: ${
      f1((performance.now() - started) / 1000)
    } s; load average at the end: ${loadavg()}; other processes' share of ` +
    `the CPU per section: ${background.join(", ")}.`;
  sections.push(total);
  console.log(total);
  return { text: sections.join("\n\n"), cost: three.cost, rings };
}
