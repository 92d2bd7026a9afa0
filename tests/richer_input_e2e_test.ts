// Input beyond pointer and keys in real Chromium (issue 19), through the
// viewer page a display serves: a paste (the clipboard permission with
// Ctrl+V, and a synthetic paste event), the app's clipboard offered and
// written on a gesture, an input method's composition (the DevTools
// protocol's Input.imeSetComposition and Input.insertText) arriving as one
// text_input, two fingers arriving together in touches, a stubbed
// navigator.getGamepads sending only changes, a dropped 5 MiB file
// arriving byte for byte while the frames keep coming, and files the app
// cannot take refused on the page with a visible note and nothing sent.
//
// Page-side code goes to playwright as strings: Deno type-checks this file
// without DOM types.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { BrowserContextOptions, Page } from "playwright-core";
import {
  type Display,
  type DisplayEvent,
  type DisplayOptions,
  serve,
} from "../mod.ts";
import { browserMissing, launch, waitForExpression } from "./_browser.ts";
import { quadrants, sleep, until } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping richer input e2e tests: ${missing}`);

// The viewer page fills the window, and the frame is the window's size:
// one frame pixel per CSS pixel.
const W = 640, H = 360;

type Ev = DisplayEvent & Record<string, unknown>;

interface Env {
  display: Display;
  page: Page;
  /** Every event the app got so far (drained from the display). */
  events(): Ev[];
  /** Wait until an event matches; returns it. */
  event(match: (e: Ev) => boolean, what: string, ms?: number): Promise<Ev>;
}

/** A display, Chromium on its viewer page, live; torn down after `fn`. */
async function withViewer(
  options: DisplayOptions,
  context: BrowserContextOptions,
  fn: (env: Env) => Promise<void>,
  init?: string,
): Promise<void> {
  const display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    logger: () => {},
    ...options,
  });
  display.publish(quadrants(W, H));
  const browser = await launch();
  const seen: Ev[] = [];
  const events = () => {
    seen.push(...display.pollEvents() as Ev[]);
    return seen;
  };
  try {
    const ctx = await browser.newContext({
      viewport: { width: W, height: H },
      ...context,
    });
    const page = await ctx.newPage();
    if (init) await page.addInitScript(init);
    await page.goto(display.url!);
    await waitForExpression(
      page,
      `globalThis.rfb?.view.status === "negotiated"`,
    );
    await waitForExpression(
      page,
      `(globalThis.rfb.view.stats?.frames ?? 0) > 0`,
    );
    await fn({
      display,
      page,
      events,
      async event(match, what, ms = 5000) {
        let found: Ev | undefined;
        await until(
          () => (found = events().find(match)) !== undefined,
          ms,
          what,
        );
        return found!;
      },
    });
  } finally {
    await browser.close();
    await display.close();
  }
}

const notes =
  `[...document.querySelectorAll(".rfb-note")].map((n) => n.textContent)`;

/** Wait until a viewer note contains `text`; returns the notes. */
async function noteSays(page: Page, text: string): Promise<string[]> {
  await waitForExpression(
    page,
    `${notes}.some((t) => t.includes(${JSON.stringify(text)}))`,
    { timeout: 10_000 },
  ).catch(async (err) => {
    throw new Error(
      `no note with "${text}" (notes: ${
        JSON.stringify(await page.evaluate(notes))
      }): ${err}`,
    );
  });
  return await page.evaluate(notes) as string[];
}

Deno.test({
  name:
    "paste: Ctrl+V with the clipboard permission and a synthetic paste arrive as clipboard events; an oversized one is refused on the page",
  ignore: missing !== null,
  fn: () =>
    withViewer(
      {},
      { permissions: ["clipboard-read", "clipboard-write"] },
      async (env) => {
        const { page } = env;
        await page.mouse.click(100, 100); // focus the view
        assert.equal(await page.evaluate(`rfb.view.focused`), true);
        await page.evaluate(
          `navigator.clipboard.writeText("pasted ✓ from the system")`,
        );
        await page.keyboard.press("Control+KeyV");
        const first = await env.event(
          (e) => e.type === "clipboard",
          "the Ctrl+V paste",
        );
        assert.equal(first.text, "pasted ✓ from the system");
        assert.equal(first.viewer, env.display.presence()[0].id);

        // A synthetic paste of 60,000 bytes: four pieces, one event.
        const long = "ü".repeat(30_000);
        await page.evaluate(`(() => {
        const dt = new DataTransfer();
        dt.setData("text/plain", "ü".repeat(30000));
        document.activeElement.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
      })()`);
        const second = await env.event(
          (e) => e.type === "clipboard" && e !== first,
          "the synthetic paste",
        );
        assert.equal(second.text, long);

        // Over the app's 64 KiB: a note, and nothing sent.
        await page.evaluate(`(() => {
        const dt = new DataTransfer();
        dt.setData("text/plain", "ü".repeat(40000));
        document.activeElement.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
      })()`);
        await noteSays(
          page,
          "Paste not sent: 78 KiB is over this app's limit of 64 KiB",
        );
        await sleep(300);
        assert.equal(
          env.events().filter((e) => e.type === "clipboard").length,
          2,
        );
      },
    ),
});

Deno.test({
  name:
    "copy-out: the app's text is shown, then written to the clipboard on the next gesture or the Copy button",
  ignore: missing !== null,
  fn: () =>
    withViewer(
      {},
      { permissions: ["clipboard-read", "clipboard-write"] },
      async (env) => {
        const { page, display } = env;
        const copyButton =
          `[...document.querySelectorAll(".rfb-toolbar button")].find((b) => b.textContent === "Copy")`;
        await page.evaluate(`navigator.clipboard.writeText("before")`);
        assert.equal(await page.evaluate(`${copyButton}.hidden`), true);
        assert.equal(display.setClipboard("result: 42"), 1);
        await noteSays(page, "The app has text for your clipboard");
        assert.equal(await page.evaluate(`${copyButton}.hidden`), false);
        assert.equal(await page.evaluate(`rfb.view.clipboard`), "result: 42");
        // Not written before a gesture.
        assert.equal(
          await page.evaluate(`navigator.clipboard.readText()`),
          "before",
        );
        await page.mouse.click(200, 150); // the gesture
        await waitForExpression(page, `rfb.view.clipboard === null`);
        assert.equal(
          await page.evaluate(`navigator.clipboard.readText()`),
          "result: 42",
        );
        await noteSays(page, "Copied the app's text to your clipboard");
        assert.equal(await page.evaluate(`${copyButton}.hidden`), true);

        // The Copy button, for a viewer that would rather not click the view.
        display.setClipboard("second ✓");
        await waitForExpression(page, `${copyButton}.hidden === false`);
        await page.getByRole("button", { name: "Copy", exact: true }).click();
        await waitForExpression(page, `rfb.view.clipboard === null`);
        assert.equal(
          await page.evaluate(`navigator.clipboard.readText()`),
          "second ✓",
        );
      },
    ),
});

Deno.test({
  name:
    "IME: a composition through the DevTools protocol arrives as one text_input; plain typing commits its text too",
  ignore: missing !== null,
  fn: () =>
    withViewer({}, {}, async (env) => {
      const { page } = env;
      await page.mouse.click(100, 100);
      env.events().length = 0;
      const cdp = await page.context().newCDPSession(page);
      for (const text of ["に", "にほ", "にほん", "日本"]) {
        await cdp.send("Input.imeSetComposition", {
          text,
          selectionStart: text.length,
          selectionEnd: text.length,
        });
      }
      await cdp.send("Input.insertText", { text: "日本語" });
      await page.keyboard.type("é!");
      await env.event(
        (e) => e.type === "text_input" && e.text === "!",
        "the typed text",
      );
      const typed = env.events().filter((e) => e.type === "text_input").map((
        e,
      ) => e.text);
      assert.deepEqual(
        typed,
        ["日本語", "é", "!"],
        "one text_input for the composition",
      );
      const keys = env.events().filter((e) => e.type === "key_down").map((e) =>
        e.key
      );
      // Playwright types "é" (not on its US layout) as inserted text, as an
      // on-screen keyboard does: text, no key; "!" is a key press.
      assert.deepEqual(keys, ["!"], "no key events for the composition");
    }),
});

Deno.test({
  name: "touch: two fingers arrive together in touches, moving apart (a pinch)",
  ignore: missing !== null,
  fn: () =>
    withViewer({}, { hasTouch: true }, async (env) => {
      const { page } = env;
      const cdp = await page.context().newCDPSession(page);
      const touch = (
        type: "touchStart" | "touchMove" | "touchEnd",
        points: Array<[number, number]>,
      ) =>
        cdp.send("Input.dispatchTouchEvent", {
          type,
          touchPoints: points.map(([x, y], id) => ({ x, y, id })),
        });
      env.events().length = 0;
      await touch("touchStart", [[200, 180], [300, 180]]);
      await sleep(50);
      await touch("touchMove", [[150, 180], [350, 180]]);
      await sleep(50);
      await touch("touchMove", [[100, 180], [400, 180]]);
      await sleep(50);
      await touch("touchEnd", []);
      await env.event((e) => e.type === "pointer_up", "the fingers lift");
      const two = env.events().filter((e) => e.ntouches === 2);
      assert.ok(two.length >= 2, `events with two touches: ${two.length}`);
      const xs = (e: Ev) =>
        (e.touches as Array<{ x: number; y: number }>).map((t) =>
          Math.round(t.x)
        ).sort((a, b) => a - b);
      assert.deepEqual(
        xs(two[0]),
        [200, 300],
        "both fingers where they landed",
      );
      assert.deepEqual(
        xs(two.at(-1)!),
        [100, 400],
        "both fingers where they moved",
      );
      for (const e of two) {
        for (const t of e.touches as Array<{ y: number }>) {
          assert.equal(Math.round(t.y), 180);
        }
      }
      const down = env.events().find((e) => e.type === "pointer_down")!;
      assert.equal(down.ntouches, 1, "the first finger lands alone");

      // On a touch screen the viewer can bring up the on-screen keyboard.
      const keyboard = page.getByRole("button", {
        name: "Keyboard",
        exact: true,
      });
      assert.equal(await keyboard.isVisible(), true);
      await keyboard.click();
      assert.equal(await page.evaluate(`rfb.view.focused`), true);
      assert.equal(
        await page.evaluate(`document.activeElement.inputMode`),
        "text",
      );
      await page.keyboard.insertText("hi");
      const text = await env.event(
        (e) => e.type === "text_input",
        "typed on it",
      );
      assert.equal(text.text, "hi");
      await page.keyboard.press("Escape");
      assert.equal(await page.evaluate(`rfb.view.focused`), false);
      assert.equal(
        await page.evaluate(
          `rfb.view.element.querySelector(".rfb-input").inputMode`,
        ),
        "none",
        "a tap on the view alone does not bring it up",
      );
      // Asked for while the view already has the focus, it comes up too.
      await page.touchscreen.tap(300, 200);
      assert.equal(await page.evaluate(`rfb.view.focused`), true);
      assert.equal(
        await page.evaluate(`document.activeElement.inputMode`),
        "none",
      );
      await page.evaluate(`rfb.view.showKeyboard()`);
      assert.equal(await page.evaluate(`rfb.view.focused`), true);
      assert.equal(
        await page.evaluate(`document.activeElement.inputMode`),
        "text",
      );
    }),
});

const GAMEPAD_STUB = `
globalThis.pad = {
  index: 0, id: "Test pad (STANDARD GAMEPAD)", connected: true, timestamp: 0,
  buttons: Array.from({ length: 4 }, () => ({ pressed: false, touched: false, value: 0 })),
  axes: [0, 0],
};
globalThis.padPresent = true;
navigator.getGamepads = () => [globalThis.padPresent ? globalThis.pad : null, null, null, null];
`;

Deno.test({
  name:
    "gamepads: a stubbed navigator.getGamepads sends gamepad events, only on change, while the view has the focus",
  ignore: missing !== null,
  fn: () =>
    withViewer({}, {}, async (env) => {
      const { page } = env;
      const pads = () => env.events().filter((e) => e.type === "gamepad");
      await page.evaluate(
        `pad.buttons[0] = { pressed: true, touched: true, value: 1 }`,
      );
      await sleep(200);
      assert.equal(pads().length, 0, "nothing before the view has the focus");
      assert.equal(
        await page.getByRole("button", { name: "Keyboard", exact: true })
          .isVisible(),
        false,
        "no Keyboard button without a touch screen",
      );
      await page.mouse.click(100, 100);
      const first = await env.event(
        (e) => e.type === "gamepad",
        "the pad's state",
      );
      assert.equal(first.index, 0);
      assert.equal(first.id, "Test pad (STANDARD GAMEPAD)");
      assert.equal(first.connected, true);
      assert.deepEqual(first.buttons, [1, 0, 0, 0]);
      assert.deepEqual(first.axes, [0, 0]);
      await sleep(300); // many animation frames, nothing new
      assert.equal(pads().length, 1, "no event while nothing changes");
      await page.evaluate(`pad.axes = [0.5004, -0.25]`);
      const moved = await env.event(
        (e) => e.type === "gamepad" && e !== first,
        "the stick",
      );
      assert.deepEqual(moved.axes, [0.5, -0.25]);
      await page.evaluate(`pad.axes = [0.5001, -0.25]`); // jitter under a hundredth
      await sleep(200);
      assert.equal(pads().length, 2, "jitter sends nothing");
      await page.evaluate(`padPresent = false`);
      const gone = await env.event(
        (e) => e.type === "gamepad" && e.connected === false,
        "the pad gone",
      );
      assert.deepEqual([gone.buttons, gone.axes], [[], []]);
    }, GAMEPAD_STUB),
});

/** Page code: a deterministic file of `n` bytes and its SHA-256, in `globalThis[name]`. */
function makeFile(
  varName: string,
  fileName: string,
  n: number,
  type = "application/octet-stream",
): string {
  return `(async () => {
    const bytes = new Uint8Array(${n});
    let x = 12345;
    for (let i = 0; i < bytes.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; bytes[i] = x & 255; }
    const hash = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
    globalThis.${varName} = { file: new File([bytes], ${
    JSON.stringify(fileName)
  }, { type: ${JSON.stringify(type)} }), hash };
    return hash;
  })()`;
}

/** Page code: drop `globalThis[name].file` on the view at (x, y). */
function drop(varName: string, x: number, y: number): string {
  return `(() => {
    const dt = new DataTransfer();
    dt.items.add(globalThis.${varName}.file);
    const canvas = rfb.view.canvas;
    for (const type of ["dragenter", "dragover", "drop"]) {
      canvas.dispatchEvent(new DragEvent(type, { dataTransfer: dt, clientX: ${x}, clientY: ${y}, bubbles: true, cancelable: true }));
    }
  })()`;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name:
    "files: a dropped 5 MiB file arrives intact while the frames keep coming",
  ignore: missing !== null,
  fn: () =>
    // Adaptation off: this measures the upload's own flow control, not the
    // adaptive steps (in a loaded CI run, with it on, frames drew at 2.6 fps
    // during the transfer: late acks can step the viewer down meanwhile).
    withViewer({ maxFileBytes: 8 << 20, adaptive: false }, {}, async (env) => {
      const { page, display } = env;
      // A moving picture at 30 fps, and the times the view drew each frame.
      let n = 0;
      const frame = new Uint8Array(W * H * 4);
      const timer = setInterval(() => {
        frame.fill(++n & 255);
        display.publish(frame);
      }, 33);
      try {
        await page.evaluate(
          `globalThis.drawn = []; rfb.view.addEventListener("frame", (e) => drawn.push(e.detail.displayedAt))`,
        );
        const hash = await page.evaluate(
          makeFile("big", "big.bin", 5 << 20),
        ) as string;
        await sleep(1000);
        const t0 = await page.evaluate(`Date.now()`) as number;
        await page.evaluate(drop("big", 320, 90));
        const file = await env.event(
          (e) => e.type === "file",
          "the file",
          60_000,
        );
        const t1 = await page.evaluate(`Date.now()`) as number;
        await waitForExpression(
          page,
          `rfb.view.files.some((f) => f.state === "done")`,
        );
        await sleep(500);
        clearInterval(timer);
        assert.equal(file.name, "big.bin");
        assert.equal(file.size, 5 << 20);
        assert.equal(
          await sha256(file.bytes as Uint8Array<ArrayBuffer>),
          hash,
          "byte for byte",
        );
        assert.deepEqual([file.x, file.y], [320, 90], "where it was dropped");
        await noteSays(page, "Sent big.bin");
        const drawn = await page.evaluate(`drawn`) as number[];
        const before = drawn.filter((t) => t >= t0 - 1000 && t < t0).length;
        const during = drawn.filter((t) => t >= t0 && t <= t1);
        const edges = [t0, ...during, t1];
        const gap = Math.max(...edges.slice(1).map((t, i) => t - edges[i]));
        const fps = during.length / Math.max(0.001, (t1 - t0) / 1000);
        console.log(
          `5 MiB in ${t1 - t0} ms (${
            ((5 << 20) / 1e6 / ((t1 - t0) / 1000)).toFixed(1)
          } MB/s); frames: ${before} in the second before, ${during.length} during (${
            fps.toFixed(1)
          } fps), longest gap ${gap} ms`,
        );
        assert.ok(
          gap < 400,
          `the longest time without a frame during the transfer: ${gap} ms`,
        );
        // At least half the frames the second before would have drawn in
        // that time (the publisher, the server and Chromium share two cores).
        assert.ok(
          during.length >= Math.floor(0.5 * before * (t1 - t0) / 1000),
          `${fps.toFixed(1)} fps during vs ${before} before`,
        );
      } finally {
        clearInterval(timer);
      }
    }),
});

Deno.test({
  name:
    "files: over the app's limit, or to an app that takes none, refused on the page with a note and nothing delivered; the toolbar's picker sends",
  ignore: missing !== null,
  fn: async () => {
    await withViewer({ maxFileBytes: 1 << 20 }, {}, async (env) => {
      const { page } = env;
      await page.evaluate(makeFile("big", "too-big.bin", (1 << 20) + 1));
      await page.evaluate(drop("big", 100, 100));
      const shown = await noteSays(
        page,
        "too-big.bin not sent: larger than this app's limit of 1 MiB",
      );
      assert.ok(shown.length > 0);
      assert.equal(await page.evaluate(`rfb.view.files[0].state`), "refused");
      // The toolbar's Send file button opens a picker; what is picked is sent.
      const button = page.getByRole("button", {
        name: "Send file",
        exact: true,
      });
      assert.equal(await button.isVisible(), true);
      const chooser = page.waitForEvent("filechooser");
      await button.click();
      await (await chooser).setFiles({
        name: "notes.txt",
        mimeType: "text/plain",
        buffer: Buffer.from("hello from the picker"),
      });
      const picked = await env.event(
        (e) => e.type === "file",
        "the picked file",
      );
      assert.equal(picked.name, "notes.txt");
      assert.equal(picked.mime, "text/plain");
      assert.equal(
        new TextDecoder().decode(picked.bytes as Uint8Array),
        "hello from the picker",
      );
      assert.equal(picked.x, undefined, "no drop point");
      await sleep(300);
      assert.equal(
        env.events().filter((e) => e.type === "file").length,
        1,
        "the big one never came",
      );
    });
    // An app that has not opted in: the drag says so, a drop is refused.
    await withViewer({}, {}, async (env) => {
      const { page } = env;
      await page.evaluate(makeFile("small", "small.txt", 10, "text/plain"));
      await page.evaluate(`(() => {
        const dt = new DataTransfer();
        dt.items.add(small.file);
        rfb.view.canvas.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, clientX: 50, clientY: 50, bubbles: true, cancelable: true }));
      })()`);
      assert.equal(
        await page.evaluate(`rfb.root.dataset.drop`),
        "This app does not accept files",
      );
      await page.evaluate(drop("small", 50, 50));
      await noteSays(
        page,
        "small.txt not sent: this app does not accept files",
      );
      assert.equal(await page.evaluate(`rfb.root.dataset.drop`), undefined);
      assert.equal(
        await page.getByRole("button", { name: "Send file", exact: true })
          .isVisible(),
        false,
        "no Send file button",
      );
      await sleep(300);
      assert.equal(env.events().filter((e) => e.type === "file").length, 0);
    });
  },
});
