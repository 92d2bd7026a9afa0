/**
 * A deterministic, natural-looking moving test scene for benchmarks and
 * demos. Flat colours flatter every codec, so the scene mixes what real
 * content has: smooth drifting gradients, a fine film-grain texture that pans
 * like a camera, soft shaded spheres moving on Lissajous paths and a rotating
 * striped bar with sharp edges. The texture comes from a fixed-seed PRNG, so
 * the same `t` always gives the same pixels.
 *
 * @module
 */

const TILE = 256; // texture tile side (a power of two)
const GRAIN = 22; // texture amplitude, +-

let tile: Int8Array | null = null;

/** A small fast PRNG (mulberry32) with a fixed seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let r = Math.imul(s ^ (s >>> 15), 1 | s);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** Value noise on a periodic lattice of `cell` pixels, smoothly interpolated. */
function valueNoise(rand: () => number, cell: number): Float32Array {
  const n = TILE / cell;
  const lattice = Float32Array.from({ length: n * n }, () => rand() * 2 - 1);
  const out = new Float32Array(TILE * TILE);
  for (let y = 0; y < TILE; y++) {
    const gy = y / cell, y0 = Math.floor(gy), fy = gy - y0;
    const sy = fy * fy * (3 - 2 * fy);
    for (let x = 0; x < TILE; x++) {
      const gx = x / cell, x0 = Math.floor(gx), fx = gx - x0;
      const sx = fx * fx * (3 - 2 * fx);
      const a = lattice[(y0 % n) * n + (x0 % n)];
      const b = lattice[(y0 % n) * n + ((x0 + 1) % n)];
      const c = lattice[((y0 + 1) % n) * n + (x0 % n)];
      const d = lattice[((y0 + 1) % n) * n + ((x0 + 1) % n)];
      out[y * TILE + x] = (a + (b - a) * sx) * (1 - sy) +
        (c + (d - c) * sx) * sy;
    }
  }
  return out;
}

/** The periodic grain texture: three octaves of value noise plus white noise. */
function texture(): Int8Array {
  if (tile) return tile;
  const rand = prng(0x5eed);
  const coarse = valueNoise(rand, 32);
  const mid = valueNoise(rand, 8);
  const fine = valueNoise(rand, 2);
  tile = new Int8Array(TILE * TILE);
  for (let i = 0; i < tile.length; i++) {
    const v = 0.4 * coarse[i] + 0.3 * mid[i] + 0.2 * fine[i] +
      0.1 * (rand() * 2 - 1);
    tile[i] = Math.round(Math.max(-1, Math.min(1, v * 1.6)) * GRAIN);
  }
  return tile;
}

const clamp8 = (v: number): number => v < 0 ? 0 : v > 255 ? 255 : v | 0;

/** Blend a colour over pixel `i` with coverage `a` (0-1). */
function blend(
  px: Uint32Array,
  i: number,
  a: number,
  r: number,
  g: number,
  b: number,
): void {
  const p = px[i];
  const pr = p & 255, pg = (p >>> 8) & 255, pb = (p >>> 16) & 255;
  px[i] = 0xff000000 | (clamp8(pb + (b - pb) * a) << 16) |
    (clamp8(pg + (g - pg) * a) << 8) | clamp8(pr + (r - pr) * a);
}

