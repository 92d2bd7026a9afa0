/// <reference lib="dom" />
/**
 * Stream controls: this viewer's transport (renegotiated live), and the
 * display's image quality, H.264 bitrate, frame rate and still-after, set on
 * the server through the demo's JSON API.
 *
 * @module
 */

import { useState } from "preact/hooks";
import { useView } from "./store.ts";

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
  const [transport, setTransport] = useState("auto");

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
        Transport (this viewer)
        <select
          name="transport"
          value={transport}
          onChange={(e) => {
            const t = (e.target as HTMLSelectElement).value as
              | "auto"
              | "image"
              | "webcodecs";
            setTransport(t);
            view?.setTransport(t);
          }}
        >
          <option value="auto">auto</option>
          <option value="webcodecs">H.264 (WebCodecs)</option>
          <option value="image">images (JPEG)</option>
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
