/**
 * Reading H.264 Annex B byte streams: where the NAL units are, their types,
 * and the RFC 6381 codec string from the SPS. Pure functions, no codec.
 *
 * @module
 */

/**
 * The RFC 6381 codec string (`avc1.PPCCLL`) of the first SPS in an Annex B
 * buffer, or null when there is none.
 *
 * @example
 * ```ts
 * import { codecFromAnnexB } from "./annexb.ts";
 * const sps = new Uint8Array([0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda]);
 * console.log(codecFromAnnexB(sps)); // "avc1.42C01F"
 * ```
 */
export function codecFromAnnexB(data: Uint8Array): string | null {
  for (const nal of nalUnits(data)) {
    if ((data[nal] & 0x1f) === 7 && nal + 3 < data.length) {
      const hex = (b: number) => b.toString(16).padStart(2, "0").toUpperCase();
      return `avc1.${hex(data[nal + 1])}${hex(data[nal + 2])}${
        hex(data[nal + 3])
      }`;
    }
  }
  return null;
}

/**
 * Offsets of the NAL unit headers (the byte after each start code) in an
 * Annex B buffer.
 *
 * @example
 * ```ts
 * import { nalUnits } from "./annexb.ts";
 * console.log(nalUnits(new Uint8Array([0, 0, 1, 0x67, 0, 0, 0, 1, 0x68]))); // [3, 8]
 * ```
 */
export function nalUnits(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 2 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      out.push(i + 3);
      i += 2;
    }
  }
  return out;
}

/**
 * The NAL unit types in an Annex B buffer (5 IDR slice, 1 non-IDR slice,
 * 7 SPS, 8 PPS, 6 SEI).
 *
 * @example
 * ```ts
 * import { nalTypes } from "./annexb.ts";
 * console.log(nalTypes(new Uint8Array([0, 0, 1, 0x67, 0, 0, 1, 0x65]))); // [7, 5]
 * ```
 */
export function nalTypes(data: Uint8Array): number[] {
  return nalUnits(data).map((i) => data[i] & 0x1f);
}
