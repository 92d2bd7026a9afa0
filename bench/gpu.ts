/**
 * The GPU-path benchmark: a Markdown section (`gpuBenchmark().text`) plus
 * the numbers behind it (`gpuBenchmark().rows`). Standalone:
 * `deno run -A bench/gpu.ts` prints the section.
 *
 * 1. Render + convert + readback time per frame at 1280x720 and 1920x1080
 *    with 1, 2 and 3 frames in flight (`GpuFrameReader`'s ring): a WGSL
 *    scene rendered into a texture, RGBA → NV12 on the GPU, read back; with
 *    render only and render + RGBA readback as reference rows, all cells
 *    interleaved in one run.
 * 2. The GPU NV12 path against the CPU path into x264, same frames, same
 *    run, interleaved: NV12 converted on the GPU and read back (1.5 B/px)
 *    into `H264Encoder` as NV12, against RGBA read back (4 B/px) into
 *    `H264Encoder` as RGBA (converted on the CPU). Each frame timed step by
 *    step (one in flight), and the same pipelined (three in flight).
 * 3. End to end: a `serve()` display fed by a `GpuTarget`, one headless
 *    WebSocket viewer (H.264, then JPEG), frames rendered and published as
 *    fast as the target's ring accepts them.
 *
 * The scene is the shader of demo/scenes/gpu.ts (plasma and a spinning
 * ring), copied here: `gpuScene()` owns its target and hides its counts.
 * When there is no WebGPU adapter the section says "Skipped: <reason>".
 *
 * @module
 */

import process from "node:process";
import {
  type Display,
  type GpuContext,
  GpuFrameReader,
  GpuTarget,
  requestGpu,
  serve,
  silentLogger,
} from "../mod.ts";
import { internals } from "../src/display.ts";
import {
  H264Encoder,
  type PixelLayout,
  probeH264,
} from "../src/encoders/h264.ts";
import {
  cpuModel,
  cpuMs,
  f1,
  loadavg,
  LoadMeter,
  mean,
  quantile,
  sizeName,
  SIZES,
  sleep,
  table,
  wsUrl,
} from "./util.ts";
import { defaults } from "./h264.ts";
import { openViewer, type ViewerMode } from "./viewers.ts";
import { PLASMA_SHADER } from "../demo/scenes/gpu.ts";

// ---------------------------------------------------------------- results

