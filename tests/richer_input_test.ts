// Input beyond pointer and keys, on the server (issue 19): the new events
// and messages validated like the old ones (known fields only, bounded
// sizes), pastes put back together from their pieces, files reassembled
// within their limits and acknowledged chunk by chunk, the app's clipboard
// sent to viewers, and only viewers that drive heard. Real sockets against
// a real `serve()` display; the browser's side is tests/richer_input_e2e_test.ts.

import assert from "node:assert/strict";
import { type DisplayEvent, type DisplayOptions, serve } from "../mod.ts";
import {
  clipboardPieces,
  configMessage,
  FILE_CHUNK_BYTES,
  MAX_CLIENT_MESSAGE_BYTES,
  parseClientMessage,
  safeFileName,
  validateEvent,
} from "../src/protocol.ts";
import { EventQueue } from "../src/events.ts";
import { utf8Length } from "../src/session/clipboard.ts";
import { formatBytes } from "../src/protocol.ts";
import { sleep, TestViewer, until } from "./_viewer.ts";

const W = 32, H = 24;

/** A served display and a helper to open viewers on it. */
async function stage(options: DisplayOptions = {}) {
  const display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    logger: () => {},
    ...options,
  });
  const url = `ws://127.0.0.1:${display.port}/`;
  const viewers: TestViewer[] = [];
  const events: DisplayEvent[] = [];
  return {
    display,
    events,
    /** Events so far (drained from the display). */
    poll(): DisplayEvent[] {
      events.push(...display.pollEvents());
      return events;
    },
    async join(token?: string): Promise<TestViewer> {
      const v = await TestViewer.open(url, {
        hello: token === undefined ? {} : { token },
      });
      viewers.push(v);
      await v.nextText("config");
      return v;
    },
    async [Symbol.asyncDispose]() {
      for (const v of viewers) await v.close();
      await display.close();
    },
  };
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Send a file as the browser client does: start, then base64 chunks, one ack at a time. */
async function sendFile(
  v: TestViewer,
  id: number,
  bytes: Uint8Array,
  name = "data.bin",
  mime = "application/octet-stream",
): Promise<Record<string, unknown>> {
  v.send({ type: "file_start", id, name, mime, size: bytes.length });
  for (let off = 0; off < bytes.length; off += FILE_CHUNK_BYTES) {
    const piece = bytes.subarray(off, off + FILE_CHUNK_BYTES);
    v.send({ type: "file_chunk", id, offset: off, data: piece.toBase64() });
    const reply = await fileReply(v);
    if (reply.type === "file_refused" || reply.done) return reply;
    assert.equal(reply.received, off + piece.length, "acked up to the chunk");
  }
  return await fileReply(v);
}

/** The next `file_ack` or `file_refused` (other messages are passed over). */
async function fileReply(v: TestViewer): Promise<Record<string, unknown>> {
  for (;;) {
    const m = await v.nextText();
    if (m.type === "file_ack" || m.type === "file_refused") return m;
  }
}

