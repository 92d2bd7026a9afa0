/**
 * The wire protocol, version 1 (pdum.rfb compatible), with no I/O:
 * `@rfb/core/protocol`, for writing another client or server, a proxy, or
 * tests. An app serving frames needs none of it; `@rfb/core` re-exports the
 * close codes, capability strings and event types an app meets.
 *
 * This module packs and unpacks the binary envelope
 * (`uint32 LE header length | compact JSON header | payload`), builds the
 * server's control messages, parses and validates what a client sends, and
 * chooses a transport from a viewer's `hello`. Everything here is a pure
 * function of its inputs so it can be tested against golden bytes.
 *
 * It gathers the files of `src/protocol/`, one concept each:
 * - `constants.ts`: capability strings, close codes, size limits, image
 *   formats and transports;
 * - `envelope.ts`: the binary envelope and its `image_frame` and
 *   `video_chunk` headers;
 * - `server_messages.ts`: `config`, `stats`, `set_quality`, `presence` and
 *   `control`;
 * - `input_events.ts`: input events and their validation;
 * - `extra_events.ts`: our optional `text_input` and `gamepad` events;
 * - `transfers.ts`: our optional clipboard and file messages, both ways;
 * - `client_messages.ts`: what a client sends, and its parser;
 * - `negotiation.ts`: choosing a transport for a viewer.
 *
 * @example
 * ```ts
 * import { packEnvelope, unpackEnvelope } from "@rfb/core/protocol";
 * const bytes = packEnvelope({ type: "image_frame", seq: 1 }, new Uint8Array([1, 2]));
 * const { header, payload } = unpackEnvelope(bytes);
 * console.log(header.type, payload.length); // "image_frame" 2
 * ```
 *
 * @module
 */

export * from "./protocol/constants.ts";
export * from "./protocol/envelope.ts";
export * from "./protocol/server_messages.ts";
export * from "./protocol/input_events.ts";
export * from "./protocol/client_messages.ts";
export * from "./protocol/negotiation.ts";
export * from "./protocol/extra_events.ts";
export * from "./protocol/transfers.ts";