/** Part 1: one cell of render + convert + readback. */
export interface PipelineRow {
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** Frames in flight (the reader's ring size). */
  ring: number;
  /** `render`: render only; `rgba`: render + RGBA readback; `nv12`: render + GPU NV12 + readback. */
  mode: "render" | "rgba" | "nv12";
  /** Frames measured (intervals between completions). */
  frames: number;
  /** Time per frame in steady state (interval between completions), ms. */
  msMean: number;
  /** Median interval, ms. */
  msP50: number;
  /** 95th percentile interval, ms. */
  msP95: number;
  /** Frames per second (1000 / msMean). */
  fps: number;
  /** Submit → data in JS (or work done, for `render`), median, ms. */
  latencyP50: number;
  /** The same, 95th percentile, ms. */
  latencyP95: number;
}

/** Part 2: one method into x264. */
export interface EncodeRow {
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** `gpu-nv12`: NV12 made on the GPU; `cpu-rgba`: RGBA read back, converted by the encoder. */
  method: "gpu-nv12" | "cpu-rgba";
  /** Frames measured step by step. */
  frames: number;
  /** Render + GPU work + readback (submit → planes in JS), median ms. */
  readbackMs: number;
  /** CPU colour conversion in the encoder (NV12 → I420 or RGBA → I420), median ms. */
  convertMs: number;
  /** x264 alone (encode call minus conversion), median ms. */
  encodeMs: number;
  /** Whole frame, median ms. */
  totalMs: number;
  /** Whole frame, 95th percentile ms. */
  totalP95: number;
  /** Bytes read back per frame. */
  bytesReadBack: number;
  /** Pipelined (3 in flight, encodes serial): wall ms per frame. */
  pipelinedMs: number;
  /** Pipelined frames per second. */
  pipelinedFps: number;
  /** Mean encoded bytes per frame (pipelined and step by step together). */
  chunkBytes: number;
}

/** Part 3: one end-to-end run. */
export interface EndToEndRow {
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** The viewer's stream: H.264 chunks or JPEG images. */
  transport: "h264" | "jpeg";
  /** Measured seconds. */
  seconds: number;
  /** Frames rendered (each one accepted by the target: readback started). */
  rendered: number;
  /** Readbacks done and handed to the display. */
  published: number;
  /** Frames the target refused (ring busy) or whose readback failed. */
  skipped: number;
  /** Share of the time the loop waited for a free ring slot (0-1). */
  waitShare: number;
  /** Encodes the display ran. */
  encodes: number;
  /** Frames the viewer received. */
  received: number;
  /** Frames received per second. */
  fps: number;
  /** Display publish (readback done) → received, median ms. */
  latencyP50: number;
  /** The same, 95th percentile, ms. */
  latencyP95: number;
  /** Render submitted → received, median ms (NaN when unknown). */
  renderLatencyP50: number;
  /** The same, 95th percentile, ms. */
  renderLatencyP95: number;
}

/** What `gpuBenchmark()` returns. */
export interface GpuBenchResult {
  /** The Markdown section, starting with `## GPU path`. */
  text: string;
  /** The adapter's description, or null when skipped. */
  adapter: string | null;
  /** Why the section was skipped, or null. */
  skipped: string | null;
  /** The numbers behind the tables. */
  rows: {
    /** Part 1. */
    pipeline: PipelineRow[];
    /** Part 2 (empty when H.264 is not available). */
    encode: EncodeRow[];
    /** Part 3. */
    endToEnd: EndToEndRow[];
  };
}

// ---------------------------------------------------------------- settings

const RINGS = [1, 2, 3];
const MODES = ["render", "rgba", "nv12"] as const;
const ROUNDS_1 = 4; // part 1: interleaved rounds (plus one warm-up round)
const PER_ROUND_1 = 14; // frames per cell per round
const ROUNDS_2 = 6; // part 2: interleaved rounds (plus one warm-up round)
const PER_ROUND_2 = 10; // frames per method per round
const PIPE_RING = 3; // part 2: frames in flight when pipelined
const SECONDS_3 = 5;
const WARM_MS_3 = 1000;
const RING_3 = 3;
const FPS = 60; // the display's default fps: encoder settings, scene time

const epochMs = () => performance.timeOrigin + performance.now();
const kib = (n: number) => `${f1(n / 1024)}`;

// ---------------------------------------------------------------- scene

/** Renders the scene into rgba8unorm textures of one size. */
class Scene {
  readonly width: number;
  readonly height: number;
  #device: GPUDevice;
  #uniforms: GPUBuffer;
  #pipeline: GPURenderPipeline;
  #bind: GPUBindGroup;

