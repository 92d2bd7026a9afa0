/**
 * A gallery card: a live viewer island with a title and a link.
 *
 * @module
 */

import { Viewer } from "../islands/viewer.tsx";
import { Island } from "./island.tsx";

/** Props of a card. */
export interface StreamCardProps {
  /** Stream name. */
  stream: string;
  /** Heading. */
  title: string;
  /** One line about it. */
  blurb: string;
  /** rfb mount path. */
  base: string;
  /** Why the stream is missing, when it is. */
  unavailable?: string;
}

/** A card with a live stream. */
export function StreamCard(
  { stream, title, blurb, base, unavailable }: StreamCardProps,
) {
  const props = { stream, base, toolbar: false };
  return (
    <article class="card">
      {unavailable
        ? <div class="viewer unavailable">{unavailable}</div>
        : (
          <Island name="Viewer" props={props} class="stage">
            <Viewer {...props} />
          </Island>
        )}
      <div class="card-body">
        <h2>
          <a href={`/streams/${stream}`}>{title}</a>
        </h2>
        <p>{blurb}</p>
      </div>
    </article>
  );
}
