/**
 * Recording at a size or bitrate of its own: an x264 encoder for this
 * recording alone (one more encode per frame, counted in its `encodes`).
 * On every delivery pass it takes the newest frame if it has not yet, scales
 * it with sharp when the size differs, and encodes it; frames published
 * while it encodes are skipped, newest first, as the shared encoders do.
 *
 * @module
 */

import sharp from "sharp";
import { H264Encoder, layoutOf, type RawPicture } from "../encoders/h264.ts";
import type { Frame } from "../frame.ts";
import type { Hub } from "../hub/hub.ts";
import type { StreamTap } from "../hub/tracks.ts";
import { yuvToRgba } from "../yuv.ts";
import type { RecordingStats } from "./types.ts";
import type { Mp4Recorder } from "./writer.ts";

/** The encoder settings of an own recording. */
export interface OwnSettings {
  /** Picture width. */
  width: number;
  /** Picture height. */
  height: number;
  /** Bits per second. */
  bitrate: number;
}

/**
 * A recorder with an encoder of its own.
 *
 * @example
 * ```ts ignore
 * const tap = await OwnTap.open(hub, recorder, { width: 640, height: 360, bitrate: 1e6 }, end);
 * hub.addTap(tap);
 * ```
 */
export class OwnTap implements StreamTap {
  #hub: Hub;
  #rec: Mp4Recorder;
  #encoder: H264Encoder;
  #end: (state: string) => void;
  #busy: Promise<void> | null = null;
  #lastVersion = 0;

  private constructor(
    hub: Hub,
    rec: Mp4Recorder,
    encoder: H264Encoder,
    end: (state: string) => void,
  ) {
    this.#hub = hub;
    this.#rec = rec;
    this.#encoder = encoder;
    this.#end = end;
  }

  /** Open the encoder; rejects when libx264 cannot be had or refuses the settings. */
  static async open(
    hub: Hub,
    rec: Mp4Recorder,
    s: OwnSettings,
    end: (state: string) => void,
  ): Promise<OwnTap> {
    const o = hub.options;
    const encoder = await H264Encoder.open({
      width: s.width,
      height: s.height,
      fps: o.fps,
      bitrate: s.bitrate,
      gop: o.gop,
      preset: o.preset,
    });
    return new OwnTap(hub, rec, encoder, end);
  }

  /** Units of the shared stream are not this recording's. */
  chunk(): void {}

  /** A delivery pass: encode the newest frame if it is new. */
  pump(): void {
    if (this.#busy || this.#rec.ended) return;
    const held = this.#hub.hold();
    if (!held) return;
    if (held.frame.version <= this.#lastVersion) {
      held.release();
      return;
    }
    const { frame } = held;
    const first = this.#lastVersion === 0;
    if (!first) this.#rec.skipped += frame.version - this.#lastVersion - 1;
    this.#lastVersion = frame.version;
    this.#busy = (async () => {
      try {
        const picture = await this.#picture(frame);
        const chunk = await this.#encoder.encode(picture, first);
        this.#rec.encodes++;
        if (chunk) {
          this.#rec.put({ ...chunk, timestampUs: frame.timestampUs });
        }
      } catch (err) {
        this.#end(`failed: ${(err as Error)?.message ?? err}`);
      } finally {
        held.release();
        this.#busy = null;
      }
      this.#hub.wake(); // a frame may have come meanwhile
    })();
  }

  /** The frame as the encoder takes it: RGB(A) or gray, scaled to the recording's size. */
  async #picture(frame: Frame): Promise<RawPicture> {
    const { width, height } = this.#rec;
    let data = frame.data, channels = frame.channels;
    if (data.length === 0 && frame.yuv) {
      data = yuvToRgba(
        frame.yuv.data,
        frame.width,
        frame.height,
        frame.yuv.layout,
      );
      channels = 4;
    }
    if (frame.width !== width || frame.height !== height) {
      const out = await sharp(data, {
        raw: { width: frame.width, height: frame.height, channels },
        limitInputPixels: false,
      }).resize(width, height, { fit: "fill" }).raw().toBuffer();
      data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
    return { data, width, height, layout: layoutOf(channels) };
  }

  /** The stream's size changed: the recording keeps its own size and goes on. */
  resized(): void {}

  /** The stream closes: finish the encode in flight, end the file, free the encoder. */
  async close(): Promise<void> {
    await this.#busy;
    this.#end("ended: the display closed");
    await this.free();
  }

  /** Free the encoder once the encode in flight is done (after the recording ended). */
  async free(): Promise<void> {
    await this.#busy;
    await this.#encoder.close();
  }

  /** The recording's figures. */
  stats(): RecordingStats {
    return this.#rec.stats();
  }
}
