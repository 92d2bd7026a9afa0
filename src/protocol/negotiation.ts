/**
 * Transport negotiation: what the server offers, and the choice made for
 * one viewer from the capabilities in its `hello`.
 *
 * @module
 */

import {
  CAP_H264,
  IMAGE_MIME,
  type ImageFormat,
  type Transport,
} from "./constants.ts";

/** What the server offers when negotiating. */
export interface NegotiationOffer {
  /** `"auto"` picks video when both sides can; otherwise forces one transport. */
  transport: "auto" | Transport;
  /** The preferred image format. */
  imageFormat: ImageFormat;
  /** The H.264 codec string when an encoder is available, else `null`. */
  h264Codec: string | null;
}

/** The transport chosen for one viewer. */
export type Selection =
  | { transport: "image"; format: ImageFormat; mime: string }
  | { transport: "webcodecs"; codec: string };

const IMAGE_FALLBACK: ImageFormat[] = ["jpeg", "png", "webp"];

/**
 * Choose a transport for a viewer, or `null` when there is none both sides
 * support (close with 1003).
 *
 * Order: the viewer's preference from `hello.transport`, then the server's
 * `transport` setting; `"auto"` takes H.264 when the viewer decodes
 * `webcodecs/h264-annexb` and an encoder exists. On the image path the
 * server's format wins when the viewer supports it, then JPEG, PNG, WebP.
 *
 * @example
 * ```ts
 * import { selectTransport } from "@rfb/core/protocol";
 * selectTransport(["image/png"], { transport: "auto", imageFormat: "jpeg", h264Codec: null });
 * // { transport: "image", format: "png", mime: "image/png" }
 * ```
 */
export function selectTransport(
  supported: readonly string[],
  offer: NegotiationOffer,
  preferred?: Transport,
): Selection | null {
  const caps = new Set(supported);
  const canVideo = offer.h264Codec !== null && caps.has(CAP_H264);
  const image = pickImage(caps, offer.imageFormat);
  const want = offer.transport === "auto"
    ? (preferred ?? "auto")
    : offer.transport;
  if (want === "webcodecs" || want === "auto") {
    if (canVideo) return { transport: "webcodecs", codec: offer.h264Codec! };
    if (want === "webcodecs" && offer.transport === "webcodecs") return null;
  }
  if (want === "image" && !image && offer.transport === "auto" && canVideo) {
    return { transport: "webcodecs", codec: offer.h264Codec! };
  }
  return image;
}

function pickImage(
  caps: Set<string>,
  preferred: ImageFormat,
): Selection | null {
  for (const format of [preferred, ...IMAGE_FALLBACK]) {
    if (caps.has(IMAGE_MIME[format])) {
      return { transport: "image", format, mime: IMAGE_MIME[format] };
    }
  }
  return null;
}
