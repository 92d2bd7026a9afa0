// The browser client's input beyond pointer and keys, without a browser:
// gamepad changes (only what changed, jitter ignored, pads that go away),
// text split for text_input, what a server's config says it takes, why a
// paste would not be sent, the page's file checks, and the worker's
// uploads (flow control: never more in flight than the window, chunks in
// order, refusals, cancels and a dropped connection).

import assert from "node:assert/strict";
import { gamepadChanges, type GamepadLike } from "../client/gamepads.ts";
import { textPieces } from "../client/keyboard.ts";
import { FileSender } from "../client/files.ts";
import { formatBytes } from "../src/protocol.ts";
import type { FileProgress, FileReport, ToWorker } from "../client/messages.ts";
import { inputSupport, pasteRefusal } from "../client/view_options.ts";
import { toBase64, Uploads } from "../client/worker/uploads.ts";
import {
  type ConfigMessage,
  FILE_CHUNK_BYTES,
  FILE_WINDOW_BYTES,
  parseClientMessage,
} from "../src/protocol.ts";

function pad(buttons: number[], axes: number[], index = 0): GamepadLike {
  return {
    index,
    id: "pad",
    connected: true,
    buttons: buttons.map((value) => ({ value })),
    axes,
  };
}

Deno.test("gamepadChanges: a pad's first state, then only changes past a hundredth, then its leaving", () => {
  const last = new Map();
  const first = gamepadChanges(last, [pad([1, 0], [0.3333])], 1);
  assert.deepEqual(first, [{
    type: "gamepad",
    index: 0,
    id: "pad",
    connected: true,
    buttons: [1, 0],
    axes: [0.33],
    timestamp: 1,
  }]);
  assert.deepEqual(gamepadChanges(last, [pad([1, 0], [0.3349])], 2), []);
  const moved = gamepadChanges(last, [pad([1, 0.5], [0.3349]), null], 3);
  assert.deepEqual(moved.map((e) => e.buttons), [[1, 0.5]]);
  // A second pad joins, the first leaves.
  const swap = gamepadChanges(last, [null, pad([0], [], 1)], 4);
  assert.deepEqual(
    swap.map((e) => [e.index, e.connected, e.buttons, e.axes]),
    [[1, true, [0], []], [0, false, [], []]],
  );
  // Out of range values are clamped, slots past 15 ignored.
  const odd = gamepadChanges(
    new Map(),
    [pad([2, -1, NaN], [-3, 9]), pad([1], [], 16)],
    5,
  );
  assert.deepEqual(odd.map((e) => [e.buttons, e.axes]), [[[1, 0, 0], [-1, 1]]]);
});

Deno.test("textPieces: at most the limit each, never inside a surrogate pair", () => {
  assert.deepEqual(textPieces("abcde", 2), ["ab", "cd", "e"]);
  assert.deepEqual(textPieces("", 2), []);
  const text = "a😀b😀😀";
  const pieces = textPieces(text, 2);
  assert.equal(pieces.join(""), text);
  for (const p of pieces) {
    assert.ok(p.length <= 2);
    assert.ok(!/[\ud800-\udbff]$/.test(p), `piece ${JSON.stringify(p)}`);
  }
  assert.equal(textPieces("x".repeat(3000)).length, 3, "1024 by default");
});

Deno.test("inputSupport: what a config lists; nothing from a server that lists nothing (pdum.rfb)", () => {
  const base: ConfigMessage = {
    type: "config",
    transport: "image",
    width: 4,
    height: 4,
    coords: "frame-pixels",
  };
  assert.deepEqual(inputSupport(null), {
    clipboard: null,
    textInput: false,
    gamepad: false,
    files: null,
  });
  assert.deepEqual(inputSupport(base), inputSupport(null));
  assert.deepEqual(
    inputSupport({
      ...base,
      input: ["clipboard", "text_input", "gamepad", "file"],
      max_clipboard_bytes: 100,
      max_file_bytes: 2048,
    }),
    { clipboard: 100, textInput: true, gamepad: true, files: 2048 },
  );
});

Deno.test("pasteRefusal: no clipboard, view only, over the limit; else none", () => {
  const takes = { clipboard: 10, textInput: true, gamepad: true, files: null };
  assert.equal(pasteRefusal("0123456789", takes, true), null);
  assert.equal(
    pasteRefusal("0123456789é", takes, true),
    "12 bytes is over this app's limit of 10 bytes",
  );
  assert.equal(
    pasteRefusal("x", takes, false),
    "view only: pastes are not sent",
  );
  assert.equal(
    pasteRefusal("x", { ...takes, clipboard: null }, true),
    "this app does not take pastes",
  );
  assert.equal(formatBytes(2.5 * 1024 * 1024), "2.5 MiB");
});

