/// <reference lib="dom" />
/**
 * The viewer island: mounts the batteries viewer (`RfbViewer`) for a stream
 * once the page is live, and shares its view with the other islands.
 *
 * @module
 */

import { useEffect, useRef } from "preact/hooks";
import { RfbViewer } from "../../client/mod.ts";
import type { FitMode } from "../../client/mod.ts";
import { publishView } from "./store.ts";

/** Props of the viewer island. */
export interface ViewerProps {
  /** Stream name. */
  stream: string;
  /** Path the rfb handler is mounted at. */
  base: string;
  /** Show the stats HUD. */
  hud?: boolean;
  /** Fit mode. */
  fit?: FitMode;
  /** Hide the toolbar. */
  toolbar?: boolean;
}

/** A live stream viewer. */
export function Viewer(props: ViewerProps) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!host.current) return;
    const viewer = new RfbViewer(host.current, {
      url: `${props.base}/${props.stream}`,
      hud: props.hud,
      fit: props.fit,
      toolbar: props.toolbar,
      statsInterval: 1,
    });
    publishView(props.stream, viewer.view);
    return () => {
      publishView(props.stream, null);
      viewer.dispose();
    };
  }, [props.stream]);
  return <div class="viewer" ref={host} />;
}
