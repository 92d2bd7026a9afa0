/**
 * Delivery to one viewer: the `max_inflight` window and its acks, the
 * `inflight_timeout`, the socket's buffer limit, and the two delivery
 * models. Images are pulled: with room in the window the viewer takes the
 * newest picture its encoding has, or asks for one. Video is pushed: the hub
 * offers each access unit of the shared stream, and the viewer takes it
 * when it is the next in order or an IDR (the keyframe gate), or else waits
 * and asks for an IDR. Once the scene rests, a lossless still goes out (PNG
 * or WebP for images, a clean IDR for video). Flow control counts frames
 * (the window) and bytes: a new frame waits while what is in flight would
 * take too long to drain at the link's measured rate (`LinkMeter`), so a
 * slow link never builds a standing queue. Adaptive quality moves the
 * viewer between steps of its ladder.
 *
 * @module
 */

import { AdaptiveController } from "./adaptive.ts";
import { BufferWatch, LinkMeter } from "./link.ts";
import { Pacer, StepPlan, type StepTargets, stillFormat } from "./steps.ts";
import type { Clock, TimerHandle } from "../clock.ts";
import { codecFromAnnexB } from "../encoders/annexb.ts";
import type { EncodedPicture, VideoChunk, VideoTrack } from "../hub/tracks.ts";
import {
  CLOSE_INTERNAL,
  CLOSE_POLICY,
  type EnvelopeHeader,
  imageFrameHeader,
  packEnvelope,
  type Selection,
  type SetQualityMessage,
  videoChunkHeader,
} from "../protocol.ts";
import type { SessionMetrics, ViewerStats } from "./metrics.ts";
import type { SessionHub, ViewerSocket } from "./types.ts";

const DRAIN_RECHECK_MS = 50;
/**
 * A picture waits while what is in flight would take longer than this to
 * drain at the link's measured rate: no standing queue builds behind it.
 */
const MAX_QUEUE_MS = 120;
/** The same for H.264 chunks; a chunk that cannot go costs an IDR, so more room. */
const MAX_VIDEO_QUEUE_MS = 300;
/** The inflight timeout waits at most this long for bytes still draining, ms. */
const MAX_DRAIN_WAIT_MS = 10_000;

/** What a `Delivery` is given by its session. */
export interface DeliveryOptions {
  /** Viewer id (for logs). */
  id: number;
  /** The stream's hub. */
  hub: SessionHub;
  /** The viewer's socket. */
  socket: ViewerSocket;
  /** The viewer's counters. */
  metrics: SessionMetrics;
  /** Log a warning about this viewer. */
  warn: (what: string) => void;
  /** Close the viewer (slow, or its socket refused a send). */
  close: (code: number, reason: string) => void;
  /** Tell the viewer its quality step changed. */
  sendQuality: (q: SetQualityMessage) => void;
  /** Whether the session is open (admitted and configured): nothing flows before. */
  isOpen: () => boolean;
}

/**
 * Flow control and delivery for one viewer. The session sets its
 * `selection` after negotiation and feeds it acks; the hub calls `pump()`
 * and `offerChunk()`.
 *
 * @example
 * ```ts ignore
 * const delivery = new Delivery({ id, hub, socket, metrics, warn, close, sendQuality, isOpen });
 * delivery.start(selection, caps, window);
 * delivery.pump();
 * ```
 */
export class Delivery {
  #o: DeliveryOptions;
  #clock: Clock;
  #selection: Selection | null = null;
  #caps = new Set<string>();
  #window: number;
  #seq = 0;
  #inflight = new Map<number, number>(); // seq → sent time (ms)
  #lastSentVersion = 0;
  #highestSent = 0;
  #stillSentVersion = 0;
  #vIndex = -1; // index of the last video chunk sent
  #vSynced = false; // the viewer's decoder can take the track's next delta
  #adaptive: AdaptiveController | null;
  #step = 0;
  #link = new LinkMeter();
  #plan: StepPlan;
  #probeSeq: number | null = null; // the probe picture in flight
  #lastAckAt: number; // the last ack (or the start), for the inflight timeout
  #pacer: Pacer;
  #buffer = new BufferWatch();
  #drainTimer: TimerHandle | null = null;
  #inflightTimer: TimerHandle | null = null;

