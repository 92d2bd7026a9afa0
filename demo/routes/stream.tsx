/**
 * `/streams/:name`: one stream with the batteries viewer, controls and a
 * live chart of its frame rate, bitrate and latency.
 *
 * @module
 */

import { Island } from "../components/island.tsx";
import { Layout } from "../components/layout.tsx";
import { Controls, type StreamSettings } from "../islands/controls.tsx";
import { StatsChart } from "../islands/stats_chart.tsx";
import { Viewer } from "../islands/viewer.tsx";

/** What the stream page shows. */
export interface StreamData {
  /** Stream name. */
  stream: string;
  /** rfb mount path. */
  base: string;
  /** Frame size. */
  width: number;
  /** Frame height. */
  height: number;
  /** Current settings. */
  settings: StreamSettings;
}

/** The stream page. */
export function StreamPage(
  { stream, base, width, height, settings }: StreamData,
) {
  const viewer = { stream, base, hud: true };
  return (
    <Layout title={stream} active={`/streams/${stream}`}>
      <div class="stream-page">
        <section class="stream-main">
          <Island name="Viewer" props={viewer} class="stage big">
            <Viewer {...viewer} />
          </Island>
          <p class="muted">
            Stream <code>{stream}</code>, {width}×{height}. WebSocket{" "}
            <code>{`${base}/${stream}`}</code>.
          </p>
        </section>
        <aside class="side">
          <h2>Settings</h2>
          <Island name="Controls" props={{ stream, settings }}>
            <Controls stream={stream} settings={settings} />
          </Island>
          <h2>Live</h2>
          <Island name="StatsChart" props={{ stream }}>
            <StatsChart stream={stream} />
          </Island>
        </aside>
      </div>
    </Layout>
  );
}

/** A 404 page. */
export function NotFound({ what }: { what: string }) {
  return (
    <Layout title="Not found">
      <section class="intro">
        <h1>Not found</h1>
        <p>{what}</p>
        <p>
          <a href="/">Back to the gallery</a>
        </p>
      </section>
    </Layout>
  );
}
