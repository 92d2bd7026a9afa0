/**
 * The shapes of keeping what a display showed: `snapshot()` options, and a
 * recording's options, figures and result.
 *
 * @module
 */

/** Options for `Display.snapshot()`. */
export interface SnapshotOptions {
  /**
   * `"png"` (the default: lossless, the published pixels exactly),
   * `"jpeg"` or `"webp"`.
   */
  format?: "png" | "jpeg" | "webp";
  /** Quality 1-100 for JPEG and WebP (default: the display's `quality`). */
  quality?: number;
}

/** Options for `Display.record()`. */
export interface RecordOptions {
  /**
   * Width of the recording. Default: the stream's. A size or bitrate of its
   * own means an encoder of its own: one more encode per frame (its
   * `stats().encoder` says `"own"`).
   */
  width?: number;
  /** Height of the recording. Default: the stream's. */
  height?: number;
  /** Bits per second. Default: the shared stream's (no encode of its own). */
  bitrate?: number;
  /**
   * Seconds of video per MP4 fragment (default 1): the file is written a
   * fragment at a time, so a process killed while recording leaves a file
   * that plays up to its last whole fragment.
   */
  fragment?: number;
}

/** What a finished recording holds (`Recording.stop()`). */
export interface RecordingResult {
  /** Frames in the file. */
  frames: number;
  /** Seconds from the first frame to the end of the recording. */
  duration: number;
  /** Bytes written. */
  bytes: number;
}

/** A recording's figures while it runs (and after). */
export interface RecordingStats extends RecordingResult {
  /** Where it goes: the file path, or `"stream"`. */
  target: string;
  /**
   * `"shared"`: the stream's own H.264 units, no encode of its own (the
   * units live viewers get); `"own"`: an encoder of its own for another
   * size or bitrate.
   */
  encoder: "shared" | "own";
  /** Encodes this recording ran itself (0 with the shared encoder). */
  encodes: number;
  /** Keyframes in the file. */
  keyframes: number;
  /** Frames published that did not make it into the file (the encoder was busy, or joining). */
  skipped: number;
  /** `"waiting"` (for its first keyframe), `"recording"`, `"ended"`, or `"failed: <why>"`. */
  state: string;
}
