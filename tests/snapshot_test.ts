// Snapshots: the newest published frame as an image file. PNG decodes to the
// published pixels exactly (RGBA, RGB, gray; a YUV frame as its RGBA
// conversion), JPEG within a tolerance; a clear error before any frame; and
// the notebook's still: a Display's Jupyter bundle carries image/png.

import assert from "node:assert/strict";
import sharp from "sharp";
import { Display, rgbaToYuv, silentLogger, widget, yuvToRgba } from "../mod.ts";

const W = 64, H = 48;

function pattern(channels: number): Uint8Array {
  const out = new Uint8Array(W * H * channels);
  for (let i = 0; i < out.length; i++) out[i] = (i * 37 + (i >> 7)) & 255;
  return out;
}

async function decode(
  file: Uint8Array,
): Promise<{ data: Uint8Array; channels: number }> {
  const { data, info } = await sharp(file).raw().toBuffer({
    resolveWithObject: true,
  });
  assert.deepEqual([info.width, info.height], [W, H]);
  return { data: new Uint8Array(data), channels: info.channels };
}

Deno.test("snapshot: before any frame, a clear error; bad options are refused", async () => {
  await using display = new Display(W, H, { logger: silentLogger });
  await assert.rejects(
    display.snapshot(),
    /snapshot\(\): display 'default' has no frame yet; publish\(\) one first/,
  );
  display.publish(pattern(4));
  await assert.rejects(
    display.snapshot({ format: "gif" as never }),
    /format must be one of png, jpeg, webp/,
  );
  await assert.rejects(
    display.snapshot({ fromat: "png" } as never),
    /unknown option "fromat" \(did you mean 'format'\?\)/,
  );
  await assert.rejects(
    display.snapshot({ format: "jpeg", quality: 0 }),
    /quality must be an integer 1-100/,
  );
});

Deno.test("snapshot: PNG decodes to the published RGBA, RGB and gray pixels exactly", async () => {
  await using display = new Display(W, H, { logger: silentLogger });
  for (const channels of [4, 3, 1]) {
    const pixels = pattern(channels);
    display.publish(pixels);
    const png = await display.snapshot();
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
    const got = await decode(png);
    if (channels === 1) { // gray comes back as gray, in one channel or three
      const gray = got.data.filter((_, i) => i % got.channels === 0);
      for (let i = 0; i < got.data.length; i++) {
        assert.equal(got.data[i], gray[Math.floor(i / got.channels)]);
      }
      assert.deepEqual(gray, pixels);
    } else {
      assert.equal(got.channels, channels);
      assert.deepEqual(got.data, pixels);
    }
    // The same frame again is the same file (kept, not encoded again).
    assert.deepEqual(await display.snapshot(), png);
  }
});

Deno.test("snapshot: a frame published as NV12 comes out as its RGBA conversion, exactly", async () => {
  await using display = new Display(W, H, { logger: silentLogger });
  const nv12 = rgbaToYuv(pattern(4), W, H, "nv12");
  display.publish(nv12, { layout: "nv12" });
  const got = await decode(await display.snapshot());
  assert.deepEqual(got.data, yuvToRgba(nv12, W, H, "nv12"));
});

Deno.test("snapshot: JPEG and WebP are close to the published pixels", async () => {
  await using display = new Display(W, H, { logger: silentLogger });
  const smooth = new Uint8Array(W * H * 4);
  for (let y = 0, i = 0; y < H; y++) {
    for (let x = 0; x < W; x++, i += 4) {
      smooth.set([x * 4, y * 5, 128, 255], i);
    }
  }
  display.publish(smooth);
  for (const format of ["jpeg", "webp"] as const) {
    const file = await display.snapshot({ format, quality: 90 });
    const { data, channels } = await decode(file);
    let diff = 0;
    for (let p = 0; p < W * H; p++) {
      for (let c = 0; c < 3; c++) {
        diff += Math.abs(data[p * channels + c] - smooth[p * 4 + c]);
      }
    }
    const mean = diff / (W * H * 3);
    assert.ok(mean < 3, `${format}: mean difference ${mean.toFixed(2)}`);
  }
  const jpeg = await display.snapshot({ format: "jpeg" });
  assert.deepEqual([jpeg[0], jpeg[1]], [0xff, 0xd8]);
});

Deno.test("snapshot: the notebook bundle of a display (and of widget()) carries the still as image/png once a frame is published", async () => {
  await using display = new Display(W, H, { logger: silentLogger });
  const show = (o: object) =>
    (o as Record<symbol, () => Promise<Record<string, string>>>)[
      Symbol.for("Jupyter.display")
    ]();
  const empty = await show(display);
  assert.equal(empty["image/png"], undefined);
  assert.match(empty["text/plain"], /rfb Display 'default' 64x48/);
  const pixels = pattern(4);
  display.publish(pixels);
  const bundle = await show(display);
  const png = Uint8Array.from(
    atob(bundle["image/png"]),
    (c) => c.charCodeAt(0),
  );
  assert.deepEqual((await decode(png)).data, pixels);
  assert.equal((await show(widget(display)))["image/png"], bundle["image/png"]);
});
