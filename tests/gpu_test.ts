// The GPU path on Deno's WebGPU (Mesa's software adapter in CI): NV12/I420 from the compute
// pass against the CPU reference, known colours, the readback ring, and resize.

import assert from "node:assert/strict";
import { GpuFrameReader } from "../src/gpu/convert.ts";
import { rgbaToYuv, type YuvLayout, yuvToRgba } from "../src/yuv.ts";
import { requestGpu } from "../src/gpu/device.ts";

let gpu: Awaited<ReturnType<typeof requestGpu>> | null = null;
let why = "";
try {
  gpu = await requestGpu();
} catch (err) {
  why = (err as Error).message;
  console.warn(`skipping GPU tests: ${why}`);
}

function texture(
  device: GPUDevice,
  rgba: Uint8Array<ArrayBuffer>,
  width: number,
  height: number,
): GPUTexture {
  const t = device.createTexture({
    size: [width, height],
    format: "rgba8unorm",
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_SRC |
      GPUTextureUsage.COPY_DST |
      GPUTextureUsage.RENDER_ATTACHMENT,
  });
  device.queue.writeTexture({ texture: t }, rgba, { bytesPerRow: width * 4 }, [
    width,
    height,
  ]);
  return t;
}

/** A busy test picture: gradients, noise and hard edges. */
function picture(width: number, height: number): Uint8Array<ArrayBuffer> {
  const px = new Uint8Array(width * height * 4);
  let seed = 7;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const i = (y * width + x) * 4;
      px[i] = (x * 255 / width) | 0;
      px[i + 1] = (y * 255 / height) | 0;
      px[i + 2] = ((x ^ y) & 32) ? 230 : (seed >>> 24);
      px[i + 3] = 255;
    }
  }
  return px;
}

const opts = {
  ignore: gpu === null,
  sanitizeResources: false,
  sanitizeOps: false,
};

for (const layout of ["nv12", "i420"] as YuvLayout[]) {
  Deno.test({
    ...opts,
    name:
      `gpu: ${layout} from the compute pass matches the CPU reference within ±1 on a full frame`,
    fn: async () => {
      const { device } = gpu!;
      const W = 320, H = 180;
      const src = picture(W, H);
      const reader = new GpuFrameReader(device, W, H, { layout });
      const tex = texture(device, src, W, H);
      const { yuv, rgba } = await reader.read(tex, { yuv: true, rgba: true })!;
      const want = rgbaToYuv(src, W, H, layout);
      assert.equal(yuv!.length, want.length);
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(yuv![i] - want[i]));
      }
      assert.ok(worst <= 1, `largest difference ${worst}`);
      assert.deepEqual(rgba, src, "the RGBA readback is exact");
      tex.destroy();
      reader.destroy();
    },
  });
}

Deno.test({
  ...opts,
  name: "gpu: known colours (white → Y 235, black → Y 16, red, green, blue)",
  fn: async () => {
    const { device } = gpu!;
    const W = 8, H = 2;
    const reader = new GpuFrameReader(device, W, H, { layout: "i420" });
    // BT.709 limited range, rounded.
    const cases: Array<[number[], [number, number, number]]> = [
      [[255, 255, 255], [235, 128, 128]],
      [[0, 0, 0], [16, 128, 128]],
      [[255, 0, 0], [63, 102, 240]],
      [[0, 255, 0], [173, 42, 26]],
      [[0, 0, 255], [32, 240, 118]],
    ];
    for (const [rgb, [y, u, v]] of cases) {
      const px = new Uint8Array(W * H * 4);
      for (let i = 0; i < W * H; i++) px.set([...rgb, 255], i * 4);
      const tex = texture(device, px, W, H);
      const { yuv } = await reader.read(tex, { yuv: true, rgba: false })!;
      assert.ok(Math.abs(yuv![0] - y) <= 1, `${rgb} → Y ${yuv![0]}, want ${y}`);
      assert.ok(
        Math.abs(yuv![W * H] - u) <= 1,
        `${rgb} → U ${yuv![W * H]}, want ${u}`,
      );
      assert.ok(
        Math.abs(yuv![W * H * 5 / 4] - v) <= 1,
        `${rgb} → V ${yuv![W * H * 5 / 4]}, want ${v}`,
      );
      tex.destroy();
    }
    reader.destroy();
  },
});