  /** Make the delivery of a new session; nothing flows before `start`. */
  constructor(options: DeliveryOptions) {
    this.#o = options;
    this.#clock = options.hub.options.clock;
    this.#window = options.hub.options.maxInflight;
    this.#plan = new StepPlan(options.hub);
    this.#pacer = new Pacer(this.#clock, () => options.hub.wake());
    this.#adaptive = options.hub.options.adaptive ? this.#controller() : null;
    this.#lastAckAt = this.#clock.now();
  }

  /** The negotiated selection, or null before (or while re-) negotiating. */
  get selection(): Selection | null {
    return this.#selection;
  }

  /** The window in force (the viewer may narrow the server's). */
  get window(): number {
    return this.#window;
  }

  /** Stop sending until the next `start` (renegotiation). */
  pause(): void {
    this.#selection = null;
  }

  /** Frames may flow under this selection; `maxInflight` is the viewer's wish, if any. */
  start(
    selection: Selection,
    caps: readonly string[],
    maxInflight: number | undefined,
  ): void {
    this.#selection = selection;
    this.#caps = new Set(caps);
    this.#window = Math.min(
      maxInflight ?? Infinity,
      this.#o.hub.options.maxInflight,
    );
    if (this.#plan.choose(selection.transport, caps)) {
      this.#step = 0;
      this.#adaptive?.reset(this.#plan.length, this.#plan.images);
    }
  }

  /** The display was retuned: adaptation may have been turned on or off. */
  retuned(): void {
    this.#adaptive = this.#o.hub.options.adaptive
      ? (this.#adaptive ?? this.#controller())
      : null;
    if (!this.#adaptive) this.#step = 0;
    this.#plan.forget(); // the quality may have changed
  }

  /**
   * Forget what the viewer has shown: the next frame is a full picture of
   * the newest frame, and the still is due again once the scene rests.
   */
  startOver(clearWindow: boolean): void {
    if (clearWindow) {
      this.#inflight.clear();
      this.#link.clear();
      this.#probeSeq = null;
      this.#armInflightTimer();
    }
    this.#lastSentVersion = 0;
    this.#stillSentVersion = 0;
    this.#vSynced = false;
  }

  /** Stop every timer and forget the window (the session ended). */
  stop(): void {
    this.#selection = null;
    this.#inflight.clear();
    this.#link.clear();
    for (const t of [this.#drainTimer, this.#inflightTimer]) {
      if (t !== null) this.#clock.clearTimeout(t);
    }
    this.#drainTimer = this.#inflightTimer = null;
    this.#pacer.stop();
  }

  /**
   * The viewer acknowledged `seq` (and everything before it), having held
   * it `heldMs` between its arrival and the ack (0 when it does not say).
   */
  ack(seq: number, decodeQueue: number, heldMs = 0): void {
    const sentAt = this.#inflight.get(seq);
    if (sentAt === undefined) return; // unknown, late or repeated: ignore
    const now = this.#clock.now();
    // Acks are cumulative: anything older than `seq` is settled too.
    for (const s of this.#inflight.keys()) {
      if (s > seq) break;
      this.#inflight.delete(s);
    }
    this.#link.acked(seq, now, heldMs);
    this.#lastAckAt = now;
    const probe = this.#adaptive?.probeStep ?? null;
    if (this.#probeSeq !== null && seq >= this.#probeSeq && probe !== null) {
      const need = this.#plan.need(probe, this.#step);
      const up = this.#adaptive!.probed(now, this.#link.lastRateBps(), need);
      if (up !== null) this.#setStep(up);
    }
    if (this.#probeSeq !== null && seq >= this.#probeSeq) this.#probeSeq = null;
    const rtt = now - sentAt;
    this.#o.metrics.acked(rtt, decodeQueue);
    const step = this.#adaptive?.observe(now, {
      rttMs: rtt,
      decodeQueue,
      rateBps: this.#link.rateBps(now),
      need: (i) => this.#plan.need(i, this.#step),
    }) ?? null;
    if (step !== null) this.#setStep(step);
    this.#armInflightTimer();
    this.#o.hub.wake();
  }

  /**
   * Send what this viewer is due, as far as its window allows: the newest
   * encoded picture it has not seen (asking its encoding for the newest
   * frame when none is ready), else the still once the scene rests.
   */
  pump(): void {
    const sel = this.#selection;
    if (!sel) return;
    if (sel.transport === "webcodecs") {
      this.#pumpVideo(sel.codec);
      return;
    }
    const hub = this.#o.hub;
    const { stillAfter } = hub.options;
    // A climb waits for one picture of the step above to cross the link.
    const probe = this.#probeSeq === null
      ? this.#adaptive?.probeStep ?? null
      : null;
    const { quality, scale } = probe === null
      ? this.#imageTarget()
      : this.#plan.image(probe);
    while (this.#canSend()) {
      const newest = hub.newest();
      if (!newest) return;
      if (newest > this.#lastSentVersion) {
        if (!this.#paced()) return;
        const track = hub.pictures(sel.format, quality, false, scale);
        if (!track) return;
        const ready = track.current;
        // Send the track's last picture when it is the newest frame, or when
        // it is older but still newer than anything this viewer has seen
        // (the newest is then encoded next). After a reset, a picture the
        // viewer already had is not sent again ahead of the newest one.
        if (
          ready && ready.version > this.#lastSentVersion &&
          (ready.version === newest || ready.version > this.#highestSent)
        ) {
          if (!this.#link.roomFor(ready.bytes.length, MAX_QUEUE_MS)) return;
          if (!this.#sendPicture(ready)) return;
          this.#pacer.sent();
          this.#plan.noteBytes(probe ?? this.#step, ready.bytes.length);
          if (probe === null) continue;
          this.#probeSeq = this.#seq;
          return;
        }
        track.request();
        return;
      }
      if (
        stillAfter === false || this.#stillSentVersion >= newest ||
        !hub.settled()
      ) {
        return;
      }
      const lossless = stillFormat(sel.format, this.#caps);
      const still = lossless === null
        ? null
        : hub.pictures(lossless, 100, true);
      if (still === null) { // already lossless, or no lossless format
        this.#stillSentVersion = newest;
        return;
      }
      if (still.current?.version === newest) {
        if (!this.#link.roomFor(still.current.bytes.length, MAX_QUEUE_MS)) {
          return;
        }
        this.#stillSentVersion = newest;
        if (!this.#sendPicture(still.current)) return;
        continue;
      }
      still.request();
      return;
    }
  }

  /**
   * Video: ask the shared stream for the newest frame (an IDR if this
   * viewer needs one), or, once the scene rests, send the clean still IDR.
   * Chunks arrive through `offerChunk`.
   */
  #pumpVideo(codec: string): void {
    const hub = this.#o.hub;
    const newest = hub.newest();
    if (!newest || !this.#canSend()) return;
    const track = hub.video(this.#step);
    if (!this.#vSynced && newest > this.#lastSentVersion) {
      track.requestKeyframe();
    }
    if (track.behind()) {
      track.request();
      return;
    }
    const { stillAfter } = hub.options;
    if (
      stillAfter === false || !hub.settled() || !this.#vSynced ||
      this.#stillSentVersion >= newest ||
      this.#lastSentVersion !== newest
    ) {
      return;
    }
    const still = hub.pictures("h264", 100, true);
    if (!still) return;
    if (still.current?.version !== newest) {
      still.request();
      return;
    }
    this.#stillSentVersion = newest;
    const f = still.current;
    const sent = this.#transmit(
      videoChunkHeader({
        seq: this.#seq + 1,
        timestampUs: f.timestampUs,
        width: f.width,
        height: f.height,
        codec: codecFromAnnexB(f.bytes) ?? codec,
        keyframe: true,
        pixelRatio: f.pixelRatio,
      }),
      f.bytes,
      f.version,
      f.encodeMs,
    );
    // The decoder now holds the still, not the track's last picture: the
    // next delta needs an IDR first (asked for when a new frame comes).
    if (sent) this.#vSynced = false;
  }

  /**
   * A new chunk of a shared H.264 stream. Sent if this viewer can take it:
   * it is on that track, the chunk is in order after what it has or an IDR,
   * and its window has room. A viewer that misses a chunk waits for the
   * next IDR.
   */
  offerChunk(chunk: VideoChunk, track: VideoTrack): void {
    const sel = this.#selection;
    if (!this.#o.isOpen() || sel?.transport !== "webcodecs") return;
    const hub = this.#o.hub;
    if (track !== hub.video(this.#step)) return; // another quality step's stream
    const { width, height } = hub.size();
    if (chunk.width !== width || chunk.height !== height) return;
    // An IDR made again of a resting frame this viewer already shows as a
    // clean still would only make its picture worse.
    if (
      !this.#vSynced && chunk.version === this.#stillSentVersion &&
      chunk.version === this.#lastSentVersion
    ) return;
    const inOrder = this.#vSynced && chunk.index === this.#vIndex + 1;
    if (!chunk.keyframe && !inOrder) {
      this.#vSynced = false;
      return;
    }
    if (
      !this.#canSend() ||
      !this.#link.roomFor(chunk.data.length, MAX_VIDEO_QUEUE_MS)
    ) {
      if (this.#vSynced) this.#o.metrics.dropped();
      this.#vSynced = false;
      return;
    }
    const sent = this.#transmit(
      videoChunkHeader({
        seq: this.#seq + 1,
        timestampUs: chunk.timestampUs,
        width: chunk.width,
        height: chunk.height,
        codec: chunk.codec,
        keyframe: chunk.keyframe,
        durationUs: chunk.durationUs,
        pixelRatio: chunk.pixelRatio,
      }),
      chunk.data,
      chunk.version,
      chunk.encodeMs,
    );
    if (!sent) return;
    this.#vIndex = chunk.index;
    this.#vSynced = true;
  }

  /** Unacknowledged frames now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** The adaptive step and its targets, and the link's figures, as `ViewerStats` reports them. */
  targets(): StepTargets & Pick<ViewerStats, "linkBps" | "inflightBytes"> {
    return {
      linkBps: this.#link.rateBps(this.#clock.now()),
      inflightBytes: this.#link.inflightBytes,
      ...this.#plan.targets(
        this.#adaptive ? this.#step : null,
        this.#selection?.transport ?? null,
      ),
    };
  }

  /**
   * Arm the inflight timeout for the oldest frame in flight. When it fires
   * while the socket is still draining (bytes unsent, or more in flight
   * than the link's rate could have carried since the last ack), it looks
   * again later: frames on their way are not lost, and clearing the window
   * would only queue more behind them.
   */
  #armInflightTimer(): void {
    if (this.#inflightTimer !== null) {
      this.#clock.clearTimeout(this.#inflightTimer);
      this.#inflightTimer = null;
    }
    const oldest = this.#inflight.values().next();
    if (oldest.done) return;
    const { inflightTimeout, logger } = this.#o.hub.options;
    const due = Math.max(oldest.value, this.#lastAckAt) +
      inflightTimeout * 1000 +
      Math.min(MAX_DRAIN_WAIT_MS, this.#link.drainMs()) -
      this.#clock.now();
    this.#inflightTimer = this.#clock.setTimeout(() => {
      this.#inflightTimer = null;
      if (!this.#o.isOpen() || this.#inflight.size === 0) return;
      const now = this.#clock.now();
      if (this.#o.socket.bufferedAmount > 0) {
        // Still draining: look again (a viewer that stopped reading is
        // closed once over the buffer limit for long; a dead one by pings).
        this.#overLimit(now);
        if (this.#o.isOpen()) this.#armInflightTimer();
        return;
      }
      logger(
        "info",
        `viewer ${this.#o.id}: no ack for ${inflightTimeout}s, clearing its window`,
      );
      const step = this.#adaptive?.stalled(this.#clock.now()) ?? null;
      if (step !== null) this.#setStep(step);
      this.startOver(true);
      this.#o.hub.wake();
    }, Math.max(DRAIN_RECHECK_MS, due));
  }

  /**
   * Whether the window and the socket's buffer have room for a frame. When
   * only the buffer is full, look again shortly: nothing else would wake
   * this viewer once the socket drains.
   */
  #canSend(): boolean {
    const socket = this.#o.socket;
    // A probe (images): one at a time, the link's rate is still a guess.
    const probe = this.#plan.images &&
      this.#adaptive?.probing(this.#clock.now());
    const window = probe ? 1 : this.#window;
    if (
      !this.#o.isOpen() || socket.readyState !== 1 ||
      this.#inflight.size >= window
    ) {
      return false;
    }
    if (!this.#overLimit(this.#clock.now())) return true;
    if (!this.#o.isOpen()) return false; // closed for being too slow
    if (this.#drainTimer === null) {
      this.#drainTimer = this.#clock.setTimeout(() => {
        this.#drainTimer = null;
        this.#o.hub.wake();
      }, DRAIN_RECHECK_MS);
    }
    return false;
  }

  /**
   * Whether the socket holds more than `maxBufferedBytes` unsent (frames are
   * then skipped: memory stays bounded). A viewer that stays over it for
   * `slowViewerTimeout` stopped reading: it is closed.
   */
  #overLimit(now: number): boolean {
    const { maxBufferedBytes: max, slowViewerTimeout: t } = this.#o.hub.options;
    const state = this.#buffer.check(
      now,
      this.#o.socket.bufferedAmount,
      max,
      t,
    );
    if (state === "stuck") {
      this.#o.warn(`closed: its socket held over ${max} bytes for ${t}s`);
      this.#o.close(CLOSE_POLICY, "viewer too slow");
    }
    return state !== "ok";
  }

  /** Send one picture; false (and the viewer closed) when the socket refused it. */
  #sendPicture(f: EncodedPicture): boolean {
    if (this.#highestSent > 0 && f.version > this.#highestSent + 1) {
      this.#o.metrics.dropped(f.version - this.#highestSent - 1);
    }
    return this.#transmit(
      imageFrameHeader({
        seq: this.#seq + 1,
        timestampUs: f.timestampUs,
        width: f.width,
        height: f.height,
        mime: f.mime,
        pixelRatio: f.pixelRatio,
      }),
      f.bytes,
      f.version,
      f.encodeMs,
    );
  }

  /** Send one envelope (its `seq` must be the next); false (viewer closed) if the socket refused. */
  #transmit(
    header: EnvelopeHeader,
    bytes: Uint8Array,
    version: number,
    encodeMs: number,
  ): boolean {
    const seq = ++this.#seq;
    const msg = packEnvelope(header, bytes);
    try {
      this.#o.socket.send(msg);
    } catch (err) {
      this.#o.warn(`send failed: ${(err as Error)?.message ?? err}`);
      this.#o.close(CLOSE_INTERNAL, "send failed");
      return false;
    }
    const first = this.#inflight.size === 0;
    const now = this.#clock.now();
    this.#inflight.set(seq, now);
    this.#link.sent(seq, msg.length, now);
    if (first) {
      this.#lastAckAt = now; // the timeout counts from here
      this.#armInflightTimer();
    }
    this.#lastSentVersion = Math.max(this.#lastSentVersion, version);
    this.#highestSent = Math.max(this.#highestSent, version);
    this.#o.metrics.sent(msg.length, encodeMs);
    return true;
  }

  /** Move to another quality step: a new stream (video) or quality (images), told to the viewer. */
  #setStep(step: number): void {
    if (step === this.#step) return;
    this.#step = step;
    this.#vSynced = false; // another step is another H.264 stream: start at its IDR
    const t = this.targets();
    this.#o.sendQuality({
      bitrate: t.targetBitrate ?? undefined,
      fps: t.targetFps ?? undefined,
      step,
      reduced: step > 0,
      quality: t.targetQuality ?? undefined,
      scale: t.imageScale ?? undefined,
    });
    this.#o.hub.options.logger(
      "info",
      `viewer ${this.#o.id}: quality step ${step} (${
        t.targetBitrate ?? "-"
      } bit/s, ${t.targetFps} fps)`,
    );
    this.#o.hub.wake();
  }

  /** A controller for this viewer's ladder (images send a probe picture before they climb). */
  #controller(): AdaptiveController {
    const probeFirst = this.#plan.images;
    return new AdaptiveController(this.#plan.length, { probeFirst });
  }

  /** JPEG/WebP quality and the scale of a live picture at this viewer's step. */
  #imageTarget(): { quality: number; scale: number } {
    return this.#plan.image(this.#adaptive ? this.#step : null);
  }

  /** Whether a live image may go out now at this step's frame rate; if not, look again later. */
  #paced(): boolean {
    if (!this.#adaptive || !this.#plan.paced(this.#step)) return true;
    return this.#pacer.due(this.#plan.intervalMs(this.#step));
  }
}
