/**
 * A stream's H.264 side: one shared `VideoGroup` per adaptive quality step,
 * the still encoder (clean IDRs of a resting frame, pulled like an image),
 * whether H.264 can be offered at all, and the state of being unavailable
 * (for good when no encoder loads, or at one size that the encoder refused).
 *
 * @module
 */

import { LADDER } from "../session/adaptive.ts";
import type { Clock } from "../clock.ts";
import { type H264Settings, pictureOf } from "../encoders/h264.ts";
import type { VideoEncoder, VideoEncoders } from "../encoders/video_encoder.ts";
import type { FramePool, PooledFrame } from "../frame.ts";
import type { Logger } from "../log.ts";
import { defaultBitrate, type ResolvedDisplayOptions } from "../options.ts";
import { PictureGroup } from "./picture_group.ts";
import { EncodeTotals, type Totals } from "./totals.ts";
import type { VideoChunk } from "./tracks.ts";
import { VideoGroup } from "./video_group.ts";

/** H.264 encoders that can also say whether any of them loads here. */
export type H264Source = VideoEncoders & {
  /** Whether H.264 can be offered; resolves to the reason when not (absent: always). */
  available?(): Promise<{ ok: boolean; reason: string }>;
};

/** How to make a stream's `VideoTracks`. */
export interface VideoTracksOptions {
  /** Who is speaking in log lines, e.g. `display 'default'`. */
  where: string;
  /** The stream's settings (read live: `configure` changes them). */
  options: ResolvedDisplayOptions;
  /** Where encoders come from. */
  encoders: H264Source;
  /** The stream's current size. */
  size: () => { width: number; height: number };
  /** The newest frame. */
  latest: () => PooledFrame | null;
  /** The stream's frame pool. */
  pool: FramePool;
  /** Time source. */
  clock: Clock;
  /** Where faults are reported. */
  log: Logger;
  /** A group made a chunk: push it to the viewers. */
  onChunk: (chunk: VideoChunk, group: VideoGroup) => void;
  /** An encode finished (or a retry is due): look for more work. */
  wake: () => void;
  /** H.264 just became unavailable: move its viewers to images. */
  onLost: () => void;
}

/** Bitrate and frame rate at a quality step (step 0: as configured). */
export function targetAt(
  options: ResolvedDisplayOptions,
  width: number,
  height: number,
  step: number,
): { bitrate: number; fps: number } {
  const { fps } = options;
  const bitrate = options.bitrate ?? defaultBitrate(width, height, fps);
  const s = LADDER[Math.min(step, LADDER.length - 1)];
  return {
    bitrate: Math.round(bitrate * s.bitrate),
    fps: Math.max(1, fps * s.fps),
  };
}

/**
 * The H.264 encodings of one stream.
 *
 * @example
 * ```ts ignore
 * const tracks = new VideoTracks({ where: "display 'default'", options, encoders, size, latest, pool, clock, log, onChunk, wake, onLost });
 * const codec = await tracks.offerCodec(); // "avc1.42C01F", or null when H.264 is off
 * tracks.track(0).request();
 * ```
 */
export class VideoTracks {
  #o: VideoTracksOptions;
  #groups = new Map<number, VideoGroup>(); // by quality step
  #still: { group: PictureGroup; encoder: Promise<VideoEncoder> } | null = null;
  #available: Promise<{ ok: boolean; reason: string }> | null = null;
  /** Why H.264 is off: for good (`size` null) or at one size only. */
  #unavailable: { reason: string; size: string | null } | null = null;
  #matrix: "bt601" | "bt709" = "bt601";
  #closing = new Set<Promise<unknown>>();
  #totals = new EncodeTotals();

  /** Make the H.264 side of a stream; nothing opens until a viewer needs it. */
  constructor(options: VideoTracksOptions) {
    this.#o = options;
  }

  /** Whether a shared encoder runs now. */
  get live(): boolean {
    return this.#groups.size > 0;
  }

  /** Why H.264 is off now (for good, or at this size), or null. */
  unavailable(): string | null {
    const u = this.#unavailable;
    if (!u) return null;
    return u.size === null || u.size === this.#sizeKey() ? u.reason : null;
  }

