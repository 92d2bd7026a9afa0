/// <reference lib="dom" />
/**
 * Stream controls: this viewer's transport (renegotiated live), and the
 * display's image quality, H.264 bitrate, frame rate and still-after, set on
 * the server through the demo's JSON API.
 *
 * The transport follows the view, not only this form: the viewer's toolbar
 * button changes it too, so the select shows the view's requested transport
 * and, beside it, the one the server chose, after every `config`.
 *
 * @module
 */

import { useEffect, useState } from "preact/hooks";
import type { RemoteFramebufferView } from "../../client/mod.ts";
import { useView } from "./store.ts";

type Requested = RemoteFramebufferView["requestedTransport"];

/** The transport in use, named as the viewer's toolbar names it, or null. */
function inUse(view: RemoteFramebufferView): string | null {
  const c = view.config;
  if (!c || view.status !== "negotiated") return null;
  if (c.transport === "webcodecs") {
    return c.codec ? `H.264 · ${c.codec}` : "H.264";
  }
  return c.mime
    ? `Image · ${c.mime.replace(/^image\//, "").toUpperCase()}`
    : "Image";
}

/**
 * The view's requested transport and the one in use, kept up to date, and
 * a way to ask for another.
 */
function useTransport(
  view: RemoteFramebufferView | null,
): [Requested, string | null, (t: Requested) => void] {
  const [state, setState] = useState<[Requested, string | null]>([
    "auto",
    null,
  ]);
  const sync = () => view && setState([view.requestedTransport, inUse(view)]);
  useEffect(() => {
    if (!view) return;
    sync();
    view.addEventListener("config", sync);
    view.addEventListener("status", sync);
    return () => {
      view.removeEventListener("config", sync);
      view.removeEventListener("status", sync);
    };
  }, [view]);
  const request = (t: Requested) => {
    view?.setTransport(t);
    sync();
  };
  return [state[0], state[1], request];
}

/** The display settings the controls edit (from `Display.settings()`). */
export interface StreamSettings {
  /** Image quality 1-100. */
  quality: number;
  /** H.264 bitrate, bit/s. */
  bitrate: number;
  /** Frame rate. */
  fps: number;
  /** Seconds before the still, or false. */
  stillAfter: number | false;
}

/** Props of the controls island. */
export interface ControlsProps {
  /** Stream name. */
  stream: string;
  /** The settings when the page was made. */
  settings: StreamSettings;
}

/** Controls for one stream. */
export function Controls({ stream, settings }: ControlsProps) {
  const view = useView(stream);
  const [current, setCurrent] = useState(settings);
  const [error, setError] = useState<string | null>(null);
  const [transport, using, requestTransport] = useTransport(view);

  async function apply(change: Partial<StreamSettings>) {
    setError(null);
    const res = await fetch(`/api/streams/${encodeURIComponent(stream)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(change),
    });
    const body = await res.json();
    if (!res.ok) setError(body.error ?? `HTTP ${res.status}`);
    else setCurrent(body.settings);
  }

  return (
    <form class="controls" onSubmit={(e) => e.preventDefault()}>
      <label>
        Transport (this viewer){" "}
        <output name="transport-in-use" title="the transport in use">
          {using ?? "not connected"}
        </output>
        <select
          name="transport"
          value={transport}
          onChange={(e) =>
            requestTransport(
              (e.target as HTMLSelectElement).value as Requested,
            )}
        >
          <option value="auto">Auto</option>
          <option value="webcodecs">H.264</option>
          <option value="image">Image</option>
        </select>
      </label>
      <label>
        JPEG quality <output>{current.quality}</output>
        <input
          type="range"
          name="quality"
          min="10"
          max="100"
          value={current.quality}
          onChange={(e) =>
            apply({ quality: Number((e.target as HTMLInputElement).value) })}
        />
      </label>
      <label>
        H.264 bitrate{" "}
        <output>{(current.bitrate / 1e6).toFixed(1)} Mbit/s</output>
        <input
          type="range"
          name="bitrate"
          min="0.2"
          max="12"
          step="0.2"
          value={current.bitrate / 1e6}
          onChange={(e) =>
            apply({
              bitrate: Number((e.target as HTMLInputElement).value) * 1e6,
            })}
        />
      </label>
      <label>
        Frame rate
        <select
          name="fps"
          value={String(current.fps)}
          onChange={(e) =>
            apply({ fps: Number((e.target as HTMLSelectElement).value) })}
        >
          {[15, 24, 30, 60].map((f) => (
            <option value={String(f)} key={f}>{f} fps</option>
          ))}
        </select>
      </label>
      <label>
        Still after
        <select
          name="stillAfter"
          value={String(current.stillAfter)}
          onChange={(e) => {
            const v = (e.target as HTMLSelectElement).value;
            apply({ stillAfter: v === "false" ? false : Number(v) });
          }}
        >
          <option value="0.25">0.25 s</option>
          <option value="0.5">0.5 s</option>
          <option value="2">2 s</option>
          <option value="false">never</option>
        </select>
      </label>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}
