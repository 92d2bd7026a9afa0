/**
 * A small C layout engine for x86_64 Linux: structures and unions laid out
 * by C's rules (each field at its natural alignment, the size padded to the
 * largest alignment) from lists of named fields, so that FFI code can read
 * and write a C structure's fields at the right byte offsets in a buffer.
 * Nested structures list their fields by path (`outer.inner`). Nothing here
 * is specific to one library.
 *
 * @module
 */

/**
 * A C field type on x86_64 Linux: a scalar, a GUID (16 bytes, 4-aligned:
 * `u32 Data1; u16 Data2, Data3; u8 Data4[8]`) or a nested structure or union.
 */
export type CType = "u8" | "u16" | "u32" | "u64" | "ptr" | "guid" | CStruct;

/** One field: name, type, array length (default 1). */
export type CField = readonly [name: string, type: CType, count?: number];

/** A laid-out C structure (or union). */
export interface CStruct {
  /** Total size in bytes (padded to the largest alignment). */
  size: number;
  /**
   * Byte offset of each field; a nested structure's fields are listed too,
   * as `outer.inner` (offsets from the start of this structure).
   */
  offsets: Record<string, number>;
  /** Alignment in bytes (the largest of its fields'). */
  align: number;
}

const SCALAR: Record<Exclude<CType, CStruct>, [size: number, align: number]> = {
  u8: [1, 1],
  u16: [2, 2],
  u32: [4, 4],
  u64: [8, 8],
  ptr: [8, 8],
  guid: [16, 4],
};

function sizeAlign(type: CType): [number, number] {
  return typeof type === "string" ? SCALAR[type] : [type.size, type.align];
}

function nest(
  offsets: Record<string, number>,
  name: string,
  at: number,
  type: CType,
): void {
  offsets[name] = at;
  if (typeof type !== "string") {
    for (const [inner, off] of Object.entries(type.offsets)) {
      offsets[`${name}.${inner}`] = at + off;
    }
  }
}

/**
 * Lay out a C structure: each field at the next multiple of its natural
 * alignment, the size rounded up to the largest alignment. Bitfields are
 * modelled as the `u32` words that hold them.
 *
 * @example
 * ```ts
 * import { layoutStruct } from "./c_layout.ts";
 * layoutStruct([["a", "u32"], ["p", "ptr"]]); // { size: 16, offsets: { a: 0, p: 8 }, align: 8 }
 * ```
 */
export function layoutStruct(fields: readonly CField[]): CStruct {
  let at = 0, align = 1;
  const offsets: Record<string, number> = {};
  for (const [name, type, count = 1] of fields) {
    const [size, a] = sizeAlign(type);
    at = Math.ceil(at / a) * a;
    nest(offsets, name, at, type);
    at += size * count;
    align = Math.max(align, a);
  }
  return { size: Math.ceil(at / align) * align, offsets, align };
}

/**
 * Lay out a C union: every member at offset 0, the size of the largest
 * member rounded up to the largest alignment.
 *
 * @example
 * ```ts
 * import { layoutStruct, layoutUnion } from "./c_layout.ts";
 * const inner = layoutStruct([["p", "ptr"], ["n", "u32"]]);
 * layoutUnion([["s", inner], ["words", "u32", 3]]).size; // 16
 * ```
 */
export function layoutUnion(members: readonly CField[]): CStruct {
  let size = 0, align = 1;
  const offsets: Record<string, number> = {};
  for (const [name, type, count = 1] of members) {
    const [s, a] = sizeAlign(type);
    nest(offsets, name, 0, type);
    size = Math.max(size, s * count);
    align = Math.max(align, a);
  }
  return { size: Math.ceil(size / align) * align, offsets, align };
}
