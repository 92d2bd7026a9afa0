/**
 * Helpers for the H.264 tests: a test pattern, RGB → I420/NV12 planes built
 * by hand, node-av's H.264 decoder (Annex B in, RGBA out), PSNR, and a
 * clock that remembers which frame each timestamp belongs to.
 *
 * node-av is imported lazily, so a machine without it skips these tests
 * instead of failing to load them.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type Clock, systemClock } from "../src/clock.ts";

type Av = typeof import("node-av/lib") & typeof import("node-av/constants");

let loading: Promise<Av> | null = null;

/**
 * node-av, loaded once. FFmpeg's own log (x264's summary at every close,
 * the decoder's complaints about a stream that starts on a delta) is turned
 * down to fatal errors: the tests check the outcomes themselves.
 */
export function loadAv(): Promise<Av> {
  loading ??= Promise.all([import("node-av/lib"), import("node-av/constants")])
    .then(([lib, constants]) => {
      const av = { ...lib, ...constants } as Av;
      av.Log.setLevel(av.AV_LOG_FATAL);
      return av;
    });
  return loading;
}

/** An RGBA picture. */
export interface Rgba {
  data: Uint8Array;
  width: number;
  height: number;
}

export const RED = [255, 0, 0];
export const GREEN = [0, 255, 0];
export const BLUE = [0, 0, 255];
export const WHITE = [255, 255, 255];

/**
 * The test pattern: red | green on top (rows < 40%), a grey ramp band with
 * an 8 px magenta bar that moves 6 px per `n` (rows 40-60%), blue | white
 * below.
 * `swap` exchanges the top and bottom colours (a visibly different picture).
 */
export function pattern(
  width: number,
  height: number,
  n = 0,
  swap = false,
): Uint8Array {
  const px = new Uint8Array(width * height * 4);
  const bandTop = 2 * Math.floor(height * 0.2);
  const bandBottom = 2 * Math.ceil(height * 0.3);
  // Edges on even rows and columns, so 4:2:0 chroma never straddles one.
  const half = 2 * Math.floor(width / 4);
  const barX = 2 * ((n * 3) % Math.max(1, Math.floor((width - 8) / 2)));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const left = x < half;
      let c: number[];
      if (y >= bandTop && y < bandBottom) {
        const g = Math.round(x * 255 / Math.max(1, width - 1));
        c = x >= barX && x < barX + 8 ? [255, 0, 255] : [g, g, g];
      } else {
        const top = (y < bandTop) !== swap;
        c = top ? (left ? RED : GREEN) : (left ? BLUE : WHITE);
      }
      const i = (y * width + x) * 4;
      px[i] = c[0];
      px[i + 1] = c[1];
      px[i + 2] = c[2];
      px[i + 3] = 255;
    }
  }
  return px;
}

/** Points well inside the four flat areas of `pattern`, with their colours. */
export function patternPoints(
  width: number,
  height: number,
  swap = false,
): Array<[number, number, number[]]> {
  const xl = Math.floor(width / 4), xr = Math.floor(width * 3 / 4);
  const yt = Math.floor(height * 0.2), yb = Math.floor(height * 0.8);
  return swap
    ? [[xl, yt, BLUE], [xr, yt, WHITE], [xl, yb, RED], [xr, yb, GREEN]]
    : [[xl, yt, RED], [xr, yt, GREEN], [xl, yb, BLUE], [xr, yb, WHITE]];
}

/** The RGB of (x, y) in an RGBA buffer. */
export function rgbAt(img: Rgba, x: number, y: number): number[] {
  const i = (y * img.width + x) * 4;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

/** The largest per-channel difference between two colours. */
export function maxDiff(a: number[], b: number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

/** PSNR of the RGB channels of two same-size RGBA buffers, in dB. */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) {
    throw new RangeError(`sizes differ: ${a.length} vs ${b.length}`);
  }
  let se = 0, n = 0;
  for (let i = 0; i < a.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      const d = a[i + c] - b[i + c];
      se += d * d;
      n++;
    }
  }
  if (se === 0) return Infinity;
  return 10 * Math.log10(255 * 255 / (se / n));
}

