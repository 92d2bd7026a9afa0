// The NVENC route on a real serve() display, end to end, with the fake driver
// (tests/fixtures/fake_nvenc, built here with gcc): the display runs in a child
// process pointed at the fake with RFB_CUDA_LIBRARY / RFB_NVENC_LIBRARY, and a
// WebSocket viewer receives its chunks. The fake writes I_PCM pictures, so each
// chunk must decode to the published picture bit for bit, which also tells its
// chunks from libx264's. When the fake refuses to open, the display logs one line
// and streams libx264 instead. The fake checks our side of the ABI; it is not
// NVENC, and real NVENC encoding has not been run on NVIDIA hardware.

import assert from "node:assert/strict";
import { probeH264 } from "../src/encoders/h264.ts";
import { nalTypes } from "../src/encoders/annexb.ts";
import { CAP_H264 } from "../src/protocol.ts";
import { rgbaToYuv } from "../src/yuv.ts";
import { buildFakeNvenc, decodeNv12, firstDiff } from "./_fake_nvenc.ts";
import { AvDecoder, pattern, psnr } from "./_h264.ts";
import { type ReceivedFrame, TestViewer } from "./_viewer.ts";

const fake = await buildFakeNvenc();
const x264 = await probeH264();
const skip = typeof fake === "string"
  ? fake
  : x264.ok
  ? null
  : `libx264 is unavailable (${x264.reason})`;
if (skip) console.warn(`skipping NVENC end-to-end tests: ${skip}`);
const ignore = skip !== null;
const F = fake as Exclude<typeof fake, string>;

const W = 96, H = 64;
const VIDEO_HELLO = { supported: [CAP_H264, "image/jpeg"] };
const CHILD = new URL("./fixtures/fake_nvenc/serve_child.ts", import.meta.url);

type Msg = Record<string, unknown>;

/** The display's process: its JSON lines, its log lines, commands in. */
class Child {
  readonly messages: Msg[] = [];
  readonly logs: Array<[string, string]> = [];
  #process: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #stderr = "";
  #wake: (() => void) | null = null;
  #done: Promise<void>;

  constructor(args: string[], env: Record<string, string>) {
    this.#process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CHILD.pathname, ...args],
      cwd: new URL("..", import.meta.url),
      env: {
        // Explicit, so nothing set in this process (by tests beside these) leaks in.
        RFB_CUDA_LIBRARY: F.cuda,
        RFB_NVENC_LIBRARY: F.encode,
        FAKE_NVENC_FAIL: "",
        FAKE_CUDA_FAIL: "",
        FAKE_NVENC_MAX_VERSION: "",
        NO_COLOR: "1",
        ...env,
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.#process.stdin.getWriter();
    this.#done = Promise.all([this.#readOut(), this.#readErr()]).then(() => {});
  }

  async #readOut(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const bytes of this.#process.stdout) {
      buf += decoder.decode(bytes, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        const msg = JSON.parse(line) as Msg;
        if (msg.log) this.logs.push(msg.log as [string, string]);
        this.messages.push(msg);
        this.#wake?.();
      }
    }
    this.#wake?.();
  }

  async #readErr(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const bytes of this.#process.stderr) {
      this.#stderr += decoder.decode(bytes, { stream: true });
    }
  }

  /** The first message with `key`, waiting up to `timeoutMs`. */
  async next(key: string, timeoutMs = 30_000): Promise<Msg> {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const i = this.messages.findIndex((m) => key in m);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(
          `the display process sent no ${key}; stderr:\n${this.#stderr}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, Math.min(left, 200));
      });
      clearTimeout(timer);
    }
  }

  async send(command: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${command}\n`));
  }

  /** Close the display; the fake's counters after. */
  async close(): Promise<Msg> {
    await this.send("close");
    const closed = await this.next("closed");
    await this.#stdin.close().catch(() => {});
    const status = await this.#process.status;
    await this.#done;
    assert.equal(status.code, 0, this.#stderr);
    return closed;
  }

  kill(): void {
    try {
      this.#process.kill();
    } catch { /* gone */ }
  }
}

/** The NV12 the display hands the encoder for `pattern(n)` (RGBA in, BT.709 on the CPU). */
function expected(n: number): Uint8Array {
  return rgbaToYuv(pattern(W, H, n), W, H, "nv12");
}

