/**
 * An edge server's tracks: one per encoding of the render host's stream,
 * made when a viewer first asks for it (which is how the edge learns what
 * its viewers need: an encoding no viewer asked for lately is no longer
 * announced), fed with what arrives through NATS. Versions are the host's,
 * moved past everything seen before when a new host process starts, so
 * viewers never take a new picture for an old one. A unit that arrives
 * after a gap (units lost while NATS was away) breaks its stream's order,
 * so viewers wait for an IDR, which the track asks the host for.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import { FedPictures, FedVideo } from "../hub/feed.ts";
import type {
  PictureTrack,
  TrackSource,
  VideoChunk,
  VideoTrack,
} from "../hub/tracks.ts";
import type { ImageFormat, NegotiationOffer } from "../protocol.ts";
import { encodingKey, type HostState, type UnitHeader } from "./wire.ts";

/** How to make `EdgeTracks`. */
export interface EdgeTracksOptions {
  /** Time source. */
  clock: Clock;
  /** The stream's size now. */
  size: () => { width: number; height: number };
  /** A viewer asked for an encoding not asked for lately. */
  wanted: (key: string) => void;
  /** A viewer waits for an IDR of the encoding `key`. */
  keyframe: (key: string) => void;
  /** Look for work (an IDR ask is due again). */
  wake: () => void;
  /** The longest wait for the host's state before negotiating, seconds. */
  firstTimeout: () => number;
}

interface VideoEntry {
  track: FedVideo;
  lastIndex: number;
  host: string;
}

/**
 * The tracks of a stream relayed from a render host.
 *
 * @example
 * ```ts ignore
 * const tracks = new EdgeTracks({ clock, size, wanted, keyframe, wake, firstTimeout });
 * tracks.setState(state);
 * const chunk = tracks.takeVideo("h264-q0", header, bytes);
 * ```
 */
export class EdgeTracks implements TrackSource {
  #o: EdgeTracksOptions;
  #state: HostState | null = null;
  #base = 0; // added to the host's versions
  #max = 0; // the highest version seen
  #video = new Map<string, VideoEntry>();
  #pictures = new Map<string, FedPictures>();
  #asked = new Map<string, number>(); // key → when a viewer last asked (ms)
  #stateWaiters: Array<() => void> = [];
  #keyframeRequests = 0;
  #closed = false;

  /** Make empty tracks; nothing is served until the host's state comes. */
  constructor(options: EdgeTracksOptions) {
    this.#o = options;
  }

  /** The host's last state, or null before the first. */
  get state(): HostState | null {
    return this.#state;
  }

