/**
 * What shared sessions cost: server CPU per frame for one display with 32
 * viewers, in the same run, with presence and control off and on. Every run
 * has the same load: a 640x360 scene published at 30 fps as JPEG, 32 viewers
 * in a separate process (their CPU is not the server's), each sending a
 * pointer move 30 times a second, one of them leaving and joining again
 * every second, and one asking for control and withdrawing four times a
 * second. Only the display's options differ:
 *
 * - `off`: `control: "shared"`, `presence: false` (as before sharing: every
 *   viewer drives, no presence messages);
 * - `shared`: `control: "shared"`, presence on (every join and leave tells
 *   all 32);
 * - `exclusive`: `control: "exclusive"`, presence on, 2 presenters and 30
 *   view-only viewers (their input is dropped on the server), requests and
 *   withdrawals.
 *
 * The runs alternate (off, shared, exclusive, then again) so drift in the
 * machine's load spreads over all three. `deno run -A bench/sharing.ts`
 * prints the table; the helper side is this file run as
 * `deno run -A bench/sharing.ts viewers <url> <count>`.
 *
 * @module
 */

import process from "node:process";
import { type DisplayOptions, serve, silentLogger } from "../mod.ts";
import { answerMarks, spawnHelper } from "./lines.ts";
import { Player, renderRing } from "./scene.ts";
import { f1, f2, loadavg, mean, publishAt, sleep, table } from "./util.ts";

const W = 640, H = 360, FPS = 30, VIEWERS = 32;
const WARM_MS = 1500, MS = 6000, ROUNDS = 2;

/** The helper: `count` viewers that watch, move the pointer, churn. */
async function viewers(url: string, count: number): Promise<void> {
  let frames = 0, texts = 0;
  const sockets: WebSocket[] = [];
  const open = (i: number): Promise<WebSocket> =>
    new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        ws.send(JSON.stringify({
          type: "hello",
          supported: ["image/jpeg"],
          device_pixel_ratio: 1,
          token: `v${i}`,
        }));
        resolve(ws);
      };
      ws.onmessage = (e) => {
        if (typeof e.data === "string") {
          texts++;
          return;
        }
        frames++;
        const len = new DataView(e.data).getUint32(0, true);
        const head = new TextDecoder().decode(new Uint8Array(e.data, 4, len));
        const seq = Number(/"seq":(\d+)/.exec(head)?.[1]);
        ws.send(`{"type":"ack","seq":${seq},"decode_queue_size":0}`);
      };
    });
  for (let i = 0; i < count; i++) sockets.push(await open(i));
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    for (const ws of sockets) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      ws.send(JSON.stringify({
        type: "event",
        event: { type: "pointer_move", x: tick % W, y: tick % H, buttons: [] },
      }));
    }
    if (tick % 8 === 0) { // four times a second: ask, then withdraw
      sockets[1]?.send(
        JSON.stringify({
          type: tick % 16 ? "request_control" : "release_control",
        }),
      );
    }
    if (tick % 30 === 0) { // once a second: the last one leaves and comes back
      const last = count - 1;
      sockets[last].close();
      open(last).then((ws) => sockets[last] = ws);
    }
  }, 1000 / 30);
  await answerMarks(() => ({ frames, texts }));
  clearInterval(timer);
  for (const ws of sockets) ws.close();
}

interface Run {
  name: string;
  cpuPerFrame: number;
  framesPerViewer: number;
  textsPerViewer: number;
  eventsToApp: number;
  inputDropped: number;
}

async function measure(
  name: string,
  options: DisplayOptions,
  ring: Uint8Array[],
): Promise<Run> {
  const display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    transport: "image",
    logger: silentLogger,
    ...options,
  });
  const helper = await spawnHelper(
    new URL(import.meta.url),
    ["viewers", `ws://127.0.0.1:${display.port}/`, String(VIEWERS)],
    "viewer process",
  );
  const player = new Player(2);
  const next = () => ring[player.next()];
  let events = 0;
  const publish = (f: Uint8Array) => {
    events += display.pollEvents().length; // the app drains its input
    display.publish(f);
  };
  await publishAt(publish, next, FPS, WARM_MS);
  const m0 = JSON.parse(await helper.ask("mark"));
  const d0 = display.stats().inputDropped;
  const e0 = events;
  const c0 = process.cpuUsage();
  const published = await publishAt(publish, next, FPS, MS);
  await sleep(100);
  const used = process.cpuUsage(c0);
  const m1 = JSON.parse(await helper.ask("mark"));
  const run: Run = {
    name,
    cpuPerFrame: (used.user + used.system) / 1000 / published,
    framesPerViewer: (m1.frames - m0.frames) / VIEWERS,
    textsPerViewer: (m1.texts - m0.texts) / VIEWERS,
    eventsToApp: events - e0,
    inputDropped: display.stats().inputDropped - d0,
  };
  await helper.quit();
  await display.close();
  return run;
}

if (import.meta.main) {
  if (Deno.args[0] === "viewers") {
    await viewers(Deno.args[1], Number(Deno.args[2]));
  } else {
    const ring = renderRing(W, H);
    const presenters = new Set(["v0", "v1"]);
    const configs: Array<[string, DisplayOptions]> = [
      ["off", { control: "shared", presence: false }],
      ["shared", { control: "shared" }],
      ["exclusive", {
        control: "exclusive",
        authenticate: ({ token }) => ({
          role: presenters.has(token ?? "") ? "control" : "view",
        }),
      }],
    ];
    const runs = new Map<string, Run[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, options] of configs) {
        const r = await measure(name, options, ring);
        runs.set(name, [...runs.get(name) ?? [], r]);
      }
    }
    const base = mean(runs.get("off")!.map((r) => r.cpuPerFrame));
    console.log(
      `${VIEWERS} viewers, ${W}x${H} JPEG at ${FPS} fps, ${
        MS / 1000
      } s measured per run, ${ROUNDS} runs each, load ${loadavg()}`,
    );
    console.log(table(
      [
        "options",
        "server CPU ms/frame",
        "vs off",
        "frames/viewer",
        "texts/viewer",
        "events to app",
        "input dropped",
      ],
      [...runs].map(([name, rs]) => {
        const cpu = mean(rs.map((r) => r.cpuPerFrame));
        return [
          name,
          rs.map((r) => f2(r.cpuPerFrame)).join(", ") + ` (mean ${f2(cpu)})`,
          `${f2(cpu / base)}x`,
          f1(mean(rs.map((r) => r.framesPerViewer))),
          f1(mean(rs.map((r) => r.textsPerViewer))),
          String(Math.round(mean(rs.map((r) => r.eventsToApp)))),
          String(Math.round(mean(rs.map((r) => r.inputDropped)))),
        ];
      }),
    ));
  }
}
