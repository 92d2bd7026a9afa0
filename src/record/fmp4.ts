/**
 * A fragmented MP4 writer for one H.264 track: Annex B access units in,
 * ISO BMFF bytes out (`ftyp` and `moov` first, then a `moof` + `mdat` pair
 * per fragment). Pure and synchronous, with no I/O and no dependency, so
 * the server's recorder and the browser's recorder share it.
 *
 * Fragments are cut by time, not at keyframes (a fragment may start with a
 * delta frame; its samples carry their sync flags), so a file whose writer
 * died keeps everything up to its last whole fragment, whatever the GOP.
 * A sample's duration is the time to the next one, so the last unit added
 * is held until the next arrives (or `end()` gives the end time): sparse
 * scenes keep their timing.
 *
 * Parameter sets: the first keyframe's SPS and PPS go in the `avcC` box;
 * copies of them in later units are dropped, and different ones (a retuned
 * encoder) stay in the samples, where decoders pick them up.
 *
 * @module
 */

/** The MP4 track's time unit: 90 kHz, as video tracks usually have. */
export const TIMESCALE = 90_000;

/** One access unit to add: Annex B bytes, whether it is an IDR, and its time. */
export interface Mp4Unit {
  /** Annex B bytes (start codes kept). */
  data: Uint8Array;
  /** Whether the unit is an IDR. */
  keyframe: boolean;
  /** Presentation time, microseconds from the start of the recording. */
  timeUs: number;
}

/** How to make a `FragmentedMp4`. */
export interface FragmentedMp4Options {
  /** Picture width. */
  width: number;
  /** Picture height. */
  height: number;
  /** Cut a fragment once it holds this many microseconds (default 1 s). */
  fragmentUs?: number;
}

interface Sample {
  data: Uint8Array; // length-prefixed NAL units
  keyframe: boolean;
  ticks: number; // start, in TIMESCALE units
}

/**
 * A fragmented MP4 file being written. Each call returns the bytes to
 * append to the file, in order (empty when nothing is ready yet).
 *
 * @example
 * ```ts
 * import { FragmentedMp4 } from "./fmp4.ts";
 * const mp4 = new FragmentedMp4({ width: 64, height: 64 });
 * // A tiny IDR: SPS, PPS and a slice (the bytes of a real encoder's unit).
 * const idr = new Uint8Array([0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65, 0x88]);
 * const parts = [...mp4.add({ data: idr, keyframe: true, timeUs: 0 }), ...mp4.end(40_000)];
 * console.log(parts.length > 0, mp4.frames); // true 1
 * ```
 */
export class FragmentedMp4 {
  #o: Required<FragmentedMp4Options>;
  #sps: Uint8Array | null = null;
  #pps: Uint8Array | null = null;
  #pending: Sample | null = null;
  #fragment: { sample: Sample; duration: number }[] = [];
  #sequence = 0;
  #lastTicks = -1;
  #ended = false;
  /** Samples written or held. */
  frames = 0;
  /** Keyframes among them. */
  keyframes = 0;
  /** Bytes returned so far. */
  bytes = 0;

  /** Start a file; nothing is written until the first keyframe. */
  constructor(options: FragmentedMp4Options) {
    this.#o = { fragmentUs: 1_000_000, ...options };
  }

  /** Whether the file has begun (a keyframe with SPS and PPS came). */
  get started(): boolean {
    return this.#sps !== null;
  }

  /** The time the next fragment starts at, in microseconds. */
  get writtenUs(): number {
    const first = this.#fragment[0] ?? null;
    const at = first ? first.sample.ticks : this.#pending?.ticks ?? 0;
    return at * 1e6 / TIMESCALE;
  }