  /**
   * Take the host's state. A new host process (after a restart) moves
   * versions past what was seen and drops every track; so does a change of
   * settings (viewers renegotiate and start over).
   */
  setState(s: HostState): { host: boolean; size: boolean; settings: boolean } {
    const prev = this.#state;
    const host = prev?.host !== s.host;
    const size = prev?.width !== s.width || prev?.height !== s.height;
    const settings = host ||
      JSON.stringify([prev?.settings, prev?.offer]) !==
        JSON.stringify([s.settings, s.offer]);
    if (host && prev) this.#base = this.#max;
    if (settings) {
      for (const v of this.#video.values()) v.track.close();
      this.#video.clear();
      this.#pictures.clear();
    }
    this.#state = s;
    this.#max = Math.max(this.#max, this.#base + s.version);
    const waiters = this.#stateWaiters;
    this.#stateWaiters = [];
    for (const w of waiters) w();
    return { host, size, settings };
  }

  /** The encodings viewers asked for within `withinMs`. */
  wantedKeys(withinMs: number): string[] {
    const since = this.#o.clock.now() - withinMs;
    const out: string[] = [];
    for (const [k, at] of this.#asked) {
      if (at >= since) out.push(k);
      else this.#asked.delete(k);
    }
    return out;
  }

  /**
   * An access unit of `key` arrived; returns it as a chunk of its track to
   * push to viewers, or null (from another host than the state's, or for a
   * track no viewer holds).
   */
  takeVideo(
    key: string,
    h: UnitHeader,
    data: Uint8Array,
  ): { chunk: VideoChunk; track: VideoTrack } | null {
    if (!this.#state || h.host !== this.#state.host) return null;
    const entry = this.#video.get(key);
    if (!entry) return null;
    const version = this.#version(h.v);
    // Units lost in between (or a new stream that does not start on an
    // IDR): viewers must not take the next one as in order.
    if (
      !h.k && (entry.host !== h.host || h.i !== entry.lastIndex + 1)
    ) entry.track.skip();
    entry.lastIndex = h.i!;
    entry.host = h.host;
    const chunk = entry.track.put({
      data,
      keyframe: h.k!,
      codec: h.c!,
      width: h.w,
      height: h.h,
      timestampUs: h.ts,
      pixelRatio: h.pr,
      durationUs: h.d,
    }, version);
    return { chunk, track: entry.track };
  }

  /** A picture of `key` arrived; true when a track took it. */
  takePicture(key: string, h: UnitHeader, bytes: Uint8Array): boolean {
    if (!this.#state || h.host !== this.#state.host) return false;
    const track = this.#pictures.get(key);
    if (!track) return false;
    track.put({
      bytes,
      mime: h.m!,
      width: h.w,
      height: h.h,
      timestampUs: h.ts,
      pixelRatio: h.pr,
    }, this.#version(h.v));
    return true;
  }

  // --- TrackSource ---

  /** The newest version the host has, or any track received. */
  newest(): number {
    return this.#max;
  }

  /** Whether the host says the scene rests. */
  settled(): boolean {
    return this.#state?.settled ?? false;
  }

  /** The host's frame rate lately. */
  publishFps(): number | null {
    return this.#state?.fps || null;
  }

  /** The host's offer, once its state came (at most `firstTimeout` later; else `defaults`). */
  async offer(defaults: NegotiationOffer): Promise<NegotiationOffer> {
    if (!this.#state && !this.#closed) {
      let timer: TimerHandle | null = null;
      await new Promise<void>((resolve) => {
        this.#stateWaiters.push(resolve);
        timer = this.#o.clock.setTimeout(
          resolve,
          this.#o.firstTimeout() * 1000,
        );
      });
      if (timer !== null) this.#o.clock.clearTimeout(timer);
    }
    return this.#state ? { ...this.#state.offer } : defaults;
  }

  /** The track of an image encoding (or a still), made on first ask. */
  pictures(
    format: ImageFormat | "h264",
    quality: number,
    still: boolean,
    scale: number,
  ): PictureTrack | null {
    const { width, height } = this.#o.size();
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    const scaled = w !== width || h !== height;
    const key = encodingKey({
      kind: "picture",
      format,
      quality,
      still,
      size: scaled ? { width: w, height: h } : null,
    });
    this.#ask(key);
    let track = this.#pictures.get(key);
    if (!track) this.#pictures.set(key, track = new FedPictures());
    return track;
  }

  /** The shared H.264 stream at `step`, made on first ask. */
  video(step: number): VideoTrack {
    const key = encodingKey({ kind: "video", step });
    this.#ask(key);
    let entry = this.#video.get(key);
    if (!entry) {
      const settings = this.#state?.settings;
      entry = {
        track: new FedVideo({
          requestKeyframe: () => {
            this.#keyframeRequests++;
            this.#o.keyframe(key);
          },
          minKeyframeInterval: settings?.minKeyframeInterval ?? 0.25,
          durationUs: Math.round(1e6 / (settings?.fps ?? 30)),
          clock: this.#o.clock,
          wake: this.#o.wake,
        }),
        lastIndex: -1,
        host: "",
      };
      this.#video.set(key, entry);
    }
    return entry.track;
  }

  /** IDRs asked of the host. */
  keyframeRequests(): number {
    return this.#keyframeRequests;
  }

  /** Whether a unit came. */
  live(): boolean {
    return [...this.#video.values()].some((v) => v.track.last !== null);
  }

  /** The host's H.264 codec string, once its state came. */
  codec(): string | null {
    return this.#state?.offer.h264Codec ?? null;
  }

  /** Stop timers; negotiations waiting for the host go on with the defaults. */
  close(): void {
    this.#closed = true;
    for (const v of this.#video.values()) v.track.close();
    for (const w of this.#stateWaiters.splice(0)) w();
  }

  #version(hostVersion: number): number {
    const v = this.#base + hostVersion;
    if (v > this.#max) this.#max = v;
    return v;
  }

  #ask(key: string): void {
    const fresh = !this.#asked.has(key);
    this.#asked.set(key, this.#o.clock.now());
    if (fresh) this.#o.wanted(key);
  }
}
