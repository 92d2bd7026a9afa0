/**
 * What a viewer session talks to: its socket (`ViewerSocket`), the upgrade
 * facts it keeps for authentication (`SessionRequest`), and its stream's hub
 * (`SessionHub`: the pictures to pull, the video to be pushed, where input
 * goes, and its `ControlDesk`: who may drive). Kept narrow so the session's policy can be tested with a fake
 * socket, a fake clock and a real hub with scripted encoders.
 *
 * @module
 */

import type { DisplayEvent } from "../events.ts";
import type { PictureTrack, VideoTrack } from "../hub/tracks.ts";
import type { Authenticate, ResolvedDisplayOptions } from "../options.ts";
import type { ImageFormat, NegotiationOffer } from "../protocol.ts";
import type { ViewerIdentity } from "./identity.ts";

/** The part of a WebSocket a session uses. */
export interface ViewerSocket {
  /** 1 while open, as `WebSocket.OPEN`. */
  readonly readyState: number;
  /** Bytes queued but not yet sent. */
  readonly bufferedAmount: number;
  /** Send a text or binary message. */
  send(data: string | Uint8Array<ArrayBuffer>): void;
  /** Close with a code and reason. */
  close(code?: number, reason?: string): void;
}

/** Upgrade-time facts a session keeps for authentication. */
export interface SessionRequest {
  /** The upgrade request. */
  request: Request;
  /** Peer address. */
  remoteAddr?: string;
  /** The hook to run on `hello` (stream's, else handler's or server's). */
  authenticate?: Authenticate;
}

/** A viewer as the stream's `ControlDesk` sees it (a session). */
export interface PresenceMember {
  /** Viewer id. */
  readonly id: number;
  /** The negotiated transport, or null. */
  readonly transport: "image" | "webcodecs" | null;
  /** Send a `presence` or `control` message to this viewer. */
  notify(text: string): void;
  /** The edge server it watches through, for a viewer at one (see `RemoteViewers`). */
  readonly edge?: string;
}

/** Who watches a stream and who may drive it (`src/hub/presence.ts`). */
export interface ControlDesk {
  /** An admitted, negotiated viewer joins. */
  join(member: PresenceMember, identity: ViewerIdentity): void;
  /** Its input arrived: true when it drives (and the input counts as activity). */
  input(member: PresenceMember): boolean;
  /** Whether it drives now. */
  drives(member: PresenceMember): boolean;
  /** It asks for control. */
  request(member: PresenceMember): void;
  /** It gives control up (to viewer `to`), or withdraws its request. */
  release(member: PresenceMember, to?: number): void;
}

/** What a session needs from its stream's hub. */
export interface SessionHub {
  /** Stream name. */
  readonly name: string;
  /** The stream's settings (read live: a retune changes them). */
  readonly options: ResolvedDisplayOptions;
  /** The stream's current size. */
  size(): { width: number; height: number };
  /** The version of the newest picture, 0 before the first. */
  newest(): number;
  /** Frames published per second lately (at most the display's `fps`). */
  publishFps(): number;
  /** True once nothing new came for `stillAfter` seconds. */
  settled(): boolean;
  /** What the stream can offer in negotiation; null when there is no such stream (closed 4404). */
  offer(): Promise<NegotiationOffer | null>;
  /**
   * The session passed authentication and wants to watch: true when there
   * is room (`maxViewers` counts only sessions admitted this way), false
   * when it must be refused (1013).
   */
  join(session: object): boolean;
  /**
   * Pull delivery: the pictures of one encoding (an image format and
   * quality, or `"h264"` for the still IDR); null when the stream has none.
   */
  pictures(
    format: ImageFormat | "h264",
    quality: number,
    still: boolean,
    scale?: number,
  ): PictureTrack | null;
  /** Push delivery: the shared H.264 stream at an adaptive quality step. */
  video(step: number): VideoTrack;
  /** Hand an input event to the app. */
  input(ev: DisplayEvent): void;
  /** Bytes of viewer `id`'s files waiting in the app's queue. */
  fileBytesQueued(id: number): number;
  /** Who may drive. */
  readonly presence: ControlDesk;
  /** Ask for a delivery pass over every session soon. */
  wake(): void;
  /** This session ended. */
  leave(session: object): void;
}
