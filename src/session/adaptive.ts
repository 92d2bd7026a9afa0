/**
 * Adaptive quality, per viewer (on by default; `adaptive: false` turns it
 * off). Two ladders, best first: H.264 steps its bitrate, then its frame
 * rate (`LADDER`); images step their quality, then frame rate, then
 * resolution (`IMAGE_LADDER`; scaled on the server, drawn full size by a
 * client that says it can). A controller picks the step from the link's
 * measured delivery rate (see `LinkMeter`) and what each step needs: it
 * moves down at once to the best step that fits when the link cannot carry
 * the current one (or the round trip and the viewer's decode queue say it is
 * falling behind), and back up after a healthy stretch, to a step that needs
 * at most `PROBE_GAIN` times what the current one does: a link that passes
 * small bursts at line rate (a token bucket) looks fast to small frames, so
 * it is probed a step at a time rather than trusted. A step that just failed
 * is not tried again for a while (longer each time it fails again), so a
 * link on the edge of two steps does not swing between them. Viewers on the same step share an encoding, so
 * encode-once still holds within a step.
 *
 * @module
 */

/** One H.264 step, as fractions of the display's bitrate and frame rate. */
export interface QualityStep {
  /** Fraction of the configured bitrate. */
  bitrate: number;
  /** Fraction of the configured frame rate. */
  fps: number;
}

/** H.264: bitrate first, then frame rate. Step 0 is full quality. */
export const LADDER: readonly QualityStep[] = [
  { bitrate: 1, fps: 1 },
  { bitrate: 0.6, fps: 1 },
  { bitrate: 0.35, fps: 1 },
  { bitrate: 0.25, fps: 1 },
  { bitrate: 0.18, fps: 0.5 },
  { bitrate: 0.12, fps: 1 / 3 },
];

/** One image step: fractions of the display's quality and frame rate, and a scale. */
export interface ImageStep {
  /** Fraction of the configured JPEG/WebP quality. */
  quality: number;
  /** Fraction of the source's frame rate. */
  fps: number;
  /** Fraction of the width and height the picture is encoded at (1 = full size). */
  scale: number;
}

/**
 * Images: quality first, then frame rate, then resolution, for viewers that
 * draw a smaller picture full size (they say so with `CAP_IMAGE_SCALE`).
 */
export const IMAGE_LADDER: readonly ImageStep[] = [
  { quality: 1, fps: 1, scale: 1 },
  { quality: 0.75, fps: 1, scale: 1 },
  { quality: 0.6, fps: 1 / 2, scale: 1 },
  { quality: 0.6, fps: 1 / 2, scale: 0.75 },
  { quality: 0.6, fps: 1 / 2, scale: 0.5 },
  { quality: 0.5, fps: 1 / 2, scale: 0.375 },
  { quality: 0.5, fps: 1 / 2, scale: 0.25 },
  { quality: 0.4, fps: 1 / 2, scale: 0.2 },
];

/** Images for viewers that take only full-size pictures: quality and frame rate. */
export const IMAGE_LADDER_FULL_SIZE: readonly ImageStep[] = [
  { quality: 1, fps: 1, scale: 1 },
  { quality: 0.75, fps: 1, scale: 1 },
  { quality: 0.6, fps: 1 / 2, scale: 1 },
  { quality: 0.45, fps: 1 / 2, scale: 1 },
  { quality: 0.35, fps: 1 / 3, scale: 1 },
  { quality: 0.25, fps: 1 / 4, scale: 1 },
];

/**
 * About how many bytes a JPEG of quality `q` at `scale` takes, relative to
 * one at quality 80, full size (measured on the benchmark's textured
 * scene; used only to guess a step's size before it was ever sent).
 *
 * @example
 * ```ts
 * import { imageCost } from "./adaptive.ts";
 * console.log(imageCost(80, 1)); // 1
 * console.log(imageCost(40, 0.5) < 0.2); // true
 * ```
 */
export function imageCost(q: number, scale: number): number {
  const table: Array<[number, number]> = [
    [0, 0.1],
    [20, 0.18],
    [30, 0.29],
    [40, 0.37],
    [50, 0.46],
    [60, 0.57],
    [70, 0.75],
    [80, 1],
    [90, 1.5],
    [100, 3],
  ];
  let qc = 3;
  for (let i = 1; i < table.length; i++) {
    const [q1, c1] = table[i];
    if (q <= q1) {
      const [q0, c0] = table[i - 1];
      qc = c0 + (c1 - c0) * (q - q0) / (q1 - q0);
      break;
    }
  }
  return qc * (scale * scale + 0.015);
}

