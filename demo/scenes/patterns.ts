/**
 * Demo scenes that draw into a reused RGBA buffer: a bouncing box over a
 * moving gradient, and a paint canvas driven by the viewer's pointer (an
 * image dropped on it is drawn where it lands).
 *
 * @module
 */

import sharp from "sharp";
import type { DisplayEvent, FileEvent } from "../../mod.ts";

/** A scene: draw frame `t` (seconds) and react to input. */
export interface Scene {
  /** Draw into `rgba` (width*height*4). Returns false when nothing changed. */
  draw(rgba: Uint8Array, t: number): boolean;
  /** Handle one input event. */
  input(ev: DisplayEvent): void;
}

/**
 * A box bouncing over a slowly moving colour gradient; clicks flip its colour.
 *
 * @example
 * ```ts
 * import { bounce } from "./patterns.ts";
 * const scene = bounce(64, 48);
 * scene.draw(new Uint8Array(64 * 48 * 4), 0.5);
 * ```
 */
export function bounce(width: number, height: number): Scene {
  const size = Math.max(8, Math.round(Math.min(width, height) / 6));
  // A triangle wave across two widths, so the scrolling red ramp has no seam.
  const ramp = new Uint8Array(2 * width);
  for (let x = 0; x < ramp.length; x++) {
    ramp[x] = Math.round(255 * (1 - Math.abs(x / width - 1)));
  }
  let hue = 0;
  return {
    draw(rgba, t) {
      const bx = Math.round(
        Math.abs(((t * 180) % (2 * (width - size))) - (width - size)),
      );
      const by = Math.round(
        Math.abs(((t * 130) % (2 * (height - size))) - (height - size)),
      );
      const shift = Math.round(t * 40);
      for (let y = 0; y < height; y++) {
        const g = (y * 255 / height) | 0;
        let i = y * width * 4;
        for (let x = 0; x < width; x++, i += 4) {
          rgba[i] = ramp[(x + shift) % (2 * width)];
          rgba[i + 1] = g;
          rgba[i + 2] = 96;
          rgba[i + 3] = 255;
        }
      }
      const [r, g, b] = hue === 0 ? [255, 255, 255] : [255, 60, 40];
      for (let y = by; y < by + size; y++) {
        for (let x = bx; x < bx + size; x++) {
          const i = (y * width + x) * 4;
          rgba[i] = r;
          rgba[i + 1] = g;
          rgba[i + 2] = b;
        }
      }
      return true;
    },
    input(ev) {
      if (ev.type === "pointer_down") hue = 1 - hue;
    },
  };
}

/** The most pixels a dropped image may have before it is decoded at all. */
const MAX_DROPPED_PIXELS = 40_000_000;

/**
 * Decode a dropped image to RGBA that fits in `maxW` x `maxH` (never
 * enlarged), turned upright; null when it is not an image sharp reads.
 */
async function decodeDropped(
  file: FileEvent,
  maxW: number,
  maxH: number,
): Promise<{ data: Uint8Array; width: number; height: number } | null> {
  try {
    const { data, info } = await sharp(file.bytes, {
      limitInputPixels: MAX_DROPPED_PIXELS,
    }).rotate().resize({
      width: maxW,
      height: maxH,
      fit: "inside",
      withoutEnlargement: true,
    }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return {
      data: new Uint8Array(data),
      width: info.width,
      height: info.height,
    };
  } catch {
    return null; // not an image (or a broken one): the canvas stays as it is
  }
}

/**
 * A paint canvas: drag to draw, the wheel changes the brush size, `c`
 * clears, and an image dropped on the view is drawn centred where it was
 * dropped (at most half the canvas's size). It draws only when something
 * changed, so the stream rests and the viewer gets a lossless still.
 *
 * @example
 * ```ts
 * import { paint } from "./patterns.ts";
 * const scene = paint(64, 48);
 * scene.input({ type: "pointer_down", x: 5, y: 5, button: 1, buttons: [1], modifiers: [], timestamp: 0, viewer: 1 });
 * ```
 */
export function paint(width: number, height: number): Scene {
  const canvas = new Uint8Array(width * height * 4).fill(255);
  let dirty = true;
  let brush = 6;
  let last: [number, number] | null = null;
  const dot = (cx: number, cy: number) => {
    for (
      let y = Math.max(0, cy - brush);
      y < Math.min(height, cy + brush);
      y++
    ) {
      for (
        let x = Math.max(0, cx - brush);
        x < Math.min(width, cx + brush);
        x++
      ) {
        if ((x - cx) ** 2 + (y - cy) ** 2 > brush * brush) continue;
        const i = (y * width + x) * 4;
        canvas[i] = 20;
        canvas[i + 1] = 40 + ((x * 3) & 127);
        canvas[i + 2] = 160;
      }
    }
  };
  const line = (x0: number, y0: number, x1: number, y1: number) => {
    const n = Math.max(
      1,
      Math.ceil(Math.hypot(x1 - x0, y1 - y0) / (brush / 2)),
    );
    for (let k = 0; k <= n; k++) {
      dot(
        Math.round(x0 + (x1 - x0) * k / n),
        Math.round(y0 + (y1 - y0) * k / n),
      );
    }
    dirty = true;
  };
  return {
    draw(rgba) {
      if (!dirty) return false;
      rgba.set(canvas);
      dirty = false;
      return true;
    },
    input(ev) {
      if (ev.type === "pointer_down" && ev.button === 1) {
        last = [ev.x, ev.y];
        line(ev.x, ev.y, ev.x, ev.y);
      } else if (ev.type === "pointer_move" && last && ev.buttons.includes(1)) {
        line(last[0], last[1], ev.x, ev.y);
        last = [ev.x, ev.y];
      } else if (ev.type === "pointer_up") {
        last = null;
      } else if (ev.type === "wheel") {
        brush = Math.max(1, Math.min(64, brush + (ev.dy > 0 ? -1 : 1)));
      } else if (ev.type === "key_down" && ev.key === "c") {
        canvas.fill(255);
        dirty = true;
      } else if (ev.type === "file" && ev.mime.startsWith("image/")) {
        const at = [ev.x ?? width / 2, ev.y ?? height / 2];
        decodeDropped(ev, width >> 1, height >> 1).then((img) => {
          if (!img) return;
          const x0 = Math.round(at[0] - img.width / 2);
          const y0 = Math.round(at[1] - img.height / 2);
          for (let y = 0; y < img.height; y++) {
            const cy = y0 + y;
            if (cy < 0 || cy >= height) continue;
            for (let x = 0; x < img.width; x++) {
              const cx = x0 + x;
              if (cx < 0 || cx >= width) continue;
              const s = (y * img.width + x) * 4, d = (cy * width + cx) * 4;
              const a = img.data[s + 3] / 255;
              for (let c = 0; c < 3; c++) {
                canvas[d + c] = Math.round(
                  img.data[s + c] * a + canvas[d + c] * (1 - a),
                );
              }
            }
          }
          dirty = true;
        });
      }
    },
  };
}

/** Scenes by name, for the command line. */
export const SCENES: Readonly<Record<string, (w: number, h: number) => Scene>> =
  {
    bounce,
    paint,
  };
