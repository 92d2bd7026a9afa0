/**
 * Server-render an island: its component's HTML inside a marked element
 * that the islands bundle hydrates with the same props.
 *
 * @module
 */

import type { ComponentChildren } from "preact";

/** Props of `Island`. */
export interface IslandProps {
  /** The island's name in demo/islands/main.ts. */
  name: string;
  /** Its props (JSON). */
  props: Record<string, unknown>;
  /** The server-rendered component. */
  children: ComponentChildren;
  /** A class for the wrapper. */
  class?: string;
}

/** Mark a server-rendered component for hydration. */
export function Island({ name, props, children, class: cls }: IslandProps) {
  return (
    <div data-island={name} data-props={JSON.stringify(props)} class={cls}>
      {children}
    </div>
  );
}
