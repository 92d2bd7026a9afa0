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
 * import { rgbaToYuv } from "@rfb/core";
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
  const ySize = width * height, cw = width / 2;
  // Coefficients on 0-255 values (the formulas scaled by 1/255). Luma stays
  // within 16-235 and needs no clamp; `(v + 0.5) | 0` rounds as Math.round
  // does for positive values.
  const kr = 219 * 0.2126 / 255, kg = 219 * 0.7152 / 255;
  const kb = 219 * 0.0722 / 255;
  const ur = 224 * -0.1146 / 255 / 4, ug = 224 * -0.3854 / 255 / 4;
  const ub = 224 * 0.5 / 255 / 4;
  const vr = 224 * 0.5 / 255 / 4, vg = 224 * -0.4542 / 255 / 4;
  const vb = 224 * -0.0458 / 255 / 4;
  const nv12 = layout === "nv12";
  const uBase = ySize, vBase = ySize + ySize / 4;
  // One 2x2 block per step: four luma samples and their averaged chroma.
  for (let cy = 0; cy < height >> 1; cy++) {
    const p0 = cy * 2 * width, p1 = p0 + width;
    const c0 = nv12 ? ySize + cy * width : uBase + cy * cw;
    const c1 = nv12 ? c0 + 1 : vBase + cy * cw;
    const step = nv12 ? 2 : 1;
    for (let x = 0, c = 0; x < width; x += 2, c += step) {
      let i = (p0 + x) * 4;
      let r = rgba[i], g = rgba[i + 1], b = rgba[i + 2];
      out[p0 + x] = (16.5 + kr * r + kg * g + kb * b) | 0;
      let sr = r, sg = g, sb = b;
      r = rgba[i + 4], g = rgba[i + 5], b = rgba[i + 6];
      out[p0 + x + 1] = (16.5 + kr * r + kg * g + kb * b) | 0;
      sr += r, sg += g, sb += b;
      i = (p1 + x) * 4;
      r = rgba[i], g = rgba[i + 1], b = rgba[i + 2];
      out[p1 + x] = (16.5 + kr * r + kg * g + kb * b) | 0;
      sr += r, sg += g, sb += b;
      r = rgba[i + 4], g = rgba[i + 5], b = rgba[i + 6];
      out[p1 + x + 1] = (16.5 + kr * r + kg * g + kb * b) | 0;
      sr += r, sg += g, sb += b;
      // Chroma stays within 16-240 too.
      out[c0 + c] = (128.5 + ur * sr + ug * sg + ub * sb) | 0;
      out[c1 + c] = (128.5 + vr * sr + vg * sg + vb * sb) | 0;
    }
  }
  return out;
}

/**
 * NV12 or I420 (BT.709 limited range) → RGBA, nearest chroma.
 *
 * @example
 * ```ts
 * import { rgbaToYuv, yuvToRgba } from "@rfb/core";
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
