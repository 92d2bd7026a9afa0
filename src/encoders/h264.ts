/**
 * The CPU H.264 encoder: libx264 through `npm:node-av`, set up for
 * interactive streaming: constrained baseline, no B-frames, no reordering,
 * `tune=zerolatency`, Annex B output with SPS and PPS in front of every IDR.
 * RGBA, RGB and gray input is converted to I420 (BT.601 matrix, limited
 * range) with FFmpeg's scaler; NV12 and I420 input goes straight in. The
 * stream's VUI says which matrix was used, so browsers convert back right.
 *
 * node-av is loaded lazily, so the image path works where it cannot load.
 *
 * @module
 */

import type { Channels, Frame } from "../frame.ts";
import { codecFromAnnexB, nalTypes } from "./annexb.ts";

/** Pixel layouts the encoder takes. */
export type PixelLayout = "rgba" | "rgb" | "gray" | "nv12" | "i420";

/** Encoder settings. */
export interface H264Settings {
  /** Frame width (libx264 needs even sizes for 4:2:0; odd ones are refused). */
  width: number;
  /** Frame height. */
  height: number;
  /** Target frame rate (rate control and time base). */
  fps: number;
  /** Target bitrate, bits per second. Ignored for stills. */
  bitrate: number;
  /** Frames between periodic IDRs. */
  gop: number;
  /** x264 preset, e.g. `"ultrafast"`. */
  preset: string;
  /** A high-quality, intra-only encoder for resting frames (CRF 16). */
  still?: boolean;
  /**
   * The YUV matrix of the input, signalled in the stream: `"bt601"` for
   * RGB input (FFmpeg's scaler), `"bt709"` for NV12/I420 made on the GPU.
   * Default `"bt601"`.
   */
  matrix?: "bt601" | "bt709";
}

/** One encoded access unit. */
export interface H264Chunk {
  /** Annex B bytes (start codes kept). */
  data: Uint8Array;
  /** Whether it is an IDR (SPS and PPS in front). */
  keyframe: boolean;
}

/** The frame data the encoder reads. */
export interface RawPicture {
  /** Pixels: packed RGBA/RGB/gray, or planar NV12/I420 with no row padding. */
  data: Uint8Array;
  /** Width. */
  width: number;
  /** Height. */
  height: number;
  /** Layout of `data`. */
  layout: PixelLayout;
}

type NodeAv = typeof import("node-av/lib") & typeof import("node-av/constants");

let loading: Promise<NodeAv> | null = null;

/** Load node-av once (native addon); rejects with the loader's error. */
function loadNodeAv(): Promise<NodeAv> {
  loading ??= Promise.all([import("node-av/lib"), import("node-av/constants")])
    .then(([lib, constants]) => {
      // libx264 prints a statistics block on every close: keep FFmpeg to errors.
      lib.Log.setLevel(constants.AV_LOG_ERROR);
      return { ...lib, ...constants } as NodeAv;
    });
  return loading;
}

/**
 * The picture to encode from a display frame: its YUV planes when it has
 * them (no conversion), else its RGBA/RGB/gray pixels.
 *
 * @example
 * ```ts
 * import { pictureOf } from "./h264.ts";
 * const frame = { data: new Uint8Array(16), width: 2, height: 2, channels: 4 as const, version: 1,
 *   timestampUs: 0, pixelRatio: 1, yuv: null };
 * console.log(pictureOf(frame).layout); // "rgba"
 * ```
 */
export function pictureOf(frame: Frame): RawPicture {
  const { width, height } = frame;
  return frame.yuv
    ? { data: frame.yuv.data, width, height, layout: frame.yuv.layout }
    : { data: frame.data, width, height, layout: layoutOf(frame.channels) };
}

/**
 * The layout of a display frame with `channels` 8-bit channels.
 *
 * @example
 * ```ts
 * import { layoutOf } from "./h264.ts";
 * console.log(layoutOf(4)); // "rgba"
 * ```
 */
export function layoutOf(channels: Channels): PixelLayout {
  return channels === 4 ? "rgba" : channels === 3 ? "rgb" : "gray";
}

/**
 * Whether libx264 can be used here; the reason when not.
 *
 * @example
 * ```ts ignore
 * const { ok, reason } = await probeH264();
 * ```
 */