/** Tuning for `AdaptiveController`. */
export interface AdaptiveTuning {
  /** Trouble must last this long before a step down, ms. Default 250. */
  downAfterMs?: number;
  /** Health must last this long before a step up, ms. Default 1000. */
  upAfterMs?: number;
  /** A decode queue this long counts as congestion. Default 3. */
  maxDecodeQueue?: number;
  /** A step is chosen only if it needs at most this share of the link. Default 0.7. */
  useShare?: number;
  /** The current step is left when it needs more than this share of the link. Default 0.9. */
  leaveShare?: number;
  /**
   * Climb only after one picture of the step above crossed the link fast
   * enough (`probeStep`, then `probed()`): for images, whose steps are far
   * apart. Default false.
   */
  probeFirst?: boolean;
}

/** What the controller is told at each ack. */
export interface LinkObservation {
  /** Send-to-ack time of the acknowledged frame, ms. */
  rttMs: number;
  /** The viewer's decode queue. */
  decodeQueue: number;
  /** The link's measured delivery rate, bit/s; null while unknown. */
  rateBps: number | null;
  /** What each step needs, bit/s (0 when it cannot be told). */
  need: (step: number) => number;
}

/** A step up needs at most this many times what the current step needs. */
export const PROBE_GAIN = 2.2;

/**
 * How long a failed step is not tried again: first, longest, ms. Short:
 * for images a try is one probe picture, and a link that came back should
 * be climbed within seconds.
 */
const BLOCK_FIRST_MS = 3000;
const BLOCK_MAX_MS = 6000;

/**
 * Decides a viewer's quality step from its acks and its link's rate.
 *
 * @example
 * ```ts
 * import { AdaptiveController } from "./adaptive.ts";
 * const c = new AdaptiveController(5);
 * const need = (step: number) => [8e6, 4e6, 2e6, 1e6, 5e5][step];
 * c.observe(0, { rttMs: 5, decodeQueue: 0, rateBps: 1.2e6, need });
 * console.log(c.observe(300, { rttMs: 5, decodeQueue: 0, rateBps: 1.2e6, need })); // 4
 * ```
 */
export class AdaptiveController {
  /** The current step (0 = full quality). */
  step = 0;
  #steps: number;
  #minRtt = Infinity;
  #badSince: number | null = null;
  #goodSince: number | null = null;
  #lastChange = -Infinity;
  #lastClimb = -Infinity;
  #probe: { to: number; since: number } | null = null;
  #blocked = new Map<number, { until: number; ms: number }>();
  #t: Required<AdaptiveTuning>;

