/**
 * YUV 4:2:0 on the CPU, BT.709 limited range (the matrix the GPU path and
 * the H.264 stream use for YUV input): RGBA → NV12/I420 (the reference the
 * GPU conversion is tested against) and back (for image viewers of frames
 * that were published only as YUV).
 *
 * @module
 */

/** A YUV layout: `"nv12"` (Y, then interleaved UV) or `"i420"` (Y, U, V). */
export type YuvLayout = "nv12" | "i420";

/**
 * The CPU reference for the GPU conversion: RGBA → NV12 or I420, BT.709
 * limited range, chroma averaged over 2x2 blocks.
 *
 * @example
 * ```ts
 * import { rgbaToYuv } from "./yuv.ts";
 * const white = new Uint8Array(8 * 2 * 4).fill(255);
 * console.log(rgbaToYuv(white, 8, 2, "nv12")[0]); // 235
 * ```
 */
export function rgbaToYuv(
  rgba: Uint8Array,
  width: number,
  height: number,
  layout: YuvLayout,
): Uint8Array {
  const out = new Uint8Array(width * height * 3 / 2);
  const q = (v: number) => Math.min(255, Math.max(0, Math.round(v)));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const r = rgba[i] / 255, g = rgba[i + 1] / 255, b = rgba[i + 2] / 255;
      out[y * width + x] = q(16 + 219 * (0.2126 * r + 0.7152 * g + 0.0722 * b));
    }
  }
  const ySize = width * height, cw = width / 2;
  for (let cy = 0; cy < height / 2; cy++) {
    for (let cx = 0; cx < cw; cx++) {
      let cb = 0, cr = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const i = ((cy * 2 + dy) * width + cx * 2 + dx) * 4;
        const r = rgba[i] / 255, g = rgba[i + 1] / 255, b = rgba[i + 2] / 255;
        cb += 128 + 224 * (-0.1146 * r - 0.3854 * g + 0.5 * b);
        cr += 128 + 224 * (0.5 * r - 0.4542 * g - 0.0458 * b);
      }
      if (layout === "nv12") {
        out[ySize + cy * width + cx * 2] = q(cb / 4);
        out[ySize + cy * width + cx * 2 + 1] = q(cr / 4);
      } else {
        out[ySize + cy * cw + cx] = q(cb / 4);
        out[ySize + ySize / 4 + cy * cw + cx] = q(cr / 4);
      }
    }
  }
  return out;
}

/**
 * NV12 or I420 (BT.709 limited range) → RGBA, nearest chroma.
 *
 * @example
 * ```ts
 * import { rgbaToYuv, yuvToRgba } from "./yuv.ts";
 * const white = new Uint8Array(2 * 2 * 4).fill(255);
 * console.log(yuvToRgba(rgbaToYuv(white, 2, 2, "i420"), 2, 2, "i420")[0]); // 255
 * ```
 */
export function yuvToRgba(
  yuv: Uint8Array,
  width: number,
  height: number,
  layout: YuvLayout,
): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  const ySize = width * height, cw = width / 2;
  const clamp = (v: number) => v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  for (let y = 0; y < height; y++) {
    const cy = y >> 1;
    for (let x = 0; x < width; x++) {
      const cx = x >> 1;
      let u: number, v: number;
      if (layout === "nv12") {
        u = yuv[ySize + cy * width + cx * 2];
        v = yuv[ySize + cy * width + cx * 2 + 1];
      } else {
        u = yuv[ySize + cy * cw + cx];
        v = yuv[ySize + ySize / 4 + cy * cw + cx];
      }
      const l = (yuv[y * width + x] - 16) * (255 / 219);
      const pb = (u - 128) * (255 / 224), pr = (v - 128) * (255 / 224);
      const i = (y * width + x) * 4;
      out[i] = clamp(l + 1.5748 * pr);
      out[i + 1] = clamp(l - 0.1873 * pb - 0.4681 * pr);
      out[i + 2] = clamp(l + 1.8556 * pb);
      out[i + 3] = 255;
    }
  }
  return out;
}
