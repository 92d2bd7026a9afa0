// A WebGPU scene published through GpuTarget to a real viewer in Chromium, on both
// transports: NV12 from the GPU into H.264, RGBA from the GPU into JPEG.

import assert from "node:assert/strict";
import { GpuTarget, serve } from "../mod.ts";
import { internals } from "../src/display.ts";
import { requestGpu } from "../src/gpu/device.ts";
import {
  browserMissing,
  launch,
  screenPixels,
  waitForExpression,
} from "./_browser.ts";
import { near, pixelAt, until } from "./_viewer.ts";

let gpu: Awaited<ReturnType<typeof requestGpu>> | null = null;
let why = browserMissing() ?? "";
if (!why) {
  try {
    gpu = await requestGpu();
  } catch (err) {
    why = (err as Error).message;
  }
}
if (why) console.warn(`skipping the WebGPU scene tests: ${why}`);

const SHADER = `
@vertex fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4f {
  let p = vec2f(f32((i << 1u) & 2u), f32(i & 2u));
  return vec4f(p * 2.0 - 1.0, 0.0, 1.0);
}
struct U { size: vec2f };
@group(0) @binding(0) var<uniform> u: U;
@fragment fn fs(@builtin(position) pos: vec4f) -> @location(0) vec4f {
  let left = pos.x < u.size.x / 2.0;
  let top = pos.y < u.size.y / 2.0;
  if (top && left) { return vec4f(1.0, 0.0, 0.0, 1.0); }
  if (top) { return vec4f(0.0, 1.0, 0.0, 1.0); }
  if (left) { return vec4f(0.0, 0.0, 1.0, 1.0); }
  return vec4f(1.0, 1.0, 1.0, 1.0);
}`;

for (const transport of ["webcodecs", "image"] as const) {
  Deno.test({
    name:
      `gpu scene: quadrants rendered with WebGPU show in Chromium over ${transport}`,
    ignore: gpu === null,
    sanitizeResources: false, // WebGPU keeps device resources until the process ends
    sanitizeOps: false,
    fn: async () => {
      const W = 320, H = 192;
      await using display = await serve(W, H, {
        port: 0,
        stillAfter: false,
        logger: () => {},
      });
      const target = await GpuTarget.create(display, { gpu: gpu! });
      const { device } = target;
      const module = device.createShaderModule({ code: SHADER });
      const pipeline = device.createRenderPipeline({
        layout: "auto",
        vertex: { module, entryPoint: "vs" },
        fragment: {
          module,
          entryPoint: "fs",
          targets: [{ format: "rgba8unorm" }],
        },
      });
      const uniforms = device.createBuffer({
        size: 8,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(uniforms, 0, new Float32Array([W, H]));
      const bind = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: uniforms } }],
      });
      const render = () => {
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
      };
      const timer = setInterval(render, 33);
      const browser = await launch();
      try {
        const page = await browser.newPage({
          viewport: { width: 640, height: 384 },
        });
        await page.goto(`${display.url}?transport=${transport}`);
        await waitForExpression(
          page,
          `(globalThis.rfb?.view.stats?.frames ?? 0) > 2`,
          {
            timeout: 15_000,
          },
        );
        assert.equal(
          await page.evaluate(`globalThis.rfb.view.config.transport`),
          transport,
        );
        const needs = internals(display).needs();
        assert.deepEqual(needs, {
          rgba: transport === "image",
          yuv: transport === "webcodecs",
        });
        await until(
          () => target.stats().published > 2,
          5000,
          "published frames",
        );
        const shot = await screenPixels(page);
        const tol = transport === "image" ? 20 : 32;
        assert.ok(
          near(pixelAt(shot, 160, 96), [255, 0, 0], tol),
          `red ${pixelAt(shot, 160, 96)}`,
        );
        assert.ok(
          near(pixelAt(shot, 480, 96), [0, 255, 0], tol),
          `green ${pixelAt(shot, 480, 96)}`,
        );
        assert.ok(
          near(pixelAt(shot, 160, 288), [0, 0, 255], tol),
          `blue ${pixelAt(shot, 160, 288)}`,
        );
        assert.ok(near(pixelAt(shot, 480, 288), [255, 255, 255], tol));
      } finally {
        clearInterval(timer);
        await browser.close();
        target.destroy();
      }
    },
  });
}
