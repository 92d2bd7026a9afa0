/**
 * What the hub hands to viewer sessions: encoded pictures, in two delivery
 * models.
 *
 * - **Pull** (`PictureTrack`): complete pictures (image files, and the H.264
 *   still). A session with room in its window reads `current`; when that is
 *   not the newest picture it calls `request()`, and the track encodes the
 *   newest frame once for every session that pulls from it.
 * - **Push** (`VideoTrack`): a shared H.264 stream. The hub offers every new
 *   access unit to every session on the track; a session takes it if it is
 *   the next in order (or an IDR) and its window has room, else it waits at
 *   the keyframe gate and asks the track for an IDR.
 *
 * A track is fed either by a local encoder (`PictureGroup`, `VideoGroup`) or
 * by pictures encoded elsewhere (`FedPictures`, `FedVideo`): sessions cannot
 * tell the two apart. A hub that does not encode takes its tracks from a
 * `TrackSource`.
 *
 * @module
 */

import type { ImageFormat, NegotiationOffer } from "../protocol.ts";
import type { RecordingStats } from "../record/types.ts";

/** One encoded picture (an image file, or an H.264 still), shared by every viewer pulling it. */
export interface EncodedPicture {
  /** The stream version it was encoded from. */
  readonly version: number;
  /** The encoded bytes (a complete image file, or an Annex B IDR). */
  readonly bytes: Uint8Array;
  /** MIME type of `bytes` (`"video/h264"` for an H.264 still). */
  readonly mime: string;
  /** Picture width. */
  readonly width: number;
  /** Picture height. */
  readonly height: number;
  /** When the source frame was published (microseconds since the epoch). */
  readonly timestampUs: number;
  /** The source frame's render pixel ratio. */
  readonly pixelRatio: number;
  /** Encode time in milliseconds (0 when encoded elsewhere). */
  readonly encodeMs: number;
}

/** One H.264 access unit of a shared stream. */
export interface VideoChunk {
  /** Position in the track's stream (0, 1, 2, …). */
  readonly index: number;
  /** The stream version it was encoded from. */
  readonly version: number;
  /** Annex B bytes. */
  readonly data: Uint8Array;
  /** Whether it is an IDR. */
  readonly keyframe: boolean;
  /** Codec string from the stream's SPS. */
  readonly codec: string;
  /** Picture width. */
  readonly width: number;
  /** Picture height. */
  readonly height: number;
  /** Publish time, microseconds since the epoch. */
  readonly timestampUs: number;
  /** The frame's render pixel ratio. */
  readonly pixelRatio: number;
  /** Encode time, milliseconds (conversion included; 0 when encoded elsewhere). */
  readonly encodeMs: number;
  /** Frame duration, microseconds. */
  readonly durationUs: number;
}

/** Pull delivery: the latest encoded picture of one encoding. */
export interface PictureTrack {
  /** The last picture made (or received), or null. */
  readonly current: EncodedPicture | null;
  /** Make a picture of the newest frame, unless one is on its way (no-op when fed from elsewhere). */
  request(): void;
}

/** Push delivery: a shared H.264 stream. */
export interface VideoTrack {
  /** The last access unit made (or received), or null. */
  readonly last: VideoChunk | null;
  /** Whether the stream owes its viewers a newer picture or an IDR that it will make itself. */
  behind(): boolean;
  /** Encode the newest frame (an IDR when one is due); no-op when fed from elsewhere. */
  request(): void;
  /** A viewer needs an IDR before it can decode again: make one, or ask whoever encodes. */
  requestKeyframe(): void;
}

/**
 * Where a hub that does not encode takes its pictures from: one track for
 * every viewer (`Feed`, given encoded units by the app), or one per
 * encoding (an edge server relaying a render host's encodings).
 */
export interface TrackSource {
  /** The newest picture's version, 0 before the first. */
  newest(): number;
  /** Whether the scene rests; null: the hub's own `stillAfter` timer says. */
  settled(): boolean | null;
  /** Frames per second lately; null: the hub counts them. */
  publishFps(): number | null;
  /** What viewers may be offered, once the source knows (`defaults`: the stream's own settings). */
  offer(defaults: NegotiationOffer): Promise<NegotiationOffer>;
  /** Pull delivery: the pictures of one encoding, or null. */
  pictures(
    format: ImageFormat | "h264",
    quality: number,
    still: boolean,
    scale: number,
  ): PictureTrack | null;
  /** Push delivery: the H.264 stream at an adaptive step. */
  video(step: number): VideoTrack;
  /** IDRs asked for upstream so far. */
  keyframeRequests(): number;
  /** Whether H.264 units have come. */
  live(): boolean;
  /** The H.264 codec string, once known (null: not yet, or no H.264). */
  codec(): string | null;
  /** Stop timers. */
  close(): void;
}

/**
 * Something that follows a stream besides its viewers (a recorder, a relay
 * to edge servers): it sees every shared H.264 unit, gets a turn on every
 * delivery pass, and hears of resizes and the close.
 */
export interface StreamTap {
  /** A shared H.264 unit was made (or fed) on `track`. */
  chunk(chunk: VideoChunk, track: VideoTrack): void;
  /** A delivery pass (after a publish or an encode): look for work. */
  pump(): void;
  /** The stream changed size. */
  resized(): void;
  /** The settings changed, or H.264 was lost. */
  changed?(): void;
  /** Which frame forms it needs encoded (as `Hub.needs`); none when absent. */
  needs?(): { rgba: boolean; yuv: boolean };
  /** The stream closes: finish, and resolve once done. */
  close(): Promise<void>;
  /** A recorder's figures, for `Display.stats().recordings`. */
  stats?(): RecordingStats;
}