Deno.test("FileSender: files the app cannot take are refused on the page and never posted", () => {
  const posted: ToWorker[] = [];
  const seen: FileProgress[] = [];
  const sender = new FileSender((m) => posted.push(m), (p) => seen.push(p));
  const file = (n: number, name = "f") => new File([new Uint8Array(n)], name);
  const away = sender.send([file(1)], null, {
    connected: false,
    maxBytes: 10,
    driving: true,
  });
  assert.equal(away[0].reason, "not connected");
  const none = sender.send([file(1)], null, {
    connected: true,
    maxBytes: null,
    driving: true,
  });
  assert.equal(none[0].reason, "this app does not accept files");
  const view = sender.send([file(1)], null, {
    connected: true,
    maxBytes: 10,
    driving: false,
  });
  assert.match(view[0].reason!, /view only/);
  const big = sender.send([file(11, "big")], null, {
    connected: true,
    maxBytes: 10,
    driving: true,
  });
  assert.equal(big[0].reason, "larger than this app's limit of 10 bytes");
  assert.equal(posted.length, 0, "nothing went to the worker");
  const ok = sender.send([file(10, "ok")], { x: 1, y: 2 }, {
    connected: true,
    maxBytes: 10,
    driving: true,
  });
  assert.equal(ok[0].state, "queued");
  assert.equal(posted.length, 1);
  assert.deepEqual(
    { ...posted[0], file: undefined },
    { type: "file", id: ok[0].id, file: undefined, x: 1, y: 2 },
  );
  sender.report({ type: "file", id: ok[0].id, state: "done", sent: 10 });
  sender.report({ type: "file", id: ok[0].id, state: "sending", sent: 3 });
  assert.equal(sender.transfers.at(-1)!.state, "done", "done stays done");
  assert.deepEqual(seen.map((p) => p.state), [
    "refused",
    "refused",
    "refused",
    "refused",
    "queued",
    "done",
  ]);
});

/** A fake socket for `Uploads`: what it sent, and the server's side by hand. */
function harness(buffered = () => 0) {
  const sent: Array<Record<string, unknown>> = [];
  const reports: FileReport[] = [];
  const uploads = new Uploads({
    send: (m) => sent.push(m as unknown as Record<string, unknown>),
    buffered,
    report: (r) => reports.push(r),
  });
  const chunks = () => sent.filter((m) => m.type === "file_chunk");
  const inFlight = (acked: number) =>
    chunks().reduce((n, c) => {
      const start = c.offset as number, end = start + decoded(c).length;
      return n + Math.max(0, end - Math.max(start, acked));
    }, 0);
  return { sent, reports, uploads, chunks, inFlight };
}

function decoded(chunk: Record<string, unknown>): Uint8Array {
  return Uint8Array.fromBase64(chunk.data as string);
}

const settle = () => new Promise((r) => setTimeout(r, 5));

Deno.test("Uploads: chunks in order, never more in flight than the window, the file whole at the end", async () => {
  const bytes = new Uint8Array(1_000_000).map((_, i) => (i * 7) & 255);
  const h = harness();
  h.uploads.add(1, new File([bytes], "a.bin", { type: "x/y" }), 5, 6);
  await settle();
  assert.deepEqual(h.sent[0], {
    type: "file_start",
    id: 1,
    name: "a.bin",
    mime: "x/y",
    size: 1_000_000,
    x: 5,
    y: 6,
  });
  let acked = 0;
  for (let round = 0; round < 1000 && acked < bytes.length; round++) {
    await settle();
    assert.ok(
      h.inFlight(acked) <= FILE_WINDOW_BYTES,
      `${h.inFlight(acked)} bytes in flight`,
    );
    // The server acks everything sent so far, a little later.
    const last = h.chunks().at(-1)!;
    const end = (last.offset as number) + decoded(last).length;
    if (end > acked) {
      acked = end;
      h.uploads.ack(1, acked, acked === bytes.length);
    }
  }
  const got = new Uint8Array(bytes.length);
  let next = 0;
  for (const c of h.chunks()) {
    assert.equal(c.offset, next, "in order, no gap, no overlap");
    const piece = decoded(c);
    assert.ok(piece.length <= FILE_CHUNK_BYTES);
    assert.ok(
      JSON.stringify(c).length < 64 * 1024,
      "a chunk fits one message",
    );
    assert.equal(parseClientMessage(JSON.stringify(c), 0).ok, true);
    got.set(piece, next);
    next += piece.length;
  }
  assert.deepEqual(got, bytes);
  assert.deepEqual(h.reports.at(-1), {
    type: "file",
    id: 1,
    state: "done",
    sent: bytes.length,
    reason: undefined,
  });
});

Deno.test("Uploads: nothing more while the socket still holds a chunk's worth", async () => {
  let held = 10 * FILE_CHUNK_BYTES;
  const h = harness(() => held);
  h.uploads.add(1, new File([new Uint8Array(100_000)], "a"));
  await settle();
  await settle();
  assert.equal(h.chunks().length, 0, "held back");
  held = 0;
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(h.chunks().length > 0, "sent once the socket drained");
  h.uploads.lost(); // (its timers end with it)
});

Deno.test("Uploads: a refusal, a cancel and a lost connection each end a file; the queue goes on", async () => {
  const h = harness();
  const f = (n: number) => new File([new Uint8Array(n)], `f${n}`);
  h.uploads.add(1, f(100));
  h.uploads.add(2, f(200));
  h.uploads.add(3, f(300));
  h.uploads.add(4, f(400));
  await settle();
  h.uploads.refused(1, "too big");
  await settle();
  assert.deepEqual(
    h.sent.filter((m) => m.type === "file_start").map((m) => m.id),
    [1, 2],
    "one at a time",
  );
  h.uploads.cancel(3); // queued: dropped quietly
  h.uploads.cancel(2); // sending: the server is told
  await settle();
  assert.ok(h.sent.some((m) => m.type === "file_cancel" && m.id === 2));
  assert.equal(h.sent.filter((m) => m.type === "file_start").at(-1)!.id, 4);
  h.uploads.lost();
  const final = new Map(h.reports.map((r) => [r.id, r]));
  assert.deepEqual(
    [1, 2, 3, 4].map((id) => [final.get(id)!.state, final.get(id)!.reason]),
    [
      ["refused", "too big"],
      ["cancelled", undefined],
      ["cancelled", undefined],
      ["refused", "the connection dropped"],
    ],
  );
  assert.equal(toBase64(new Uint8Array([1, 2, 3])), "AQID");
});