type Header = ReceivedFrame["header"] & {
  keyframe?: boolean;
  codec?: string;
  timestamp_us: number;
};
const hdr = (f: ReceivedFrame) => f.header as Header;

async function openViewer(child: Child): Promise<TestViewer> {
  const { port } = await child.next("port");
  return TestViewer.open(`ws://127.0.0.1:${port}/`, { hello: VIDEO_HELLO });
}

Deno.test({
  name:
    "serve() with the fake NVENC: chunks decode to the published pictures bit for bit; late joiner's IDR; the still from NVENC; nothing leaks; no log line",
  ignore,
  fn: async () => {
    const child = new Child([String(W), String(H), "auto", "2"], {});
    let v1: TestViewer | null = null, v2: TestViewer | null = null;
    try {
      v1 = await openViewer(child);
      const config = await v1.nextText("config", 20_000);
      assert.equal(config.transport, "webcodecs");
      assert.equal(
        config.codec,
        "avc1.42C01E",
        "the codec string from the fake's SPS",
      );
      // What each chunk v1 receives must show.
      const chunks: Uint8Array[] = [], want: Uint8Array[] = [];
      for (let n = 0; n < 4; n++) {
        await child.send(`publish ${n}`);
        const f = await v1.nextFrame(10_000);
        assert.equal(hdr(f).type, "video_chunk");
        assert.equal(
          hdr(f).keyframe,
          n === 0,
          `chunk ${n}: keyframe only first`,
        );
        assert.equal(hdr(f).codec, "avc1.42C01E");
        assert.deepEqual(nalTypes(f.payload), n === 0 ? [7, 8, 5] : [1]);
        chunks.push(f.payload);
        want.push(expected(n));
      }
      // NV12 published as such (the GPU path's input): a new stream (BT.709 from the
      // source), which starts on an IDR and is copied into the encoder unconverted.
      await child.send("nv12 4");
      const yuv = await v1.nextFrame(10_000);
      assert.equal(hdr(yuv).keyframe, true, "a new source restarts on an IDR");
      chunks.push(yuv.payload);
      want.push(expected(4));
      // A late joiner: its first chunk is an IDR the shared encoder makes on request
      // (NV_ENC_PIC_FLAG_FORCEIDR), here of the resting picture.
      v2 = await TestViewer.open(v1.ws.url, { hello: VIDEO_HELLO });
      await v2.nextText("config", 10_000);
      const join = await v2.nextFrame(10_000);
      assert.equal(hdr(join).keyframe, true);
      assert.deepEqual(nalTypes(join.payload), [7, 8, 5]);
      const [joined] = await decodeNv12([join.payload]);
      assert.equal(
        firstDiff(joined.nv12, expected(4)),
        -1,
        "the joiner's IDR shows the resting picture",
      );
      // The still, once the scene rests (2 s): an IDR from the still encoder, also
      // NVENC (libx264's CRF 16 would not be bit-exact).
      let still: ReceivedFrame | null = null;
      while (!still) {
        const f = await v2.nextFrame(10_000);
        if (hdr(f).keyframe && f.header.seq > join.header.seq) still = f;
      }
      const [rested] = await decodeNv12([still.payload]);
      assert.equal(
        firstDiff(rested.nv12, expected(4)),
        -1,
        "the still is exact",
      );
      // v1's stream decodes, in order, to exactly what was published.
      const decoded = await decodeNv12(chunks);
      assert.equal(decoded.length, want.length);
      for (const [i, d] of decoded.entries()) {
        assert.equal(firstDiff(d.nv12, want[i]), -1, `v1 chunk ${i}`);
        assert.equal(d.colorSpace, 1, "BT.709 in the VUI");
      }
      await v1.close();
      await v2.close();
      const closed = await child.close();
      const counters = closed.fake as Record<string, number>;
      assert.ok(
        counters.encodes >= 7,
        `the fake encoded ${counters.encodes} pictures`,
      );
      assert.deepEqual(
        {
          live: counters.liveObjects,
          leaks: counters.leaks,
          contexts: counters.liveContexts,
        },
        { live: 0, leaks: 0, contexts: 0 },
        "every session, buffer and CUDA context freed by display.close()",
      );
      assert.deepEqual(child.logs, [], "no log line when NVENC works");
    } finally {
      await v1?.close().catch(() => {});
      await v2?.close().catch(() => {});
      child.kill();
    }
  },
});

