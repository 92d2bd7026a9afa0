/**
 * Recording with no encode of its own: the recorder follows the stream's
 * shared H.264 track (quality step 0, the one live viewers at full quality
 * get) and takes its access units as they are made. It joins at an IDR,
 * which it asks the track for; while it records it also asks for the newest
 * frame on every delivery pass, so with no H.264 viewer it drives the
 * shared encoder itself, and with viewers it costs no encode at all.
 *
 * @module
 */

import type { Hub } from "../hub/hub.ts";
import type { StreamTap, VideoChunk, VideoTrack } from "../hub/tracks.ts";
import type { RecordingStats } from "./types.ts";
import type { Mp4Recorder } from "./writer.ts";

/**
 * A recorder's tap on the shared H.264 stream.
 *
 * @example
 * ```ts ignore
 * const tap = new SharedTap(hub, recorder, (why) => recording.end(why));
 * const untap = hub.addTap(tap);
 * tap.join();
 * ```
 */
export class SharedTap implements StreamTap {
  #hub: Hub;
  #rec: Mp4Recorder;
  #end: (state: string) => void;
  #track: VideoTrack | null = null;
  #lastIndex = -1;
  #lastVersion = 0;

  /**
   * @param hub the stream
   * @param recorder where the units go
   * @param end ends the recording (a resize, a close, or H.264 lost)
   */
  constructor(hub: Hub, recorder: Mp4Recorder, end: (state: string) => void) {
    this.#hub = hub;
    this.#rec = recorder;
    this.#end = end;
  }

  /** Ask for an IDR to start from, and for a delivery pass. */
  join(): void {
    this.#hub.video(0).requestKeyframe();
    this.#hub.wake();
  }

  /** A unit of the shared stream: into the file if it follows the last one (or is an IDR). */
  chunk(chunk: VideoChunk, track: VideoTrack): void {
    const rec = this.#rec;
    if (rec.ended || track !== this.#hub.video(0)) return;
    if (chunk.width !== rec.width || chunk.height !== rec.height) return;
    const next = track === this.#track && chunk.index === this.#lastIndex + 1;
    if (!next && !chunk.keyframe) {
      // Out of order (joined late, or a unit went missing): wait for an IDR.
      if (this.#track !== null) rec.skipped++;
      track.requestKeyframe();
      return;
    }
    const repeat = chunk.version <= this.#lastVersion;
    if (!rec.put({ ...chunk, repeat })) return;
    if (!repeat && this.#lastVersion > 0) {
      rec.skipped += chunk.version - this.#lastVersion - 1;
    }
    this.#track = track;
    this.#lastIndex = chunk.index;
    this.#lastVersion = Math.max(this.#lastVersion, chunk.version);
  }

  /** A delivery pass: have the newest frame encoded (once, for everyone). */
  pump(): void {
    if (this.#rec.ended) return;
    const off = this.#hub.h264Off();
    if (off) {
      this.#end(`failed: H.264 is unavailable: ${off}`);
      return;
    }
    const track = this.#hub.video(0);
    if (track.behind()) track.request();
  }

  /** The stream's size changed: the file (one size) ends here. */
  resized(): void {
    this.#end("ended: the display was resized");
  }

  /** The stream closes: end the file. */
  close(): Promise<void> {
    this.#end("ended: the display closed");
    return Promise.resolve();
  }

  /** The recording's figures. */
  stats(): RecordingStats {
    return this.#rec.stats();
  }
}
