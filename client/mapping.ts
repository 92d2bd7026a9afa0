/**
 * Where the frame sits inside the view, and how a point on the page maps to
 * framebuffer pixels, for each fit mode and device pixel ratio. Pure
 * functions, no DOM.
 *
 * @module
 */

/**
 * How the frame fills the view: `contain` (whole frame, letterboxed),
 * `cover` (fills the view, cropped), `fill` (stretched), `none` (one frame
 * pixel per device pixel, centred).
 */
export type FitMode = "contain" | "cover" | "fill" | "none";

/** The fit modes, for validation. */
export const FIT_MODES: readonly FitMode[] = [
  "contain",
  "cover",
  "fill",
  "none",
];

/** The view's size and the frame's, as the mapping needs them. */
export interface Layout {
  /** View width in CSS pixels. */
  cssWidth: number;
  /** View height in CSS pixels. */
  cssHeight: number;
  /** The page's device pixel ratio. */
  dpr: number;
  /** Frame width in pixels (0 before the first `config`). */
  frameWidth: number;
  /** Frame height in pixels. */
  frameHeight: number;
  /** The fit mode. */
  fit: FitMode;
}

/** A rectangle in CSS pixels, relative to the view's top-left corner. */
export interface Rect {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Width. */
  width: number;
  /** Height. */
  height: number;
}

/**
 * The rectangle the frame is drawn into, in the view's CSS pixels. With
 * `cover` (and `none` on a small view) it can stick out of the view.
 *
 * @example
 * ```ts
 * import { contentRect } from "@rfb/core/client";
 * contentRect({ cssWidth: 400, cssHeight: 400, dpr: 1, frameWidth: 200, frameHeight: 100, fit: "contain" });
 * // { x: 0, y: 100, width: 400, height: 200 }
 * ```
 */
export function contentRect(l: Layout): Rect {
  const { cssWidth: bw, cssHeight: bh, frameWidth: fw, frameHeight: fh } = l;
  if (fw <= 0 || fh <= 0 || bw <= 0 || bh <= 0) {
    return { x: 0, y: 0, width: bw, height: bh };
  }
  let w: number, h: number;
  switch (l.fit) {
    case "fill":
      return { x: 0, y: 0, width: bw, height: bh };
    case "none":
      w = fw / l.dpr;
      h = fh / l.dpr;
      break;
    case "cover": {
      const s = Math.max(bw / fw, bh / fh);
      w = fw * s;
      h = fh * s;
      break;
    }
    default: {
      const s = Math.min(bw / fw, bh / fh);
      w = fw * s;
      h = fh * s;
    }
  }
  return { x: (bw - w) / 2, y: (bh - h) / 2, width: w, height: h };
}

/** A point in framebuffer pixels. */
export interface FramePoint {
  /** X in frame pixels (may fall outside the frame over padding). */
  x: number;
  /** Y in frame pixels. */
  y: number;
  /** Whether the point is on the frame (false over letterbox padding). */
  inside: boolean;
}

/**
 * Map a point in the view's CSS pixels (e.g. `offsetX/offsetY`) to frame
 * pixels. Points over padding map outside `[0, width)` with `inside` false,
 * so drags that leave the picture stay continuous.
 *
 * @example
 * ```ts
 * import { toFramePoint } from "@rfb/core/client";
 * const l = { cssWidth: 400, cssHeight: 400, dpr: 1, frameWidth: 200, frameHeight: 100, fit: "contain" as const };
 * toFramePoint(l, 200, 200); // { x: 100, y: 50, inside: true }
 * toFramePoint(l, 200, 50);  // { x: 100, y: -25, inside: false }
 * ```
 */
export function toFramePoint(
  l: Layout,
  cssX: number,
  cssY: number,
): FramePoint {
  const r = contentRect(l);
  if (
    l.frameWidth <= 0 || l.frameHeight <= 0 || r.width <= 0 || r.height <= 0
  ) {
    return { x: cssX, y: cssY, inside: false };
  }
  const x = (cssX - r.x) * l.frameWidth / r.width;
  const y = (cssY - r.y) * l.frameHeight / r.height;
  const onView = cssX >= 0 && cssY >= 0 && cssX < l.cssWidth &&
    cssY < l.cssHeight;
  const inside = onView && x >= 0 && y >= 0 && x < l.frameWidth &&
    y < l.frameHeight;
  return { x, y, inside };
}

/**
 * The canvas backing-store size for a view: its CSS size times the device
 * pixel ratio, rounded, at least 1x1.
 *
 * @example
 * ```ts
 * import { backingSize } from "./mapping.ts";
 * backingSize(300.5, 200, 2); // { width: 601, height: 400 }
 * ```
 */
export function backingSize(
  cssWidth: number,
  cssHeight: number,
  dpr: number,
): { width: number; height: number } {
  return {
    width: Math.max(1, Math.round(cssWidth * dpr)),
    height: Math.max(1, Math.round(cssHeight * dpr)),
  };
}