Deno.test({
  name:
    "serve() when NVENC fails to open: exactly one log line, then libx264 frames that decode",
  ignore,
  fn: async () => {
    const child = new Child([String(W), String(H), "auto", "false"], {
      FAKE_NVENC_FAIL: "open",
    });
    let v: TestViewer | null = null;
    try {
      v = await openViewer(child);
      const config = await v.nextText("config", 20_000);
      assert.equal(config.transport, "webcodecs");
      assert.match(String(config.codec), /^avc1\.42[0-9A-F]{4}$/);
      const dec = await AvDecoder.open();
      try {
        for (let n = 0; n < 5; n++) {
          await child.send(`publish ${n}`);
          const f: ReceivedFrame = await v.nextFrame(10_000);
          assert.equal(hdr(f).keyframe, n === 0);
          const out = await dec.decode(f.payload);
          assert.equal(out.length, 1, `chunk ${n}: one picture`);
          const p = psnr(out[0].data, pattern(W, H, n));
          assert.ok(p > 30, `chunk ${n}: PSNR ${p.toFixed(1)} dB`);
        }
      } finally {
        dec.close();
      }
      await v.close();
      const closed = await child.close();
      assert.equal(child.logs.length, 1, JSON.stringify(child.logs));
      const [level, message] = child.logs[0];
      assert.equal(level, "warn");
      assert.match(
        message,
        /^display 'default': NVENC could not open \(the driver refused an encode session \(NV_ENC_ERR_NO_ENCODE_DEVICE \(1\); this GPU may have no NVENC engine\)\); using libx264$/,
      );
      const counters = closed.fake as Record<string, number>;
      assert.deepEqual(
        [counters.encodes, counters.liveObjects, counters.liveContexts],
        [0, 0, 0],
        "the refused session and its CUDA context were freed",
      );
    } finally {
      await v?.close().catch(() => {});
      child.kill();
    }
  },
});

Deno.test({
  name:
    "serve() when NVENC fails mid-stream: one log line after 3 failed encodes, then libx264 from an IDR",
  ignore,
  fn: async () => {
    // The fake encodes frames 0 and 1, then fails every frame (a lost GPU).
    const child = new Child([String(W), String(H), "auto", "false"], {
      FAKE_NVENC_FAIL: "encode-from:2",
    });
    let v: TestViewer | null = null;
    try {
      v = await openViewer(child);
      await v.nextText("config", 20_000);
      // The codec-string probe encodes once on its own session; the live
      // stream's frames 0 and 1 are the fake's exact I_PCM pictures.
      const first: Uint8Array[] = [];
      for (let n = 0; n < 2; n++) {
        await child.send(`publish ${n}`);
        first.push((await v.nextFrame(10_000)).payload);
      }
      for (const [i, d] of (await decodeNv12(first)).entries()) {
        assert.equal(firstDiff(d.nv12, expected(i)), -1, `NVENC chunk ${i}`);
      }
      // Frame 2 fails; the group tries it again at once: after the third
      // failed encode in a row it switches to libx264 (one warn line; the two
      // failures before it are error lines), and frame 2 comes from libx264.
      await child.send("publish 2");
      const deadline = performance.now() + 10_000;
      while (!child.logs.some(([level]) => level === "warn")) {
        assert.ok(performance.now() < deadline, JSON.stringify(child.logs));
        await child.next("log", 10_000);
      }
      assert.deepEqual(
        child.logs.map(([level]) => level),
        ["error", "error", "warn"],
        JSON.stringify(child.logs),
      );
      assert.match(
        child.logs[2][1],
        /^display 'default': NVENC failed 3 encodes in a row \(nvEncEncodePicture failed: NV_ENC_ERR_GENERIC \(20\)\); using libx264$/,
      );
      // From here: libx264, starting on an IDR, close to each picture but not
      // the fake's exact I_PCM copy.
      const dec = await AvDecoder.open();
      try {
        for (let n = 2; n < 5; n++) {
          if (n > 2) await child.send(`publish ${n}`);
          const f: ReceivedFrame = await v.nextFrame(10_000);
          assert.equal(hdr(f).keyframe, n === 2, `libx264 chunk of frame ${n}`);
          const out = await dec.decode(f.payload);
          assert.equal(out.length, 1);
          const p = psnr(out[0].data, pattern(W, H, n));
          assert.ok(p > 30, `frame ${n}: PSNR ${p.toFixed(1)} dB`);
          assert.ok(p < 99, `frame ${n}: lossy, so libx264's`);
        }
      } finally {
        dec.close();
      }
      await v.close();
      const closed = await child.close();
      const counters = closed.fake as Record<string, number>;
      assert.deepEqual(
        [counters.liveObjects, counters.leaks, counters.liveContexts],
        [0, 0, 0],
        "the failed NVENC session was freed",
      );
      assert.equal(
        child.logs.filter(([level]) => level === "warn").length,
        1,
        "still one line",
      );
    } finally {
      await v?.close().catch(() => {});
      child.kill();
    }
  },
});

