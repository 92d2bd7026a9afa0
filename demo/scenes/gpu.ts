/**
 * A WebGPU scene: a full-screen shader (moving plasma with a spinning ring)
 * rendered by Deno's built-in WebGPU into a `GpuTarget`, which converts it
 * on the GPU (NV12 for H.264 viewers, RGBA for image viewers) and reads it
 * back through a ring of three mapped buffers. Clicks move the ring's
 * centre.
 *
 * @module
 */

import {
  type Display,
  type DisplayEvent,
  GpuTarget,
  requestGpu,
} from "../../mod.ts";

/** The scene's WGSL: moving plasma with a spinning ring (uniforms: time, ring centre, aspect). */
export const PLASMA_SHADER = `
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
  let target: GpuTarget;
  try {
    target = await GpuTarget.create(display, { gpu: await requestGpu() });
  } catch (err) {
    return (err as Error).message;
  }
  const { device } = target;
  const { width, height } = display;
  const uniforms = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  const module = device.createShaderModule({ code: PLASMA_SHADER });
  const pipeline = device.createRenderPipeline({
    layout: "auto",
    vertex: { module, entryPoint: "vs" },
    fragment: { module, entryPoint: "fs", targets: [{ format: "rgba8unorm" }] },
  });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: uniforms } }],
  });
  let centre = [0.5, 0.5];
  let destroyed = false;
  return {
    adapter: target.adapter,
    frame(t) {
      if (destroyed || target.stats().inFlight >= 3) return; // the ring is full: skip
      device.queue.writeBuffer(
        uniforms,
        0,
        new Float32Array([t, centre[0], centre[1], width / height]),
      );
      const enc = device.createCommandEncoder();
      const pass = enc.beginRenderPass({
        colorAttachments: [{
          view: target.texture.createView(),
          loadOp: "clear",
          storeOp: "store",
          clearValue: [0, 0, 0, 1],
        }],
      });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.draw(3);
      pass.end();
      device.queue.submit([enc.finish()]);
      target.publish();
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
      target.destroy();
    },
  };
}
