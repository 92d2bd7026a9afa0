/**
 * Where a display's H.264 encoders come from: NVENC or libx264, picked once
 * and replaced when the pick stops working. With `"auto"` (the
 * default) NVENC is tried first; when the driver's libraries are not there
 * (every machine without an NVIDIA driver) libx264 is used without a word,
 * and when they load but NVENC fails to open (no NVENC engine, a refused
 * setting, the session limit) the display logs one line saying why and uses
 * libx264 from then on. `"nvenc"` uses NVENC only (a failure turns H.264
 * off, and viewers get images); `"x264"` never tries NVENC.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { type H264Settings, probeH264 } from "./h264.ts";
import {
  NvencDriver,
  type NvencLibraries,
  nvencLoadError,
  NvencUnavailable,
} from "./nvenc/driver.ts";
import { NvencEncoder } from "./nvenc/encoder.ts";
import type { EncoderChoice } from "../options.ts";
import {
  FAILURES_BEFORE_SWITCH,
  readCodec,
  type VideoEncoder,
  type VideoEncoders,
  X264_ENCODERS,
} from "./video_encoder.ts";

/** How to make `H264Encoders`. */
export interface H264EncodersOptions {
  /** `"auto"`, `"nvenc"` or `"x264"` (the display's `encoder` option). */
  choice: EncoderChoice;
  /** Where the fallback line goes. */
  log: Logger;
  /** Who is speaking in that line, e.g. `display 'default'`. */
  where: string;
  /** NVENC library paths (default: `RFB_CUDA_LIBRARY` / `RFB_NVENC_LIBRARY`, then the driver's). */
  libraries?: Partial<NvencLibraries>;
}

/**
 * A display's H.264 encoders, picked once and replaced on failure: see the
 * module doc.
 *
 * @example
 * ```ts ignore
 * const encoders = new H264Encoders({ choice: "auto", log: consoleLogger, where: "display 'default'" });
 * const enc = await encoders.open({ width: 1280, height: 720, fps: 60, bitrate: 4e6, gop: 240, preset: "ultrafast" });
 * console.log(encoders.live, encoders.reason); // "x264", "libcuda.so.1 could not be loaded (...)"
 * ```
 */
export class H264Encoders implements VideoEncoders {
  /** What was asked for. */
  readonly choice: EncoderChoice;
  /** The encoder in use: null until the first open decides. */
  live: "nvenc" | "x264" | null;
  /** Why `live` is what it is. */
  reason: string;
  #log: Logger;
  #where: string;
  #libraries: Partial<NvencLibraries>;
  #fellBack = false;
  #codecs = new Map<string, Promise<string>>();

  /** Pick nothing yet: the first `open`, `codec` or `available` decides. */
  constructor(options: H264EncodersOptions) {
    const { choice } = options;
    this.choice = choice;
    this.#log = options.log;
    this.#where = options.where;
    this.#libraries = options.libraries ?? {};
    this.live = choice === "x264" ? "x264" : null;
    this.reason = choice === "x264" ? 'encoder: "x264"' : "not opened yet";
  }

  #useX264(): boolean {
    if (this.choice === "auto" && this.live === null) {
      // Without the driver's libraries (most machines) decide at once, before
      // any throwaway encoder is opened for the codec string.
      const missing = nvencLoadError(this.#libraries);
      if (missing) this.#fallBack(missing, false);
    }
    return this.choice === "x264" || this.#fellBack;
  }

  #fallBack(why: string, say: boolean, what = "could not open"): void {
    if (this.#fellBack) return;
    this.#fellBack = true;
    this.live = "x264";
    this.reason = why;
    this.generation++;
    if (say) {
      this.#log(
        "warn",
        `${this.#where}: NVENC ${what} (${why}); using libx264`,
      );
    }
  }

  /**
   * Bumped when the encoders fall back to libx264, so holders of an encoder
   * opened before (the still encoder) know to open a new one.
   */
  generation = 0;

  /**
   * An NVENC encoder keeps failing (a lost GPU, a dead session): with
   * `"auto"`, fall back to libx264 for this display (one log line) and let
   * the group reopen. libx264 failures, and `"nvenc"`, keep the encoder.
   */
  failing(encoder: VideoEncoder, error: unknown): boolean {
    if (this.choice !== "auto" || !(encoder instanceof NvencEncoder)) {
      return false;
    }
    this.#fallBack(
      (error as Error)?.message ?? String(error),
      true,
      `failed ${FAILURES_BEFORE_SWITCH} encodes in a row`,
    );
    return true;
  }

  /**
   * Whether H.264 can be offered: libx264 loads, or (unless `"x264"`) the
   * NVENC libraries load. Resolves to the reason when not.
   */
  async available(): Promise<{ ok: boolean; reason: string }> {
    if (this.choice !== "nvenc") {
      const x264 = await probeH264();
      if (x264.ok || this.#useX264()) return x264;
    }
    try {
      NvencDriver.load(this.#libraries).close();
      return { ok: true, reason: "NVENC" };
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }

  /** Open an encoder: NVENC first (unless `"x264"` or after a fallback), else libx264. */
  async open(settings: H264Settings): Promise<VideoEncoder> {
    if (this.#useX264()) return await X264_ENCODERS.open(settings);
    if (this.choice === "auto" && (settings.width % 2 || settings.height % 2)) {
      // NV12 needs even sizes, and so does libx264: let it refuse this size
      // alone, without turning NVENC off for the display.
      return await X264_ENCODERS.open(settings);
    }
    try {
      const enc = await NvencEncoder.open(settings, {
        libraries: this.#libraries,
      });
      if (!this.#fellBack) {
        this.live = "nvenc";
        this.reason = `NVENC (driver API ${enc.driverApi})`;
      }
      return enc;
    } catch (err) {
      if (this.choice === "nvenc") throw err;
      // No driver at all is the common case: not worth a line. A driver
      // that loads and refuses is: say why, once.
      this.#fallBack(
        (err as Error)?.message ?? String(err),
        !(err instanceof NvencUnavailable && err.missing),
      );
      return await X264_ENCODERS.open(settings);
    }
  }

  /** The codec string an encoder opened now for `settings` will use. */
  codec(settings: H264Settings): Promise<string> {
    if (this.#useX264()) return X264_ENCODERS.codec(settings);
    const s = settings;
    const key = `${s.width}x${s.height}@${s.fps}:${s.bitrate}:${s.preset}`;
    let p = this.#codecs.get(key);
    if (!p) {
      p = readCodec((s) => this.open(s), settings);
      p.catch(() => this.#codecs.delete(key));
      this.#codecs.set(key, p);
    }
    return p;
  }
}
