/**
 * The figures `Display.stats()` reports: the stream's, its encoders' and
 * each viewer's.
 *
 * @module
 */

import type { RecordingStats } from "./record/types.ts";
import type { ViewerStats } from "./session/metrics.ts";

/** Figures for one display, from `Display.stats()`. */
export interface DisplayStats {
  /** Stream name. */
  name: string;
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** Viewers connected (negotiated or not). */
  viewers: number;
  /** Frames published (or, on a fed display, pictures received). */
  framesPublished: number;
  /** Encodes run by the image and H.264 groups, closed ones included (the H.264 still is not counted). */
  encodes: number;
  /** Mean encode time, milliseconds. */
  encodeMsMean: number;
  /** Encodes that failed. */
  encodeFailures: number;
  /** H.264 IDRs made for joining, dropping or asking viewers (beyond the first and the periodic ones). */
  keyframesForced: number;
  /** The H.264 path: `"live"` (an encoder runs), `"idle"`, or `"unavailable: <why>"`. */
  h264: string;
  /** Input events waiting for the app. */
  eventsQueued: number;
  /** Input events dropped because the app did not drain them. */
  eventsDropped: number;
  /**
   * Input events dropped because their viewer did not drive (a `"view"`
   * role, another viewer holding exclusive control, or `control: "none"`),
   * since the display started.
   */
  inputDropped: number;
  /** Per-viewer figures. */
  viewerStats: ViewerStats[];
  /** Each recording running (`Display.record()`); absent when none. */
  recordings?: RecordingStats[];
}