  /**
   * Add an access unit. The first must be a keyframe with its SPS and PPS
   * (a `RangeError` otherwise); times must not go back (a later unit at an
   * earlier time is given the time after the last). Returns the bytes now
   * ready: the file's header with the first unit, then a fragment whenever
   * one is full.
   */
  add(unit: Mp4Unit): Uint8Array[] {
    if (this.#ended) throw new Error("the MP4 file has ended");
    const out: Uint8Array[] = [];
    if (!this.#sps) {
      const sets = parameterSets(unit.data);
      if (!unit.keyframe || !sets) {
        throw new RangeError(
          "an MP4 file must start with a keyframe that carries its SPS and PPS",
        );
      }
      this.#sps = sets.sps;
      this.#pps = sets.pps;
      out.push(this.#emit(this.#header()));
    }
    let ticks = Math.round(unit.timeUs * TIMESCALE / 1e6);
    if (ticks <= this.#lastTicks) ticks = this.#lastTicks + 1;
    this.#lastTicks = ticks;
    const sample: Sample = {
      data: this.#avcc(unit.data),
      keyframe: unit.keyframe,
      ticks,
    };
    this.frames++;
    if (unit.keyframe) this.keyframes++;
    const held = this.#pending;
    this.#pending = sample;
    if (held) {
      this.#fragment.push({ sample: held, duration: ticks - held.ticks });
      const start = this.#fragment[0].sample.ticks;
      if ((ticks - start) * 1e6 / TIMESCALE >= this.#o.fragmentUs) {
        out.push(...this.flush());
      }
    }
    return out;
  }

  /** Write out the samples whose durations are known now (not the held last one). */
  flush(): Uint8Array[] {
    if (this.#fragment.length === 0) return [];
    const fragment = this.#fragment;
    this.#fragment = [];
    return [this.#emit(this.#moofMdat(fragment))];
  }

  /**
   * End the file at `endUs` (the last unit lasts until then, at least one
   * tick); returns the last bytes. Further calls return nothing.
   */
  end(endUs: number): Uint8Array[] {
    if (this.#ended) return [];
    this.#ended = true;
    const held = this.#pending;
    this.#pending = null;
    if (held) {
      const endTicks = Math.round(endUs * TIMESCALE / 1e6);
      this.#fragment.push({
        sample: held,
        duration: Math.max(1, endTicks - held.ticks),
      });
    }
    return this.flush();
  }

  #emit(bytes: Uint8Array): Uint8Array {
    this.bytes += bytes.length;
    return bytes;
  }

  /** Annex B → 4-byte length prefixes; AUDs and repeats of the first SPS/PPS dropped. */
  #avcc(annexB: Uint8Array): Uint8Array {
    const nals = splitNals(annexB).filter((n) => {
      const type = n[0] & 0x1f;
      if (type === 9) return false;
      if (type === 7) return !same(n, this.#sps!);
      if (type === 8) return !same(n, this.#pps!);
      return true;
    });
    const out = new Uint8Array(nals.reduce((s, n) => s + 4 + n.length, 0));
    const view = new DataView(out.buffer);
    let o = 0;
    for (const n of nals) {
      view.setUint32(o, n.length);
      out.set(n, o + 4);
      o += 4 + n.length;
    }
    return out;
  }

  #header(): Uint8Array {
    const { width, height } = this.#o;
    const sps = this.#sps!, pps = this.#pps!;
    const avcc = box("avcC", [
      u8(1, sps[1], sps[2], sps[3], 0xff, 0xe1),
      u16(sps.length),
      sps,
      u8(1),
      u16(pps.length),
      pps,
      // High profiles carry 4:2:0, 8-bit in the record too.
      [100, 110, 122, 144].includes(sps[1]) ? u8(0xfd, 0xf8, 0xf8, 0) : EMPTY,
    ]);
    const avc1 = box("avc1", [
      zeros(6),
      u16(1), // data reference index
      zeros(16),
      u16(width),
      u16(height),
      u32(0x00480000, 0x00480000, 0), // 72 dpi, reserved
      u16(1), // frames per sample
      zeros(32), // compressor name
      u16(0x0018),
      u16(0xffff),
      avcc,
    ]);
    const stbl = box("stbl", [
      full("stsd", 0, 0, [u32(1), avc1]),
      full("stts", 0, 0, [u32(0)]),
      full("stsc", 0, 0, [u32(0)]),
      full("stsz", 0, 0, [u32(0, 0)]),
      full("stco", 0, 0, [u32(0)]),
    ]);
    const minf = box("minf", [
      full("vmhd", 0, 1, [zeros(8)]),
      box("dinf", [full("dref", 0, 0, [u32(1), full("url ", 0, 1, [])])]),
      stbl,
    ]);
    const mdia = box("mdia", [
      full("mdhd", 0, 0, [u32(0, 0, TIMESCALE, 0), u16(0x55c4, 0)]), // "und"
      full("hdlr", 0, 0, [
        u32(0),
        ascii("vide"),
        zeros(12),
        ascii("VideoHandler\0"),
      ]),
      minf,
    ]);
    const trak = box("trak", [
      full("tkhd", 0, 3, [
        u32(0, 0, 1, 0, 0), // times, track 1, reserved, duration
        zeros(8),
        u16(0, 0, 0, 0), // layer, group, volume, reserved
        MATRIX,
        u32(width * 65536, height * 65536),
      ]),
      mdia,
    ]);
    const moov = box("moov", [
      full("mvhd", 0, 0, [
        u32(0, 0, 1000, 0, 0x00010000),
        u16(0x0100),
        zeros(10),
        MATRIX,
        zeros(24),
        u32(2), // next track id
      ]),
      trak,
      box("mvex", [full("trex", 0, 0, [u32(1, 1, 0, 0, 0)])]),
    ]);
    const ftyp = box("ftyp", [
      ascii("isom"),
      u32(0x200),
      ascii("isomiso5iso6avc1mp41"),
    ]);
    return concat([ftyp, moov]);
  }

  #moofMdat(samples: { sample: Sample; duration: number }[]): Uint8Array {
    const entries = new Uint8Array(samples.length * 12);
    const view = new DataView(entries.buffer);
    let size = 0;
    samples.forEach(({ sample, duration }, i) => {
      view.setUint32(i * 12, duration);
      view.setUint32(i * 12 + 4, sample.data.length);
      // Sync samples depend on nothing; others on earlier ones.
      view.setUint32(i * 12 + 8, sample.keyframe ? 0x02000000 : 0x01010000);
      size += sample.data.length;
    });
    const build = (dataOffset: number) =>
      box("moof", [
        full("mfhd", 0, 0, [u32(this.#sequence + 1)]),
        box("traf", [
          full("tfhd", 0, 0x020000, [u32(1)]), // default-base-is-moof
          full("tfdt", 1, 0, [u64(samples[0].sample.ticks)]),
          // data offset, then each sample's duration, size and flags
          full("trun", 0, 0x000701, [u32(samples.length, dataOffset), entries]),
        ]),
      ]);
    const moofSize = build(0).length;
    this.#sequence++;
    const mdat = new Uint8Array(8 + size);
    new DataView(mdat.buffer).setUint32(0, mdat.length);
    mdat.set(ascii("mdat"), 4);
    let o = 8;
    for (const { sample } of samples) {
      mdat.set(sample.data, o);
      o += sample.data.length;
    }
    return concat([build(moofSize + 8), mdat]);
  }
}

/**
 * The NAL units of an Annex B buffer, without their start codes (trailing
 * zero bytes before the next start code dropped).
 *
 * @example
 * ```ts
 * import { splitNals } from "./fmp4.ts";
 * console.log(splitNals(new Uint8Array([0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68])).length); // 2
 * ```
 */
export function splitNals(data: Uint8Array): Uint8Array[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0) {
      if (data[i + 2] === 1) {
        starts.push(i + 3);
        i += 2;
      } else if (data[i + 2] !== 0) i += 2;
    }
  }
  return starts.map((s, k) => {
    let end = k + 1 < starts.length ? starts[k + 1] - 3 : data.length;
    while (end > s && data[end - 1] === 0) end--;
    return data.subarray(s, end);
  });
}

/**
 * The first SPS and PPS of an Annex B unit, or null when it lacks either.
 *
 * @example
 * ```ts
 * import { parameterSets } from "./fmp4.ts";
 * const unit = new Uint8Array([0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88]);
 * console.log(parameterSets(unit)?.sps.length); // 2
 * ```
 */
export function parameterSets(
  data: Uint8Array,
): { sps: Uint8Array; pps: Uint8Array } | null {
  let sps: Uint8Array | null = null, pps: Uint8Array | null = null;
  for (const n of splitNals(data)) {
    const type = n[0] & 0x1f;
    if (type === 7 && !sps && n.length >= 4) sps = n.slice();
    if (type === 8 && !pps) pps = n.slice();
  }
  return sps && pps ? { sps, pps } : null;
}

const EMPTY = new Uint8Array(0);
const MATRIX = new Uint8Array([
  ...[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  ...[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
  ...[0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0],
]);

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function u8(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function u16(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint16(i * 2, v));
  return out;
}

function u32(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, v >>> 0));
  return out;
}

function u64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(Math.round(value)));
  return out;
}

function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function box(type: string, parts: Uint8Array[]): Uint8Array {
  const body = concat(parts);
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setUint32(0, out.length);
  out.set(ascii(type), 4);
  out.set(body, 8);
  return out;
}

function full(
  type: string,
  version: number,
  flags: number,
  parts: Uint8Array[],
): Uint8Array {
  return box(type, [
    u32(((version & 0xff) << 24) | (flags & 0xffffff)),
    ...parts,
  ]);
}
