// The fragmented MP4 writer on its own, with a box parser: the layout
// (ftyp, moov with avcC, then moof + mdat pairs), sample durations from the
// times between units, fragments cut by time (not at keyframes), sync flags,
// Annex B turned into length-prefixed NAL units with AUDs and repeated
// parameter sets dropped and changed ones kept, and bad input refused.

import assert from "node:assert/strict";
import { FragmentedMp4, splitNals, TIMESCALE } from "../src/record/fmp4.ts";

const SPS = [0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02];
const PPS = [0x68, 0xce, 0x3c, 0x80];
const AUD = [0x09, 0xf0];

function annexB(...nals: number[][]): Uint8Array {
  return new Uint8Array(nals.flatMap((n) => [0, 0, 0, 1, ...n]));
}

const idr = (tag: number) => annexB(AUD, SPS, PPS, [0x65, 0x88, tag]);
const delta = (tag: number) => annexB(AUD, [0x41, 0x9a, tag]);

interface Box {
  type: string;
  start: number;
  body: Uint8Array;
}

function boxes(data: Uint8Array, start = 0): Box[] {
  const out: Box[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let o = 0; o < data.length;) {
    const size = view.getUint32(o);
    assert.ok(size >= 8 && o + size <= data.length, `box size at ${o}`);
    const type = String.fromCharCode(...data.subarray(o + 4, o + 8));
    out.push({ type, start: start + o, body: data.subarray(o + 8, o + size) });
    o += size;
  }
  return out;
}

function child(box: Box, path: string[], skip = 0): Box {
  let b = box;
  for (const type of path) {
    const found = boxes(b.body.subarray(skip)).find((c) => c.type === type);
    assert.ok(found, `no ${type} in ${b.type}`);
    b = found;
    skip = 0;
  }
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}

Deno.test("fmp4: the file's layout, durations from times, fragments by time, sync flags and length-prefixed samples", () => {
  const mp4 = new FragmentedMp4({ width: 320, height: 240, fragmentUs: 1e6 });
  const parts: Uint8Array[] = [];
  // 0, 0.4, 0.9, then 1.0 cuts a fragment (1 s held), 2.5 cuts another,
  // and the end at 3 s writes the last.
  const times = [0, 400_000, 900_000, 1_000_000, 2_500_000];
  parts.push(...mp4.add({ data: idr(1), keyframe: true, timeUs: times[0] }));
  assert.equal(parts.length, 1, "the header at once");
  for (let i = 1; i < times.length; i++) {
    const unit = i === 3 ? idr(i) : delta(i);
    parts.push(...mp4.add({ data: unit, keyframe: i === 3, timeUs: times[i] }));
  }
  parts.push(...mp4.end(3_000_000));
  assert.deepEqual(mp4.end(4_000_000), [], "ends once");
  const file = concat(parts);
  assert.equal(mp4.bytes, file.length);
  assert.equal(mp4.frames, 5);
  assert.equal(mp4.keyframes, 2);
  const top = boxes(file);
  assert.deepEqual(top.map((b) => b.type), [
    "ftyp",
    "moov",
    "moof",
    "mdat",
    "moof",
    "mdat",
    "moof",
    "mdat",
  ]);
  const stsd = child(top[1], ["trak", "mdia", "minf", "stbl", "stsd"]);
  const avc1 = boxes(stsd.body.subarray(8))[0];
  assert.equal(avc1.type, "avc1");
  const view = new DataView(avc1.body.buffer, avc1.body.byteOffset);
  assert.deepEqual([view.getUint16(24), view.getUint16(26)], [320, 240]);
  const avcC = boxes(avc1.body.subarray(78))[0];
  assert.equal(avcC.type, "avcC");
  assert.deepEqual([...avcC.body.subarray(0, 6)], [
    1,
    0x42,
    0xc0,
    0x1e,
    0xff,
    0xe1,
  ]);
  assert.deepEqual([...avcC.body.subarray(8, 8 + SPS.length)], SPS);
  const mdhd = child(top[1], ["trak", "mdia", "mdhd"]);
  assert.equal(
    new DataView(mdhd.body.buffer, mdhd.body.byteOffset).getUint32(12),
    TIMESCALE,
  );

  const samples: { duration: number; flags: number; data: Uint8Array }[] = [];
  const starts: number[] = [];
  for (const k of [2, 4, 6]) {
    const moof = top[k], mdat = top[k + 1];
    const tfdt = child(moof, ["traf", "tfdt"]);
    starts.push(
      Number(
        new DataView(tfdt.body.buffer, tfdt.body.byteOffset).getBigUint64(4),
      ),
    );
    const trun = child(moof, ["traf", "trun"]);
    const v = new DataView(trun.body.buffer, trun.body.byteOffset);
    const count = v.getUint32(4);
    let at = moof.start + v.getInt32(8); // default-base-is-moof
    for (let i = 0; i < count; i++) {
      const size = v.getUint32(16 + i * 12);
      samples.push({
        duration: v.getUint32(12 + i * 12),
        flags: v.getUint32(20 + i * 12),
        data: file.subarray(at, at + size),
      });
      at += size;
    }
    assert.equal(
      at,
      mdat.start + 8 + mdat.body.length,
      "mdat holds exactly the samples",
    );
  }
  const ticks = (us: number) => Math.round(us * TIMESCALE / 1e6);
  assert.deepEqual(starts, [0, ticks(1_000_000), ticks(2_500_000)]);
  assert.deepEqual(samples.map((s) => s.duration), [
    ticks(400_000),
    ticks(500_000),
    ticks(100_000),
    ticks(1_500_000),
    ticks(500_000),
  ]);
  assert.deepEqual(
    samples.map((s) => s.flags),
    [0x02000000, 0x01010000, 0x01010000, 0x02000000, 0x01010000],
  );
  // Length-prefixed; no AUD, no repeated SPS/PPS: the IDR is its slice alone.
  assert.deepEqual([...samples[0].data], [0, 0, 0, 3, 0x65, 0x88, 1]);
  assert.deepEqual([...samples[1].data], [0, 0, 0, 3, 0x41, 0x9a, 1]);
});