export function probeH264(): Promise<{ ok: boolean; reason: string }> {
  probing ??= (async () => {
    try {
      const av = await loadNodeAv();
      const codec = av.Codec.findEncoderByName(av.FF_ENCODER_LIBX264);
      if (!codec) {
        return { ok: false, reason: "node-av has no libx264 encoder" };
      }
      return { ok: true, reason: `libx264 via node-av` };
    } catch (err) {
      return {
        ok: false,
        reason: `node-av did not load: ${
          (err as Error).message.split("\n")[0]
        }`,
      };
    }
  })();
  return probing;
}
let probing: Promise<{ ok: boolean; reason: string }> | null = null;

/**
 * A libx264 encoder for one size. Encodes run on libuv's worker threads
 * (node-av's async calls), off the event loop.
 *
 * @example
 * ```ts ignore
 * const enc = await H264Encoder.open({ width: 64, height: 64, fps: 30, bitrate: 1e6, gop: 60, preset: "ultrafast" });
 * const chunk = await enc.encode({ data: rgba, width: 64, height: 64, layout: "rgba" }, true);
 * console.log(enc.codec, chunk?.keyframe);
 * enc.close();
 * ```
 */
export class H264Encoder {
  /** The settings it was opened with. */
  readonly settings: H264Settings;
  /** The codec string from the real SPS (known after the first keyframe; a default before). */
  codec = "avc1.42C01F";
  #av: NodeAv;
  // deno-lint-ignore no-explicit-any
  #ctx: any;
  // deno-lint-ignore no-explicit-any
  #yuv: any;
  // deno-lint-ignore no-explicit-any
  #packet: any;
  // deno-lint-ignore no-explicit-any
  #scalers = new Map<PixelLayout, any>();
  #pts = 0n;
  #closed = false;
  #busy: Promise<unknown> = Promise.resolve();

  private constructor(av: NodeAv, settings: H264Settings) {
    this.#av = av;
    this.settings = settings;
  }

  /** Open an encoder; rejects when node-av or libx264 is missing or refuses the settings. */
  static async open(settings: H264Settings): Promise<H264Encoder> {
    const av = await loadNodeAv();
    const enc = new H264Encoder(av, settings);
    await enc.#open();
    return enc;
  }

