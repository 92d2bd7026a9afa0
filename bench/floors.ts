/**
 * Floors: what the pieces we build on cost on their own, measured in the
 * same run as everything else, so every other figure can be read against
 * them. Copying a frame (`Uint8Array.set`), sharp's JPEG encode,
 * node-av's RGBA → I420 conversion and x264 encode (`H264Encoder`), and
 * Chromium's own decode (WebCodecs `VideoDecoder` for H.264,
 * `createImageBitmap` for JPEG) and draw onto a canvas.
 *
 * @module
 */

import sharp from "sharp";
import { H264Encoder } from "../src/encoders/h264.ts";
import { browserMissing, launch } from "../tests/_browser.ts";
import { defaults } from "./h264.ts";
import { Player, RING } from "./scene.ts";
import { f1, f2, quantile, table } from "./util.ts";

const COPY_N = 60;
const SHARP_N = 30;
const X264_WARM = 10;
const X264_N = 60; // frames of one stream at 30 fps
const FPS = 30;
const JPEG = {
  quality: 80,
  chromaSubsampling: "4:2:0",
  mozjpeg: false,
} as const;

/** Median ms per floor, per size ("1280x720"). */
export interface FloorRow {
  size: string;
  copy: number;
  sharpJpeg: number;
  convert: number;
  x264: number;
  /** Chromium: H.264 decode, draw of the VideoFrame, JPEG decode, draw of the bitmap (NaN when skipped). */
  h264Decode: number;
  h264Draw: number;
  jpegDecode: number;
  jpegDraw: number;
}

/** What `floorsBenchmark` returns. */
export interface FloorsReport {
  text: string;
  rows: FloorRow[];
}

const med = (xs: number[]) => quantile(xs, 0.5);

interface Encoded {
  h264: Uint8Array[];
  codec: string;
  jpeg: Uint8Array[];
}

/** The browser's side, timed in a page: frames come from a local server. */
async function chromiumFloors(
  width: number,
  height: number,
  enc: Encoded,
): Promise<
  { h264Decode: number; h264Draw: number; jpegDecode: number; jpegDraw: number }