Deno.test({
  ...opts,
  name:
    "gpu: a ring of 3 never has more than 3 frames in flight nor hands out a mapped buffer",
  fn: async () => {
    const { device } = gpu!;
    const W = 64, H = 32;
    const reader = new GpuFrameReader(device, W, H, { ring: 3 });
    const tex = texture(device, picture(W, H), W, H);
    const reads: Promise<unknown>[] = [];
    let refused = 0;
    for (let i = 0; i < 10; i++) {
      const r = reader.read(tex, { yuv: true, rgba: true });
      if (r) reads.push(r);
      else refused++;
      assert.ok(reader.inFlight <= 3);
    }
    assert.equal(reads.length, 3, "three slots");
    assert.equal(refused, 7, "the rest are refused, not queued");
    await Promise.all(reads);
    assert.equal(reader.inFlight, 0);
    // Slots come back only once unmapped: reading again works and returns whole frames.
    for (let round = 0; round < 3; round++) {
      const batch = [0, 1, 2].map(() =>
        reader.read(tex, { yuv: true, rgba: false })!
      );
      const got = await Promise.all(batch);
      for (const g of got) assert.equal(g.yuv!.length, W * H * 3 / 2);
    }
    tex.destroy();
    reader.destroy();
  },
});

Deno.test({
  ...opts,
  name:
    "gpu: sizes the compute pass cannot take are refused with a clear error",
  fn: () => {
    const { device } = gpu!;
    assert.throws(() => new GpuFrameReader(device, 100, 50), /multiple of 8/);
    assert.throws(() => new GpuFrameReader(device, 64, 33), /even height/);
    const reader = new GpuFrameReader(device, 64, 32);
    const tex = texture(device, picture(32, 32), 32, 32);
    assert.throws(
      () => reader.read(tex, { yuv: true, rgba: false }),
      /texture is 32x32/,
    );
    tex.destroy();
    reader.destroy();
  },
});

Deno.test("yuv: the CPU round trip RGBA → YUV → RGBA stays within a few levels on flat colours", () => {
  for (const layout of ["nv12", "i420"] as YuvLayout[]) {
    for (
      const rgb of [[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [
        0,
        0,
        255,
      ], [90, 160, 30]]
    ) {
      const px = new Uint8Array(4 * 2 * 4);
      for (let i = 0; i < 8; i++) px.set([...rgb, 255], i * 4);
      const back = yuvToRgba(rgbaToYuv(px, 4, 2, layout), 4, 2, layout);
      for (let c = 0; c < 3; c++) {
        assert.ok(
          Math.abs(back[c] - rgb[c]) <= 3,
          `${layout} ${rgb} → ${[...back.slice(0, 3)]}`,
        );
      }
    }
  }
});

Deno.test({
  ...opts,
  name:
    "gpu: GpuTarget reads back nothing without viewers, and resize rebuilds texture and ring",
  fn: async () => {
    const { Display, GpuTarget } = await import("../mod.ts");
    const display = new Display(64, 32, { logger: () => {} });
    const target = await GpuTarget.create(display, { gpu: gpu! });
    assert.equal(target.publish(), false, "no viewer needs a frame");
    assert.equal(target.stats().idle, 1);
    target.resize(128, 64);
    assert.equal(display.width, 128);
    assert.deepEqual([target.texture.width, target.texture.height], [128, 64]);
    assert.throws(() => target.resize(100, 64), /multiple of 8/);
    assert.equal(display.width, 128, "a refused size changes nothing");
    target.destroy();
    await display.close();
  },
});