/** A shaded sphere of radius `rad` at (`cx`, `cy`), lit from the top left. */
function sphere(
  px: Uint32Array,
  w: number,
  h: number,
  cx: number,
  cy: number,
  rad: number,
  color: readonly [number, number, number],
  grain: Int8Array,
  ox: number,
  oy: number,
): void {
  const x0 = Math.max(0, Math.floor(cx - rad - 1));
  const x1 = Math.min(w - 1, Math.ceil(cx + rad + 1));
  const y0 = Math.max(0, Math.floor(cy - rad - 1));
  const y1 = Math.min(h - 1, Math.ceil(cy + rad + 1));
  const lx = cx - rad * 0.45, ly = cy - rad * 0.45;
  const inv = 1 / (rad * rad * 2.6);
  for (let y = y0; y <= y1; y++) {
    const dy = y - cy, ldy = y - ly;
    const row = ((y + oy) & (TILE - 1)) * TILE;
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx;
      const cover = rad + 0.5 - Math.sqrt(dx * dx + dy * dy);
      if (cover <= 0) continue;
      const ldx = x - lx;
      const shade = 1.15 - (ldx * ldx + ldy * ldy) * inv;
      const n = grain[row + ((x + ox) & (TILE - 1))] * 0.5;
      blend(
        px,
        y * w + x,
        cover > 1 ? 1 : cover,
        color[0] * shade + n,
        color[1] * shade + n,
        color[2] * shade + n,
      );
    }
  }
}

/** A striped bar of `len` x `thick` pixels at (`cx`, `cy`), rotated by `angle`. */
function bar(
  px: Uint32Array,
  w: number,
  h: number,
  cx: number,
  cy: number,
  len: number,
  thick: number,
  angle: number,
): void {
  const c = Math.cos(angle), s = Math.sin(angle);
  const hl = len / 2, ht = thick / 2;
  const ex = Math.abs(c) * hl + Math.abs(s) * ht + 1;
  const ey = Math.abs(s) * hl + Math.abs(c) * ht + 1;
  const x0 = Math.max(0, Math.floor(cx - ex)), x1 = Math.min(w - 1, cx + ex);
  const y0 = Math.max(0, Math.floor(cy - ey)), y1 = Math.min(h - 1, cy + ey);
  for (let y = y0; y <= y1; y++) {
    const dy = y - cy;
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx;
      const u = dx * c + dy * s, v = -dx * s + dy * c;
      const au = hl + 0.5 - Math.abs(u), av = ht + 0.5 - Math.abs(v);
      if (au <= 0 || av <= 0) continue;
      const stripe = (Math.floor(u / 6) & 1) ? 235 : 40;
      blend(
        px,
        y * w + x,
        (au > 1 ? 1 : au) * (av > 1 ? 1 : av),
        stripe,
        stripe * 0.85 + 20,
        60 + v * 2,
      );
    }
  }
}

const SPHERES: ReadonlyArray<{
  color: readonly [number, number, number];
  size: number;
  fx: number;
  fy: number;
  phase: number;
}> = [
  { color: [220, 80, 60], size: 0.12, fx: 0.31, fy: 0.47, phase: 0 },
  { color: [70, 170, 230], size: 0.09, fx: 0.53, fy: 0.29, phase: 1.7 },
  { color: [240, 200, 70], size: 0.07, fx: 0.71, fy: 0.61, phase: 3.1 },
  { color: [120, 220, 120], size: 0.05, fx: 0.97, fy: 0.83, phase: 4.4 },
];

let scratch: Uint32Array | null = null;
const cols = {
  r: new Float32Array(0),
  g: new Float32Array(0),
  b: new Float32Array(0),
};

/**
 * Render the scene at time `t` (seconds) as RGBA into `buf`
 * (`width * height * 4` bytes, reused between calls). Deterministic: the
 * same size and `t` give the same bytes. About 3-5 ms at 1280x720.
 *
 * @example
 * ```ts
 * import { renderScene } from "./scene.ts";
 * const rgba = new Uint8Array(320 * 240 * 4);
 * for (let i = 0; i < 3; i++) renderScene(rgba, 320, 240, i / 30);
 * console.log(rgba[3]); // 255 (opaque)
 * ```
 */
