/**
 * RGBA → NV12 or I420 on the GPU (a WGSL compute pass, BT.709 limited
 * range: what the H.264 encoders take), and readback through a ring of
 * buffers so that mapping one frame overlaps rendering the next. Only the
 * planes asked for are read back: YUV for H.264 viewers, RGBA for image
 * viewers.
 *
 * Each invocation converts an 8x2 block, so the width must be a multiple
 * of 8 and the height even.
 *
 * @module
 */

import type { YuvLayout } from "../yuv.ts";
export type { YuvLayout } from "../yuv.ts";

/** What one read produced. */
export interface ReadResult {
  /** NV12 or I420 planes, no row padding (w*h*3/2 bytes), if asked for. */
  yuv?: Uint8Array;
  /** RGBA, no row padding, if asked for. */
  rgba?: Uint8Array;
}

const SHADER = /* wgsl */ `
struct Params { width: u32, height: u32, i420: u32, pad: u32 };
@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn luma(c: vec3f) -> f32 {
  return 16.0 + 219.0 * dot(c, vec3f(0.2126, 0.7152, 0.0722));
}
fn chroma(c: vec3f) -> vec2f {
  let cb = 128.0 + 224.0 * dot(c, vec3f(-0.1146, -0.3854, 0.5));
  let cr = 128.0 + 224.0 * dot(c, vec3f(0.5, -0.4542, -0.0458));
  return vec2f(cb, cr);
}
fn q(v: f32) -> u32 { return u32(clamp(round(v), 0.0, 255.0)); }
fn pack(a: u32, b: u32, c: u32, d: u32) -> u32 { return a | (b << 8u) | (c << 16u) | (d << 24u); }

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let bx = id.x * 8u;
  let by = id.y * 2u;
  if (bx >= p.width || by >= p.height) { return; }
  var ys: array<u32, 16>;
  var cs: array<vec2f, 4>;
  for (var k = 0u; k < 4u; k++) { cs[k] = vec2f(0.0); }
  for (var r = 0u; r < 2u; r++) {
    for (var i = 0u; i < 8u; i++) {
      let c = textureLoad(src, vec2u(bx + i, by + r), 0).rgb;
      ys[r * 8u + i] = q(luma(c));
      cs[i / 2u] += chroma(c) * 0.25;
    }
  }
  let w4 = p.width / 4u;
  for (var r = 0u; r < 2u; r++) {
    let row = (by + r) * w4 + bx / 4u;
    dst[row] = pack(ys[r * 8u], ys[r * 8u + 1u], ys[r * 8u + 2u], ys[r * 8u + 3u]);
    dst[row + 1u] = pack(ys[r * 8u + 4u], ys[r * 8u + 5u], ys[r * 8u + 6u], ys[r * 8u + 7u]);
  }
  let ySize = p.width * p.height / 4u; // in u32s
  let cy = by / 2u;
  if (p.i420 == 0u) {
    // NV12: one plane of interleaved U, V at half resolution.
    let at = ySize + (cy * p.width + bx) / 4u;
    dst[at] = pack(q(cs[0].x), q(cs[0].y), q(cs[1].x), q(cs[1].y));
    dst[at + 1u] = pack(q(cs[2].x), q(cs[2].y), q(cs[3].x), q(cs[3].y));
  } else {
    // I420: a U plane, then a V plane, each at half resolution.
    let cw = p.width / 2u;
    let at = (cy * cw + bx / 2u) / 4u;
    dst[ySize + at] = pack(q(cs[0].x), q(cs[1].x), q(cs[2].x), q(cs[3].x));
    dst[ySize + ySize / 4u + at] = pack(q(cs[0].y), q(cs[1].y), q(cs[2].y), q(cs[3].y));
  }
}`;

interface Slot {
  yuv: GPUBuffer;
  rgba: GPUBuffer;
  busy: boolean;
}

/**
 * Converts rendered textures and reads them back, with up to `ring` frames
 * in flight.
 *
 * @example
 * ```ts ignore
 * const reader = new GpuFrameReader(device, 1280, 720, { layout: "nv12", ring: 3 });
 * const planes = await reader.read(texture, { yuv: true, rgba: false });
 * ```
 */
export class GpuFrameReader {
  /** Frame width. */
  readonly width: number;
  /** Frame height. */
  readonly height: number;
  /** The YUV layout written. */
  readonly layout: YuvLayout;
  /** Bytes per row of the RGBA readback (a multiple of 256, as WebGPU asks). */
  readonly bytesPerRow: number;
  #device: GPUDevice;
  #pipeline: GPUComputePipeline;
  #storage: GPUBuffer;
  #params: GPUBuffer;
  #slots: Slot[];
  #destroyed = false;