/** Y'CbCr coefficients (limited range) of a matrix. */
function coefficients(matrix: "bt601" | "bt709"): [number, number] {
  return matrix === "bt601" ? [0.299, 0.114] : [0.2126, 0.0722];
}

function clamp8(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v)));
}

/**
 * RGBA → planar I420 (Y, then U, then V) or NV12 (Y, then interleaved UV),
 * limited range, chroma averaged over 2x2 blocks. Even sizes only.
 */
export function rgbaToYuv(
  rgba: Uint8Array,
  width: number,
  height: number,
  layout: "i420" | "nv12",
  matrix: "bt601" | "bt709" = "bt601",
): Uint8Array {
  const [kr, kb] = coefficients(matrix);
  const kg = 1 - kr - kb;
  const out = new Uint8Array(width * height * 3 / 2);
  const cw = width / 2, ch = height / 2;
  const u = new Float64Array(cw * ch), v = new Float64Array(cw * ch);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const r = rgba[i] / 255, g = rgba[i + 1] / 255, b = rgba[i + 2] / 255;
      const yy = kr * r + kg * g + kb * b;
      out[y * width + x] = clamp8(16 + 219 * yy);
      const ci = (y >> 1) * cw + (x >> 1);
      u[ci] += (b - yy) / (2 * (1 - kb)) / 4;
      v[ci] += (r - yy) / (2 * (1 - kr)) / 4;
    }
  }
  const base = width * height;
  for (let i = 0; i < cw * ch; i++) {
    const cb = clamp8(128 + 224 * u[i]), cr = clamp8(128 + 224 * v[i]);
    if (layout === "i420") {
      out[base + i] = cb;
      out[base + cw * ch + i] = cr;
    } else {
      out[base + 2 * i] = cb;
      out[base + 2 * i + 1] = cr;
    }
  }
  return out;
}

/** One decoded picture. */
export interface Decoded extends Rgba {
  /** The frame's AVColorSpace (6 = SMPTE 170M / BT.601, 1 = BT.709). */
  colorSpace: number;
  /** The frame's AVColorRange (1 = limited/MPEG). */
  colorRange: number;
  /** RGB by hand from the YUV planes with the BT.709 matrix. */
  rgbBt709(): Uint8Array;
}

/** node-av's software H.264 decoder fed with Annex B access units. */
export class AvDecoder {
  #av: Av;
  #ctx: InstanceType<Av["CodecContext"]>;
  #packet: InstanceType<Av["Packet"]>;
  #frame: InstanceType<Av["Frame"]>;
  #sws: InstanceType<Av["SoftwareScaleContext"]> | null = null;
  #swsKey = "";
  #rgba: InstanceType<Av["Frame"]> | null = null;
  /** The decoder's profile and level after the first keyframe. */
  profile = 0;
  level = 0;

  private constructor(
    av: Av,
    ctx: InstanceType<Av["CodecContext"]>,
  ) {
    this.#av = av;
    this.#ctx = ctx;
    this.#packet = new av.Packet();
    this.#packet.alloc();
    this.#frame = new av.Frame();
    this.#frame.alloc();
  }

  /** Open FFmpeg's native H.264 decoder (single-threaded: no output delay). */
  static async open(): Promise<AvDecoder> {
    const av = await loadAv();
    const codec = av.Codec.findDecoder(av.AV_CODEC_ID_H264);
    if (!codec) throw new Error("node-av has no H.264 decoder");
    const ctx = new av.CodecContext();
    ctx.allocContext3(codec);
    ctx.threadCount = 1;
    const ret = await ctx.open2(codec, null);
    if (ret < 0) throw new Error(`the H.264 decoder did not open (${ret})`);
    return new AvDecoder(av, ctx);
  }

