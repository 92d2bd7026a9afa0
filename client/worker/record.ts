/// <reference lib="dom" />
/**
 * Recording in the browser, in the view's worker, into an MP4 `Blob`
 * (the library's own fragmented MP4 writer, `src/record/fmp4.ts`, shared
 * with the server):
 *
 * - **H.264**: the chunks the worker already receives go into the file as
 *   they are (no encode), from the first IDR on (the recorder asks the
 *   server for one), timed by their publish stamps.
 * - **Images**: what the worker draws is encoded with WebCodecs'
 *   `VideoEncoder` (H.264, Annex B), timed by the frames' publish stamps.
 *
 * A size or transport change ends the recording; `stop()` then returns what
 * was recorded until then.
 *
 * @module
 */

import type { EnvelopeHeader } from "../../src/protocol.ts";
import { FragmentedMp4 } from "../../src/record/fmp4.ts";

/** What a finished recording holds. */
export interface RecordedVideo {
  /** The MP4 file. */
  blob: Blob;
  /** Frames in it. */
  frames: number;
  /** Seconds from the first frame to the end. */
  duration: number;
}

/**
 * An H.264 codec string at a level that fits `width`×`height` (constrained
 * baseline).
 *
 * @example
 * ```ts
 * import { encoderCodec } from "./record.ts";
 * console.log(encoderCodec(1280, 720)); // "avc1.42E01F"
 * ```
 */
export function encoderCodec(width: number, height: number): string {
  const mbs = Math.ceil(width / 16) * Math.ceil(height / 16);
  const level = mbs <= 1620
    ? "1e"
    : mbs <= 3600
    ? "1f"
    : mbs <= 8192
    ? "28"
    : mbs <= 22080
    ? "32"
    : "33";
  return `avc1.42E0${level}`;
}

/**
 * Whether this browser can record what it draws (WebCodecs H.264 encode).
 *
 * @example
 * ```ts ignore
 * if (await canEncode(1280, 720)) startRecording();
 * ```
 */
export async function canEncode(
  width: number,
  height: number,
): Promise<boolean> {
  if (typeof VideoEncoder === "undefined") return false;
  try {
    const r = await VideoEncoder.isConfigSupported(config(width, height));
    return r.supported === true;
  } catch {
    return false;
  }
}

function config(width: number, height: number): VideoEncoderConfig {
  return {
    codec: encoderCodec(width, height),
    width,
    height,
    bitrate: Math.min(20e6, Math.max(500e3, width * height * 30 * 0.1)),
    latencyMode: "realtime",
    avc: { format: "annexb" },
  } as VideoEncoderConfig;
}

/** Seconds between keyframes on the image path (the file stays seekable). */
const KEY_EVERY_US = 2_000_000;
/** Frames waiting in the encoder before new ones are skipped. */
const MAX_ENCODE_QUEUE = 3;

/**
 * One recording in the worker.
 *
 * @example
 * ```ts ignore
 * const rec = new WorkerRecorder("webcodecs", () => socket.send({ type: "request_keyframe", reason: "record" }));
 * rec.chunk(header, payload);
 * const { blob } = await rec.stop();
 * ```
 */
export class WorkerRecorder {
  /** The transport it records from. */
  readonly transport: "webcodecs" | "image";
  #mp4: FragmentedMp4 | null = null;
  #mp4W = 0;
  #mp4H = 0;
  #parts: Uint8Array[] = [];
  #t0: number | null = null;
  #lastUs = 0;
  #lastAt = 0;
  #encoder: VideoEncoder | null = null;
  #lastKeyUs = -Infinity;
  #ended: Promise<RecordedVideo> | null = null;
  #error: string | null = null;

  /**
   * @param transport what the view receives now
   * @param askKeyframe asks the server for an IDR (the H.264 path starts on one)
   */
  constructor(transport: "webcodecs" | "image", askKeyframe: () => void) {
    this.transport = transport;
    if (transport === "webcodecs") askKeyframe();
  }

  /** Frames recorded so far. */
  get frames(): number {
    return this.#mp4?.frames ?? 0;
  }

