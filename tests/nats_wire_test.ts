// The NATS wire format on its own: subjects and stream tokens, encoding
// names both ways, units packed and split in parts and put back together
// (a lost part drops the message, never a wrong picture), and the checks
// on what edges send up, on the host's state and on its messages for edge
// viewers (batched per edge, each text once).

import assert from "node:assert/strict";
import {
  encodingKey,
  packParts,
  packUnit,
  parseEncodingKey,
  parseState,
  parseUp,
  Reassembly,
  streamToken,
  subjectsFor,
  type UnitHeader,
  unpackUnit,
} from "../src/nats/wire.ts";
import {
  DOWN_BATCH,
  type DownMessage,
  DownQueue,
  parseDown,
} from "../src/nats/down.ts";
import { controlMessage, presenceMessage } from "../src/protocol.ts";

const header: UnitHeader = {
  host: "h1",
  n: 1,
  v: 5,
  w: 64,
  h: 48,
  ts: 1,
  pr: 1,
  m: "image/png",
};

Deno.test("nats wire: subjects under the prefix; stream names become one token", () => {
  const s = subjectsFor("site.rfb", "cam.1 x");
  assert.equal(s.state, "site.rfb.cam~2E1~20x.state");
  assert.equal(s.up, "site.rfb.cam~2E1~20x.up");
  assert.equal(s.video("h264-q0"), "site.rfb.cam~2E1~20x.v.h264-q0");
  assert.equal(streamToken("a-b_c"), "a-b_c");
  assert.throws(() => subjectsFor("rfb.*", "s"), /prefix/);
  assert.throws(() => subjectsFor("rfb..x", "s"), /prefix/);
  assert.throws(() => subjectsFor("rfb", ""), /stream/);
});

Deno.test("nats wire: encoding names both ways; anything else is refused", () => {
  for (
    const e of [
      { kind: "video", step: 3 },
      {
        kind: "picture",
        format: "jpeg",
        quality: 56,
        still: false,
        size: { width: 960, height: 540 },
      },
      { kind: "picture", format: "png", quality: 100, still: true, size: null },
      {
        kind: "picture",
        format: "h264",
        quality: 100,
        still: true,
        size: null,
      },
    ] as const
  ) {
    assert.deepEqual(parseEncodingKey(encodingKey(e)), e);
  }
  for (
    const bad of [
      "h264-q99",
      "bmp-80-live",
      "jpeg-0-live",
      "jpeg-101-live",
      "h264-80-live",
      "jpeg-80-live-0x10",
      "jpeg-80-live-99999x10",
      "x".repeat(100),
      42,
    ]
  ) assert.equal(parseEncodingKey(bad), null, String(bad));
});

Deno.test("nats wire: units split in parts come back whole; a lost part drops the message", () => {
  const payload = new Uint8Array(10_000).map((_, i) => i & 255);
  assert.equal(packParts(header, payload, 1 << 20).length, 1);
  const parts = packParts(header, payload, 4096);
  assert.equal(parts.length, 4);
  assert.ok(parts.every((p) => p.length <= 4096));
  const r = new Reassembly();
  let whole = null;
  for (const p of parts) whole = r.take(unpackUnit(p)!);
  assert.deepEqual(whole!.payload, payload);
  assert.equal(whole!.header.parts, undefined);
  // The second part of the next message goes missing.
  const next = packParts({ ...header, n: 2 }, payload, 4096);
  assert.equal(r.take(unpackUnit(next[0])!), null);
  assert.equal(r.take(unpackUnit(next[2])!), null);
  assert.equal(r.take(unpackUnit(next[3])!), null);
  // A later message still comes through.
  let later = null;
  for (const p of packParts({ ...header, n: 3 }, payload, 4096)) {
    later = r.take(unpackUnit(p)!);
  }
  assert.equal(later!.header.n, 3);
});

Deno.test("nats wire: malformed units are refused", () => {
  const good = packUnit(header, new Uint8Array(3));
  assert.ok(unpackUnit(good));
  assert.equal(unpackUnit(good.subarray(0, 3)), null);
  const bad = (h: unknown) => packUnit(h as UnitHeader, new Uint8Array(1));
  assert.equal(unpackUnit(bad({ ...header, v: -1 })), null);
  assert.equal(unpackUnit(bad({ ...header, pr: 0 })), null);
  assert.equal(unpackUnit(bad({ ...header, part: 3, parts: 2 })), null);
  const { m: _m, ...video } = header;
  assert.equal(unpackUnit(bad({ ...video, i: 1 })), null, "video needs k, c");
  assert.ok(unpackUnit(bad({ ...video, i: 1, k: true, c: "avc1.42C01F" })));
  const huge = new Uint8Array(8);
  new DataView(huge.buffer).setUint32(0, 1e9);
  assert.equal(unpackUnit(huge), null);
});

