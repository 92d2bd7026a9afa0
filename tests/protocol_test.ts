// Wire protocol v1: golden envelope bytes, control message strings, and client message parsing/validation.
import assert from "node:assert/strict";
import {
  CLOSE_INVALID_DATA,
  CLOSE_POLICY,
  configMessage,
  controlMessage,
  imageFrameHeader,
  MAX_CLIENT_MESSAGE_BYTES,
  MAX_TOUCHES,
  packEnvelope,
  parseClientMessage,
  type ParseResult,
  presenceMessage,
  statsMessage,
  unpackEnvelope,
  validateEvent,
} from "../src/protocol.ts";

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}

// {"type":"image_frame","seq":1,"timestamp_us":1700000000000000,"width":2,"height":1,"mime":"image/png"}
// = 102 (0x66) bytes, then payload de ad be ef.
const GOLDEN_PNG_FRAME = hex(
  "66000000" +
    "7b2274797065223a22696d6167655f6672616d65222c22736571223a312c" +
    "2274696d657374616d705f7573223a313730303030303030303030303030302c" +
    "227769647468223a322c22686569676874223a312c226d696d65223a22696d" +
    "6167652f706e67227d" +
    "deadbeef",
);

// {"type":"image_frame","seq":7,"timestamp_us":42,"width":640,"height":480,"mime":"image/jpeg","pixel_ratio":2}
// = 109 (0x6d) bytes, then payload 01 02 03.
const GOLDEN_JPEG_FRAME_PR2 = hex(
  "6d000000" +
    "7b2274797065223a22696d6167655f6672616d65222c22736571223a372c" +
    "2274696d657374616d705f7573223a34322c227769647468223a3634302c" +
    "22686569676874223a3438302c226d696d65223a22696d6167652f6a706567" +
    "222c22706978656c5f726174696f223a327d" +
    "010203",
);

