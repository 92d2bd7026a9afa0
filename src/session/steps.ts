/**
 * What each step of one viewer's ladder means and needs: the ladder for its
 * transport (H.264's, or images' with or without scaling), a step's frame
 * rate, its image quality and scale, and the bits a second it needs (H.264:
 * its target bitrate; images: the bytes of a picture at that step, measured
 * once sent there and guessed from a measured step before, times its rate).
 *
 * @module
 */

import {
  IMAGE_LADDER,
  IMAGE_LADDER_FULL_SIZE,
  imageCost,
  type ImageStep,
  LADDER,
} from "./adaptive.ts";
import { targetAt } from "../hub/video_tracks.ts";
import { CAP_IMAGE_SCALE, type Transport } from "../protocol.ts";
import type { SessionHub } from "./types.ts";
import type { ViewerStats } from "./metrics.ts";

/** Pictures are paced a little faster than their step's rate, so the source's jitter does not skip a frame. */
const PACE = 0.9;

/** A viewer's step and what it aims at, as `ViewerStats` reports them. */
export type StepTargets = Pick<
  ViewerStats,
  | "qualityStep"
  | "targetBitrate"
  | "targetFps"
  | "targetQuality"
  | "imageScale"
>;

/**
 * One viewer's ladder and what its steps need.
 *
 * @example
 * ```ts ignore
 * const steps = new StepPlan(hub);
 * steps.choose("image", ["image/jpeg", "rfb/image-scale"]);
 * steps.noteBytes(0, 100_000);
 * console.log(steps.need(1) < steps.need(0)); // true
 * ```
 */
export class StepPlan {
  #hub: SessionHub;
  #ladder: readonly ImageStep[] | null = null; // null: the video ladder
  #bytes = new Map<number, number>(); // image step → bytes per picture (smoothed)

  /** @param hub the stream the viewer watches */
  constructor(hub: SessionHub) {
    this.#hub = hub;
  }

  /** How many steps the ladder has. */
  get length(): number {
    return (this.#ladder ?? LADDER).length;
  }

  /** Whether the ladder is an image ladder. */
  get images(): boolean {
    return this.#ladder !== null;
  }

  /** Take the ladder for a transport and capabilities; true when it changed. */
  choose(transport: Transport, caps: readonly string[]): boolean {
    const ladder = transport === "webcodecs"
      ? null
      : caps.includes(CAP_IMAGE_SCALE)
      ? IMAGE_LADDER
      : IMAGE_LADDER_FULL_SIZE;
    if (ladder === this.#ladder) return false;
    this.#ladder = ladder;
    this.#bytes.clear();
    return true;
  }

  /** Forget measured sizes (the quality setting changed). */
  forget(): void {
    this.#bytes.clear();
  }

  /** H.264's bitrate and frame rate at `step`. */
  video(step: number): { bitrate: number; fps: number } {
    const { width, height } = this.#hub.size();
    return targetAt(this.#hub.options, width, height, step);
  }

  /**
   * Frames a second at `step`: the video track's, or for images the
   * source's rate over how many of its frames each picture sent spans
   * (pictures go out only when a frame is published).
   */
  fpsAt(step: number): number {
    if (!this.#ladder) return this.video(step).fps;
    const source = this.#hub.publishFps();
    return Math.max(1, source / Math.ceil(PACE / this.#at(step).fps - 1e-9));
  }

  /** The least time between two live pictures at `step`, ms. */
  intervalMs(step: number): number {
    if (!this.#ladder) return 0;
    return PACE * 1000 / (this.#hub.publishFps() * this.#at(step).fps);
  }

  /** Whether images at `step` go out slower than the source publishes. */
  paced(step: number): boolean {
    return this.#ladder !== null && this.#at(step).fps < 1;
  }

  /** JPEG/WebP quality and the picture's scale at `step` (full when not adapting). */
  image(step: number | null): { quality: number; scale: number } {
    const q = this.#hub.options.quality;
    if (step === null || !this.#ladder) return { quality: q, scale: 1 };
    const st = this.#at(step);
    return { quality: this.#quality(st), scale: st.scale };
  }

  /** What `step` aims at (`step` null: not adapting) on `transport`. */
  targets(step: number | null, transport: Transport | null): StepTargets {
    const video = transport === "webcodecs", image = transport === "image";
    const at = this.image(step);
    return {
      imageScale: image ? at.scale : null,
      qualityStep: step,
      targetBitrate: step !== null && video ? this.video(step).bitrate : null,
      targetFps: step !== null ? Math.round(this.fpsAt(step) * 10) / 10 : null,
      targetQuality: step !== null && image ? at.quality : null,
    };
  }

  /** Bits a second `step` needs (0 while an image step's size cannot be told). */
  need(step: number, current: number): number {
    if (!this.#ladder) return this.video(step).bitrate;
    return this.#bytesAt(step, current) * 8 * this.fpsAt(step);
  }

  /** A live picture of `bytes` went out at `step`. */
  noteBytes(step: number, bytes: number): void {
    const prev = this.#bytes.get(step);
    this.#bytes.set(
      step,
      prev === undefined ? bytes : prev * 0.7 + bytes * 0.3,
    );
  }

  #at(step: number): ImageStep {
    const ladder = this.#ladder!;
    return ladder[Math.min(Math.max(0, step), ladder.length - 1)];
  }

  #quality(st: ImageStep): number {
    const q = this.#hub.options.quality;
    return st.quality >= 1 ? q : Math.max(20, Math.round(q * st.quality));
  }

  /** A picture's bytes at `step`: measured there, else guessed from a measured step. */
  #bytesAt(step: number, current: number): number {
    const known = this.#bytes.get(step);
    if (known !== undefined) return known;
    const from = this.#bytes.has(current)
      ? current
      : this.#bytes.keys().next().value;
    if (from === undefined) return 0;
    const cost = (i: number) => {
      const st = this.#at(i);
      return imageCost(this.#quality(st), st.scale);
    };
    return this.#bytes.get(from)! * cost(step) / cost(from);
  }
}
