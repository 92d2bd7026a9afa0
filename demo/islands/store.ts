/// <reference lib="dom" />
/**
 * Shared state between islands on one page: each viewer island publishes
 * its view here so the controls and the chart can use it.
 *
 * @module
 */

import { useEffect, useState } from "preact/hooks";
import type { RemoteFramebufferView } from "../../client/mod.ts";

const views = new Map<string, RemoteFramebufferView>();
const listeners = new Set<() => void>();

/** Make `view` the view of `stream` on this page (null to remove it). */
export function publishView(
  stream: string,
  view: RemoteFramebufferView | null,
): void {
  if (view) views.set(stream, view);
  else views.delete(stream);
  for (const l of listeners) l();
}

/** The view of `stream` on this page, once its island has mounted. */
export function useView(stream: string): RemoteFramebufferView | null {
  const [view, setView] = useState(() => views.get(stream) ?? null);
  useEffect(() => {
    const update = () => setView(views.get(stream) ?? null);
    listeners.add(update);
    update();
    return () => listeners.delete(update);
  }, [stream]);
  return view;
}
