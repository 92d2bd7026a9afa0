/**
 * A WebGPU scene: a full-screen shader (moving plasma with a spinning ring)
 * rendered by Deno's built-in WebGPU into a texture, read back through a
 * ring of three mapped buffers (so readback overlaps rendering), and
 * published to a display. Clicks move the ring's centre.
 *
 * @module
 */

import type { Display, DisplayEvent } from "../../mod.ts";

const SHADER = `
struct U { time: f32, cx: f32, cy: f32, aspect: f32 };
@group(0) @binding(0) var<uniform> u: U;
struct V { @builtin(position) pos: vec4f, @location(0) uv: vec2f };
@vertex fn vs(@builtin(vertex_index) i: u32) -> V {
  let p = vec2f(f32((i << 1u) & 2u), f32(i & 2u));
  var out: V;
  out.pos = vec4f(p * 2.0 - 1.0, 0.0, 1.0);
  out.uv = vec2f(p.x, 1.0 - p.y);
  return out;
}
@fragment fn fs(v: V) -> @location(0) vec4f {
  let t = u.time;
  let p = vec2f((v.uv.x - 0.5) * u.aspect, v.uv.y - 0.5);
  var c = 0.5 + 0.5 * cos(vec3f(0.0, 2.1, 4.2) + t + 6.0 * (sin(p.x * 3.0 + t) + cos(p.y * 4.0 - t * 0.7)) * 0.3);
  let q = vec2f((v.uv.x - u.cx) * u.aspect, v.uv.y - u.cy);
  let a = atan2(q.y, q.x) + t * 2.0;
  let r = length(q);
  let ring = smoothstep(0.012, 0.0, abs(r - 0.18 - 0.02 * sin(a * 6.0)));
  c = mix(c, vec3f(1.0, 1.0, 1.0), ring);
  return vec4f(c, 1.0);
}`;

/** A running WebGPU scene. */
export interface GpuScene {
  /** The adapter's description, e.g. "llvmpipe (LLVM 15)". */
  adapter: string;
  /** Render and publish one frame (returns at once; the readback completes later). */
  frame(t: number): void;
  /** Handle input. */
  input(ev: DisplayEvent): void;
  /** Release GPU resources. */
  destroy(): void;
}

/**
 * Start the scene, or explain why WebGPU is not available.
 *
 * @example
 * ```ts ignore
 * const scene = await gpuScene(display);
 * if (typeof scene === "string") console.log("no GPU:", scene);
 * ```
 */
export async function gpuScene(display: Display): Promise<GpuScene | string> {
  // Mesa's software adapters complain on stderr without a runtime dir.
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    Deno.env.set("XDG_RUNTIME_DIR", Deno.makeTempDirSync());
  }
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return "this Deno has no navigator.gpu";
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    return "no WebGPU adapter: install a GPU driver, or Mesa's mesa-vulkan-drivers for a software one";
  }
  const device = await adapter.requestDevice();
  const { width, height } = display;
  const format: GPUTextureFormat = "rgba8unorm";
  const texture = device.createTexture({
    size: [width, height],
    format,
    usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC,
  });
  const uniforms = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  const module = device.createShaderModule({ code: SHADER });
  const pipeline = device.createRenderPipeline({
    layout: "auto",
    vertex: { module, entryPoint: "vs" },
    fragment: { module, entryPoint: "fs", targets: [{ format }] },
  });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: uniforms } }],
  });
  const bytesPerRow = Math.ceil(width * 4 / 256) * 256; // WebGPU's row alignment
  const ring = Array.from({ length: 3 }, () => ({
    buffer: device.createBuffer({
      size: bytesPerRow * height,
      usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
    }),
    busy: false,
  }));
  const rgba = new Uint8Array(width * height * 4);
  let centre = [0.5, 0.5];
  let destroyed = false;
  const info = adapter.info;
  return {
    adapter: info.description || info.device || info.vendor ||
      "unnamed adapter",
    frame(t) {
      const slot = ring.find((s) => !s.busy);
      if (!slot || destroyed) return; // all three still mapping: skip this frame
      slot.busy = true;
      device.queue.writeBuffer(
        uniforms,
        0,
        new Float32Array([t, centre[0], centre[1], width / height]),
      );
      const enc = device.createCommandEncoder();
      const pass = enc.beginRenderPass({
        colorAttachments: [{
          view: texture.createView(),
          loadOp: "clear",
          storeOp: "store",
          clearValue: [0, 0, 0, 1],
        }],
      });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.draw(3);
      pass.end();
      enc.copyTextureToBuffer(
        { texture },
        { buffer: slot.buffer, bytesPerRow },
        [width, height],
      );
      device.queue.submit([enc.finish()]);
      slot.buffer.mapAsync(GPUMapMode.READ).then(() => {
        if (destroyed) return;
        const mapped = new Uint8Array(slot.buffer.getMappedRange());
        for (let y = 0; y < height; y++) {
          rgba.set(
            mapped.subarray(y * bytesPerRow, y * bytesPerRow + width * 4),
            y * width * 4,
          );
        }
        slot.buffer.unmap();
        slot.busy = false;
        if (!display.closed) display.publish(rgba);
      }, () => {
        slot.busy = false;
      });
    },
    input(ev) {
      if (
        ev.type === "pointer_down" ||
        (ev.type === "pointer_move" && ev.buttons.includes(1))
      ) {
        centre = [ev.x / width, ev.y / height];
      }
    },
    destroy() {
      destroyed = true;
      device.destroy();
    },
  };
}
