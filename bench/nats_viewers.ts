/**
 * Many viewers in one process, for `bench/nats.ts`: so the cost of holding
 * them is not counted in the edge's or the host's CPU.
 *
 * ```sh
 * deno run -A bench/nats_viewers.ts <count> <hello-json> <ws-url>...
 * ```
 *
 * Opens `count` WebSockets to each URL, says the hello, acknowledges every
 * frame at once, and prints `stats <json>` every second: frames and bytes
 * received per viewer so far.
 *
 * @module
 */

import { unpackEnvelope } from "../src/protocol.ts";

const [countArg, hello, ...urls] = Deno.args;
const count = Number(countArg);
const frames: number[] = [];
let bytes = 0;
let open = 0;

function viewer(url: string, i: number): void {
  frames[i] = 0;
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    open++;
    ws.send(hello);
  };
  ws.onmessage = (e) => {
    if (typeof e.data === "string") return;
    frames[i]++;
    bytes += (e.data as ArrayBuffer).byteLength;
    const { header } = unpackEnvelope(new Uint8Array(e.data as ArrayBuffer));
    ws.send(JSON.stringify({
      type: "ack",
      seq: header.seq,
      decode_queue_size: 0,
      displayed: true,
    }));
  };
  ws.onclose = () => open--;
  ws.onerror = () => {};
}

let i = 0;
for (const url of urls) {
  for (let k = 0; k < count; k++) {
    viewer(url, i++);
    if (i % 20 === 0) await new Promise((r) => setTimeout(r, 20));
  }
}
setInterval(() => {
  console.log(`stats ${JSON.stringify({ open, frames, bytes })}`);
}, 1000);
console.log("ready");