  /** Decode one access unit; the pictures that came out (0 or 1 here). */
  async decode(annexB: Uint8Array): Promise<Decoded[]> {
    this.#packet.data = Buffer.from(annexB);
    const sent = await this.#ctx.sendPacket(this.#packet);
    this.#packet.unref();
    if (sent < 0) throw new Error(`the decoder refused a packet (${sent})`);
    const out: Decoded[] = [];
    while (await this.#ctx.receiveFrame(this.#frame) >= 0) {
      out.push(this.#convert());
      this.#frame.unref();
    }
    this.profile = this.#ctx.profile as number;
    this.level = this.#ctx.level;
    return out;
  }

  #convert(): Decoded {
    const av = this.#av;
    const f = this.#frame;
    const { width, height } = f;
    const key = `${width}x${height}:${f.format}`;
    if (key !== this.#swsKey) {
      this.#sws?.freeContext();
      this.#rgba?.free();
      // FFmpeg's scaler converts YUV → RGB with BT.601, limited range, by
      // default: the matrix of the encoder's RGBA input.
      const sws = new av.SoftwareScaleContext();
      sws.getContext(
        width,
        height,
        f.format as number as typeof av.AV_PIX_FMT_YUV420P,
        width,
        height,
        av.AV_PIX_FMT_RGBA,
        av.SWS_BILINEAR,
      );
      if (sws.initContext() < 0) throw new Error("sws init failed");
      const rgba = new av.Frame();
      rgba.alloc();
      rgba.width = width;
      rgba.height = height;
      rgba.format = av.AV_PIX_FMT_RGBA;
      if (rgba.allocBuffer() < 0) throw new Error("frame alloc failed");
      this.#sws = sws;
      this.#rgba = rgba;
      this.#swsKey = key;
    }
    this.#sws!.scaleFrameSync(this.#rgba!, f);
    const data = new Uint8Array(this.#rgba!.toBuffer());
    // The planes, for a conversion by hand with another matrix.
    const planes = (f.data ?? []).slice(0, 3).map((p) => new Uint8Array(p));
    const strides = f.linesize.slice(0, 3);
    return {
      data,
      width,
      height,
      colorSpace: f.colorSpace as number,
      colorRange: f.colorRange as number,
      rgbBt709: () => yuv420ToRgba(planes, strides, width, height, "bt709"),
    };
  }

  /** Free the decoder. */
  close(): void {
    this.#ctx.freeContext();
    this.#packet.free();
    this.#frame.free();
    this.#sws?.freeContext();
    this.#rgba?.free();
  }
}

/** Planar 4:2:0, limited range → RGBA with `matrix`. */
function yuv420ToRgba(
  planes: Uint8Array[],
  strides: number[],
  width: number,
  height: number,
  matrix: "bt601" | "bt709",
): Uint8Array {
  const [kr, kb] = coefficients(matrix);
  const kg = 1 - kr - kb;
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const yy = (planes[0][y * strides[0] + x] - 16) / 219;
      const u = (planes[1][(y >> 1) * strides[1] + (x >> 1)] - 128) / 224;
      const v = (planes[2][(y >> 1) * strides[2] + (x >> 1)] - 128) / 224;
      const r = yy + 2 * (1 - kr) * v;
      const b = yy + 2 * (1 - kb) * u;
      const g = (yy - kr * r - kb * b) / kg;
      const i = (y * width + x) * 4;
      out[i] = clamp8(r * 255);
      out[i + 1] = clamp8(g * 255);
      out[i + 2] = clamp8(b * 255);
      out[i + 3] = 255;
    }
  }
  return out;
}

/**
 * The system clock, except that frame timestamps are unique and remembered:
 * after `display.publish(...)`, `last` is the new frame's `timestamp_us`.
 */
export class StampClock implements Clock {
  last = 0;
  now(): number {
    return systemClock.now();
  }
  epochMicros(): number {
    this.last = Math.max(this.last + 1, systemClock.epochMicros());
    return this.last;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    return systemClock.setTimeout(fn, ms);
  }
  clearTimeout(handle: unknown): void {
    systemClock.clearTimeout(handle);
  }
}

/** NAL unit types, SEI left out. */
export function nalsNoSei(types: number[]): number[] {
  return types.filter((t) => t !== 6);
}