Deno.test("nats wire: what edges send up is checked field by field", () => {
  assert.equal(
    parseUp('{"t":"need","e":"e1","k":["jpeg-80-live"],"ttl":5000}')?.t,
    "need",
  );
  assert.deepEqual(
    parseUp(
      '{"t":"join","e":"e1","v":3,"u":{"name":"Ada"},"n":"Ada","r":"view","tr":"image"}',
    ),
    {
      t: "join",
      e: "e1",
      v: 3,
      u: { name: "Ada" },
      n: "Ada",
      r: "view",
      tr: "image",
    },
  );
  // A long name is cut, not refused.
  const long = parseUp(
    JSON.stringify({
      t: "join",
      e: "e1",
      v: 3,
      n: "x".repeat(500),
      r: "control",
    }),
  ) as { n: string };
  assert.equal(long.n.length, 128);
  assert.equal(parseUp('{"t":"req","e":"e1","v":3}')?.t, "req");
  assert.deepEqual(parseUp('{"t":"rel","e":"e1","v":3,"to":9}'), {
    t: "rel",
    e: "e1",
    v: 3,
    to: 9,
  });
  assert.equal(
    parseUp(
      '{"t":"viewers","e":"e1","ttl":5000,"l":[{"v":3,"r":"control","s":{}}]}',
    )?.t,
    "viewers",
  );
  assert.equal(
    parseUp('{"t":"in","e":"e1","v":3,"ev":{"type":"key_down","key":"a"}}')?.t,
    "in",
  );
  for (
    const bad of [
      "nope",
      "[]",
      '{"t":"need","e":"e 1","k":[],"ttl":5000}',
      '{"t":"need","e":"e1","k":[1],"ttl":5000}',
      '{"t":"need","e":"e1","k":[],"ttl":0}',
      '{"t":"need","e":"e1","k":[],"ttl":1e9}',
      '{"t":"join","e":"e1","v":-1,"r":"view"}',
      '{"t":"join","e":"e1","v":1}', // no role: the edge must say
      '{"t":"join","e":"e1","v":1,"r":"admin"}',
      '{"t":"join","e":"e1","v":1,"r":"view","n":7}',
      '{"t":"join","e":"e1","v":1,"r":"view","tr":"carrier-pigeon"}',
      '{"t":"req","e":"e1"}',
      '{"t":"rel","e":"e1","v":1,"to":"everyone"}',
      '{"t":"viewers","e":"e1","ttl":5000,"l":[{"v":3}]}',
      '{"t":"in","e":"e1","v":1,"ev":null}',
      '{"t":"viewers","e":"e1","ttl":5000,"l":[{"v":"x"}]}',
      '{"t":"other","e":"e1"}',
    ]
  ) assert.equal(parseUp(bad), null, bad);
  assert.equal(parseState("{}"), null);
  assert.equal(parseState('{"t":"state","host":"h","version":-1}'), null);
});

Deno.test("nats wire: the host's messages for edge viewers go once per edge per round, each text once; edges refuse anything but presence and control", async () => {
  const sent: Array<[string, DownMessage]> = [];
  const q = new DownQueue("h1", (edge, m) => sent.push([edge, m]));
  const presence = presenceMessage({
    type: "presence",
    viewers: 3,
    driving: 1,
    drivers: [{ id: 1, name: "Ada" }],
    requests: [],
  });
  const control = (you: number) =>
    controlMessage({
      type: "control",
      you,
      role: "control",
      mode: "exclusive",
      driving: you === 1,
      requested: false,
    });
  for (const v of [1, 2]) {
    q.push("e1", v, presence);
    q.push("e1", v, control(v));
  }
  q.push("e2", 7, presence);
  await Promise.resolve(); // one round: a microtask
  assert.deepEqual(sent.map(([e, m]) => [e, m.x.length, m.m.length]), [
    ["e1", 3, 4], // the presence text once, two controls
    ["e2", 1, 1],
  ]);
  const read = parseDown(JSON.stringify(sent[0][1]))!;
  assert.equal(read.host, "h1");
  assert.deepEqual(
    read.items.map((i) => [i.viewer, i.text === presence, i.control?.driving]),
    [[1, true, undefined], [1, false, true], [2, true, undefined], [
      2,
      false,
      false,
    ]],
  );
  // A big edge's round goes in several messages.
  sent.length = 0;
  for (let v = 0; v < DOWN_BATCH + 1; v++) q.push("e1", v, presence);
  q.flush();
  assert.deepEqual(sent.map(([, m]) => m.m.length), [DOWN_BATCH, 1]);
  for (
    const bad of [
      "nope",
      '{"t":"down","host":"h","x":["{}"],"m":[[1,0]]}', // not a message a viewer gets
      '{"t":"down","host":"h","x":["{\\"type\\":\\"config\\"}"],"m":[[1,0]]}',
      '{"t":"down","host":"h","x":["{\\"type\\":\\"control\\",\\"you\\":1}"],"m":[[1,0]]}',
      `{"t":"down","host":"h","x":[${JSON.stringify(presence)}],"m":[[1,1]]}`, // no such text
      `{"t":"down","host":"h","x":[${
        JSON.stringify(presence)
      }],"m":[["1","0"]]}`,
      `{"t":"down","x":[],"m":[]}`,
    ]
  ) assert.equal(parseDown(bad), null, bad);
});