Deno.test({
  name:
    'serve() with encoder: "nvenc" when NVENC fails: H.264 is off (one line), viewers get images',
  ignore,
  fn: async () => {
    const child = new Child([String(W), String(H), "nvenc", "false"], {
      FAKE_NVENC_FAIL: "init",
    });
    let v: TestViewer | null = null;
    try {
      v = await openViewer(child);
      await child.send("publish 0");
      const config = await v.nextText("config", 20_000);
      assert.equal(config.transport, "image");
      const f = await v.nextFrame(10_000);
      assert.equal(hdr(f).type, "image_frame");
      await v.close();
      await child.close();
      assert.equal(child.logs.length, 1, JSON.stringify(child.logs));
      assert.match(
        child.logs[0][1],
        /H\.264 is unavailable at 96x64, using images: .*nvEncInitializeEncoder failed: NV_ENC_ERR_GENERIC \(20\)/,
      );
    } finally {
      await v?.close().catch(() => {});
      child.kill();
    }
  },
});

Deno.test({
  name:
    "deno task doctor says which H.264 encoder is live and why (NVENC through the fake; libx264 when it refuses)",
  ignore: typeof fake === "string",
  fn: async () => {
    const doctor = (env: Record<string, string>) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "src/doctor.ts"],
        cwd: new URL("..", import.meta.url),
        env: {
          RFB_CUDA_LIBRARY: F.cuda,
          RFB_NVENC_LIBRARY: F.encode,
          FAKE_NVENC_FAIL: "",
          FAKE_CUDA_FAIL: "",
          FAKE_NVENC_MAX_VERSION: "",
          NO_COLOR: "1",
          ...env,
        },
        stdout: "piped",
        stderr: "piped",
      }).output().then((out) => {
        const text = new TextDecoder().decode(out.stdout);
        assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
        return text;
      });
    const [live, refused] = await Promise.all([
      doctor({}),
      doctor({ FAKE_NVENC_FAIL: "open" }),
    ]);
    assert.match(
      live,
      /\| NVENC \(GPU H\.264\) \| ok \| an NVENC session opened \(driver API 12\.2\); avc1\.42C01F; 1280x720 NV12 IDR in [\d.]+ ms \(copy [\d.]+ ms, pitch 1344\)/,
    );
    assert.match(
      live,
      /\| H\.264 encoder \| ok \| NVENC \(preferred over libx264\) \|/,
    );
    assert.match(live, /Recommended path: H\.264 \(NVENC\)/);
    assert.match(
      refused,
      /\| NVENC \(GPU H\.264\) \| missing \| the driver refused an encode session \(NV_ENC_ERR_NO_ENCODE_DEVICE \(1\)/,
    );
    // The reason is on the NVENC row only; the encoder row points there.
    assert.match(
      refused,
      /\| H\.264 encoder \| (ok \| libx264 \(NVENC is missing: see its row\)|missing \| none: libx264 is \w+ and NVENC is missing) /,
    );
    assert.equal(
      refused.split("the driver refused an encode session").length,
      2,
    );
  },
});