  /**
   * The codec string to offer viewers, or null when H.264 cannot be had
   * (the reason is logged once, and viewers already on H.264 move to images).
   */
  async offerCodec(): Promise<string | null> {
    if (this.unavailable()) return null;
    this.#available ??= this.#o.encoders.available?.() ??
      Promise.resolve({ ok: true, reason: "" });
    const probe = await this.#available;
    if (!probe.ok) {
      this.#lose(probe.reason, false);
      return null;
    }
    const codec = this.track(0).codec();
    this.#hold(codec);
    try {
      return await codec;
    } catch (err) {
      this.#lose(
        `H.264 encoder could not open: ${(err as Error)?.message ?? err}`,
        true,
      );
      return null;
    }
  }

  /** Bitrate and frame rate at a quality step, at the current size. */
  target(step: number): { bitrate: number; fps: number } {
    const { width, height } = this.#o.size();
    return targetAt(this.#o.options, width, height, step);
  }

  /** The shared stream at a quality step, opened on first use. */
  track(step: number): VideoGroup {
    const existing = this.#groups.get(step);
    if (existing && !existing.closed) return existing;
    const settings = this.#settings(step);
    const group: VideoGroup = new VideoGroup({
      key: `h264:${settings.width}x${settings.height}:q${step}`,
      settings,
      encoders: this.#o.encoders,
      minKeyframeInterval: this.#o.options.minKeyframeInterval,
      paceToFps: LADDER[Math.min(step, LADDER.length - 1)].fps < 1,
      latest: this.#o.latest,
      pool: this.#o.pool,
      clock: this.#o.clock,
      log: this.#o.log,
      onChunk: (chunk) => this.#o.onChunk(chunk, group),
      onIdle: this.#o.wake,
      onBroken: (reason) => this.#lose(reason, true),
    });
    this.#groups.set(step, group);
    return group;
  }

  /** The still encoder: resting frames as clean, high-quality IDRs, once per version. */
  still(): PictureGroup {
    if (this.#still) return this.#still.group;
    const encoders = this.#o.encoders;
    const open = () => {
      const encoder = encoders.open({ ...this.#settings(0), still: true });
      encoder.catch(() => {});
      return encoder;
    };
    let generation = encoders.generation ?? 0;
    // Its own record, so an encode still running after close() finds it.
    const still = { encoder: open() } as {
      group: PictureGroup;
      encoder: Promise<VideoEncoder>;
    };
    still.group = new PictureGroup({
      key: "h264:still",
      mime: "video/h264",
      encode: async (frame) => {
        if (generation !== (encoders.generation ?? 0)) {
          // The encoders switched kind (NVENC → libx264) since this one opened.
          generation = encoders.generation ?? 0;
          const old = still.encoder;
          still.encoder = open();
          old.then((e) => e.close(), () => {});
        }
        const chunk = await (await still.encoder).encode(
          pictureOf(frame),
          true,
        );
        if (!chunk) throw new Error("the still encoder produced nothing");
        return chunk.data;
      },
      latest: this.#o.latest,
      pool: this.#o.pool,
      onDone: this.#o.wake,
      log: this.#o.log,
    });
    this.#still = still;
    return still.group;
  }

  /**
   * Frames now come as RGB (BT.601 after conversion) or as YUV (BT.709).
   * The stream signals its matrix, so a change restarts every encoder.
   */
  setMatrix(matrix: "bt601" | "bt709"): void {
    if (matrix === this.#matrix) return;
    this.#matrix = matrix;
    this.close();
  }

  /** Counters over every group, live and closed. */
  totals(): Totals {
    return this.#totals.with(this.#groups.values());
  }

  /** Close every encoder (after a resize or retune they reopen on demand); resolves once freed. */
  close(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const g of this.#groups.values()) {
      this.#totals.retire(g);
      closing.push(g.close());
    }
    this.#groups.clear();
    if (this.#still) {
      closing.push(this.#still.encoder.then((e) => e.close(), () => {}));
    }
    this.#still = null;
    const done = Promise.all(closing).then(() => {});
    this.#hold(done);
    return done;
  }

  /** Resolves once every encoder closing or probing is done (freeing under them crashes). */
  async settled(): Promise<void> {
    while (this.#closing.size) {
      await Promise.all([...this.#closing].map((p) => p.catch(() => {})));
    }
  }

  #hold(p: Promise<unknown>): void {
    this.#closing.add(p);
    p.finally(() => this.#closing.delete(p)).catch(() => {});
  }

  #sizeKey(): string {
    const { width, height } = this.#o.size();
    return `${width}x${height}`;
  }

  #settings(step: number): H264Settings {
    const { width, height } = this.#o.size();
    const { bitrate, fps } = targetAt(this.#o.options, width, height, step);
    return {
      width,
      height,
      fps,
      bitrate,
      gop: this.#o.options.gop,
      preset: this.#o.options.preset,
      matrix: this.#matrix,
    };
  }

  /**
   * Say why H.264 is off and move its viewers to images. When only this
   * size failed (libx264 refuses odd sizes), H.264 comes back after a
   * resize; when no encoder loads at all, it stays off.
   */
  #lose(reason: string, thisSizeOnly: boolean): void {
    if (this.unavailable()) return;
    const size = this.#sizeKey();
    this.#unavailable = { reason, size: thisSizeOnly ? size : null };
    this.#o.log(
      "warn",
      `${this.#o.where}: H.264 is unavailable${
        thisSizeOnly ? ` at ${size}` : ""
      }, using images: ${reason}`,
    );
    this.#o.onLost();
  }
}