Deno.test("fmp4: a changed SPS stays in the samples; it must start with a keyframe carrying SPS and PPS", () => {
  const mp4 = new FragmentedMp4({ width: 16, height: 16 });
  assert.throws(
    () => mp4.add({ data: delta(1), keyframe: false, timeUs: 0 }),
    /must start with a keyframe that carries its SPS and PPS/,
  );
  assert.throws(
    () => mp4.add({ data: annexB([0x65, 1]), keyframe: true, timeUs: 0 }),
    /SPS and PPS/,
  );
  mp4.add({ data: idr(1), keyframe: true, timeUs: 0 });
  const sps2 = [0x67, 0x42, 0xc0, 0x1f, 0xda, 0x02];
  mp4.add({
    data: annexB(sps2, PPS, [0x65, 0x88, 2]),
    keyframe: true,
    timeUs: 1000,
  });
  const file = concat(mp4.end(2000));
  const mdat = boxes(file).find((b) => b.type === "mdat")!;
  const nals: number[][] = [];
  const v = new DataView(mdat.body.buffer, mdat.body.byteOffset);
  for (let o = 0; o < mdat.body.length;) {
    const n = v.getUint32(o);
    nals.push([...mdat.body.subarray(o + 4, o + 4 + n)]);
    o += 4 + n;
  }
  assert.deepEqual(nals, [[0x65, 0x88, 1], sps2, [0x65, 0x88, 2]]);
});

Deno.test("fmp4: splitNals finds 3- and 4-byte start codes and drops trailing zeros", () => {
  const data = new Uint8Array([
    0,
    0,
    1,
    0x67,
    5,
    0,
    0,
    0,
    0,
    1,
    0x68,
    7,
    0,
    0,
    1,
    0x65,
    0,
    3,
    1,
  ]);
  assert.deepEqual(splitNals(data).map((n) => [...n]), [
    [0x67, 5],
    [0x68, 7],
    [0x65, 0, 3, 1],
  ]);
});
