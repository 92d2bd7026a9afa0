// Transport negotiation: selectTransport over the server's offer, the viewer's capabilities and preference.
import assert from "node:assert/strict";
import {
  type NegotiationOffer,
  type Selection,
  selectTransport,
  type Transport,
} from "../src/protocol.ts";

const JPEG = "image/jpeg";
const PNG = "image/png";
const WEBP = "image/webp";
const H264 = "webcodecs/h264-annexb";
const CODEC = "avc1.42E01F";

const jpeg: Selection = { transport: "image", format: "jpeg", mime: JPEG };
const png: Selection = { transport: "image", format: "png", mime: PNG };
const webp: Selection = { transport: "image", format: "webp", mime: WEBP };
const video: Selection = { transport: "webcodecs", codec: CODEC };

function offer(
  transport: NegotiationOffer["transport"],
  imageFormat: NegotiationOffer["imageFormat"] = "jpeg",
  h264Codec: string | null = null,
): NegotiationOffer {
  return { transport, imageFormat, h264Codec };
}

interface Case {
  name: string;
  supported: string[];
  offer: NegotiationOffer;
  preferred?: Transport;
  want: Selection | null;
}

const cases: Case[] = [
  // auto
  {
    name: "auto, encoder available, client decodes h264 → webcodecs",
    supported: [JPEG, PNG, H264],
    offer: offer("auto", "jpeg", CODEC),
    want: video,
  },
  {
    name: "auto, encoder available, client lacks h264 → image",
    supported: [JPEG, PNG],
    offer: offer("auto", "jpeg", CODEC),
    want: jpeg,
  },
  {
    name: "auto, no encoder, client decodes h264 → image",
    supported: [H264, PNG],
    offer: offer("auto", "jpeg", null),
    want: png,
  },
  {
    name: "auto, no encoder, client decodes only h264 → null",
    supported: [H264],
    offer: offer("auto", "jpeg", null),
    want: null,
  },
  {
    name: "auto, encoder available, client decodes only h264 → webcodecs",
    supported: [H264],
    offer: offer("auto", "png", CODEC),
    want: video,
  },
  {
    name: "auto, codec string passed through verbatim",
    supported: [H264],
    offer: offer("auto", "jpeg", "avc1.640028"),
    want: { transport: "webcodecs", codec: "avc1.640028" },
  },
  // forced image
  {
    name: "forced image, client and server both capable of h264 → image",
    supported: [H264, JPEG],
    offer: offer("image", "jpeg", CODEC),
    want: jpeg,
  },
  {
    name: "forced image, client decodes only h264 → null",
    supported: [H264],
    offer: offer("image", "jpeg", CODEC),
    want: null,
  },
  // forced webcodecs
  {
    name: "forced webcodecs without an encoder → null",
    supported: [H264, JPEG, PNG],
    offer: offer("webcodecs", "jpeg", null),
    want: null,
  },
  {
    name: "forced webcodecs, client lacks h264 → null (no image fallback)",
    supported: [JPEG, PNG],
    offer: offer("webcodecs", "jpeg", CODEC),
    want: null,
  },
  {
    name: "forced webcodecs with encoder and client h264 → webcodecs",
    supported: [JPEG, H264],
    offer: offer("webcodecs", "jpeg", CODEC),
    want: video,
  },
  // image format choice
  {
    name: "server format webp preferred when the client supports it",
    supported: [JPEG, PNG, WEBP],
    offer: offer("image", "webp"),
    want: webp,
  },
  {
    name: "server format png preferred over jpeg when supported",
    supported: [JPEG, PNG],
    offer: offer("auto", "png"),
    want: png,
  },
  {
    name: "fallback: server webp unsupported → jpeg first",
    supported: ["image/gif", PNG, JPEG],
    offer: offer("image", "webp"),
    want: jpeg,
  },
  {
    name: "fallback: server jpeg unsupported → png before webp",
    supported: [WEBP, PNG],
    offer: offer("image", "jpeg"),
    want: png,
  },
  {
    name: "fallback: only webp left → webp",
    supported: [WEBP],
    offer: offer("image", "png"),
    want: webp,
  },
  {
    name: "client order does not matter, server fallback order does",
    supported: [WEBP, PNG, JPEG],
    offer: offer("image", "jpeg"),
    want: jpeg,
  },
  // client preference
  {
    name: "preferred image honoured under auto even when video possible",
    supported: [JPEG, H264],
    offer: offer("auto", "jpeg", CODEC),
    preferred: "image",
    want: jpeg,
  },
  {
    name: "preferred webcodecs under auto picks video",
    supported: [JPEG, H264],
    offer: offer("auto", "jpeg", CODEC),
    preferred: "webcodecs",
    want: video,
  },
  {
    name: "preferred webcodecs under auto without encoder falls back to image",
    supported: [JPEG, H264],
    offer: offer("auto", "jpeg", null),
    preferred: "webcodecs",
    want: jpeg,
  },
  {
    name: "preferred image under auto but no common image format → video",
    supported: [H264],
    offer: offer("auto", "jpeg", CODEC),
    preferred: "image",
    want: video,
  },
  {
    name: "preferred webcodecs ignored when server forces image",
    supported: [JPEG, H264],
    offer: offer("image", "jpeg", CODEC),
    preferred: "webcodecs",
    want: jpeg,
  },
  {
    name: "preferred image ignored when server forces webcodecs",
    supported: [JPEG, H264],
    offer: offer("webcodecs", "jpeg", CODEC),
    preferred: "image",
    want: video,
  },
  {
    name:
      "preferred image ignored when server forces webcodecs without encoder → null",
    supported: [JPEG, H264],
    offer: offer("webcodecs", "jpeg", null),
    preferred: "image",
    want: null,
  },
  // nothing in common
  {
    name: "nothing common: empty supported list → null",
    supported: [],
    offer: offer("auto", "jpeg", CODEC),
    want: null,
  },
  {
    name: "nothing common: unknown capabilities → null",
    supported: ["image/gif", "video/mp4", "IMAGE/JPEG"],
    offer: offer("auto", "jpeg", CODEC),
    want: null,
  },
];

for (const c of cases) {
  Deno.test(`selectTransport: ${c.name}`, () => {
    assert.deepEqual(
      selectTransport(c.supported, c.offer, c.preferred),
      c.want,
    );
  });
}

Deno.test("selectTransport: does not mutate its inputs", () => {
  const supported = Object.freeze([JPEG, H264]);
  const o = Object.freeze(offer("auto", "png", CODEC));
  assert.deepEqual(selectTransport(supported, o), video);
  assert.deepEqual(supported, [JPEG, H264]);
});