  /** An H.264 chunk the worker received: into the file from the first IDR on. */
  chunk(header: EnvelopeHeader, payload: Uint8Array): void {
    if (this.#ended || this.transport !== "webcodecs") return;
    const width = header.width as number, height = header.height as number;
    if (this.#mp4 && (width !== this.#mp4W || height !== this.#mp4H)) {
      this.end(); // one size per file
      return;
    }
    if (!this.#mp4 && header.keyframe !== true) return;
    const stamp = typeof header.timestamp_us === "number"
      ? header.timestamp_us
      : performance.now() * 1000;
    this.#add(payload, header.keyframe === true, stamp, width, height);
  }

  /** A picture the worker drew (image path): encode it. */
  frame(canvas: OffscreenCanvas, stampUs: number | null): void {
    if (this.#ended || this.transport !== "image") return;
    const stamp = stampUs ?? performance.now() * 1000;
    const { width, height } = canvas;
    if (this.#encoder && (width !== this.#mp4W || height !== this.#mp4H)) {
      this.end();
      return;
    }
    if (!this.#encoder) this.#open(width, height);
    const encoder = this.#encoder!;
    if (encoder.state !== "configured") return;
    if (encoder.encodeQueueSize > MAX_ENCODE_QUEUE) return; // newest wins
    this.#t0 ??= stamp;
    const timestamp = Math.max(0, stamp - this.#t0);
    const keyFrame = timestamp - this.#lastKeyUs >= KEY_EVERY_US;
    if (keyFrame) this.#lastKeyUs = timestamp;
    const picture = new VideoFrame(canvas, { timestamp });
    try {
      encoder.encode(picture, { keyFrame });
    } finally {
      picture.close();
    }
  }

  #open(width: number, height: number): void {
    this.#mp4W = width;
    this.#mp4H = height;
    this.#encoder = new VideoEncoder({
      output: (chunk) => {
        const data = new Uint8Array(chunk.byteLength);
        chunk.copyTo(data);
        this.#add(
          data,
          chunk.type === "key",
          this.#t0! + chunk.timestamp,
          width,
          height,
        );
      },
      error: (e) => {
        this.#error = `the video encoder failed: ${e.message}`;
      },
    });
    this.#encoder.configure(config(width, height));
  }

  #add(
    data: Uint8Array,
    keyframe: boolean,
    stampUs: number,
    width: number,
    height: number,
  ): void {
    if (!this.#mp4) {
      if (!keyframe) return;
      this.#mp4 = new FragmentedMp4({ width, height, fragmentUs: 1e6 });
      this.#mp4W = width;
      this.#mp4H = height;
    }
    this.#t0 ??= stampUs;
    this.#lastUs = Math.max(this.#lastUs, stampUs - this.#t0);
    this.#lastAt = performance.now();
    try {
      this.#parts.push(
        ...this.#mp4.add({
          data,
          keyframe,
          timeUs: stampUs - this.#t0,
        }),
      );
    } catch (err) {
      this.#error = (err as Error).message;
    }
  }

  /**
   * End the file (once): the last frame lasts until now. Rejects when
   * nothing could be recorded.
   */
  end(): Promise<RecordedVideo> {
    this.#ended ??= (async () => {
      const encoder = this.#encoder;
      if (encoder && encoder.state === "configured") {
        await encoder.flush().catch(() => {});
        encoder.close();
      }
      const mp4 = this.#mp4;
      if (!mp4) {
        throw new Error(this.#error ?? "no frame was recorded");
      }
      const endUs = this.#lastUs +
        Math.max(1000, (performance.now() - this.#lastAt) * 1000);
      this.#parts.push(...mp4.end(endUs));
      const blob = new Blob(this.#parts as BlobPart[], { type: "video/mp4" });
      this.#parts = [];
      return { blob, frames: mp4.frames, duration: endUs / 1e6 };
    })();
    this.#ended.catch(() => {});
    return this.#ended;
  }

  /** Stop: end the file if it has not ended, and hand it over. */
  stop(): Promise<RecordedVideo> {
    return this.end();
  }
}