  constructor(device: GPUDevice, width: number, height: number) {
    this.#device = device;
    this.width = width;
    this.height = height;
    this.#uniforms = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const module = device.createShaderModule({ code: PLASMA_SHADER });
    this.#pipeline = device.createRenderPipeline({
      layout: "auto",
      vertex: { module, entryPoint: "vs" },
      fragment: {
        module,
        entryPoint: "fs",
        targets: [{ format: "rgba8unorm" }],
      },
    });
    this.#bind = device.createBindGroup({
      layout: this.#pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: this.#uniforms } }],
    });
  }

  /** A texture to render into and read back from. */
  texture(): GPUTexture {
    return this.#device.createTexture({
      size: [this.width, this.height],
      format: "rgba8unorm",
      usage: GPUTextureUsage.RENDER_ATTACHMENT |
        GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_SRC,
    });
  }

  /** Render the scene at time `t` (seconds) into `texture`; submits and returns. */
  render(texture: GPUTexture, t: number): void {
    const device = this.#device;
    const cx = 0.5 + 0.25 * Math.cos(t * 0.7);
    const cy = 0.5 + 0.2 * Math.sin(t * 0.9);
    device.queue.writeBuffer(
      this.#uniforms,
      0,
      new Float32Array([t, cx, cy, this.width / this.height]),
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
    pass.setPipeline(this.#pipeline);
    pass.setBindGroup(0, this.#bind);
    pass.draw(3);
    pass.end();
    device.queue.submit([enc.finish()]);
  }

  destroy(): void {
    this.#uniforms.destroy();
  }
}

// ---------------------------------------------------------------- part 1

interface Cell {
  ring: number;
  mode: (typeof MODES)[number];
  reader: GpuFrameReader;
  intervals: number[];
  latency: number[];
}

/**
 * One burst of `n` frames on `cell`, as fast as its ring allows: render,
 * start the readback (or wait for the work, render only), and when `ring`
 * frames are in flight wait for the oldest. Records the interval between
 * successive completions once the ring has filled, and each frame's latency.
 */
async function burst(
  device: GPUDevice,
  scene: Scene,
  texture: GPUTexture,
  cell: Cell,
  n: number,
  firstFrame: number,
  keep: boolean,
): Promise<void> {
  const pending: Promise<{ submitted: number; done: number }>[] = [];
  const done: number[] = [];
  const settle = async () => {
    const r = await pending.shift()!;
    done.push(r.done);
    if (keep) cell.latency.push(r.done - r.submitted);
  };
  for (let i = 0; i < n; i++) {
    while (pending.length >= cell.ring) await settle();
    scene.render(texture, (firstFrame + i) / FPS);
    const submitted = performance.now();
    const work: Promise<unknown> = cell.mode === "render"
      ? device.queue.onSubmittedWorkDone()
      : cell.reader.read(texture, {
        yuv: cell.mode === "nv12",
        rgba: cell.mode === "rgba",
      })!;
    pending.push(work.then(() => ({ submitted, done: performance.now() })));
  }
  while (pending.length) await settle();
  if (!keep) return;
  for (let k = cell.ring; k < done.length; k++) {
    cell.intervals.push(done[k] - done[k - 1]);
  }
}

async function part1(gpu: GpuContext): Promise<{
  text: string;
  rows: PipelineRow[];
}> {
  const rows: PipelineRow[] = [];
  for (const [width, height] of SIZES) {
    const scene = new Scene(gpu.device, width, height);
    const texture = scene.texture();
    const cells: Cell[] = [];
    for (const ring of RINGS) {
      const reader = new GpuFrameReader(gpu.device, width, height, {
        ring,
        layout: "nv12",
      });
      for (const mode of MODES) {
        cells.push({ ring, mode, reader, intervals: [], latency: [] });
      }
    }
    let frame = 0;
    for (let round = -1; round < ROUNDS_1; round++) {
      // Round -1 warms up (pipelines, buffers); the order rotates each round.
      for (let j = 0; j < cells.length; j++) {
        const cell = cells[(j + round + 1) % cells.length];
        await burst(
          gpu.device,
          scene,
          texture,
          cell,
          PER_ROUND_1,
          frame,
          round >= 0,
        );
        frame += PER_ROUND_1;
      }
    }
    for (const c of cells) {
      const ms = mean(c.intervals);
      rows.push({
        width,
        height,
        ring: c.ring,
        mode: c.mode,
        frames: c.intervals.length,
        msMean: ms,
        msP50: quantile(c.intervals, 0.5),
        msP95: quantile(c.intervals, 0.95),
        fps: 1000 / ms,
        latencyP50: quantile(c.latency, 0.5),
        latencyP95: quantile(c.latency, 0.95),
      });
    }
    for (let k = 0; k < cells.length; k += MODES.length) {
      cells[k].reader.destroy();
    }
    texture.destroy();
    scene.destroy();
  }
  const label = {
    render: "render only",
    rgba: "render + RGBA readback",
    nv12: "render + NV12 on GPU + readback",
  };
  const order = (r: PipelineRow) =>
    r.width * 100 + MODES.indexOf(r.mode) * 10 + r.ring;
  const sorted = [...rows].sort((a, b) => order(a) - order(b));
  const get = (w: number, mode: string, ring: number) =>
    rows.find((r) => r.width === w && r.mode === mode && r.ring === ring);
  const compare = SIZES.map(([w, h]) => {
    const one = get(w, "nv12", 1), three = get(w, "nv12", 3);
    return one && three
      ? `${sizeName(w, h)}: ${f1(one.msMean)} ms with one in flight, ` +
        `${f1(three.msMean)} ms with three (${f1(one.msMean / three.msMean)}x)`
      : "";
  }).join("; ");
  const text = [
    "### 1. Render + convert + readback, ms per frame",
    "",
    "Each frame: the scene rendered into an rgba8unorm texture (one " +
    "full-screen triangle), then `GpuFrameReader.read()`: the WGSL compute " +
    "pass RGBA → NV12 (BT.709 limited range) and a copy into a mapped " +
    "buffer, `mapAsync`, and the planes copied out into JS (no row padding). " +
    "Reference rows: render only (completion from " +
    "`queue.onSubmittedWorkDone()`), and render + RGBA readback (a texture " +
    "copy, 4 B/px, no conversion). In flight = the reader's ring size: the " +
    "loop renders and submits the next frame as soon as a slot is free. " +
    "Time per frame = interval between successive completions in steady " +
    "state (the first `ring` completions of each burst left out); latency = " +
    "submit → data in JS for one frame. All 9 cells of a size interleaved " +
    `in ${ROUNDS_1} rounds of ${PER_ROUND_1} frames after a warm-up round, ` +
    "order rotating.",
    "",
    table(
      [
        "size",
        "path",
        "in flight",
        "ms/frame mean",
        "p50",
        "p95",
        "frames/s",
        "latency p50",
        "latency p95",
      ],
      sorted.map((r) => [
        sizeName(r.width, r.height),
        label[r.mode],
        `${r.ring}`,
        f1(r.msMean),
        f1(r.msP50),
        f1(r.msP95),
        f1(r.fps),
        f1(r.latencyP50),
        f1(r.latencyP95),
      ]),
    ),
    "",
    `Render + NV12 + readback: ${compare}. DESIGN.md noted 24 ms with one ` +
    "in flight and 10 ms with three on lavapipe (720p).",
  ].join("\n");
  return { text, rows };
}

// ---------------------------------------------------------------- part 2

interface MethodStats {
  readback: number[];
  convert: number[];
  encode: number[];
  total: number[];
  bytes: number;
  chunkBytes: number;
  chunks: number;
  pipeWall: number;
  pipeFrames: number;
}

async function part2(gpu: GpuContext): Promise<{
  text: string;
  rows: EncodeRow[];
}> {
  const rows: EncodeRow[] = [];
  const methods = [
    { name: "gpu-nv12", layout: "nv12", yuv: true },
    { name: "cpu-rgba", layout: "rgba", yuv: false },
  ] as const;
  for (const [width, height] of SIZES) {
    const scene = new Scene(gpu.device, width, height);
    const texture = scene.texture();
    const reader = new GpuFrameReader(gpu.device, width, height, {
      ring: PIPE_RING,
      layout: "nv12",
    });
    const settings = defaults(width, height, FPS);
    const state = await Promise.all(methods.map(async (m) => ({
      m,
      // Separate streams for the step-by-step and the pipelined runs.
      serialEnc: await H264Encoder.open({
        ...settings,
        matrix: m.yuv ? "bt709" : "bt601",
      }),
      pipeEnc: await H264Encoder.open({
        ...settings,
        matrix: m.yuv ? "bt709" : "bt601",
      }),
      nSerial: 0,
      nPipe: 0,
      s: {
        readback: [],
        convert: [],
        encode: [],
        total: [],
        bytes: 0,
        chunkBytes: 0,
        chunks: 0,
        pipeWall: 0,
        pipeFrames: 0,
      } as MethodStats,
    })));
    type State = (typeof state)[number];
    const want = (st: State) => ({ yuv: st.m.yuv, rgba: !st.m.yuv });
    const planeOf = (st: State, r: { yuv?: Uint8Array; rgba?: Uint8Array }) =>
      (st.m.yuv ? r.yuv : r.rgba)!;
    const picture = (data: Uint8Array, layout: PixelLayout) => ({
      data,
      width,
      height,
      layout,
    });

    const serial = async (st: State, first: number, keep: boolean) => {
      for (let i = 0; i < PER_ROUND_2; i++) {
        const t0 = performance.now();
        scene.render(texture, (first + i) / FPS);
        const planes = await reader.read(texture, want(st))!;
        const t1 = performance.now();
        const data = planeOf(st, planes);
        const chunk = await st.serialEnc.encode(
          picture(data, st.m.layout),
          st.nSerial++ === 0,
        );
        const t2 = performance.now();
        if (!keep) continue;
        const conv = st.serialEnc.convertMs;
        st.s.readback.push(t1 - t0);
        st.s.convert.push(conv);
        st.s.encode.push(t2 - t1 - conv);
        st.s.total.push(t2 - t0);
        st.s.bytes = data.length;
        if (chunk) {
          st.s.chunkBytes += chunk.data.length;
          st.s.chunks++;
        }
      }
    };
    const pipelined = async (st: State, first: number, keep: boolean) => {
      const start = performance.now();
      const pending: Promise<{ yuv?: Uint8Array; rgba?: Uint8Array }>[] = [];
      const encodeOldest = async () => {
        const planes = await pending.shift()!;
        const chunk = await st.pipeEnc.encode(
          picture(planeOf(st, planes), st.m.layout),
          st.nPipe++ === 0,
        );
        if (keep && chunk) {
          st.s.chunkBytes += chunk.data.length;
          st.s.chunks++;
        }
      };
      for (let i = 0; i < PER_ROUND_2; i++) {
        while (pending.length >= PIPE_RING) await encodeOldest();
        scene.render(texture, (first + i) / FPS);
        pending.push(reader.read(texture, want(st))!);
      }
      while (pending.length) await encodeOldest();
      if (keep) {
        st.s.pipeWall += performance.now() - start;
        st.s.pipeFrames += PER_ROUND_2;
      }
    };
    const runs = [
      (keep: boolean, first: number) => serial(state[0], first, keep),
      (keep: boolean, first: number) => serial(state[1], first, keep),
      (keep: boolean, first: number) => pipelined(state[0], first, keep),
      (keep: boolean, first: number) => pipelined(state[1], first, keep),
    ];
    for (let round = -1; round < ROUNDS_2; round++) {
      // Round -1 warms up (and holds each stream's first IDR). Every method
      // renders the same frames in a round; the order rotates.
      const first = (round + 1) * PER_ROUND_2;
      for (let j = 0; j < runs.length; j++) {
        await runs[(j + round + 1) % runs.length](round >= 0, first);
      }
    }
    for (const st of state) {
      await st.serialEnc.close();
      await st.pipeEnc.close();
      const s = st.s;
      const pipelinedMs = s.pipeWall / s.pipeFrames;
      rows.push({
        width,
        height,
        method: st.m.name,
        frames: s.total.length,
        readbackMs: quantile(s.readback, 0.5),
        convertMs: quantile(s.convert, 0.5),
        encodeMs: quantile(s.encode, 0.5),
        totalMs: quantile(s.total, 0.5),
        totalP95: quantile(s.total, 0.95),
        bytesReadBack: s.bytes,
        pipelinedMs,
        pipelinedFps: 1000 / pipelinedMs,
        chunkBytes: s.chunkBytes / s.chunks,
      });
    }
    reader.destroy();
    texture.destroy();
    scene.destroy();
  }
  const label = {
    "gpu-nv12": "GPU: NV12 on GPU, read back, x264 on NV12",
    "cpu-rgba": "CPU: RGBA read back, converted on CPU, x264",
  };
  const s = defaults(1280, 720, FPS);
  const text = [
    "### 2. GPU NV12 path vs CPU path into x264",
    "",
    "Same frames of the scene for both methods, same run, interleaved in " +
    `${ROUNDS_2} rounds of ${PER_ROUND_2} frames per method after a warm-up ` +
    "round (order rotating). GPU path: the compute pass makes NV12 on the " +
    "GPU, 1.5 B/px read back, `H264Encoder` takes NV12 (its only CPU " +
    "conversion is NV12 → I420, a plane de-interleave by FFmpeg's scaler). " +
    "CPU path: the texture copied out as RGBA, 4 B/px, `H264Encoder` " +
    "converts RGBA → I420 (FFmpeg's scaler, bilinear) before x264. Encoder " +
    `settings as a display's defaults: preset ${s.preset}, tune ` +
    `zerolatency, baseline, ${FPS} fps, GOP ${s.gop}, default bitrate ` +
    `(${f1(s.bitrate / 1e6)} Mbit/s at 720p, ${
      f1(defaults(1920, 1080, FPS).bitrate / 1e6)
    } at 1080p). Step by step (one frame ` +
    "in flight): readback = render submit → planes in JS (render, GPU " +
    "conversion if any, copy, map); convert = the encoder's `convertMs`; " +
    "x264 = encode call minus conversion; medians. Pipelined: " +
    `${PIPE_RING} frames in flight, the oldest encoded as soon as it is in ` +
    "JS while the GPU works on the next (as `GpuTarget` does), separate " +
    "encoder; wall time per frame.",
    "",
    table(
      [
        "size",
        "path",
        "KiB read back",
        "readback ms",
        "CPU convert ms",
        "x264 ms",
        "total ms p50",
        "total p95",
        "pipelined ms/frame",
        "pipelined fps",
        "KiB/chunk",
      ],
      rows.map((r) => [
        sizeName(r.width, r.height),
        label[r.method],
        kib(r.bytesReadBack),
        f1(r.readbackMs),
        f1(r.convertMs),
        f1(r.encodeMs),
        f1(r.totalMs),
        f1(r.totalP95),
        f1(r.pipelinedMs),
        f1(r.pipelinedFps),
        kib(r.chunkBytes),
      ]),
    ),
  ].join("\n");
  return { text, rows };
}

// ---------------------------------------------------------------- part 3

interface Handoff {
  /** Epoch ms just before and after the display took the frame. */
  from: number;
  to: number;
  /** Epoch ms when its render was submitted. */
  submitted: number;
}

/** One run: a display, a target, a viewer, render + publish for `SECONDS_3`. */
async function endToEnd(
  gpu: GpuContext,
  width: number,
  height: number,
  transport: "h264" | "jpeg",
): Promise<EndToEndRow> {
  const display: Display = await serve(width, height, {
    port: 0,
    logger: silentLogger,
    stillAfter: false,
    transport: transport === "h264" ? "webcodecs" : "image",
    imageFormat: "jpeg",
  });
  const target = await GpuTarget.create(display, { gpu, ring: RING_3 });
  const scene = new Scene(gpu.device, width, height);
  // Pair each frame the display takes with its render: readbacks complete
  // in submission order, so the n-th hand-off is the n-th accepted frame.
  const submits: number[] = [];
  const handoffs: Handoff[] = [];
  const inner = internals(display);
  const publishPlanes = inner.publishPlanes;
  inner.publishPlanes = (rgba, yuv) => {
    const from = epochMs();
    publishPlanes(rgba, yuv);
    handoffs.push({ from, to: epochMs(), submitted: submits.shift() ?? NaN });
    if (handoffs.length > 512) handoffs.splice(0, 256);
  };
  const mode: ViewerMode = transport === "h264" ? "h264" : "rfb";
  const viewer = await openViewer(wsUrl(display), mode);
  const lat: number[] = [];
  const renderLat: number[] = [];
  let measuring = false, listening = true, received = 0;
  const listen = (async () => {
    while (listening) {
      const f = await Promise.race([viewer.nextFrame(), sleep(200)]);
      if (!f || !measuring) continue;
      const now = epochMs();
      received++;
      lat.push(now - f.timestampUs / 1000);
      const ts = f.timestampUs / 1000;
      for (let k = handoffs.length - 1; k >= 0; k--) {
        const h = handoffs[k];
        if (ts >= h.from - 0.002 && ts <= h.to + 0.002) {
          renderLat.push(now - h.submitted);
          break;
        }
      }
    }
  })();
  const start = performance.now();
  let t = 0, waiting = 0;
  const loop = async (until: number) => {
    while (performance.now() < until) {
      if (target.stats().inFlight >= RING_3) {
        const w0 = performance.now();
        await sleep(1);
        waiting += performance.now() - w0;
        continue;
      }
      scene.render(target.texture, (performance.now() - start) / 1000);
      const submitted = epochMs();
      if (target.publish()) submits.push(submitted);
      t++;
      // Let readbacks, the encoder and the socket run between frames.
      await sleep(0);
    }
  };
  await loop(start + WARM_MS_3);
  const t0 = t, st0 = target.stats(), ds0 = display.stats();
  waiting = 0;
  measuring = true;
  const m0 = performance.now();
  await loop(m0 + SECONDS_3 * 1000);
  const wall = performance.now() - m0;
  measuring = false;
  const st1 = target.stats(), ds1 = display.stats();
  const rendered = t - t0;
  listening = false;
  await listen;
  await viewer.close();
  target.destroy();
  scene.destroy();
  await display.close();
  return {
    width,
    height,
    transport,
    seconds: wall / 1000,
    rendered,
    published: st1.published - st0.published,
    skipped: st1.skipped - st0.skipped,
    waitShare: waiting / wall,
    encodes: ds1.encodes - ds0.encodes,
    received,
    fps: received / (wall / 1000),
    latencyP50: quantile(lat, 0.5),
    latencyP95: quantile(lat, 0.95),
    renderLatencyP50: quantile(renderLat, 0.5),
    renderLatencyP95: quantile(renderLat, 0.95),
  };
}

async function part3(gpu: GpuContext, h264: boolean): Promise<{
  text: string;
  rows: EndToEndRow[];
}> {
  const rows: EndToEndRow[] = [];
  for (const [width, height] of SIZES) {
    for (const transport of ["h264", "jpeg"] as const) {
      if (transport === "h264" && !h264) continue;
      rows.push(await endToEnd(gpu, width, height, transport));
    }
  }
  const name = { h264: "H.264 (webcodecs)", jpeg: "JPEG q80 (image)" };
  const text = [
    "### 3. End to end: a WebGPU scene to one viewer",
    "",
    "A `serve()` display (port 0, stillAfter false, transport webcodecs or " +
    "image, JPEG q80, other options default) fed by a `GpuTarget` (ring " +
    `${RING_3}) on the same device; one headless WebSocket viewer in this ` +
    "process (bench/viewers.ts `openViewer`, H.264 or image dialect: it " +
    "reads each header and acks, no decoding). The loop renders the scene " +
    "into `target.texture` and calls `target.publish()` as fast as the " +
    "target accepts: when all ring slots are in flight it waits (1 ms " +
    "polls) instead of rendering, as demo/scenes/gpu.ts skips, so skipped " +
    "(frames the target refused: ring busy or failed readback) stays near " +
    "0 and the wait column says how long the loop was held by the ring. " +
    `${WARM_MS_3 / 1000} s warm-up, then ${SECONDS_3} s measured. Published ` +
    "= readbacks handed to the display; encodes = the display's encodes " +
    "(latest wins: a frame published while an encode runs replaces the " +
    "waiting one); latency = display publish (readback done, the frame's " +
    "timestamp) → received by the viewer; render → received adds the render " +
    "and readback (matched through the display's hand-offs).",
    "",
    table(
      [
        "size",
        "stream",
        "rendered",
        "published",
        "skipped",
        "waiting for ring",
        "encodes",
        "received",
        "fps received",
        "publish → received p50 / p95 ms",
        "render → received p50 / p95 ms",
      ],
      rows.map((r) => [
        sizeName(r.width, r.height),
        name[r.transport],
        `${r.rendered}`,
        `${r.published}`,
        `${r.skipped}`,
        `${Math.round(r.waitShare * 100)}%`,
        `${r.encodes}`,
        `${r.received}`,
        f1(r.fps),
        `${f1(r.latencyP50)} / ${f1(r.latencyP95)}`,
        `${f1(r.renderLatencyP50)} / ${f1(r.renderLatencyP95)}`,
      ]),
    ),
    ...(h264 ? [] : ["", "H.264 rows skipped: no H.264 encoder."]),
  ].join("\n");
  return { text, rows };
}

// ---------------------------------------------------------------- main

function adapterLine(gpu: GpuContext): string {
  const info = gpu.adapter.info;
  const vendor = Number(info.vendor);
  const vendorText = Number.isFinite(vendor) && vendor > 0
    ? `vendor 0x${vendor.toString(16)}${
      vendor === 0x10005 ? " (Mesa's Vulkan vendor ID: lavapipe)" : ""
    }`
    : `vendor ${info.vendor || "?"}`;
  const backend = Deno.env.get("DENO_WEBGPU_BACKEND");
  return `**${gpu.description}**, ${vendorText}, ` +
    `${gpu.software ? "a software adapter (runs on the CPU)" : "hardware"}; ` +
    `DENO_WEBGPU_BACKEND ${backend ? `= ${backend}` : "unset (wgpu's choice)"}`;
}

/**
 * Run the GPU benchmark; returns its Markdown section and numbers. Never
 * throws for a missing adapter: the section then says "Skipped: <reason>".
 *
 * @example
 * ```ts ignore
 * const { text, rows } = await gpuBenchmark();
 * console.log(text, rows.pipeline.length);
 * ```
 */
export async function gpuBenchmark(): Promise<GpuBenchResult> {
  const head = "## GPU path";
  let gpu: GpuContext;
  try {
    gpu = await requestGpu();
  } catch (err) {
    const reason = (err as Error).message;
    return {
      text: `${head}\n\nSkipped: ${reason}.`,
      adapter: null,
      skipped: reason,
      rows: { pipeline: [], encode: [], endToEnd: [] },
    };
  }
  const started = performance.now();
  const loadAtStart = loadavg();
  const probe = await probeH264();
  const sections: string[] = [];
  const notes: string[] = [];
  const run = async <T extends { text: string }>(
    name: string,
    part: () => Promise<T>,
  ): Promise<T> => {
    const meter = await LoadMeter.start();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const result = await part();
    const wall = performance.now() - t0;
    const cpu = cpuMs(c0);
    const load = await meter.stop();
    const pct = (v: number) => `${Math.round(v * 100)}%`;
    notes.push(`${name} ${f1(wall / 1000)} s`);
    sections.push(
      `${result.text}\n\nThis process used ${
        f1(cpu / wall)
      } cores on average (llvmpipe's threads included); share of the ` +
        `machine's CPU time: this benchmark ${pct(load.ours)}, other ` +
        `processes ${pct(load.others)}.`,
    );
    return result;
  };
  let pipeline: PipelineRow[] = [], encode: EncodeRow[] = [];
  let endToEndRows: EndToEndRow[] = [];
  try {
    pipeline = (await run("part 1", () => part1(gpu))).rows;
    if (probe.ok) encode = (await run("part 2", () => part2(gpu))).rows;
    else {
      sections.push(
        `### 2. GPU NV12 path vs CPU path into x264\n\nSkipped: ${probe.reason}.`,
      );
    }
    endToEndRows = (await run("part 3", () => part3(gpu, probe.ok))).rows;
  } finally {
    gpu.device.destroy();
  }
  const intro = `Measured on ${adapterLine(gpu)}. CPU: ${await cpuModel()}; ` +
    `Deno ${Deno.version.deno}; load average at start ${loadAtStart}. The ` +
    "scene is the WGSL shader of demo/scenes/gpu.ts (plasma and a spinning " +
    "ring, one full-screen triangle), its time advancing 1/60 s per frame. " +
    'With a software adapter the "GPU" is llvmpipe\'s threads on the same ' +
    "cores as x264 and the server, so the GPU path competes with them for " +
    "the CPU; on a real GPU render and conversion leave the CPU free.";
  const total = `Total time: ${f1((performance.now() - started) / 1000)} s (${
    notes.join(", ")
  }); load average at the end: ${loadavg()}.`;
  return {
    text: [head, intro, ...sections, total].join("\n\n"),
    adapter: gpu.description,
    skipped: null,
    rows: { pipeline, encode, endToEnd: endToEndRows },
  };
}

if (import.meta.main) console.log((await gpuBenchmark()).text);
