/**
 * `GpuTarget`: where a WebGPU scene renders for a display. The app renders
 * into `target.texture` (or any texture of its own of the display's size)
 * and calls `publish()`. The target converts on the GPU — NV12 for H.264
 * viewers, RGBA for image viewers, only what the connected viewers need —
 * and reads back through a ring of mapped buffers, so readback of one frame
 * overlaps rendering of the next.
 *
 * @module
 */

import { type Display, internals } from "../display.ts";
import { GpuFrameReader, type YuvLayout } from "./convert.ts";
import { type GpuContext, requestGpu } from "./device.ts";

/** Options for `GpuTarget.create`. */
export interface GpuTargetOptions {
  /** A device to use (default: one from `requestGpu()`). */
  gpu?: GpuContext;
  /** Frames in flight, 1-8. Default 3. */
  ring?: number;
  /** YUV layout for H.264. Default `"nv12"`. */
  layout?: YuvLayout;
}

/** Figures for a target. */
export interface GpuTargetStats {
  /** Frames read back and published. */
  published: number;
  /** Frames skipped because every ring slot was busy. */
  skipped: number;
  /** Frames not read back because no viewer was negotiated. */
  idle: number;
  /** Frames in flight now. */
  inFlight: number;
}

/**
 * Render target and GPU readback for one display.
 *
 * @example
 * ```ts ignore
 * import { GpuTarget, serve } from "@rfb/core";
 * const display = await serve(1280, 720, { port: 0 });
 * const target = await GpuTarget.create(display);
 * // each frame: render into target.texture with target.device, then
 * target.publish();
 * ```
 */
export class GpuTarget {
  /** The display frames go to. */
  readonly display: Display;
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** The adapter's description. */
  readonly adapter: string;
  /** The texture to render into (rgba8unorm, the display's size). */
  texture: GPUTexture;
  #reader: GpuFrameReader;
  #ring: number;
  #layout: YuvLayout;
  #stats = { published: 0, skipped: 0, idle: 0 };
  #destroyed = false;

  private constructor(
    display: Display,
    gpu: GpuContext,
    ring: number,
    layout: YuvLayout,
  ) {
    this.display = display;
    this.device = gpu.device;
    this.adapter = gpu.description;
    this.#ring = ring;
    this.#layout = layout;
    this.#reader = new GpuFrameReader(
      gpu.device,
      display.width,
      display.height,
      { ring, layout },
    );
    this.texture = this.#makeTexture();
  }

  /** Make a target for `display` (its size must be a multiple of 8 wide, even high). */
  static async create(
    display: Display,
    options: GpuTargetOptions = {},
  ): Promise<GpuTarget> {
    const gpu = options.gpu ?? await requestGpu();
    return new GpuTarget(
      display,
      gpu,
      options.ring ?? 3,
      options.layout ?? "nv12",
    );
  }

  #makeTexture(): GPUTexture {
    return this.device.createTexture({
      size: [this.display.width, this.display.height],
      format: "rgba8unorm",
      usage: GPUTextureUsage.RENDER_ATTACHMENT |
        GPUTextureUsage.TEXTURE_BINDING |
        GPUTextureUsage.COPY_SRC | GPUTextureUsage.COPY_DST,
    });
  }

  /**
   * Publish what was rendered into `texture` (default: `this.texture`).
   * Returns at once: false when the frame was skipped (the ring is full, or
   * no viewer needs it), true when its readback started.
   */
  publish(texture: GPUTexture = this.texture): boolean {
    if (this.#destroyed || this.display.closed) return false;
    const want = internals(this.display).needs();
    if (!want.rgba && !want.yuv) {
      this.#stats.idle++;
      return false;
    }
    const read = this.#reader.read(texture, want);
    if (!read) {
      this.#stats.skipped++;
      return false;
    }
    read.then((planes) => {
      if (this.#destroyed || this.display.closed) return;
      if (
        this.display.width !== this.#reader.width ||
        this.display.height !== this.#reader.height
      ) return;
      internals(this.display).publishPlanes(
        planes.rgba ?? null,
        planes.yuv ? { layout: this.#layout, data: planes.yuv } : null,
      );
      this.#stats.published++;
    }, () => {
      this.#stats.skipped++;
    });
    return true;
  }

  /** Resize the display, the texture and the readback ring. */
  resize(width: number, height: number): void {
    const next = new GpuFrameReader(this.device, width, height, {
      ring: this.#ring,
      layout: this.#layout,
    });
    this.display.resize(width, height);
    this.#reader.destroy();
    this.#reader = next;
    this.texture.destroy();
    this.texture = this.#makeTexture();
  }

  /** Figures. */
  stats(): GpuTargetStats {
    return { ...this.#stats, inFlight: this.#reader.inFlight };
  }

  /** Free the texture and buffers (the display stays open). */
  destroy(): void {
    this.#destroyed = true;
    this.#reader.destroy();
    this.texture.destroy();
  }
}