  async #open(): Promise<void> {
    const av = this.#av;
    const s = this.settings;
    const codec = av.Codec.findEncoderByName(av.FF_ENCODER_LIBX264);
    if (!codec) throw new Error("libx264 is not available in node-av");
    const ctx = new av.CodecContext();
    ctx.allocContext3(codec);
    ctx.width = s.width;
    ctx.height = s.height;
    ctx.pixelFormat = av.AV_PIX_FMT_YUV420P;
    ctx.timeBase = new av.Rational(1, Math.round(s.fps));
    ctx.framerate = new av.Rational(Math.round(s.fps), 1);
    ctx.maxBFrames = 0;
    // Tell the decoder how to turn YUV back into RGB: sRGB primaries and
    // transfer, limited range, and the matrix the YUV was made with: FFmpeg's
    // scaler uses BT.601 for RGB input; the GPU path makes BT.709.
    ctx.colorSpace = s.matrix === "bt709"
      ? av.AVCOL_SPC_BT709
      : av.AVCOL_SPC_SMPTE170M;
    ctx.colorPrimaries = av.AVCOL_PRI_BT709;
    ctx.colorTrc = av.AVCOL_TRC_IEC61966_2_1;
    ctx.colorRange = av.AVCOL_RANGE_MPEG;
    // Options through setOption and an async open2: open2Sync with an options
    // dictionary corrupts memory in node-av 6 (DESIGN.md).
    ctx.setOption("preset", s.preset);
    ctx.setOption("tune", "zerolatency");
    ctx.setOption("profile", "baseline");
    if (s.still) {
      ctx.gopSize = 1;
      ctx.setOption("crf", "16");
      ctx.setOption("x264-params", "repeat-headers=1:annexb=1:bframes=0");
    } else {
      ctx.gopSize = s.gop;
      ctx.bitRate = BigInt(Math.round(s.bitrate));
      ctx.rcMaxRate = BigInt(Math.round(s.bitrate));
      // About one frame and a half of VBV: low latency, no long bursts.
      ctx.rcBufferSize = Math.max(Math.round(s.bitrate / s.fps * 1.5), 100_000);
      ctx.setOption(
        "x264-params",
        "repeat-headers=1:annexb=1:bframes=0:scenecut=0",
      );
    }
    const ret = await ctx.open2(codec, null);
    if (ret < 0) {
      ctx.freeContext?.();
      throw new Error(
        `libx264 refused the settings (avcodec_open2 returned ${ret})`,
      );
    }
    this.#ctx = ctx;
    const yuv = new av.Frame();
    yuv.alloc();
    yuv.width = s.width;
    yuv.height = s.height;
    yuv.format = av.AV_PIX_FMT_YUV420P;
    const r = yuv.allocBuffer();
    if (r < 0) throw new Error(`could not allocate the I420 frame (${r})`);
    this.#yuv = yuv;
    this.#packet = new av.Packet();
    this.#packet.alloc();
  }

  // deno-lint-ignore no-explicit-any
  #scaler(layout: PixelLayout): any {
    let sws = this.#scalers.get(layout);
    if (sws) return sws;
    const av = this.#av;
    const fmt = this.#avFormat(layout);
    sws = new av.SoftwareScaleContext();
    const { width, height } = this.settings;
    sws.getContext(
      width,
      height,
      fmt,
      width,
      height,
      av.AV_PIX_FMT_YUV420P,
      av.SWS_BILINEAR,
    );
    const r = sws.initContext();
    if (r < 0) {
      throw new Error(`could not set up the ${layout} → I420 converter (${r})`);
    }
    this.#scalers.set(layout, sws);
    return sws;
  }

  #avFormat(layout: PixelLayout): NodeAv["AV_PIX_FMT_RGBA"] {
    const av = this.#av;
    switch (layout) {
      case "rgba":
        return av.AV_PIX_FMT_RGBA;
      case "rgb":
        return av.AV_PIX_FMT_RGB24;
      case "gray":
        return av.AV_PIX_FMT_GRAY8;
      case "nv12":
        return av.AV_PIX_FMT_NV12;
      case "i420":
        return av.AV_PIX_FMT_YUV420P;
    }
  }

  /**
   * Encode one picture; `keyframe` forces an IDR. Calls are serialised.
   * Resolves to null when the encoder produced nothing for this picture.
   */
  encode(picture: RawPicture, keyframe: boolean): Promise<H264Chunk | null> {
    const run = this.#busy.then(() => this.#encode(picture, keyframe));
    this.#busy = run.catch(() => {});
    return run;
  }

  /** Milliseconds of the last colour conversion (0 when the input was I420). */
  convertMs = 0;

  async #encode(
    picture: RawPicture,
    keyframe: boolean,
  ): Promise<H264Chunk | null> {
    if (this.#closed) throw new Error("encoder closed");
    const { width, height } = this.settings;
    if (picture.width !== width || picture.height !== height) {
      throw new RangeError(
        `picture is ${picture.width}x${picture.height}, encoder is ${width}x${height}`,
      );
    }
    const av = this.#av;
    const t = performance.now();
    const src = av.Frame.fromVideoBuffer(
      // deno-lint-ignore no-explicit-any
      picture.data as any,
      {
        width,
        height,
        format: this.#avFormat(picture.layout),
        timeBase: { num: 1, den: Math.round(this.settings.fps) },
      },
    );
    let frame = src;
    try {
      if (picture.layout !== "i420") {
        await this.#scaler(picture.layout).scaleFrame(this.#yuv, src);
        frame = this.#yuv;
      }
      this.convertMs = picture.layout === "i420" ? 0 : performance.now() - t;
      frame.pts = this.#pts++;
      frame.pictType = keyframe
        ? av.AV_PICTURE_TYPE_I
        : av.AV_PICTURE_TYPE_NONE;
      let ret = await this.#ctx.sendFrame(frame);
      if (ret < 0) throw new Error(`libx264 refused a frame (${ret})`);
      const parts: Uint8Array[] = [];
      while ((ret = await this.#ctx.receivePacket(this.#packet)) >= 0) {
        const data = this.#packet.data as Uint8Array | null;
        if (data) parts.push(new Uint8Array(data));
        this.#packet.unref();
      }
      if (parts.length === 0) return null;
      const data = parts.length === 1 ? parts[0] : concat(parts);
      const isKey = nalTypes(data).includes(5);
      if (isKey) this.codec = codecFromAnnexB(data) ?? this.codec;
      return { data, keyframe: isKey };
    } finally {
      src.free?.();
    }
  }

  /** Free the encoder once the encode in flight (if any) is done. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    const free = () => {
      this.#ctx?.freeContext?.();
      this.#yuv?.free?.();
      this.#packet?.free?.();
      for (const s of this.#scalers.values()) s.freeContext?.();
    };
    // After the encode in flight, if any: freeing under it would crash.
    this.#closing = this.#busy.then(free, free);
    return this.#closing;
  }

  #closing: Promise<void> | null = null;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
