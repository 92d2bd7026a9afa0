/**
 * `/`: the gallery. Every card is a live viewer of a stream on this port;
 * the fractal appears twice, and both copies follow any drag or zoom.
 *
 * @module
 */

import { Layout } from "../components/layout.tsx";
import { StreamCard } from "../components/stream_card.tsx";

/** What the gallery shows. */
export interface HomeData {
  /** rfb mount path. */
  base: string;
  /** The main scene's name (from --pattern). */
  pattern: string;
  /** Why the WebGPU scene is off, as a clause, if it is. */
  gpuUnavailable?: string;
  /** The GPU adapter in use, if any. */
  gpuAdapter?: string;
}

/** The gallery page. */
export function Home({ base, pattern, gpuUnavailable, gpuAdapter }: HomeData) {
  return (
    <Layout title="Gallery" active="/">
      <section class="intro">
        <h1>Live frames from Deno, in your browser</h1>
        <p>
          Each picture below is rendered by this Deno process and streamed over
          a WebSocket: H.264 where the browser decodes it with WebCodecs, JPEG
          elsewhere. Click, drag and scroll in them: the input goes back to the
          program.
        </p>
      </section>
      <div class="gallery">
        <StreamCard
          stream="main"
          base={base}
          title={`Scene: ${pattern}`}
          blurb="Rendered on the CPU into an RGBA buffer each frame. Click to change the box's colour."
        />
        <StreamCard
          stream="gpu"
          base={base}
          title="WebGPU shader"
          blurb={gpuAdapter
            ? `Rendered with Deno's WebGPU on ${gpuAdapter}, read back through a ring of mapped buffers. Click to move the ring.`
            : "A shader rendered with Deno's WebGPU and converted to H.264's NV12 on the GPU, when the machine has an adapter."}
          unavailable={gpuUnavailable}
        />
        <StreamCard
          stream="fractal"
          base={base}
          title="Fractal (viewer 1)"
          blurb="Drag to pan, scroll to zoom, double click to reset."
        />
        <StreamCard
          stream="fractal"
          base={base}
          title="Fractal (viewer 2)"
          blurb="The same stream again: both viewers stay in sync."
        />
      </div>
    </Layout>
  );
}