export function renderScene(
  buf: Uint8Array,
  width: number,
  height: number,
  t: number,
): void {
  const n = width * height;
  if (buf.length < n * 4) {
    throw new RangeError(
      `renderScene(): buffer has ${buf.length} bytes, need ${n * 4}`,
    );
  }
  const aligned = buf.byteOffset % 4 === 0;
  if (!aligned && (!scratch || scratch.length < n)) {
    scratch = new Uint32Array(n);
  }
  const px = aligned
    ? new Uint32Array(buf.buffer, buf.byteOffset, n)
    : scratch!;
  const grain = texture();

  // Background: separable drifting gradients, column term + row term.
  if (cols.r.length < width) {
    cols.r = new Float32Array(width);
    cols.g = new Float32Array(width);
    cols.b = new Float32Array(width);
  }
  for (let x = 0; x < width; x++) {
    const u = x / width;
    cols.r[x] = 70 + 45 * Math.sin(6.0 * u + t * 0.7);
    cols.g[x] = 50 + 30 * Math.cos(4.0 * u - t * 0.4);
    cols.b[x] = 60 + 50 * u;
  }
  const ox = Math.floor(t * 37) & (TILE - 1); // the grain pans slowly
  const oy = Math.floor(t * 13) & (TILE - 1);
  for (let y = 0; y < height; y++) {
    const v = y / height;
    const rr = 30 * v + 10;
    const rg = 45 + 40 * Math.sin(5.0 * v - t * 0.5);
    const rb = 40 + 35 * Math.cos(3.0 * v + t * 0.3);
    const trow = ((y + oy) & (TILE - 1)) * TILE;
    let i = y * width;
    for (let x = 0; x < width; x++, i++) {
      const g8 = grain[trow + ((x + ox) & (TILE - 1))];
      // Each channel stays within [GRAIN, 255 - GRAIN] before grain: no clamp.
      px[i] = 0xff000000 |
        (((cols.b[x] + rb + g8) | 0) << 16) |
        (((cols.g[x] + rg + g8) | 0) << 8) |
        ((cols.r[x] + rr + g8) | 0);
    }
  }

  const m = Math.min(width, height);
  for (const s of SPHERES) {
    const cx = width * (0.5 + 0.38 * Math.sin(t * s.fx * 2 + s.phase));
    const cy = height * (0.5 + 0.36 * Math.sin(t * s.fy * 2 + s.phase * 1.3));
    sphere(px, width, height, cx, cy, m * s.size, s.color, grain, ox, oy);
  }
  bar(
    px,
    width,
    height,
    width * (0.5 + 0.25 * Math.cos(t * 0.23)),
    height * 0.5,
    m * 0.7,
    m * 0.06,
    t * 0.6,
  );
  if (!aligned) buf.set(new Uint8Array(px.buffer, 0, n * 4));
}

/** Frames in a pre-rendered ring: one second of the scene at 60 fps. */
export const RING = 60;

/**
 * `RING` frames of the scene, `1 / 60` s apart, pre-rendered so rendering
 * stays out of measured time.
 *
 * @example
 * ```ts
 * import { renderRing } from "./scene.ts";
 * console.log(renderRing(64, 32).length); // 60
 * ```
 */
export function renderRing(width: number, height: number): Uint8Array[] {
  return Array.from({ length: RING }, (_, i) => {
    const rgba = new Uint8Array(width * height * 4);
    renderScene(rgba, width, height, 2 + i / 60);
    return rgba;
  });
}

/**
 * Plays ring indices forward then backward, `step` frames per call, so the
 * motion never jumps; a 30 fps stream takes `step` 2 and the scene moves at
 * the same speed as at 60.
 *
 * @example
 * ```ts
 * import { Player } from "./scene.ts";
 * const p = new Player(3);
 * console.log([p.next(), p.next(), p.next(), p.next()]); // [0, 1, 2, 1]
 * ```
 */
export class Player {
  #k = 0;
  #n: number;
  #step: number;
  /** @param n ring length; @param step frames advanced per call */
  constructor(n: number, step = 1) {
    this.#n = n;
    this.#step = step;
  }
  /** The next ring index. */
  next(): number {
    const period = 2 * (this.#n - 1);
    const p = (this.#k++ * this.#step) % period;
    return p < this.#n ? p : period - p;
  }
}
