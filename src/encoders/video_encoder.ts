/**
 * What the hub needs of an H.264 encoder (`VideoEncoder`, which
 * `H264Encoder` and `NvencEncoder` both fit), where encoders come from
 * (`VideoEncoders`), and libx264 as that source (`X264_ENCODERS`) with the
 * codec-string probes viewers are configured from before any shared encoder
 * opens.
 *
 * @module
 */

import {
  type H264Chunk,
  H264Encoder,
  type H264Settings,
  type RawPicture,
} from "./h264.ts";

/** One H.264 encoder at one size and rate. */
export interface VideoEncoder {
  /** The codec string from the stream's SPS. */
  readonly codec: string;
  /** Encode one picture (`keyframe` forces an IDR); null when nothing came out. */
  encode(picture: RawPicture, keyframe: boolean): Promise<H264Chunk | null>;
  /** Free the encoder once the encode in flight is done. */
  close(): Promise<void>;
}

/** Where a stream's encoders come from: opened for settings, and the codec string they will use. */
export interface VideoEncoders {
  /** Open an encoder for these settings. */
  open(settings: H264Settings): Promise<VideoEncoder>;
  /** The codec string an encoder opened for these settings will use. */
  codec(settings: H264Settings): Promise<string>;
  /**
   * `encoder` failed `FAILURES_BEFORE_SWITCH` encodes in a row: true when
   * another kind of encoder should take over (the stream then opens a new
   * one through `open`); false, or absent, and the stream gives up (its
   * viewers move to images).
   */
  failing?(encoder: VideoEncoder, error: unknown): boolean;
  /**
   * Bumped whenever `open` switches to another kind of encoder, so holders
   * of an encoder opened before (the still encoder) know to open a new one.
   * Absent: never switches.
   */
  readonly generation?: number;
}

/** Consecutive failed encodes after which a stream asks for another encoder, or gives up. */
export const FAILURES_BEFORE_SWITCH = 3;

/**
 * libx264 for every stream: `H264Encoder.open`, and `probeCodec` for the
 * codec string.
 *
 * @example
 * ```ts ignore
 * const enc = await X264_ENCODERS.open({ width: 64, height: 64, fps: 30, bitrate: 1e6, gop: 60, preset: "ultrafast" });
 * await enc.close();
 * ```
 */
export const X264_ENCODERS: VideoEncoders = {
  open: (settings) => H264Encoder.open(settings),
  codec: (settings) => probeCodec(settings),
};

const codecCache = new Map<string, Promise<string>>();

/**
 * The codec string libx264 will use for these settings, read from the SPS
 * of a throwaway encode (cached per size and rate).
 *
 * @example
 * ```ts ignore
 * const codec = await probeCodec({ width: 1280, height: 720, fps: 60, bitrate: 4e6, gop: 240, preset: "ultrafast" });
 * // "avc1.42C020"
 * ```
 */
export function probeCodec(s: H264Settings): Promise<string> {
  const key = `${s.width}x${s.height}@${s.fps}:${s.bitrate}:${s.preset}`;
  let p = codecCache.get(key);
  if (!p) {
    p = readCodec((settings) => H264Encoder.open(settings), s);
    p.catch(() => codecCache.delete(key));
    codecCache.set(key, p);
  }
  return p;
}

/**
 * The codec string of an encoder from `open`, read from the SPS of a
 * throwaway encode of a black frame (the encoder is closed after).
 *
 * @example
 * ```ts ignore
 * const codec = await readCodec(H264Encoder.open, { width: 64, height: 64, fps: 30, bitrate: 1e6, gop: 60, preset: "ultrafast" });
 * ```
 */
export async function readCodec(
  open: (settings: H264Settings) => Promise<VideoEncoder>,
  s: H264Settings,
): Promise<string> {
  const enc = await open(s);
  try {
    const black = new Uint8Array(s.width * s.height * 3 / 2 | 0);
    black.fill(16, 0, s.width * s.height);
    black.fill(128, s.width * s.height);
    await enc.encode({
      data: black,
      width: s.width,
      height: s.height,
      layout: "i420",
    }, true);
    return enc.codec;
  } finally {
    await enc.close();
  }
}
