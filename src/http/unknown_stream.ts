/**
 * The hub of a stream that does not exist. Where an `authenticate` hook
 * guards the streams, a socket for an unknown name must look like one for a
 * guarded name: it waits for `hello`, the hook runs, and only a peer that
 * passes it learns the name is unknown (4404); the others get 4401, as they
 * would for a real stream. So names cannot be probed without credentials.
 *
 * @module
 */

import type { DisplayEvent } from "../events.ts";
import type { PictureTrack, VideoTrack } from "../hub/tracks.ts";
import type { ResolvedDisplayOptions } from "../options.ts";
import type { NegotiationOffer } from "../protocol.ts";
import { Session } from "../session/session.ts";
import type {
  ControlDesk,
  SessionHub,
  SessionRequest,
  ViewerSocket,
} from "../session/types.ts";

let nextId = 1;

/**
 * A `SessionHub` with no pictures: every session on it ends after
 * authentication, with 4404.
 *
 * @example
 * ```ts ignore
 * const nowhere = new UnknownStream("nope", options);
 * const session = nowhere.accept(socket, { request, authenticate });
 * ```
 */
export class UnknownStream implements SessionHub {
  /** The name asked for. */
  readonly name: string;
  /** Settings for the handshake (timeouts, logger). */
  readonly options: ResolvedDisplayOptions;

  /** A hub for the unknown name `name`. */
  constructor(name: string, options: ResolvedDisplayOptions) {
    this.name = name;
    this.options = options;
  }

  /** A session that will run the hook, then close. */
  accept(socket: ViewerSocket, req: SessionRequest): Session {
    return new Session(-nextId++, this, socket, req);
  }

  /** No size. */
  size(): { width: number; height: number } {
    return { width: 0, height: 0 };
  }

  /** No pictures. */
  newest(): number {
    return 0;
  }

  /** No frames: the display's rate. */
  publishFps(): number {
    return this.options.fps;
  }

  /** Never. */
  settled(): boolean {
    return false;
  }

  /** Nothing to offer: the session closes with 4404. */
  offer(): Promise<NegotiationOffer | null> {
    return Promise.resolve(null);
  }

  /** Anyone may try (and learn the name is unknown). */
  join(): boolean {
    return true;
  }

  /** None. */
  pictures(): PictureTrack | null {
    return null;
  }

  /** Never asked: a session here never opens. */
  video(): VideoTrack {
    throw new Error(`stream '${this.name}' does not exist`);
  }

  /** Dropped: there is no app behind it. */
  input(_ev: DisplayEvent): void {}

  /** No files wait here. */
  fileBytesQueued(_id: number): number {
    return 0;
  }

  /** Nobody watches or drives: a session here never opens. */
  readonly presence: ControlDesk = {
    join: () => {},
    input: () => false,
    drives: () => false,
    request: () => {},
    release: () => {},
  };

  /** Nothing to deliver. */
  wake(): void {}

  /** Nothing kept. */
  leave(): void {}
}
