// The demo's scenes take the richer input (issue 19): the paint canvas
// draws an image dropped on it where it landed, and the fractal zooms with
// a pinch exactly as the wheel zooms by the same factor.

import assert from "node:assert/strict";
import sharp from "sharp";
import type { DisplayEvent } from "../mod.ts";
import { fractal } from "../demo/scenes/fractal.ts";
import { paint } from "../demo/scenes/patterns.ts";
import { pixelAt, until } from "./_viewer.ts";

const W = 160, H = 90;

function pointer(
  type: "pointer_down" | "pointer_move" | "pointer_up",
  touches: Array<[number, number]>,
): DisplayEvent {
  const [x, y] = touches[0] ?? [0, 0];
  return {
    type,
    x,
    y,
    button: type === "pointer_move" ? 0 : 1,
    buttons: type === "pointer_up" ? [] : [1],
    modifiers: [],
    timestamp: 0,
    ntouches: touches.length,
    touches: touches.map(([x, y], id) => ({ id, x, y })),
    viewer: 1,
  };
}

Deno.test("paint: a dropped image is drawn centred where it landed; other files change nothing", async () => {
  const scene = paint(W, H);
  const rgba = new Uint8Array(W * H * 4);
  assert.ok(scene.draw(rgba, 0));
  const png = new Uint8Array(
    await sharp({
      create: { width: 20, height: 10, channels: 3, background: "#e01010" },
    }).png().toBuffer(),
  );
  const file = (bytes: Uint8Array, mime: string): DisplayEvent => ({
    type: "file",
    name: "x",
    mime,
    size: bytes.length,
    bytes,
    x: 40,
    y: 30,
    timestamp: 0,
    viewer: 1,
  });
  scene.input(file(new Uint8Array([1, 2, 3]), "image/png")); // not an image
  scene.input(file(png, "text/plain")); // not said to be one
  scene.input(file(png, "image/png"));
  await until(() => scene.draw(rgba, 0), 5000, "the image drawn");
  const image = { data: rgba, width: W, height: H };
  assert.deepEqual(pixelAt(image, 40, 30).slice(0, 3), [224, 16, 16]);
  assert.deepEqual(pixelAt(image, 31, 26).slice(0, 3), [224, 16, 16]);
  assert.deepEqual(pixelAt(image, 52, 30).slice(0, 3), [255, 255, 255]);
  assert.deepEqual(pixelAt(image, 40, 37).slice(0, 3), [255, 255, 255]);
  assert.equal(scene.draw(rgba, 0), false, "nothing more to draw");
});

Deno.test("fractal: two fingers spreading to twice their distance zoom in 2x about their midpoint, as the wheel would", () => {
  const pinched = fractal(W, H), wheeled = fractal(W, H);
  const a = new Uint8Array(W * H * 4), b = new Uint8Array(W * H * 4);
  pinched.draw(a, 0);
  wheeled.draw(b, 0);
  assert.deepEqual(a, b, "the same start");
  pinched.input(pointer("pointer_down", [[60, 45]]));
  pinched.input(pointer("pointer_move", [[60, 45], [100, 45]])); // 40 apart, mid (80, 45)
  pinched.input(pointer("pointer_move", [[40, 45], [120, 45]])); // 80 apart
  pinched.input(pointer("pointer_up", [[40, 45], [120, 45]]));
  wheeled.input({
    type: "wheel",
    x: 80,
    y: 45,
    dx: 0,
    dy: Math.log(0.5) / Math.log(1.0015),
    buttons: [],
    modifiers: [],
    timestamp: 0,
    viewer: 1,
  });
  assert.ok(pinched.draw(a, 0));
  assert.ok(wheeled.draw(b, 0));
  let differ = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
  assert.ok(differ < a.length * 0.001, `${differ} bytes differ`);
  // And the pinch really zoomed: the picture is not the start's.
  const start = new Uint8Array(W * H * 4);
  fractal(W, H).draw(start, 0);
  let moved = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== start[i]) moved++;
  assert.ok(moved > a.length * 0.2, `${moved} bytes changed`);
});
