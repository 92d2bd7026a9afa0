/// <reference lib="dom" />
/**
 * Drawing: each decoded picture goes onto a frame-sized canvas (and the
 * picture is closed at once by its decoder); the visible, transferred
 * canvas is a fitted copy of that, so a resize redraws without a new frame
 * and a screenshot is full resolution.
 *
 * @module
 */

import { backingSize, contentRect } from "../mapping.ts";
import type { LayoutInfo } from "../messages.ts";

/**
 * The frame canvas and the visible canvas it is fitted onto.
 *
 * @example
 * ```ts ignore
 * const frame = new FrameCanvas(init.canvas, init.layout);
 * frame.draw(bitmap, bitmap.width, bitmap.height);
 * ```
 */
export class FrameCanvas {
  #canvas: OffscreenCanvas;
  #ctx: OffscreenCanvasRenderingContext2D;
  #picture = new OffscreenCanvas(1, 1);
  #pictureCtx = this.#picture.getContext("2d")!;
  #hasFrame = false;
  #layout: LayoutInfo;

  /** Take over the visible canvas and paint it with the background. */
  constructor(canvas: OffscreenCanvas, layout: LayoutInfo) {
    this.#canvas = canvas;
    this.#ctx = canvas.getContext("2d", { alpha: false })!;
    this.#layout = layout;
    this.blit();
  }

  /** The frame at full resolution (what a recording of drawn frames encodes). */
  get picture(): OffscreenCanvas {
    return this.#picture;
  }

  /** The view's size, fit mode and background. */
  get layout(): LayoutInfo {
    return this.#layout;
  }

  /** A new layout: the frame is fitted again. */
  set layout(layout: LayoutInfo) {
    this.#layout = layout;
    this.blit();
  }

  /** Make `picture` the frame and show it. */
  draw(
    picture: ImageBitmap | VideoFrame,
    width: number,
    height: number,
  ): void {
    if (this.#picture.width !== width || this.#picture.height !== height) {
      this.#picture.width = width;
      this.#picture.height = height;
    }
    this.#pictureCtx.drawImage(picture, 0, 0, width, height);
    this.#hasFrame = true;
    this.blit();
  }

  /** Copy the frame onto the visible canvas, fitted. */
  blit(): void {
    const layout = this.#layout;
    const { width, height } = backingSize(
      layout.cssWidth,
      layout.cssHeight,
      layout.dpr,
    );
    const canvas = this.#canvas, ctx = this.#ctx;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    ctx.fillStyle = layout.background;
    ctx.fillRect(0, 0, width, height);
    if (!this.#hasFrame) return;
    const r = contentRect({
      ...layout,
      frameWidth: this.#picture.width,
      frameHeight: this.#picture.height,
    });
    const d = layout.dpr;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(this.#picture, r.x * d, r.y * d, r.width * d, r.height * d);
  }

  /** The frame at full resolution as PNG, or `null` before the first frame. */
  screenshot(): Promise<Blob> | null {
    if (!this.#hasFrame) return null;
    return this.#picture.convertToBlob({ type: "image/png" });
  }
}