  /**
   * Set up the conversion for `width` x `height` frames.
   *
   * @param device the device the textures live on
   * @param width frame width, a multiple of 8
   * @param height frame height, even
   * @param options YUV layout and ring size
   */
  constructor(
    device: GPUDevice,
    width: number,
    height: number,
    options: { layout?: YuvLayout; ring?: number } = {},
  ) {
    if (width % 8 !== 0 || height % 2 !== 0 || width <= 0 || height <= 0) {
      throw new RangeError(
        `GPU conversion needs a width that is a multiple of 8 and an even height; got ${width}x${height}`,
      );
    }
    const ring = options.ring ?? 3;
    if (!Number.isInteger(ring) || ring < 1 || ring > 8) {
      throw new RangeError(`ring must be an integer in [1, 8], got ${ring}`);
    }
    this.#device = device;
    this.width = width;
    this.height = height;
    this.layout = options.layout ?? "nv12";
    this.bytesPerRow = Math.ceil(width * 4 / 256) * 256;
    const yuvBytes = width * height * 3 / 2;
    this.#pipeline = device.createComputePipeline({
      layout: "auto",
      compute: {
        module: device.createShaderModule({ code: SHADER }),
        entryPoint: "main",
      },
    });
    this.#storage = device.createBuffer({
      size: yuvBytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    this.#params = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(
      this.#params,
      0,
      new Uint32Array([width, height, this.layout === "i420" ? 1 : 0, 0]),
    );
    this.#slots = Array.from({ length: ring }, () => ({
      yuv: device.createBuffer({
        size: yuvBytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      }),
      rgba: device.createBuffer({
        size: this.bytesPerRow * height,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      }),
      busy: false,
    }));
  }

  /** Frames being converted or mapped now. */
  get inFlight(): number {
    return this.#slots.filter((s) => s.busy).length;
  }

  /**
   * Convert `texture` (rgba8unorm or bgra8unorm, this reader's size, with
   * TEXTURE_BINDING and COPY_SRC usage) and read back what `want` asks for.
   * Returns null, and does nothing, when every ring slot is in flight: the
   * caller's newest frame wins next time.
   */
  read(
    texture: GPUTexture,
    want: { yuv: boolean; rgba: boolean },
  ): Promise<ReadResult> | null {
    if (this.#destroyed) throw new Error("GpuFrameReader: destroyed");
    if (texture.width !== this.width || texture.height !== this.height) {
      throw new RangeError(
        `texture is ${texture.width}x${texture.height}, the reader is ${this.width}x${this.height}`,
      );
    }
    if (!want.yuv && !want.rgba) return Promise.resolve({});
    const slot = this.#slots.find((s) => !s.busy);
    if (!slot) return null;
    slot.busy = true;
    const device = this.#device;
    const enc = device.createCommandEncoder();
    if (want.yuv) {
      const pass = enc.beginComputePass();
      pass.setPipeline(this.#pipeline);
      pass.setBindGroup(
        0,
        device.createBindGroup({
          layout: this.#pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: texture.createView() },
            { binding: 1, resource: { buffer: this.#storage } },
            { binding: 2, resource: { buffer: this.#params } },
          ],
        }),
      );
      pass.dispatchWorkgroups(
        Math.ceil(this.width / 64),
        Math.ceil(this.height / 16),
      );
      pass.end();
      enc.copyBufferToBuffer(
        this.#storage,
        0,
        slot.yuv,
        0,
        this.width * this.height * 3 / 2,
      );
    }
    if (want.rgba) {
      enc.copyTextureToBuffer(
        { texture },
        { buffer: slot.rgba, bytesPerRow: this.bytesPerRow },
        [this.width, this.height],
      );
    }
    device.queue.submit([enc.finish()]);
    const maps: Promise<void>[] = [];
    if (want.yuv) maps.push(slot.yuv.mapAsync(GPUMapMode.READ));
    if (want.rgba) maps.push(slot.rgba.mapAsync(GPUMapMode.READ));
    return Promise.all(maps).then(() => {
      const out: ReadResult = {};
      if (want.yuv) {
        out.yuv = new Uint8Array(slot.yuv.getMappedRange()).slice();
        slot.yuv.unmap();
      }
      if (want.rgba) {
        const mapped = new Uint8Array(slot.rgba.getMappedRange());
        const rgba = new Uint8Array(this.width * this.height * 4);
        const row = this.width * 4;
        for (let y = 0; y < this.height; y++) {
          rgba.set(
            mapped.subarray(y * this.bytesPerRow, y * this.bytesPerRow + row),
            y * row,
          );
        }
        slot.rgba.unmap();
        if (texture.format === "bgra8unorm") swapRedBlue(rgba);
        out.rgba = rgba;
      }
      slot.busy = false;
      return out;
    }, (err) => {
      slot.busy = false;
      throw err;
    });
  }

  /** Free the GPU buffers. */
  destroy(): void {
    this.#destroyed = true;
    this.#storage.destroy();
    this.#params.destroy();
    for (const s of this.#slots) {
      s.yuv.destroy();
      s.rgba.destroy();
    }
  }
}

function swapRedBlue(px: Uint8Array): void {
  for (let i = 0; i < px.length; i += 4) {
    const r = px[i];
    px[i] = px[i + 2];
    px[i + 2] = r;
  }
}
