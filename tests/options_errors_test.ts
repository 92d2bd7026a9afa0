// What a user sees when an option or a call is wrong: the function they
// called, the value quoted, the nearest valid name for a typo, a busy port
// named with what to do, and calls after close() refused.
import assert from "node:assert/strict";
import { Display, serve, serveServer } from "../mod.ts";

Deno.test("option errors name the function called and quote strings", async () => {
  await assert.rejects(
    () => serve(64, 48, { port: 0, quality: 150 }),
    /^RangeError: serve\(\): option 'quality' must be an integer in \[1, 100\], got 150/,
  );
  await assert.rejects(
    () => serveServer({ port: 0, quality: 150 }),
    /^RangeError: serveServer\(\): option 'quality'/,
  );
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => serve(64, 48, { port: "640" as any }),
    /serve\(\): option 'port' must be an integer in \[0, 65535\], got "640"/,
  );
});

Deno.test("an unknown option is refused with the nearest valid name", async () => {
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => serve(64, 48, { port: 0, qualty: 50 } as any),
    /serve\(\): unknown option "qualty" \(did you mean 'quality'\?\)/,
  );
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => serveServer({ port: 0, hostnme: "127.0.0.1" } as any),
    /unknown option "hostnme" \(did you mean 'hostname'\?\)/,
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new Display(8, 8, { port: 0 } as any),
    /Display: unknown option "port"/,
    "a listener option on a bare display is refused too",
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new Display(8, 8, { zzzzzzzz: 1 } as any),
    (err: Error) => !/did you mean/.test(err.message),
    "no suggestion when nothing is near",
  );
});

Deno.test("a busy port says which, and what to do", async () => {
  await using first = await serveServer({ port: 0 });
  const err = await serveServer({ port: first.port }).then(
    () => null,
    (e) => e as Error,
  );
  assert.ok(err instanceof Deno.errors.AddrInUse, String(err));
  assert.match(
    err.message,
    new RegExp(
      `serveServer\\(\\): port ${first.port} on 127\\.0\\.0\\.1 is already in use.*port: 0`,
    ),
  );
  // The first listener is unharmed.
  const health = await fetch(`http://127.0.0.1:${first.port}/health`);
  assert.equal(await health.text(), "ok");
});

Deno.test("after close(), publish, configure and resize throw", async () => {
  const display = new Display(8, 8);
  await display.close();
  assert.throws(
    () => display.publish(new Uint8Array(256)),
    /publish\(\): display 'default' is closed/,
  );
  assert.throws(
    () => display.configure({ quality: 50 }),
    /configure\(\): display 'default' is closed/,
  );
  assert.throws(
    () => display.resize(16, 16),
    /resize\(\): display 'default' is closed/,
  );
});
