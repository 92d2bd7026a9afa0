/**
 * Private field checks shared by the parsers of client messages and input
 * events. Each check returns the value or an error string.
 *
 * @module
 */

/** Whether `v` is a plain JSON object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether `v` is a finite number. */
export function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** A number field within `[min, max]`, or an error string. */
export function numberField(
  o: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
): number | string {
  const v = o[name];
  if (!isFiniteNumber(v)) return `'${name}' must be a finite number`;
  if (v < min || v > max) return `'${name}' must be in [${min}, ${max}]`;
  return v;
}

/** The size fields a viewport report and a resize event share. */
export interface ViewportFields {
  /** Width in CSS pixels. */
  width: number;
  /** Height in CSS pixels. */
  height: number;
  /** Width in device pixels. */
  pwidth: number;
  /** Height in device pixels. */
  pheight: number;
  /** Device pixel ratio. */
  ratio: number;
}

/** The viewport fields of a `set_viewport` or a `resize`, or an error string. */
export function viewportFields(
  raw: Record<string, unknown>,
): ViewportFields | string {
  const out: Record<string, number> = {};
  for (const name of ["width", "height", "pwidth", "pheight"]) {
    const v = numberField(raw, name, 0, 65536);
    if (typeof v === "string") return v;
    out[name] = v;
  }
  const ratio = raw.ratio ?? 1;
  if (!isFiniteNumber(ratio) || ratio <= 0 || ratio > 100) {
    return "'ratio' must be a number in (0, 100]";
  }
  return {
    width: out.width,
    height: out.height,
    pwidth: out.pwidth,
    pheight: out.pheight,
    ratio,
  };
}