> {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (req) => {
      const [, kind, i] = new URL(req.url).pathname.split("/");
      const list = kind === "h264"
        ? enc.h264
        : kind === "jpeg"
        ? enc.jpeg
        : null;
      if (list && list[Number(i)]) {
        return new Response(list[Number(i)] as Uint8Array<ArrayBuffer>);
      }
      return new Response("<!doctype html><title>floors</title>", {
        headers: { "content-type": "text/html" },
      });
    },
  );
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.addr.port}/`);
    const result = await page.evaluate(`(async () => {
      const n = ${enc.h264.length}, w = ${width}, h = ${height};
      const get = (k, i) => fetch("/" + k + "/" + i).then((r) => r.arrayBuffer());
      const h264 = [], jpeg = [];
      for (let i = 0; i < n; i++) { h264.push(await get("h264", i)); jpeg.push(await get("jpeg", i)); }
      const ctx = new OffscreenCanvas(w, h).getContext("2d");
      const out = { h264Decode: [], h264Draw: [], jpegDecode: [], jpegDraw: [] };
      let take = null;
      const dec = new VideoDecoder({
        output: (f) => take(f),
        error: (e) => { throw e; },
      });
      dec.configure({ codec: ${
      JSON.stringify(enc.codec)
    }, optimizeForLatency: true, hardwareAcceleration: "no-preference" });
      for (let i = 0; i < n; i++) {
        const got = new Promise((r) => take = r);
        const t0 = performance.now();
        dec.decode(new EncodedVideoChunk({ type: i === 0 ? "key" : "delta", timestamp: i, data: h264[i] }));
        const frame = await got;
        const t1 = performance.now();
        ctx.drawImage(frame, 0, 0, w, h);
        const t2 = performance.now();
        frame.close();
        if (i >= 5) { out.h264Decode.push(t1 - t0); out.h264Draw.push(t2 - t1); }
      }
      dec.close();
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const bmp = await createImageBitmap(new Blob([jpeg[i]], { type: "image/jpeg" }));
        const t1 = performance.now();
        ctx.drawImage(bmp, 0, 0);
        const t2 = performance.now();
        bmp.close();
        if (i >= 5) { out.jpegDecode.push(t1 - t0); out.jpegDraw.push(t2 - t1); }
      }
      return out;
    })()`) as Record<string, number[]>;
    return {
      h264Decode: med(result.h264Decode),
      h264Draw: med(result.h264Draw),
      jpegDecode: med(result.jpegDecode),
      jpegDraw: med(result.jpegDraw),
    };
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

/**
 * Measure the floors at each size of `rings` ("1280x720" → frames).
 *
 * @example
 * ```ts ignore
 * const { text } = await floorsBenchmark(new Map([["1280x720", renderRing(1280, 720)]]));
 * ```
 */
export async function floorsBenchmark(
  rings: Map<string, Uint8Array[]>,
): Promise<FloorsReport> {
  const rows: FloorRow[] = [];
  const missing = browserMissing();
  for (const [size, ring] of rings) {
    const [width, height] = size.split("x").map(Number);
    // Copy: one frame into a pooled buffer, as publish() does.
    const dst = new Uint8Array(width * height * 4);
    const copy: number[] = [];
    for (let i = 0; i < COPY_N; i++) {
      const t0 = performance.now();
      dst.set(ring[i % ring.length]);
      copy.push(performance.now() - t0);
    }
    // sharp's JPEG encode alone.
    const jpegMs: number[] = [];
    const jpeg: Uint8Array[] = [];
    const player = new Player(RING, 60 / FPS);
    const order = Array.from({ length: X264_N }, () => player.next());
    for (let i = 0; i < Math.max(SHARP_N, X264_N); i++) {
      const t0 = performance.now();
      const out = await sharp(ring[order[i % order.length]], {
        raw: { width, height, channels: 4 },
      }).jpeg(JPEG).toBuffer();
      if (i < SHARP_N) jpegMs.push(performance.now() - t0);
      if (i < X264_N) jpeg.push(new Uint8Array(out));
    }
    // node-av: RGBA → I420 and x264, one stream at the display's defaults.
    const encoder = await H264Encoder.open(defaults(width, height, FPS));
    const convert: number[] = [], x264: number[] = [];
    const h264: Uint8Array[] = [];
    for (let i = -X264_WARM; i < X264_N; i++) {
      const frame = ring[order[(i + X264_N) % X264_N]];
      const t0 = performance.now();
      const chunk = await encoder.encode(
        { data: frame, width, height, layout: "rgba" },
        i === 0,
      );
      const total = performance.now() - t0;
      if (i < 0) continue;
      convert.push(encoder.convertMs);
      x264.push(total - encoder.convertMs);
      if (chunk) h264.push(chunk.data);
    }
    const codec = encoder.codec;
    await encoder.close();
    const browserSide = missing ? null : await chromiumFloors(width, height, {
      h264,
      codec,
      jpeg,
    });
    rows.push({
      size,
      copy: med(copy),
      sharpJpeg: med(jpegMs),
      convert: med(convert),
      x264: med(x264),
      h264Decode: browserSide?.h264Decode ?? NaN,
      h264Draw: browserSide?.h264Draw ?? NaN,
      jpegDecode: browserSide?.jpegDecode ?? NaN,
      jpegDraw: browserSide?.jpegDraw ?? NaN,
    });
  }
  const ms = (v: number) => Number.isNaN(v) ? "—" : v < 1 ? f2(v) : f1(v);
  const text = [
    "## Floors: the parts on their own",
    "",
    "Median ms per frame, same frames as the sections below (the moving " +
    "scene, 30 fps order). Copy: `Uint8Array.set` of one RGBA frame (what " +
    `\`publish()\` does). sharp: JPEG q80 4:2:0, ${SHARP_N} frames. ` +
    "node-av: `H264Encoder` on RGBA at the display's defaults, split into " +
    `the RGBA → I420 conversion and x264 itself, ${X264_N} frames after ` +
    `${X264_WARM} of warm-up. Chromium (headless, software decode and ` +
    "canvas, one page, main thread): each H.264 chunk of that stream fed " +
    "to a `VideoDecoder` (optimizeForLatency) and timed to its output, " +
    "then `drawImage` of the VideoFrame onto a canvas (where YUV becomes " +
    "RGB); each JPEG through `createImageBitmap`, then `drawImage`; the " +
    "first 5 frames not counted." +
    (missing ? ` Chromium skipped: ${missing}.` : ""),
    "",
    table(
      [
        "size",
        "copy",
        "sharp JPEG",
        "RGBA → I420",
        "x264",
        "Chromium H.264 decode",
        "draw VideoFrame",
        "Chromium JPEG decode",
        "draw bitmap",
      ],
      rows.map((r) => [
        r.size,
        ms(r.copy),
        ms(r.sharpJpeg),
        ms(r.convert),
        ms(r.x264),
        ms(r.h264Decode),
        ms(r.h264Draw),
        ms(r.jpegDecode),
        ms(r.jpegDraw),
      ]),
    ),
  ].join("\n");
  return { text, rows };
}

if (import.meta.main) {
  const { renderRing } = await import("./scene.ts");
  const rings = new Map([["1280x720", renderRing(1280, 720)]]);
  console.log((await floorsBenchmark(rings)).text);
}
