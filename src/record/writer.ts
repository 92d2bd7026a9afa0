/**
 * The core of a server recording: H.264 units in, with their publish
 * times; a fragmented MP4 out to a sink. It keeps the timing (the first
 * unit's time is zero, later ones are their publish times after it, so a
 * sparse scene records as it happened), cuts fragments by time and, on a
 * resting scene, writes what it holds every fragment period, and ends the
 * file once.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import { FragmentedMp4 } from "./fmp4.ts";
import type { Sink } from "./sink.ts";
import type { RecordingResult, RecordingStats } from "./types.ts";

/** One H.264 access unit for the file. */
export interface RecordUnit {
  /** Annex B bytes. */
  data: Uint8Array;
  /** Whether it is an IDR. */
  keyframe: boolean;
  /** When its frame was published, microseconds since the epoch. */
  timestampUs: number;
  /**
   * The frame was already recorded (an IDR of the same picture made again
   * for a viewer that joined): it is placed at the time it was made.
   */
  repeat?: boolean;
}

/** How to make an `Mp4Recorder`. */
export interface Mp4RecorderOptions {
  /** Where the bytes go. */
  sink: Sink;
  /** The picture's size. */
  width: number;
  /** The picture's size. */
  height: number;
  /** Microseconds of video per fragment. */
  fragmentUs: number;
  /** Time source (publish times are on its epoch clock). */
  clock: Clock;
  /** `"shared"` or `"own"`, for the figures. */
  encoder: "shared" | "own";
}

/**
 * A recording's file, timing and state.
 *
 * @example
 * ```ts ignore
 * const rec = new Mp4Recorder({ sink, width: 640, height: 480, fragmentUs: 1e6, clock, encoder: "shared" });
 * rec.put({ data: idr, keyframe: true, timestampUs: clock.epochMicros() });
 * const { frames } = await rec.end("ended");
 * ```
 */
export class Mp4Recorder {
  /** The picture's width. */
  readonly width: number;
  /** The picture's height. */
  readonly height: number;
  /** Frames published that did not make it into the file. */
  skipped = 0;
  /** Encodes run for this recording alone. */
  encodes = 0;
  #o: Mp4RecorderOptions;
  #mp4: FragmentedMp4;
  #startUs: number;
  #t0: number | null = null;
  #state = "waiting";
  #endedAtUs: number | null = null;
  #timer: TimerHandle | null = null;
  #ending: Promise<RecordingResult> | null = null;

  /** Start waiting for the first keyframe; the recording's time starts now. */
  constructor(options: Mp4RecorderOptions) {
    this.#o = options;
    this.width = options.width;
    this.height = options.height;
    this.#mp4 = new FragmentedMp4({
      width: options.width,
      height: options.height,
      fragmentUs: options.fragmentUs,
    });
    this.#startUs = options.clock.epochMicros();
    this.#arm();
  }

  /** Whether the file has ended (stopped, or failed). */
  get ended(): boolean {
    return this.#ending !== null;
  }

  /** Whether the file has begun (its first keyframe came). */
  get started(): boolean {
    return this.#mp4.started;
  }

  /**
   * Put a unit in the file. Before the first keyframe, others are refused
   * (false). Returns whether it went in.
   */
  put(unit: RecordUnit): boolean {
    if (this.#ending) return false;
    if (!this.#mp4.started && !unit.keyframe) return false;
    const now = this.#o.clock.epochMicros();
    this.#t0 ??= Math.max(unit.timestampUs, this.#startUs);
    const at = unit.repeat ? now : unit.timestampUs;
    const parts = this.#mp4.add({
      data: unit.data,
      keyframe: unit.keyframe,
      timeUs: Math.max(0, at - this.#t0),
    });
    this.#state = "recording";
    this.#o.sink.write(parts);
    if (this.#o.sink.error) this.end(`failed: ${this.#o.sink.error.message}`);
    return true;
  }

  /** The figures now. */
  stats(): RecordingStats {
    return {
      ...this.#result(),
      target: this.#o.sink.name,
      encoder: this.#o.encoder,
      encodes: this.encodes,
      keyframes: this.#mp4.keyframes,
      skipped: this.skipped,
      state: this.#state,
    };
  }

  /**
   * End the file (once): the last frame lasts until now; what is held is
   * written and the sink closed. `state` is `"ended"`, `"ended: <why>"` or
   * `"failed: <why>"`. Rejects when the sink failed.
   */
  end(state = "ended"): Promise<RecordingResult> {
    if (this.#ending) return this.#ending;
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#endedAtUs = this.#o.clock.epochMicros();
    if (this.#t0 !== null) {
      this.#o.sink.write(this.#mp4.end(this.#endedAtUs - this.#t0));
    }
    this.#state = state;
    this.#ending = this.#o.sink.close().then(
      () => this.#result(),
      (err) => {
        if (!this.#state.startsWith("failed")) {
          this.#state = `failed: ${(err as Error)?.message ?? err}`;
        }
        throw err;
      },
    );
    this.#ending.catch(() => {});
    return this.#ending;
  }

  #result(): RecordingResult {
    const until = this.#endedAtUs ?? this.#o.clock.epochMicros();
    return {
      frames: this.#mp4.frames,
      duration: this.#t0 === null ? 0 : Math.max(0, until - this.#t0) / 1e6,
      bytes: this.#mp4.bytes,
    };
  }

  /** Every fragment period, write what is held: a resting scene's frames reach the file too. */
  #arm(): void {
    const every = Math.max(50, this.#o.fragmentUs / 1000);
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null;
      if (this.#ending) return;
      if (this.#mp4.started) {
        const held = this.#o.clock.epochMicros() - this.#t0! -
          this.#mp4.writtenUs;
        if (held >= this.#o.fragmentUs) this.#o.sink.write(this.#mp4.flush());
      }
      this.#arm();
    }, every);
  }
}