Deno.test("packEnvelope: image_frame header with pixel_ratio 1 matches golden bytes", () => {
  const header = imageFrameHeader({
    seq: 1,
    timestampUs: 1700000000000000,
    width: 2,
    height: 1,
    mime: "image/png",
    pixelRatio: 1,
  });
  const bytes = packEnvelope(header, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
  assert.deepEqual(Array.from(bytes), Array.from(GOLDEN_PNG_FRAME));
  assert.equal(bytes.length, 4 + 102 + 4);
});

Deno.test("packEnvelope: pixel_ratio is appended last only when not 1", () => {
  const header = imageFrameHeader({
    seq: 7,
    timestampUs: 42,
    width: 640,
    height: 480,
    mime: "image/jpeg",
    pixelRatio: 2,
  });
  const bytes = packEnvelope(header, new Uint8Array([1, 2, 3]));
  assert.deepEqual(Array.from(bytes), Array.from(GOLDEN_JPEG_FRAME_PR2));
});

Deno.test("packEnvelope: header without pixelRatio omits the field", () => {
  const header = imageFrameHeader({
    seq: 1,
    timestampUs: 1700000000000000,
    width: 2,
    height: 1,
    mime: "image/png",
  });
  assert.equal("pixel_ratio" in header, false);
  const bytes = packEnvelope(header, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
  assert.deepEqual(Array.from(bytes), Array.from(GOLDEN_PNG_FRAME));
});

Deno.test("packEnvelope: payload given as a subarray with an offset is copied correctly", () => {
  const big = new Uint8Array([9, 9, 0xde, 0xad, 0xbe, 0xef, 9]);
  const header = imageFrameHeader({
    seq: 1,
    timestampUs: 1700000000000000,
    width: 2,
    height: 1,
    mime: "image/png",
  });
  const bytes = packEnvelope(header, big.subarray(2, 6));
  assert.deepEqual(Array.from(bytes), Array.from(GOLDEN_PNG_FRAME));
});

Deno.test("packEnvelope: empty payload and non-ASCII header length counts UTF-8 bytes", () => {
  const bytes = packEnvelope({ type: "x", note: "é" }, new Uint8Array());
  // {"type":"x","note":"é"} is 23 characters but 24 bytes.
  assert.deepEqual(
    Array.from(bytes),
    Array.from(
      hex("18000000" + "7b2274797065223a2278222c226e6f7465223a22c3a9227d"),
    ),
  );
});

Deno.test("unpackEnvelope: golden bytes decode to header and payload", () => {
  const { header, payload } = unpackEnvelope(GOLDEN_JPEG_FRAME_PR2);
  assert.deepEqual(header, {
    type: "image_frame",
    seq: 7,
    timestamp_us: 42,
    width: 640,
    height: 480,
    mime: "image/jpeg",
    pixel_ratio: 2,
  });
  assert.deepEqual(Array.from(payload), [1, 2, 3]);
});

Deno.test("unpackEnvelope: round trip from ArrayBuffer and from an offset subarray", () => {
  const packed = packEnvelope(
    { type: "video_chunk", seq: 3, keyframe: true },
    new Uint8Array([0, 0, 0, 1, 0x67]),
  );
  const fromBuffer = unpackEnvelope(packed.buffer);
  assert.deepEqual(fromBuffer.header, {
    type: "video_chunk",
    seq: 3,
    keyframe: true,
  });
  assert.deepEqual(Array.from(fromBuffer.payload), [0, 0, 0, 1, 0x67]);

  const padded = new Uint8Array(packed.length + 5);
  padded.fill(0xaa);
  padded.set(packed, 3);
  const view = padded.subarray(3, 3 + packed.length);
  const fromView = unpackEnvelope(view);
  assert.equal(fromView.header.type, "video_chunk");
  assert.deepEqual(Array.from(fromView.payload), [0, 0, 0, 1, 0x67]);
});

Deno.test("unpackEnvelope: too short (< 4 bytes) is a RangeError", () => {
  assert.throws(() => unpackEnvelope(new Uint8Array([1, 0, 0])), {
    name: "RangeError",
    message: /too short: 3 bytes/,
  });
  assert.throws(() => unpackEnvelope(new Uint8Array()), RangeError);
});

Deno.test("unpackEnvelope: header length beyond the buffer is a RangeError", () => {
  // says 100 header bytes, only 2 follow
  assert.throws(() => unpackEnvelope(hex("64000000" + "7b7d")), {
    name: "RangeError",
    message: /truncated: header says 100 bytes, only 2 follow/,
  });
});

Deno.test("unpackEnvelope: non-JSON or non-UTF-8 header is a TypeError", () => {
  // "abc"
  assert.throws(() => unpackEnvelope(hex("03000000" + "616263")), {
    name: "TypeError",
    message: /not valid UTF-8 JSON/,
  });
  // invalid UTF-8 byte 0xff
  assert.throws(() => unpackEnvelope(hex("01000000" + "ff")), {
    name: "TypeError",
    message: /not valid UTF-8 JSON/,
  });
});

Deno.test("unpackEnvelope: header that is not an object with a string type is a TypeError", () => {
  for (
    const text of [
      "[1]",
      "null",
      "5",
      '"image_frame"',
      '{"seq":1}',
      '{"type":5}',
    ]
  ) {
    const head = new TextEncoder().encode(text);
    const buf = new Uint8Array(4 + head.length);
    buf[0] = head.length;
    buf.set(head, 4);
    assert.throws(() => unpackEnvelope(buf), {
      name: "TypeError",
      message: /must be a JSON object with a 'type'/,
    }, text);
  }
});

Deno.test("configMessage: exact compact strings and field rules", () => {
  assert.equal(
    configMessage({
      type: "config",
      transport: "image",
      width: 64,
      height: 48,
      coords: "frame-pixels",
    }),
    '{"type":"config","transport":"image","width":64,"height":48,"coords":"frame-pixels"}',
  );
  assert.equal(
    configMessage({
      type: "config",
      transport: "webcodecs",
      width: 1280,
      height: 720,
      coords: "frame-pixels",
      codec: "avc1.42E01F",
      pixel_ratio: 1,
    }),
    '{"type":"config","transport":"webcodecs","width":1280,"height":720,"coords":"frame-pixels","codec":"avc1.42E01F"}',
  );
  assert.equal(
    configMessage({
      type: "config",
      transport: "image",
      width: 320,
      height: 240,
      coords: "frame-pixels",
      pixel_ratio: 2,
      mime: "image/jpeg",
      max_inflight: 2,
    }),
    '{"type":"config","transport":"image","width":320,"height":240,"coords":"frame-pixels","pixel_ratio":2,"mime":"image/jpeg","max_inflight":2}',
  );
});

Deno.test("statsMessage: exact strings, undefined fields dropped", () => {
  assert.equal(
    statsMessage({ fps_sent: 60, dropped: 0 }),
    '{"type":"stats","fps_sent":60,"dropped":0}',
  );
  assert.equal(statsMessage({}), '{"type":"stats"}');
  assert.equal(
    statsMessage({ rtt_ms: undefined, dropped: 3, bitrate_bps: 1500000 }),
    '{"type":"stats","dropped":3,"bitrate_bps":1500000}',
  );
  assert.equal(
    statsMessage({
      rtt_ms: 12.5,
      fps_sent: 30,
      fps_acked: 29,
      bitrate_bps: 800,
      encode_ms: 1.2,
      decode_queue_size: 1,
      dropped: 4,
      target_bitrate: 1000000,
      target_fps: 30,
    }),
    '{"type":"stats","rtt_ms":12.5,"fps_sent":30,"fps_acked":29,"bitrate_bps":800,"encode_ms":1.2,"decode_queue_size":1,"dropped":4,"target_bitrate":1000000,"target_fps":30}',
  );
});

Deno.test("presenceMessage and controlMessage: exact strings, known fields only", () => {
  assert.equal(
    presenceMessage({
      type: "presence",
      viewers: 13,
      driving: 1,
      drivers: [{ id: 3, name: "Alice" }],
      requests: [{ id: 12 }],
      extra: "dropped",
    } as never),
    '{"type":"presence","viewers":13,"driving":1,"drivers":[{"id":3,"name":"Alice"}],"requests":[{"id":12}]}',
  );
  assert.equal(
    controlMessage({
      type: "control",
      you: 12,
      role: "view",
      mode: "exclusive",
      driving: false,
      requested: false,
    }),
    '{"type":"control","you":12,"role":"view","mode":"exclusive","driving":false,"requested":false}',
  );
});

// ---------------------------------------------------------------------------
// parseClientMessage

function expectOk(r: ParseResult): unknown {
  assert.equal(r.ok, true, JSON.stringify(r));
  return (r as { message: unknown }).message;
}

function expectFatal(r: ParseResult, code: number): void {
  assert.equal(r.ok, false, JSON.stringify(r));
  const f = r as { fatal: boolean; code: number; error: string };
  assert.equal(f.fatal, true, JSON.stringify(r));
  assert.equal(f.code, code, JSON.stringify(r));
  assert.equal(typeof f.error, "string");
  assert.ok(f.error.length > 0);
}

function expectDropped(r: ParseResult): void {
  assert.equal(r.ok, false, JSON.stringify(r));
  const f = r as { fatal: boolean; code: number; error: string };
  assert.equal(f.fatal, false, JSON.stringify(r));
  assert.ok(f.error.length > 0);
}

Deno.test("parseClientMessage: valid messages are parsed and normalised", () => {
  const table: Array<[string, unknown]> = [
    [
      '{"type":"hello","supported":["image/jpeg","image/png"],"device_pixel_ratio":2,"token":"t0k"}',
      {
        type: "hello",
        supported: ["image/jpeg", "image/png"],
        device_pixel_ratio: 2,
        token: "t0k",
      },
    ],
    [
      '{"type":"hello","supported":[]}',
      { type: "hello", supported: [], device_pixel_ratio: 1 },
    ],
    [
      '{"type":"hello","supported":["webcodecs/h264-annexb"],"device_pixel_ratio":1,"transport":"webcodecs","stats_interval":1000}',
      {
        type: "hello",
        supported: ["webcodecs/h264-annexb"],
        device_pixel_ratio: 1,
        transport: "webcodecs",
        stats_interval: 60,
      },
    ],
    [
      '{"type":"hello","supported":["image/png"],"transport":"bogus","stats_interval":0.01,"extra":1}',
      {
        type: "hello",
        supported: ["image/png"],
        device_pixel_ratio: 1,
        stats_interval: 0.1,
      },
    ],
    [
      '{"type":"ack","seq":3,"decode_queue_size":1,"displayed":true}',
      { type: "ack", seq: 3, decode_queue_size: 1, displayed: true },
    ],
    ['{"type":"ack","seq":0}', { type: "ack", seq: 0, decode_queue_size: 0 }],
    [
      '{"type":"set_viewport","width":800,"height":600,"pwidth":1600,"pheight":1200,"ratio":2}',
      {
        type: "set_viewport",
        width: 800,
        height: 600,
        pwidth: 1600,
        pheight: 1200,
        ratio: 2,
      },
    ],
    [
      '{"type":"request_keyframe","reason":"join"}',
      { type: "request_keyframe", reason: "join" },
    ],
    ['{"type":"request_keyframe"}', { type: "request_keyframe", reason: "" }],
    ['{"type":"decoder_reset","junk":[1]}', { type: "decoder_reset" }],
    [
      '{"type":"event","event":{"type":"pointer_down","x":10,"y":20,"button":1,"buttons":[1],"modifiers":["Shift"],"timestamp":3.5}}',
      {
        type: "event",
        event: {
          type: "pointer_down",
          x: 10,
          y: 20,
          button: 1,
          buttons: [1],
          modifiers: ["Shift"],
          timestamp: 3.5,
        },
      },
    ],
    [
      '{"type":"event","event":{"type":"key_up","key":"Enter","code":"Enter"}}',
      {
        type: "event",
        event: {
          type: "key_up",
          key: "Enter",
          code: "Enter",
          modifiers: [],
          timestamp: 99,
        },
      },
    ],
  ];
  for (const [text, want] of table) {
    assert.deepEqual(expectOk(parseClientMessage(text, 99)), want, text);
  }
});

Deno.test("parseClientMessage: hello max_inflight kept when an integer in 1-64, else omitted", () => {
  const base = '{"type":"hello","supported":["image/png"],"max_inflight":';
  for (const [v, want] of [[1, 1], [4, 4], [64, 64]] as const) {
    const m = expectOk(parseClientMessage(base + v + "}", 0)) as Record<
      string,
      unknown
    >;
    assert.equal(m.max_inflight, want);
  }
  for (const v of ["0", "65", "1.5", '"4"', "-2", "null"]) {
    const m = expectOk(parseClientMessage(base + v + "}", 0)) as Record<
      string,
      unknown
    >;
    assert.equal("max_inflight" in m, false, v);
  }
});

Deno.test("parseClientMessage: unparsable JSON is fatal 1007", () => {
  for (
    const text of ["", "{", "{'type':'hello'}", "hello", '{"type":"ack",}']
  ) {
    expectFatal(parseClientMessage(text, 0), CLOSE_INVALID_DATA);
  }
  assert.equal(CLOSE_INVALID_DATA, 1007);
});

Deno.test("parseClientMessage: non-object or missing/non-string type is fatal 1007", () => {
  for (
    const text of [
      "[1,2]",
      '"hello"',
      "42",
      "null",
      "true",
      "{}",
      '{"type":5}',
      '{"type":null}',
    ]
  ) {
    expectFatal(parseClientMessage(text, 0), CLOSE_INVALID_DATA);
  }
});

Deno.test("parseClientMessage: over 64 KiB is fatal 1008 (ASCII)", () => {
  assert.equal(MAX_CLIENT_MESSAGE_BYTES, 65536);
  const text = '{"type":"event","pad":"' + "a".repeat(70000) + '"}';
  expectFatal(parseClientMessage(text, 0), CLOSE_POLICY);
  assert.equal(CLOSE_POLICY, 1008);
  // even when it is not JSON: size is checked first
  expectFatal(parseClientMessage("x".repeat(65537), 0), CLOSE_POLICY);
});

Deno.test("parseClientMessage: multi-byte UTF-8 over 64 KiB in bytes but under in chars is fatal 1008", () => {
  // 40000 × "é" (2 bytes each) = 80000 bytes, but only ~40030 UTF-16 units
  const two = '{"type":"x","pad":"' + "é".repeat(40000) + '"}';
  assert.ok(two.length < MAX_CLIENT_MESSAGE_BYTES);
  assert.ok(new TextEncoder().encode(two).length > MAX_CLIENT_MESSAGE_BYTES);
  expectFatal(parseClientMessage(two, 0), CLOSE_POLICY);
  // 22000 × "€" (3 bytes each) = 66000 bytes
  const three = '{"type":"x","pad":"' + "€".repeat(22000) + '"}';
  assert.ok(three.length < MAX_CLIENT_MESSAGE_BYTES / 2);
  expectFatal(parseClientMessage(three, 0), CLOSE_POLICY);
  // 17000 × "😀" (4 bytes, 2 UTF-16 units) = 68000 bytes
  const four = '{"type":"x","pad":"' + "😀".repeat(17000) + '"}';
  expectFatal(parseClientMessage(four, 0), CLOSE_POLICY);
});

Deno.test("parseClientMessage: a message of exactly 64 KiB is accepted", () => {
  const prefix = '{"type":"padding","pad":"';
  const suffix = '"}';
  const text = prefix + "a".repeat(65536 - prefix.length - suffix.length) +
    suffix;
  assert.equal(new TextEncoder().encode(text).length, 65536);
  assert.deepEqual(parseClientMessage(text, 0), {
    ok: "ignored",
    type: "padding",
  });
  // and the same size made of 2-byte characters
  const room = 65536 - prefix.length - suffix.length; // odd: one ASCII "a" first
  const wide = prefix + "a".repeat(room % 2) +
    "é".repeat(Math.floor(room / 2)) +
    suffix;
  assert.equal(new TextEncoder().encode(wide).length, 65536);
  assert.equal(parseClientMessage(wide, 0).ok, "ignored");
});

Deno.test("parseClientMessage: a bad hello is fatal 1008", () => {
  for (
    const text of [
      '{"type":"hello"}',
      '{"type":"hello","supported":"image/png"}',
      '{"type":"hello","supported":[1,2]}',
      '{"type":"hello","supported":["image/png"],"device_pixel_ratio":0}',
      '{"type":"hello","supported":["image/png"],"device_pixel_ratio":-1}',
      '{"type":"hello","supported":["image/png"],"device_pixel_ratio":"2"}',
      '{"type":"hello","supported":["image/png"],"device_pixel_ratio":1e9}',
      '{"type":"hello","supported":["image/png"],"token":5}',
      `{"type":"hello","supported":["image/png"],"token":"${
        "t".repeat(5000)
      }"}`,
      `{"type":"hello","supported":["${"s".repeat(200)}"]}`,
      `{"type":"hello","supported":${JSON.stringify(Array(65).fill("a"))}}`,
    ]
  ) {
    expectFatal(parseClientMessage(text, 0), CLOSE_POLICY);
  }
});

Deno.test("parseClientMessage: ack with a bad seq or queue size is dropped, not fatal", () => {
  for (
    const text of [
      '{"type":"ack"}',
      '{"type":"ack","seq":-1}',
      '{"type":"ack","seq":1.5}',
      '{"type":"ack","seq":"3"}',
      '{"type":"ack","seq":null}',
      '{"type":"ack","seq":9007199254740993}',
      '{"type":"ack","seq":1,"decode_queue_size":-2}',
      '{"type":"ack","seq":1,"decode_queue_size":"0"}',
    ]
  ) {
    expectDropped(parseClientMessage(text, 0));
  }
});

Deno.test("parseClientMessage: set_viewport with bad fields is dropped", () => {
  for (
    const text of [
      '{"type":"set_viewport","width":"800","height":600,"pwidth":800,"pheight":600}',
      '{"type":"set_viewport","width":-1,"height":600,"pwidth":800,"pheight":600}',
      '{"type":"set_viewport","width":800,"height":600,"pwidth":800,"pheight":1e9}',
      '{"type":"set_viewport","width":800,"height":600,"pwidth":800,"pheight":600,"ratio":0}',
      '{"type":"set_viewport","width":800,"height":600}',
    ]
  ) {
    expectDropped(parseClientMessage(text, 0));
  }
});

Deno.test("parseClientMessage: request_control and release_control keep known fields only", () => {
  assert.deepEqual(
    expectOk(
      parseClientMessage('{"type":"request_control","role":"control"}', 0),
    ),
    { type: "request_control" },
  );
  assert.deepEqual(
    expectOk(parseClientMessage('{"type":"release_control"}', 0)),
    { type: "release_control" },
  );
  assert.deepEqual(
    expectOk(parseClientMessage('{"type":"release_control","to":7,"x":1}', 0)),
    { type: "release_control", to: 7 },
  );
  for (const to of ['"7"', "0", "-1", "1.5", "1e300", "null", "[7]"]) {
    expectDropped(
      parseClientMessage(`{"type":"release_control","to":${to}}`, 0),
    );
  }
});

Deno.test("parseClientMessage: unknown type is ignored", () => {
  assert.deepEqual(parseClientMessage('{"type":"telemetry","x":1}', 0), {
    ok: "ignored",
    type: "telemetry",
  });
  const r = parseClientMessage(`{"type":"${"z".repeat(500)}"}`, 0);
  assert.equal(r.ok, "ignored");
  assert.equal((r as { type: string }).type.length, 64);
});

Deno.test("parseClientMessage: events with wrong fields are dropped", () => {
  const bad: unknown[] = [
    "not an object",
    null,
    [1],
    { x: 1, y: 1 }, // no type
    { type: "teleport", x: 1, y: 1 },
    { type: "pointer_down", x: "5", y: 5 },
    { type: "pointer_down", x: 5 },
    { type: "pointer_move", x: 1e8, y: 0 },
    { type: "pointer_move", x: 0, y: -1e8 },
    { type: "pointer_down", x: 1, y: 1, modifiers: ["Hyper"] },
    { type: "pointer_down", x: 1, y: 1, modifiers: "Shift" },
    {
      type: "pointer_down",
      x: 1,
      y: 1,
      modifiers: ["Shift", "Shift", "Shift", "Shift", "Shift"],
    },
    { type: "pointer_down", x: 1, y: 1, buttons: [10] },
    { type: "pointer_down", x: 1, y: 1, buttons: [1.5] },
    { type: "pointer_down", x: 1, y: 1, buttons: 1 },
    { type: "pointer_down", x: 1, y: 1, button: 10 },
    { type: "pointer_down", x: 1, y: 1, button: -1 },
    { type: "pointer_down", x: 1, y: 1, button: "1" },
    { type: "pointer_down", x: 1, y: 1, pixel_ratio: 0 },
    { type: "pointer_down", x: 1, y: 1, ntouches: 1000 },
    { type: "wheel", x: 1, y: 1, dx: "1", dy: 0 },
    { type: "wheel", x: 1, y: 1, dx: 0 },
    { type: "wheel", x: 1, y: 1, dx: 0, dy: 1e300 },
    { type: "key_down", key: "" },
    { type: "key_down", key: "a".repeat(65) },
    { type: "key_down" },
    { type: "key_up", key: 65 },
    { type: "key_down", key: "a", modifiers: ["Ctrl"] },
    { type: "resize", width: -1, height: 1, pwidth: 1, pheight: 1 },
    { type: "resize", width: 1, height: 1, pwidth: 1, pheight: 1, ratio: "2" },
  ];
  for (const ev of bad) {
    const text = JSON.stringify({ type: "event", event: ev });
    expectDropped(parseClientMessage(text, 0));
    assert.equal(typeof validateEvent(ev, 0), "string", text);
  }
  // the event field missing entirely
  expectDropped(parseClientMessage('{"type":"event"}', 0));
});

Deno.test("validateEvent: pointer event gets defaults and loses unknown fields", () => {
  assert.deepEqual(
    validateEvent({
      type: "pointer_down",
      x: 3,
      y: 4,
      evil: "x",
      __proto__x: 1,
    }, 12.5),
    {
      type: "pointer_down",
      x: 3,
      y: 4,
      button: 0,
      buttons: [],
      modifiers: [],
      timestamp: 12.5,
    },
  );
  assert.deepEqual(
    validateEvent({
      type: "double_click",
      x: -2,
      y: 7.5,
      inside: false,
      pixel_ratio: 2,
      button: 3,
      buttons: [3],
      modifiers: ["Control", "Meta"],
      timestamp: 1.25,
      junk: { a: 1 },
    }, 0),
    {
      type: "double_click",
      x: -2,
      y: 7.5,
      inside: false,
      pixel_ratio: 2,
      button: 3,
      buttons: [3],
      modifiers: ["Control", "Meta"],
      timestamp: 1.25,
    },
  );
});

Deno.test("validateEvent: non-boolean inside is removed; touches kept with ntouches", () => {
  assert.deepEqual(
    validateEvent({
      type: "pointer_move",
      x: 1,
      y: 2,
      inside: "yes",
      ntouches: 2,
      touches: [{ x: 1, y: 2 }, { x: 3, y: 4 }],
    }, 5),
    {
      type: "pointer_move",
      x: 1,
      y: 2,
      button: 0,
      buttons: [],
      modifiers: [],
      timestamp: 5,
      ntouches: 2,
      touches: [{ x: 1, y: 2 }, { x: 3, y: 4 }],
    },
  );
});

Deno.test("validateEvent: valid touches pass unchanged", () => {
  const touches = [
    { id: 1, x: 10, y: 20 },
    { id: 7, x: -3.5, y: 1e6, pressure: 0.5 },
    { x: 0, y: 0 },
  ];
  const raw = {
    type: "pointer_move",
    x: 10,
    y: 20,
    button: 0,
    buttons: [1],
    modifiers: [],
    timestamp: 2,
    ntouches: 3,
    touches,
  };
  const ev = validateEvent(JSON.parse(JSON.stringify(raw)), 0);
  assert.deepEqual(ev, raw);
  // the most fingers allowed, and none
  const many = Array.from({ length: MAX_TOUCHES }, (_, i) => ({
    id: i,
    x: i,
    y: i,
  }));
  assert.deepEqual(
    (validateEvent({ ...raw, ntouches: MAX_TOUCHES, touches: many }, 0) as {
      touches: unknown;
    }).touches,
    many,
  );
  assert.deepEqual(
    validateEvent({ ...raw, ntouches: 0, touches: [] }, 0),
    { ...raw, ntouches: 0, touches: [] },
  );
});

Deno.test("validateEvent: touches are rebuilt from x, y, id and pressure only", () => {
  // Parsed from text, so "__proto__" is an own key, as a peer sends it.
  const text = JSON.stringify({
    type: "event",
    event: {
      type: "pointer_down",
      x: 1,
      y: 2,
      button: 1,
      ntouches: 1,
      touches: [{ id: 3, x: 1, y: 2, radius: 9, extra: { deep: [1] } }],
    },
  }).replace('"id":3,', '"__proto__":{"polluted":1},"id":3,')
    .replace(
      '"x":1,"y":2,"button"',
      '"__proto__":{"polluted":2},"x":1,"y":2,"button"',
    );
  assert.ok(text.split('"__proto__"').length === 3, text);
  const r = parseClientMessage(text, 0);
  assert.equal(r.ok, true, JSON.stringify(r));
  const ev = (r as unknown as { message: { event: Record<string, unknown> } })
    .message.event;
  const touch = (ev.touches as Record<string, unknown>[])[0];
  assert.deepEqual(touch, { id: 3, x: 1, y: 2 });
  assert.ok(!Object.hasOwn(touch, "__proto__"), "no own __proto__ in a touch");
  assert.ok(!Object.hasOwn(ev, "__proto__"), "no own __proto__ on the event");
  assert.equal(Object.getPrototypeOf(touch), Object.prototype);
  assert.equal(Object.getPrototypeOf(ev), Object.prototype);
  assert.equal((ev as { polluted?: unknown }).polluted, undefined);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  structuredClone(ev);
});

Deno.test("validateEvent: 30,000 levels of nesting are refused quickly, or dropped with the field", () => {
  const deep = "[".repeat(30_000) + "]".repeat(30_000);
  const cases: Array<[string, boolean]> = [
    // in touches itself: refused
    [
      `{"type":"pointer_down","x":1,"y":1,"ntouches":1,"touches":${deep}}`,
      false,
    ],
    [`{"type":"pointer_down","x":1,"y":1,"touches":[${deep}]}`, false],
    [
      `{"type":"pointer_down","x":1,"y":1,"touches":[{"x":${deep},"y":1}]}`,
      false,
    ],
    // in a field no one reads: dropped with it
    [
      `{"type":"pointer_down","x":1,"y":1,"touches":[{"x":1,"y":1,"z":${deep}}]}`,
      true,
    ],
    [`{"type":"key_down","key":"a","junk":${deep}}`, true],
    [`{"type":"wheel","x":1,"y":1,"dx":0,"dy":1,"touches":${deep}}`, true],
  ];
  for (const [event, ok] of cases) {
    const text = `{"type":"event","event":${event}}`;
    assert.ok(text.length <= MAX_CLIENT_MESSAGE_BYTES);
    const t0 = performance.now();
    const r = parseClientMessage(text, 0);
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
    if (ok) {
      assert.equal(r.ok, true, JSON.stringify(r).slice(0, 200));
      const ev = (r as { message: { event: unknown } }).message.event;
      assert.ok(JSON.stringify(structuredClone(ev)).length < 200);
    } else {
      expectDropped(r);
      assert.match((r as { error: string }).error, /'touches' must be a list/);
    }
  }
});

Deno.test("validateEvent: bad touches and ntouches are refused with a clear error", () => {
  const base = { type: "pointer_move", x: 1, y: 1 };
  const bad: unknown[] = [
    Array.from({ length: MAX_TOUCHES + 1 }, () => ({ x: 1, y: 1 })),
    [null],
    [1],
    ["x"],
    [[1, 2]],
    [{ x: 1 }],
    [{ x: "1", y: 1 }],
    [{ x: 1, y: Infinity }],
    [{ x: 1, y: NaN }],
    [{ x: 1e8, y: 1 }],
    [{ x: 1, y: 1, id: 1.5 }],
    [{ x: 1, y: 1, id: "1" }],
    [{ x: 1, y: 1, pressure: 2 }],
    [{ x: 1, y: 1, pressure: "hard" }],
  ];
  for (const touches of bad) {
    const err = validateEvent({ ...base, touches }, 0);
    assert.equal(typeof err, "string", JSON.stringify(touches));
    assert.match(err as string, /^'touches' must be a list of at most 20 /);
  }
  for (const ntouches of [-1, 1.5, MAX_TOUCHES + 1, "2", null]) {
    assert.equal(
      validateEvent({ ...base, ntouches }, 0),
      `'ntouches' must be an integer 0-${MAX_TOUCHES}`,
    );
  }
  // renderview's placeholder ({}) and other non-lists are left out
  for (const touches of [{}, { 1: { x: 1, y: 1 } }, "x", 5, null]) {
    const ev = validateEvent({ ...base, ntouches: 0, touches }, 0);
    assert.equal(typeof ev, "object", JSON.stringify(touches));
    assert.ok(!("touches" in (ev as object)));
  }
});

Deno.test("validateEvent: the delivered event never shares the peer's arrays", () => {
  const raw = {
    type: "key_down",
    key: "a",
    modifiers: ["Shift"],
  };
  const ev = validateEvent(raw, 0) as { modifiers: string[] };
  assert.notEqual(ev.modifiers, raw.modifiers);
  const p = { type: "pointer_down", x: 1, y: 1, buttons: [1] };
  const pe = validateEvent(p, 0) as { buttons: number[] };
  assert.notEqual(pe.buttons, p.buttons);
});

Deno.test("parseClientMessage: peer text in errors and ignored types is escaped and bounded", () => {
  const forged = "x\n[rfb] forged\u001b[2J\u009b\u2028" + "y".repeat(500);
  const r = parseClientMessage(
    JSON.stringify({ type: "event", event: { type: forged } }),
    0,
  );
  expectDropped(r);
  const error = (r as { error: string }).error;
  assert.equal(
    error,
    "event: unknown event type 'x\\n[rfb] forged\\x1b[2J\\x9b…'",
  );
  assert.ok(error.length < 80, error);
  // deno-lint-ignore no-control-regex
  const control = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
  assert.ok(!control.test(error), error);
  const ignored = parseClientMessage(JSON.stringify({ type: forged }), 0);
  assert.equal(ignored.ok, "ignored");
  const type = (ignored as { type: string }).type;
  assert.ok(!control.test(type), type);
  assert.equal(type.length, 64);
  assert.ok(type.startsWith("x\\n[rfb] forged\\x1b[2J"), type);
});

Deno.test("validateEvent: wheel has dx/dy and no button", () => {
  assert.deepEqual(
    validateEvent(
      { type: "wheel", x: 1, y: 2, dx: 0, dy: 100, button: 1, extra: true },
      7,
    ),
    {
      type: "wheel",
      x: 1,
      y: 2,
      dx: 0,
      dy: 100,
      buttons: [],
      modifiers: [],
      timestamp: 7,
    },
  );
});

Deno.test("validateEvent: key event keeps key/code/modifiers only", () => {
  assert.deepEqual(
    validateEvent(
      {
        type: "key_down",
        key: "a",
        code: "KeyA",
        modifiers: ["Shift"],
        repeat: true,
        timestamp: 2,
      },
      9,
    ),
    {
      type: "key_down",
      key: "a",
      code: "KeyA",
      modifiers: ["Shift"],
      timestamp: 2,
    },
  );
  // over-long code is dropped, not the event
  assert.deepEqual(
    validateEvent({ type: "key_up", key: "b", code: "c".repeat(65) }, 9),
    { type: "key_up", key: "b", modifiers: [], timestamp: 9 },
  );
  // exactly 64 characters is fine
  const k = "k".repeat(64);
  assert.deepEqual(
    validateEvent({ type: "key_up", key: k }, 1),
    { type: "key_up", key: k, modifiers: [], timestamp: 1 },
  );
});

Deno.test("validateEvent: resize defaults ratio to 1 and timestamp to now", () => {
  assert.deepEqual(
    validateEvent(
      {
        type: "resize",
        width: 100,
        height: 50,
        pwidth: 200,
        pheight: 100,
        x: 1,
      },
      4,
    ),
    {
      type: "resize",
      width: 100,
      height: 50,
      pwidth: 200,
      pheight: 100,
      ratio: 1,
      timestamp: 4,
    },
  );
});
