/// <reference lib="dom" />
/**
 * Video decoding with WebCodecs: H.264 Annex B chunks go through a
 * `VideoDecoder` that starts on a keyframe (behind the keyframe gate) and is
 * rebuilt when the codec changes or it fails. Each output frame is drawn and
 * closed at once; chunks that will not come out any more are acknowledged
 * as not shown.
 *
 * @module
 */

import type { EnvelopeHeader } from "../../src/protocol.ts";
import type { KeyframeGate } from "../gate.ts";
import type { DecodeHooks } from "./hooks.ts";

/** A chunk in the decoder: its publish stamp (µs) and arrival time (ms). */
interface InFlight {
  stamp: number | null;
  receivedAt: number;
}

/**
 * Whether WebCodecs decodes constrained-baseline H.264 here.
 *
 * @example
 * ```ts ignore
 * const canVideo = await probeH264();
 * ```
 */
export async function probeH264(): Promise<boolean> {
  if (typeof VideoDecoder === "undefined") return false;
  try {
    const r = await VideoDecoder.isConfigSupported({
      codec: "avc1.42C01F",
      optimizeForLatency: true,
    });
    return r.supported === true;
  } catch {
    return false;
  }
}

/**
 * The video path: one `VideoDecoder` at a time, and the chunks it holds.
 *
 * @example
 * ```ts ignore
 * const video = new VideoDecode(hooks, gate);
 * video.enabled = await probeH264();
 * video.decode(header, payload, seq, performance.now(), config?.codec);
 * ```
 */
export class VideoDecode {
  #hooks: DecodeHooks;
  #gate: KeyframeGate;
  #decoder: VideoDecoder | null = null;
  #codec = "";
  /** Chunks in the decoder by seq, in decode order. */
  #inDecoder = new Map<number, InFlight>();
  /** Whether this browser decodes H.264 with WebCodecs. */
  enabled = false;

  /**
   * @param hooks where pictures, acknowledgements and failures go
   * @param gate lets the decoder start only on a keyframe
   */
  constructor(hooks: DecodeHooks, gate: KeyframeGate) {
    this.#hooks = hooks;
    this.#gate = gate;
  }

  /** Chunks in the decoder. */
  get queued(): number {
    return this.#inDecoder.size;
  }

  /**
   * Decode one `video_chunk`; `codec` is used when the header names none.
   */
  decode(
    header: EnvelopeHeader,
    payload: Uint8Array,
    seq: number,
    receivedMs: number,
    codec?: string,
  ): void {
    const hooks = this.#hooks, gate = this.#gate;
    const keyframe = header.keyframe === true;
    const want = typeof header.codec === "string" && header.codec.trim()
      ? header.codec.trim()
      : (codec ?? "");
    if (!this.enabled || !want) {
      hooks.ack(seq, false);
      hooks.dropped(1);
      return;
    }
    if (!gate.admit(keyframe, performance.now())) {
      hooks.ack(seq, false); // waiting for an IDR: this delta cannot be decoded
      return;
    }
    if (
      !this.#decoder || this.#decoder.state === "closed" || want !== this.#codec
    ) {
      if (!keyframe) { // a new decoder must start on an IDR
        gate.reset();
        gate.admit(false, performance.now());
        hooks.ack(seq, false);
        return;
      }
      this.#open(want);
    }
    this.#inDecoder.set(seq, {
      stamp: typeof header.timestamp_us === "number"
        ? header.timestamp_us
        : null,
      receivedAt: receivedMs,
    });
    try {
      this.#decoder!.decode(
        new EncodedVideoChunk({
          type: keyframe ? "key" : "delta",
          timestamp: seq, // carried to the output, so frames map back to their seq
          duration: typeof header.duration_us === "number"
            ? header.duration_us
            : undefined,
          data: payload as Uint8Array<ArrayBuffer>,
        }),
      );
    } catch {
      this.#failed("decode threw");
    }
  }

  /** Drop the decoder and what it holds (acknowledged as not shown). */
  close(): void {
    if (this.#decoder && this.#decoder.state !== "closed") {
      this.#decoder.close();
    }
    this.#decoder = null;
    this.#codec = "";
    for (const s of this.#inDecoder.keys()) this.#hooks.ack(s, false);
    this.#hooks.dropped(this.#inDecoder.size);
    this.#inDecoder.clear();
  }

  #open(codec: string): void {
    this.close();
    this.#codec = codec;
    this.#decoder = new VideoDecoder({
      output: (frame) => this.#output(frame),
      error: () => this.#failed("decoder error"),
    });
    try {
      this.#decoder.configure({
        codec,
        optimizeForLatency: true,
        hardwareAcceleration: "no-preference",
      });
    } catch {
      this.#failed("the decoder refused the codec");
    }
  }

  #output(frame: VideoFrame): void {
    const hooks = this.#hooks;
    const decodedMs = performance.now();
    const seq = frame.timestamp;
    const timing = this.#inDecoder.get(seq);
    // Anything older than this output will not come out any more.
    for (const s of this.#inDecoder.keys()) {
      if (s > seq) break;
      this.#inDecoder.delete(s);
      if (s < seq) {
        hooks.dropped(1);
        hooks.ack(s, false);
      }
    }
    hooks.draw(frame, frame.displayWidth, frame.displayHeight);
    frame.close(); // at once, or the decoder stalls
    hooks.displayed(
      seq,
      timing?.stamp ?? null,
      timing?.receivedAt ?? decodedMs,
      decodedMs,
    );
    hooks.ack(seq, true);
  }

  #failed(reason: string): void {
    this.close();
    this.#hooks.failed(reason);
  }
}