/** Bytes that are not all alike (a seeded xorshift). */
function noise(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The wire: new events and messages, validated

Deno.test("text_input: the committed string, bounded, known fields only", () => {
  assert.deepEqual(
    validateEvent({ type: "text_input", text: "日本語", extra: 1 }, 5),
    { type: "text_input", text: "日本語", timestamp: 5 },
  );
  assert.deepEqual(
    validateEvent(
      { type: "text_input", text: "é", timestamp: 2, modifiers: "x" },
      5,
    ),
    { type: "text_input", text: "é", timestamp: 2 },
    "modifiers are not a text_input field",
  );
  for (const text of ["", 42, null, "x".repeat(1025), undefined]) {
    const r = validateEvent({ type: "text_input", text }, 0);
    assert.equal(typeof r, "string", `text ${JSON.stringify(text)}`);
  }
  assert.equal(
    typeof validateEvent({ type: "text_input", text: "x".repeat(1024) }, 0),
    "object",
  );
});

Deno.test("gamepad: index, buttons 0-1 and axes -1-1 bounded; id kept when short", () => {
  assert.deepEqual(
    validateEvent({
      type: "gamepad",
      index: 1,
      id: "Pad",
      buttons: [0, 0.5, 1],
      axes: [-1, 0.25],
      timestamp: 3,
      rumble: true,
    }, 0),
    {
      type: "gamepad",
      index: 1,
      id: "Pad",
      connected: true,
      buttons: [0, 0.5, 1],
      axes: [-1, 0.25],
      timestamp: 3,
    },
  );
  assert.deepEqual(
    validateEvent(
      { type: "gamepad", index: 0, connected: false, id: "x".repeat(200) },
      1,
    ),
    {
      type: "gamepad",
      index: 0,
      connected: false,
      buttons: [],
      axes: [],
      timestamp: 1,
    },
    "an over-long id is dropped, missing lists are empty",
  );
  const bad = [
    { index: -1 },
    { index: 16 },
    { index: 1.5 },
    { index: 0, buttons: [1.5] },
    { index: 0, buttons: [-0.1] },
    { index: 0, buttons: Array(65).fill(0) },
    { index: 0, axes: [2] },
    { index: 0, axes: Array(33).fill(0) },
    { index: 0, axes: "0" },
    { index: 0, connected: "yes" },
  ];
  for (const b of bad) {
    assert.equal(
      typeof validateEvent({ type: "gamepad", ...b }, 0),
      "string",
      JSON.stringify(b),
    );
  }
});

Deno.test("clipboard and file messages: parsed to their known fields, bad ones dropped", () => {
  const ok = (text: string) => {
    const r = parseClientMessage(text, 0);
    assert.equal(r.ok, true, text);
    return (r as unknown as { message: Record<string, unknown> }).message;
  };
  const dropped = (text: string) => {
    const r = parseClientMessage(text, 0);
    assert.equal(r.ok, false, text);
    assert.equal((r as { fatal: boolean }).fatal, false, text);
  };
  assert.deepEqual(ok('{"type":"clipboard","text":"hi","more":true,"x":1}'), {
    type: "clipboard",
    text: "hi",
    more: true,
  });
  assert.deepEqual(ok('{"type":"clipboard","text":"hi","more":"yes"}'), {
    type: "clipboard",
    text: "hi",
  });
  dropped('{"type":"clipboard","text":5}');
  dropped(JSON.stringify({ type: "clipboard", text: "x".repeat(16385) }));

  assert.deepEqual(
    ok(JSON.stringify({
      type: "file_start",
      id: 7,
      name: "../../etc/pass\nwd",
      mime: "Image/PNG",
      size: 10,
      x: 3.5,
      y: 4,
      path: "/etc",
    })),
    {
      type: "file_start",
      id: 7,
      name: ".._.._etc_pass_wd",
      mime: "image/png",
      size: 10,
      x: 3.5,
      y: 4,
    },
  );
  assert.equal(
    ok('{"type":"file_start","id":1,"name":"a","mime":"<script>","size":0}')
      .mime,
    "application/octet-stream",
  );
  assert.equal(safeFileName(".."), "_");
  assert.equal(safeFileName(""), "file");
  assert.equal(safeFileName("x".repeat(300)).length, 255);
  dropped('{"type":"file_start","id":-1,"name":"a","size":1}');
  dropped('{"type":"file_start","id":1,"name":"a","size":-1}');
  dropped('{"type":"file_start","id":1,"name":"a","size":1.5}');
  dropped('{"type":"file_start","id":1,"size":1}');

  const chunk = ok('{"type":"file_chunk","id":1,"offset":0,"data":"AAEC/w=="}');
  assert.deepEqual([...chunk.bytes as Uint8Array], [0, 1, 2, 255]);
  dropped('{"type":"file_chunk","id":1,"offset":0,"data":"!!notbase64"}');
  dropped('{"type":"file_chunk","id":1,"offset":0,"data":""}');
  dropped('{"type":"file_chunk","id":1,"offset":-3,"data":"AAAA"}');
  dropped(JSON.stringify({
    type: "file_chunk",
    id: 1,
    offset: 0,
    data: new Uint8Array(FILE_CHUNK_BYTES + 3).toBase64(),
  }));
  // The largest chunk fits in one message.
  const largest = JSON.stringify({
    type: "file_chunk",
    id: Number.MAX_SAFE_INTEGER,
    offset: Number.MAX_SAFE_INTEGER,
    data: new Uint8Array(FILE_CHUNK_BYTES).fill(255).toBase64(),
  });
  assert.ok(largest.length < MAX_CLIENT_MESSAGE_BYTES, `${largest.length}`);
  assert.equal(ok(largest).type, "file_chunk");
  assert.deepEqual(ok('{"type":"file_cancel","id":3,"why":1}'), {
    type: "file_cancel",
    id: 3,
  });
  dropped('{"type":"file_cancel","id":"3"}');
});

Deno.test("clipboardPieces: every piece fits one message, pairs stay whole, the text comes back", () => {
  // The worst case for JSON: control characters escape to six bytes each.
  const texts = [
    "",
    "short",
    "\u0001".repeat(70_000),
    "😀".repeat(20_000),
    "a" + "😀".repeat(9000),
    "中".repeat(30_000),
  ];
  for (const text of texts) {
    const pieces = clipboardPieces(text);
    assert.equal(pieces.map((p) => p.text).join(""), text);
    pieces.forEach((p, i) => {
      assert.equal(p.more, i < pieces.length - 1 ? true : undefined);
      const bytes = new TextEncoder().encode(JSON.stringify(p)).length;
      assert.ok(bytes < MAX_CLIENT_MESSAGE_BYTES, `piece ${i}: ${bytes}`);
      const last = p.text.charCodeAt(p.text.length - 1);
      assert.ok(!(last >= 0xd800 && last <= 0xdbff), "no lone high surrogate");
      assert.equal(parseClientMessage(JSON.stringify(p), 0).ok, true);
    });
  }
});

Deno.test("utf8Length agrees with TextEncoder; formatBytes reads as a person would", () => {
  for (const s of ["", "a", "é", "中", "😀", "a\ud800b", "\udc00", "x😀中é"]) {
    assert.equal(utf8Length(s), new TextEncoder().encode(s).length, s);
  }
  assert.equal(formatBytes(900), "900 bytes");
  assert.equal(formatBytes(64 * 1024), "64 KiB");
  assert.equal(formatBytes(5 * 1024 * 1024), "5 MiB");
  assert.equal(formatBytes(1536), "1.5 KiB");
});

Deno.test("config: the extra input listed, and files only when the app takes them", () => {
  assert.equal(
    configMessage({
      type: "config",
      transport: "image",
      width: 2,
      height: 2,
      coords: "frame-pixels",
      input: ["clipboard", "text_input", "gamepad", "file"],
      max_clipboard_bytes: 65536,
      max_file_bytes: 1024,
    }),
    '{"type":"config","transport":"image","width":2,"height":2,"coords":"frame-pixels","input":["clipboard","text_input","gamepad","file"],"max_clipboard_bytes":65536,"max_file_bytes":1024}',
  );
});

Deno.test("options: bad clipboard and file limits are refused by name", async () => {
  await assert.rejects(
    () => serve(8, 8, { port: 0, maxFileBytes: 0 }),
    /option 'maxFileBytes' must be false or an integer in \[1, 1073741824\], got 0/,
  );
  for (const bad of [-1, 1.5, "1", true]) {
    await assert.rejects(
      () => serve(8, 8, { port: 0, maxFileBytes: bad as number }),
      RangeError,
    );
  }
  await assert.rejects(
    () => serve(8, 8, { port: 0, maxFileBytes: 100, maxViewerFileBytes: 50 }),
    /'maxViewerFileBytes' must be an integer in \[100, .*\] \(at least maxFileBytes\), got 50/,
  );
  await assert.rejects(
    () => serve(8, 8, { port: 0, maxClipboardBytes: -1 }),
    /maxClipboardBytes/,
  );
  await assert.rejects(
    () => serve(8, 8, { port: 0, maxFilesBytes: 1 } as DisplayOptions),
    /did you mean 'maxFileBytes'/,
  );
});

Deno.test("EventQueue: file bytes waiting are counted per viewer until taken or dropped", () => {
  const q = new EventQueue(2);
  const file = (viewer: number, size: number): DisplayEvent => ({
    type: "file",
    name: "f",
    mime: "text/plain",
    size,
    bytes: new Uint8Array(size),
    timestamp: 0,
    viewer,
  });
  q.push(file(1, 10));
  q.push(file(2, 5));
  assert.equal(q.fileBytes(1), 10);
  q.push(file(1, 7)); // drops the oldest: viewer 1's first file
  assert.equal(q.fileBytes(1), 7);
  assert.equal(q.fileBytes(2), 5);
  q.drain();
  assert.equal(q.fileBytes(1) + q.fileBytes(2), 0);
});

// ---------------------------------------------------------------------------
// Over real sockets

Deno.test("paste: pieces come together as one clipboard event; over the limit, nothing arrives", async () => {
  await using s = await stage({ maxClipboardBytes: 20_000 });
  const v = await s.join();
  const config = v.texts.find((t) => t.type === "config")!;
  assert.deepEqual(config.input, ["clipboard", "text_input", "gamepad"]);
  assert.equal(config.max_clipboard_bytes, 20_000);
  assert.equal(config.max_file_bytes, undefined);
  const text = "ß😀".repeat(3000); // 18,000 bytes in 2 pieces
  for (const piece of clipboardPieces(text, 4000)) v.send({ ...piece });
  await until(() => s.poll().some((e) => e.type === "clipboard"));
  const pasted = s.events.filter((e) => e.type === "clipboard");
  assert.equal(pasted.length, 1);
  assert.equal((pasted[0] as { text: string }).text, text);
  assert.equal(pasted[0].viewer, s.display.presence()[0].id);
  // Over the limit: dropped whole, the connection stays.
  for (const piece of clipboardPieces("x".repeat(20_001), 8000)) {
    v.send({ ...piece });
  }
  v.send({ type: "event", event: { type: "text_input", text: "marker" } });
  await until(() => s.poll().some((e) => e.type === "text_input"));
  assert.equal(s.events.filter((e) => e.type === "clipboard").length, 1);
  assert.ok(v.isOpen);
});

Deno.test("text_input and gamepad events reach the app with who sent them", async () => {
  await using s = await stage({
    authenticate: ({ token }) => ({ name: token }),
  });
  const v = await s.join("Ada");
  v.send({ type: "event", event: { type: "text_input", text: "にほんご" } });
  v.send({
    type: "event",
    event: { type: "gamepad", index: 0, buttons: [1], axes: [0.5, -0.5] },
  });
  await until(() => s.poll().length >= 2);
  const [text, pad] = s.events.filter((e) => e.type !== "resize");
  assert.equal(text.type, "text_input");
  assert.equal((text as { text: string }).text, "にほんご");
  assert.deepEqual((text.user as { name: string }).name, "Ada");
  assert.equal(pad.type, "gamepad");
  assert.deepEqual((pad as { axes: number[] }).axes, [0.5, -0.5]);
});

Deno.test("only viewers that drive paste, type, play or send files", async () => {
  await using s = await stage({
    authenticate: ({ token }) => ({
      name: token,
      role: token === "eve" ? "view" : "control",
    }),
    maxFileBytes: 1024,
  });
  const eve = await s.join("eve");
  const ada = await s.join("ada");
  for (const v of [eve, ada]) {
    const who = v === eve ? "eve" : "ada";
    v.send({ type: "clipboard", text: `paste from ${who}` });
    v.send({ type: "event", event: { type: "text_input", text: who } });
    v.send({
      type: "event",
      event: { type: "gamepad", index: 0, buttons: [v === eve ? 1 : 0.5] },
    });
  }
  const refused = await sendFile(eve, 1, new Uint8Array(10));
  assert.equal(refused.type, "file_refused");
  assert.match(String(refused.reason), /only a viewer in control/);
  const done = await sendFile(ada, 1, new Uint8Array(10));
  assert.equal(done.done, true);
  await until(() => s.poll().some((e) => e.type === "file"));
  const names = s.events.filter((e) => e.type !== "resize").map((e) =>
    `${(e.user as { name: string }).name}:${e.type}`
  );
  assert.deepEqual(names, [
    "ada:clipboard",
    "ada:text_input",
    "ada:gamepad",
    "ada:file",
  ]);
  assert.ok(s.display.stats().inputDropped >= 2, "eve's input was counted");
});

Deno.test("files: off by default, refused with a reason; nothing reaches the app", async () => {
  await using s = await stage();
  const v = await s.join();
  const r = await sendFile(v, 4, new Uint8Array(100_000));
  assert.deepEqual(r, {
    type: "file_refused",
    id: 4,
    reason: "this app does not accept files",
  });
  await sleep(100);
  assert.equal(s.poll().filter((e) => e.type === "file").length, 0);
  assert.ok(v.isOpen);
});

Deno.test("files: a file in chunks arrives whole, hash for hash, with its drop point", async () => {
  await using s = await stage({ maxFileBytes: 1 << 20 });
  const v = await s.join();
  const config = v.texts.find((t) => t.type === "config")!;
  assert.deepEqual(config.input, [
    "clipboard",
    "text_input",
    "gamepad",
    "file",
  ]);
  assert.equal(config.max_file_bytes, 1 << 20);
  const bytes = noise(300_000);
  v.send({
    type: "file_start",
    id: 9,
    name: "photo.png",
    mime: "image/png",
    size: bytes.length,
    x: 5,
    y: 6,
  });
  const acks: number[] = [];
  for (let off = 0; off < bytes.length; off += FILE_CHUNK_BYTES) {
    const piece = bytes.subarray(off, off + FILE_CHUNK_BYTES);
    v.send({ type: "file_chunk", id: 9, offset: off, data: piece.toBase64() });
    const ack = await v.nextText("file_ack");
    acks.push(ack.received as number);
  }
  assert.equal(acks.at(-1), bytes.length);
  assert.deepEqual(
    acks,
    acks.map((_, i) => Math.min(bytes.length, (i + 1) * FILE_CHUNK_BYTES)),
  );
  await until(() => s.poll().some((e) => e.type === "file"));
  const file = s.events.find((e) => e.type === "file") as DisplayEvent & {
    name: string;
    mime: string;
    size: number;
    bytes: Uint8Array<ArrayBuffer>;
    x: number;
    y: number;
  };
  assert.equal(file.name, "photo.png");
  assert.equal(file.mime, "image/png");
  assert.equal(file.size, bytes.length);
  assert.equal(await sha256(file.bytes), await sha256(bytes));
  assert.deepEqual([file.x, file.y], [5, 6]);
  // A zero-byte file is whole at its start.
  v.send({ type: "file_start", id: 10, name: "empty", size: 0 });
  assert.deepEqual(await v.nextText("file_ack"), {
    type: "file_ack",
    id: 10,
    received: 0,
    done: true,
  });
});

Deno.test("files: over the limits, out of order or over-long, refused and never delivered", async () => {
  await using s = await stage({
    maxFileBytes: 100_000,
    maxViewerFileBytes: 150_000,
  });
  const v = await s.join();
  const big = await sendFile(v, 1, new Uint8Array(100_001));
  assert.equal(big.type, "file_refused");
  assert.equal(big.reason, "larger than this app's limit of 98 KiB");

  // Two files that together pass the viewer's limit: the second is refused
  // while the first waits in the app's queue, taken once the app has it.
  assert.equal((await sendFile(v, 2, new Uint8Array(90_000))).done, true);
  const second = await sendFile(v, 3, new Uint8Array(90_000));
  assert.equal(second.type, "file_refused");
  assert.match(String(second.reason), /of files at once; try again shortly/);
  assert.equal(s.poll().filter((e) => e.type === "file").length, 1);
  assert.equal((await sendFile(v, 4, new Uint8Array(90_000))).done, true);

  // Out of order.
  v.send({ type: "file_start", id: 5, name: "a", size: 10 });
  v.send({ type: "file_chunk", id: 5, offset: 3, data: "AAAA" });
  assert.deepEqual(await v.nextText("file_refused"), {
    type: "file_refused",
    id: 5,
    reason: "chunks out of order",
  });
  // More bytes than announced.
  v.send({ type: "file_start", id: 6, name: "a", size: 2 });
  v.send({ type: "file_chunk", id: 6, offset: 0, data: "AAAA" });
  assert.equal(
    (await v.nextText("file_refused")).reason,
    "more bytes than announced",
  );
  // Cancelled: its reservation is given back, later chunks ignored.
  v.send({ type: "file_start", id: 7, name: "a", size: 90_000 });
  v.send({ type: "file_cancel", id: 7 });
  v.send({ type: "file_chunk", id: 7, offset: 0, data: "AAAA" });
  s.poll();
  s.events.length = 0;
  assert.equal((await sendFile(v, 8, new Uint8Array(90_000))).done, true);
  // At most MAX_OPEN_FILES at once.
  for (let id = 20; id < 24; id++) {
    v.send({ type: "file_start", id, name: "a", size: 10 });
  }
  v.send({ type: "file_start", id: 24, name: "a", size: 10 });
  assert.equal(
    (await v.nextText("file_refused")).reason,
    "more than 4 files at once",
  );
  await sleep(50);
  assert.deepEqual(
    s.poll().filter((e) => e.type === "file").map((e) =>
      (e as { size: number }).size
    ),
    [90_000],
    "only the whole files arrived",
  );
  assert.ok(v.isOpen);
});

Deno.test("setClipboard: to every viewer or one, bounded, and never on a closed display", async () => {
  await using s = await stage({ maxClipboardBytes: 100 });
  const a = await s.join();
  const b = await s.join();
  assert.equal(s.display.setClipboard("for all"), 2);
  for (const v of [a, b]) {
    assert.deepEqual(await v.nextText("clipboard"), {
      type: "clipboard",
      text: "for all",
    });
  }
  const bId = s.display.presence()[1].id;
  assert.equal(s.display.setClipboard("for b", bId), 1);
  assert.equal((await b.nextText("clipboard")).text, "for b");
  await assert.rejects(() => a.nextText("clipboard", 200), /no clipboard/);
  assert.equal(s.display.setClipboard("nobody", 999_999), 0);
  assert.throws(
    () => s.display.setClipboard("é".repeat(51)),
    /102 bytes of text is over maxClipboardBytes \(100\)/,
  );
  assert.throws(
    () => s.display.setClipboard(5 as unknown as string),
    TypeError,
  );
  await s.display.close();
  assert.throws(() => s.display.setClipboard("x"), /is closed/);
});

// pdum.rfb's browser client acts only on `config`, `set_quality` and `stats`
// and lets other types fall through (see tests/sharing_test.ts); it sends
// none of the new messages. Against a display that takes files and offers
// clipboard text, such a client still negotiates, gets frames and drives.
Deno.test("pdum.rfb compatibility: a client that knows none of the new messages still watches and drives", async () => {
  await using s = await stage({ maxFileBytes: 1024 });
  const ws = new WebSocket(`ws://127.0.0.1:${s.display.port}/`);
  ws.binaryType = "arraybuffer";
  const KNOWS = new Set(["config", "set_quality", "stats"]);
  const ignored = new Set<string>();
  let frames = 0, negotiated = false;
  ws.onmessage = (e) => {
    if (typeof e.data === "string") {
      const msg = JSON.parse(e.data); // no try, as pdum.rfb
      if (msg.type === "config") negotiated = true;
      else if (!KNOWS.has(msg.type)) ignored.add(msg.type);
      return;
    }
    const len = new DataView(e.data as ArrayBuffer).getUint32(0, true);
    const header = JSON.parse(
      new TextDecoder().decode(new Uint8Array(e.data, 4, len)),
    );
    frames++;
    ws.send(JSON.stringify({
      type: "ack",
      seq: header.seq,
      decode_queue_size: 0,
      displayed: true,
    }));
  };
  await new Promise((r) => ws.onopen = r);
  ws.send(JSON.stringify({
    type: "hello",
    supported: ["image/jpeg", "image/png"],
    device_pixel_ratio: 1,
  }));
  try {
    await until(() => negotiated);
    s.display.setClipboard("offered to everyone");
    for (let i = 0; i < 4; i++) {
      const rgba = new Uint8Array(W * H * 4).fill(i * 40);
      s.display.publish(rgba);
      await sleep(60);
    }
    await until(() => frames >= 3, 3000, "frames at the pdum.rfb client");
    assert.ok(ignored.has("clipboard"), "the offer fell through, harmlessly");
    ws.send(JSON.stringify({
      type: "event",
      event: { type: "key_down", key: "k", modifiers: [] },
    }));
    await until(() => s.poll().some((e) => e.type === "key_down"));
    assert.equal(ws.readyState, WebSocket.OPEN);
  } finally {
    ws.close();
    await new Promise((r) => ws.onclose = r);
  }
});

Deno.test("files: a file_start past the input rate is refused, never left unanswered", async () => {
  await using s = await stage({ maxFileBytes: 1024, maxEventRate: 1 });
  const v = await s.join();
  for (let id = 1; id <= 4; id++) {
    v.send({ type: "file_start", id, name: "f", size: 0 });
  }
  const replies = [];
  for (let i = 0; i < 4; i++) replies.push(await fileReply(v));
  assert.deepEqual(
    replies.map((r) => [r.id, r.type, r.reason ?? r.done]),
    [
      [1, "file_ack", true],
      [2, "file_ack", true],
      [3, "file_refused", "sent too fast; try again"],
      [4, "file_refused", "sent too fast; try again"],
    ],
  );
});