  /**
   * @param steps how many steps the ladder has
   * @param tuning thresholds and delays
   */
  constructor(steps: number, tuning: AdaptiveTuning = {}) {
    this.#steps = steps;
    this.#t = {
      downAfterMs: tuning.downAfterMs ?? 250,
      upAfterMs: tuning.upAfterMs ?? 1000,
      maxDecodeQueue: tuning.maxDecodeQueue ?? 3,
      useShare: tuning.useShare ?? 0.7,
      leaveShare: tuning.leaveShare ?? 0.9,
      probeFirst: tuning.probeFirst ?? false,
    };
  }

  /** The ladder changed (another transport): start again at the top. */
  reset(steps: number, probeFirst = this.#t.probeFirst): void {
    this.#steps = steps;
    this.#t.probeFirst = probeFirst;
    this.#probe = null;
    this.step = 0;
    this.#badSince = this.#goodSince = null;
    this.#blocked.clear();
  }

  /** Feed one ack at `now` (ms); returns the new step when it changes, else null. */
  observe(now: number, o: LinkObservation): number | null {
    this.#minRtt = Math.min(this.#minRtt, o.rttMs);
    const base = this.#minRtt;
    const last = this.#steps - 1;
    // Without a rate, a round trip far over its best says frames queue up.
    // With one, the rate says it better: a bigger picture's round trip is
    // longer by its own transmission, and that is not a queue.
    const known = o.rateBps !== null;
    const slow = o.decodeQueue >= this.#t.maxDecodeQueue ||
      (!known && o.rttMs > base * 2 + 40);
    const calm = o.decodeQueue <= 1 && (known || o.rttMs <= base * 1.5 + 20);
    // The best step the link can carry with room to spare.
    let fits = this.step;
    if (o.rateBps !== null) {
      const rate = o.rateBps;
      fits = last;
      for (let i = 0; i < this.#steps; i++) {
        if (o.need(i) <= rate * this.#t.useShare) {
          fits = i;
          break;
        }
      }
    }
    const overloaded = o.rateBps !== null && this.step < last &&
      o.need(this.step) > o.rateBps * this.#t.leaveShare;
    if (slow || (overloaded && fits > this.step)) {
      this.#goodSince = null;
      this.#badSince ??= now;
      // A step just climbed to is a probe: one bad sign ends it.
      const wait = this.probing(now) && !slow ? 0 : this.#t.downAfterMs;
      if (now - this.#badSince >= wait && this.step < last) {
        const to = Math.max(fits, this.step + 1);
        this.#probe = null;
        this.#fail(this.step, now);
        this.#badSince = null;
        return this.#set(Math.min(last, to), now);
      }
      return null;
    }
    this.#badSince = null;
    if (!calm || fits >= this.step) {
      this.#goodSince = null;
      return null;
    }
    this.#goodSince ??= now;
    if (
      now - this.#goodSince < this.#t.upAfterMs ||
      now - this.#lastChange < this.#t.upAfterMs
    ) {
      return null;
    }
    // Up to a step needing at most PROBE_GAIN times the current one (one
    // step at least), never onto a step that failed lately.
    const cap = o.need(this.step) * PROBE_GAIN;
    let to = this.step;
    for (let i = this.step - 1; i >= fits; i--) {
      if ((this.#blocked.get(i)?.until ?? -Infinity) > now) break;
      if (i < this.step - 1 && !(cap > 0 && o.need(i) <= cap)) break;
      to = i;
    }
    if (to === this.step) return null;
    this.#goodSince = now;
    if (this.#t.probeFirst) {
      // One picture of the step above goes first (see `probed`).
      if (this.#probe && now - this.#probe.since > 3000) this.#probe = null;
      this.#probe ??= { to, since: now };
      return null;
    }
    this.#lastClimb = now;
    return this.#set(to, now);
  }

  /**
   * Whether the step was just climbed to and has not proved itself yet
   * (twice `upAfterMs`): its link rate is a guess until bigger frames
   * have crossed it.
   */
  probing(now: number): boolean {
    return now - this.#lastClimb < this.#t.upAfterMs * 2;
  }

  /** The step a probe picture should be sent at, or null when no climb waits for one. */
  get probeStep(): number | null {
    return this.#probe?.to ?? null;
  }

  /**
   * The probe picture arrived at `rateBps` (its own delivery rate): climb
   * when that carries what the step needs (`need`, bit/s) with room to
   * spare, else keep off that step for a while. Returns the new step, or null.
   */
  probed(now: number, rateBps: number | null, need: number): number | null {
    const probe = this.#probe;
    this.#probe = null;
    if (!probe || probe.to >= this.step) return null;
    this.#goodSince = now; // another healthy stretch before the next try
    if (rateBps === null || rateBps * this.#t.useShare < need) {
      this.#fail(probe.to, now);
      return null;
    }
    this.#lastClimb = now;
    return this.#set(probe.to, now);
  }

  /** A viewer that stopped acking entirely (inflight timeout): step down now. */
  stalled(now: number): number | null {
    if (this.step >= this.#steps - 1) return null;
    this.#goodSince = null;
    this.#fail(this.step, now);
    return this.#set(this.step + 1, now);
  }

  /** `step` could not be held: keep off it for a while, longer when it keeps failing. */
  #fail(step: number, now: number): void {
    const prev = this.#blocked.get(step);
    const ms = prev && now - prev.until < 10_000
      ? Math.min(BLOCK_MAX_MS, prev.ms * 2)
      : BLOCK_FIRST_MS;
    this.#blocked.set(step, { until: now + ms, ms });
  }

  #set(step: number, now: number): number {
    this.step = step;
    this.#lastChange = now;
    return step;
  }
}
