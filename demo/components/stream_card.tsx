/**
 * A gallery card: a live viewer island with a title and a link; a stream
 * that is off gets the same card, with a box saying why in place of the
 * viewer and no link.
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
  /** Why the stream is off, as a clause ("the demo was started with --no-gpu"), when it is. */
  unavailable?: string;
}

/** Text with its command-line flags (`--no-gpu`) as code, kept on one line. */
function withFlags(text: string) {
  return text.split(/(--[\w-]+)/).map((part, i) =>
    i % 2 ? <code key={i}>{part}</code> : part
  );
}

/** A card with a live stream. */
export function StreamCard(
  { stream, title, blurb, base, unavailable }: StreamCardProps,
) {
  const props = { stream, base, toolbar: false };
  if (unavailable) {
    return (
      <article class="card off">
        <div class="unavailable" role="note">
          <strong>This scene is off</strong>
          <span>Off because {withFlags(unavailable)}.</span>
        </div>
        <div class="card-body">
          <h2>{title}</h2>
          <p>{blurb}</p>
        </div>
      </article>
    );
  }
  return (
    <article class="card">
      <Island name="Viewer" props={props} class="stage">
        <Viewer {...props} />
      </Island>
      <div class="card-body">
        <h2>
          <a href={`/streams/${stream}`}>{title}</a>
        </h2>
        <p>{blurb}</p>
      </div>
    </article>
  );
}
