/**
 * The minimal viewer page served at `GET /` and `GET /<stream>`: a canvas
 * that connects back to the same path, shows image frames, acknowledges
 * them, and sends pointer, wheel, key and viewport events. No build step,
 * no dependencies.
 *
 * @module
 */

const SCRIPT = `
const canvas = document.getElementById("view");
const status = document.getElementById("status");
const ctx = canvas.getContext("2d");
const params = new URLSearchParams(location.search);
const wsUrl = new URL(location.pathname, location.href);
wsUrl.protocol = location.protocol === "https:" ? "wss:" : "ws:";
let ws, frameW = 0, frameH = 0, chain = Promise.resolve(), retry = 500;
const say = (s) => { status.textContent = s; };
const send = (m) => { if (ws && ws.readyState === 1) ws.send(JSON.stringify(m)); };
function connect() {
  say("connecting");
  ws = new WebSocket(wsUrl);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    retry = 500;
    const hello = { type: "hello", supported: ["image/jpeg", "image/png", "image/webp"],
      device_pixel_ratio: devicePixelRatio };
    if (params.get("token")) hello.token = params.get("token");
    send(hello);
    viewport();
  };
  ws.onmessage = (e) => {
    if (typeof e.data === "string") {
      const m = JSON.parse(e.data);
      if (m.type === "config") { frameW = canvas.width = m.width; frameH = canvas.height = m.height; say("live"); }
      return;
    }
    const dv = new DataView(e.data);
    const n = dv.getUint32(0, true);
    const h = JSON.parse(new TextDecoder().decode(new Uint8Array(e.data, 4, n)));
    if (h.type !== "image_frame") return;
    const blob = new Blob([new Uint8Array(e.data, 4 + n)], { type: h.mime });
    chain = chain.then(async () => {
      try {
        const bmp = await createImageBitmap(blob);
        if (canvas.width !== h.width || canvas.height !== h.height) {
          frameW = canvas.width = h.width; frameH = canvas.height = h.height;
        }
        ctx.drawImage(bmp, 0, 0);
        bmp.close();
      } catch (err) { console.warn("rfb: undecodable frame", err); }
      send({ type: "ack", seq: h.seq, decode_queue_size: 0, displayed: true });
    });
  };
  ws.onclose = (e) => {
    say("closed " + e.code + (e.reason ? ": " + e.reason : ""));
    if ([4401, 4404, 1003, 1008, 1007].includes(e.code)) return;
    setTimeout(connect, retry); retry = Math.min(retry * 2, 8000);
  };
}
function viewport() {
  const r = canvas.getBoundingClientRect();
  send({ type: "set_viewport", width: r.width, height: r.height,
    pwidth: Math.round(r.width * devicePixelRatio), pheight: Math.round(r.height * devicePixelRatio),
    ratio: devicePixelRatio });
}
new ResizeObserver(viewport).observe(canvas);
const MODS = [["shiftKey", "Shift"], ["ctrlKey", "Control"], ["altKey", "Alt"], ["metaKey", "Meta"]];
const mods = (e) => MODS.filter(([k]) => e[k]).map(([, n]) => n);
const BTN = [1, 3, 2, 4, 5];
const buttons = (e) => [0, 1, 2, 3, 4].filter((i) => e.buttons & (1 << i)).map((i) => [1, 2, 3, 4, 5][i]);
function where(e) {
  const r = canvas.getBoundingClientRect();
  const s = Math.min(r.width / frameW, r.height / frameH) || 1;
  const ox = (r.width - frameW * s) / 2, oy = (r.height - frameH * s) / 2;
  const x = (e.clientX - r.left - ox) / s, y = (e.clientY - r.top - oy) / s;
  return { x, y, inside: x >= 0 && y >= 0 && x < frameW && y < frameH };
}
let pendingMove = null, wheel = null;
function flush() {
  if (pendingMove) { send({ type: "event", event: pendingMove }); pendingMove = null; }
  if (wheel) { send({ type: "event", event: wheel }); wheel = null; }
  requestAnimationFrame(flush);
}
requestAnimationFrame(flush);
const ts = () => performance.now() / 1000;
function pointer(type, e) {
  return { type, ...where(e), button: type === "pointer_move" ? 0 : (BTN[e.button] ?? 0),
    buttons: buttons(e), modifiers: mods(e), timestamp: ts() };
}
canvas.addEventListener("pointerdown", (e) => { canvas.focus(); canvas.setPointerCapture(e.pointerId); send({ type: "event", event: pointer("pointer_down", e) }); });
canvas.addEventListener("pointerup", (e) => send({ type: "event", event: pointer("pointer_up", e) }));
canvas.addEventListener("pointermove", (e) => { pendingMove = pointer("pointer_move", e); });
canvas.addEventListener("dblclick", (e) => send({ type: "event", event: pointer("double_click", e) }));
canvas.addEventListener("contextmenu", (e) => e.preventDefault());
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const k = e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 100 : 1;
  if (!wheel) wheel = { type: "wheel", ...where(e), dx: 0, dy: 0, buttons: buttons(e), modifiers: mods(e), timestamp: ts() };
  wheel.dx += e.deltaX * k; wheel.dy += e.deltaY * k;
}, { passive: false });
function key(type, e) {
  if (e.key === "Escape") { canvas.blur(); return; }
  e.preventDefault();
  send({ type: "event", event: { type, key: e.key, code: e.code, modifiers: mods(e), timestamp: ts() } });
}
canvas.addEventListener("keydown", (e) => key("key_down", e));
canvas.addEventListener("keyup", (e) => key("key_up", e));
connect();
`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The viewer page for one stream, as HTML.
 *
 * @example
 * ```ts
 * import { viewerPage } from "./viewer_page.ts";
 * console.log(viewerPage("default").startsWith("<!doctype html>")); // true
 * ```
 */
export function viewerPage(stream: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(stream)} · rfb</title>
<style>
html,body{margin:0;height:100%;background:#111;color:#ddd;font:13px system-ui,sans-serif}
#view{display:block;width:100vw;height:100vh;object-fit:contain;outline:none;touch-action:none}
#status{position:fixed;top:8px;left:8px;padding:2px 8px;border-radius:9px;background:#0008}
</style></head>
<body><canvas id="view" tabindex="0" width="1" height="1"></canvas>
<div id="status">loading</div>
<script type="module">${SCRIPT}</script>
</body></html>`;
}
