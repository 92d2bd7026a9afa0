/**
 * `Display.record()`: an MP4 of the stream, written while it runs. The
 * recording takes the shared H.264 stream's access units (no second encode:
 * the units live viewers get), or, with a size or bitrate of its own, runs
 * one encoder more. Frames are timed by their `publish()` times, the file
 * is fragmented so a killed process leaves a playable file, and the muxer
 * is the library's own (`fmp4.ts`, shared with the browser's recorder).
 *
 * @module
 */

import type { Hub } from "../hub/hub.ts";
import type { StreamTap } from "../hub/tracks.ts";
import { targetAt } from "../hub/video_tracks.ts";
import { refuseUnknownKeys } from "../names.ts";
import { checkSize } from "../options.ts";
import { OwnTap } from "./own_tap.ts";
import { SharedTap } from "./shared_tap.ts";
import { openSink } from "./sink.ts";
import type {
  RecordingResult,
  RecordingStats,
  RecordOptions,
} from "./types.ts";
import { Mp4Recorder } from "./writer.ts";

/**
 * A recording running (from `Display.record()`). Stop it with `stop()`,
 * or let `await using` stop it; it also ends by itself when the display
 * closes or (on the shared stream) is resized, or when writing fails.
 *
 * @example
 * ```ts ignore
 * await using rec = await display.record("run.mp4");
 * console.log(rec.frames, rec.bytes, rec.duration); // live counters
 * const { frames, duration, bytes } = await rec.stop();
 * ```
 */
export interface Recording extends AsyncDisposable {
  /** Where it goes: the file path, or `"stream"`. */
  readonly target: string;
  /** Frames in the file so far. */
  readonly frames: number;
  /** Bytes written (or queued to write) so far. */
  readonly bytes: number;
  /** Seconds recorded so far (from the first frame). */
  readonly duration: number;
  /** Resolves when the recording ends, for any reason; rejects if writing failed. */
  readonly done: Promise<RecordingResult>;
  /** The figures now (also in `Display.stats().recordings`). */
  stats(): RecordingStats;
  /** End the file: the last frame lasts until now. Resolves once all is written. */
  stop(): Promise<RecordingResult>;
}

const RECORD_KEYS = ["width", "height", "bitrate", "fragment"] as const;
const _everyKey: Exclude<
  keyof RecordOptions,
  typeof RECORD_KEYS[number]
> extends never ? true : never = true;

/**
 * Start recording `hub`'s stream into `target`. Rejects with a clear error
 * for a bad option or target, or when H.264 cannot be had here.
 *
 * @example
 * ```ts ignore
 * const rec = await startRecording(hub, "run.mp4", { fragment: 2 });
 * ```
 */
export async function startRecording(
  hub: Hub,
  target: string | WritableStream<Uint8Array>,
  options: RecordOptions = {},
): Promise<Recording> {
  const where = "record()";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where}: options must be an object`);
  }
  refuseUnknownKeys(where, options, RECORD_KEYS);
  const size = hub.size();
  const o = hub.options;
  let { width, height } = options;
  if (width !== undefined && height === undefined) {
    height = even(width * size.height / size.width);
  } else if (height !== undefined && width === undefined) {
    width = even(height * size.width / size.height);
  }
  width ??= size.width;
  height ??= size.height;
  checkSize(where, width, height);
  const shared = targetAt(o, width, height, 0).bitrate;
  const bitrate = options.bitrate ?? shared;
  if (!Number.isFinite(bitrate) || bitrate < 10_000 || bitrate > 1e9) {
    throw new RangeError(
      `${where}: bitrate must be 10000-1e9 bits per second, got ${bitrate}`,
    );
  }
  const fragment = options.fragment ?? 1;
  if (!Number.isFinite(fragment) || fragment < 0.05 || fragment > 60) {
    throw new RangeError(
      `${where}: fragment must be 0.05-60 seconds, got ${fragment}`,
    );
  }
  const own = width !== size.width || height !== size.height ||
    bitrate !== shared;
  if (own && (width % 2 || height % 2)) {
    throw new RangeError(
      `${where}: an own size must be even for H.264 4:2:0, got ${width}x${height}`,
    );
  }
  if (!own) {
    const codec = await hub.h264Codec();
    if (!codec) {
      throw new Error(
        `${where}: H.264 is unavailable here: ${hub.h264Off() ?? "unknown"}`,
      );
    }
  }
  const sink = await openSink(target);
  const recorder = new Mp4Recorder({
    sink,
    width,
    height,
    fragmentUs: fragment * 1e6,
    clock: o.clock,
    encoder: own ? "own" : "shared",
  });
  const rec = new RunningRecording(recorder);
  let tap: StreamTap & { free?: () => Promise<void> };
  try {
    tap = own
      ? await OwnTap.open(
        hub,
        recorder,
        { width, height, bitrate },
        (s) => rec.end(s),
      )
      : new SharedTap(hub, recorder, (s) => rec.end(s));
  } catch (err) {
    await recorder.end("failed").catch(() => {});
    throw new Error(
      `${where}: could not open an encoder of its own: ${
        (err as Error)?.message ?? err
      }`,
    );
  }
  const untap = hub.addTap(tap);
  rec.onEnd(async () => {
    untap();
    await tap.free?.();
  });
  if (tap instanceof SharedTap) tap.join();
  else hub.wake();
  return rec;
}

function even(n: number): number {
  return Math.max(2, Math.round(n / 2) * 2);
}

class RunningRecording implements Recording {
  #rec: Mp4Recorder;
  #ended: Promise<RecordingResult> | null = null;
  #cleanup: () => Promise<void> = () => Promise.resolve();
  #resolve!: (r: RecordingResult) => void;
  #reject!: (err: unknown) => void;
  readonly done: Promise<RecordingResult>;

  constructor(rec: Mp4Recorder) {
    this.#rec = rec;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {}); // nobody need listen
  }

  get target(): string {
    return this.#rec.stats().target;
  }

  get frames(): number {
    return this.#rec.stats().frames;
  }

  get bytes(): number {
    return this.#rec.stats().bytes;
  }

  get duration(): number {
    return this.#rec.stats().duration;
  }

  stats(): RecordingStats {
    return this.#rec.stats();
  }

  onEnd(cleanup: () => Promise<void>): void {
    this.#cleanup = cleanup;
  }

  end(state: string): Promise<RecordingResult> {
    this.#ended ??= (async () => {
      try {
        const result = await this.#rec.end(state);
        this.#resolve(result);
        return result;
      } catch (err) {
        this.#reject(err);
        throw err;
      } finally {
        await this.#cleanup().catch(() => {});
      }
    })();
    this.#ended.catch(() => {}); // an end nobody asked for need not be awaited
    return this.#ended;
  }

  stop(): Promise<RecordingResult> {
    return this.end("ended");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
