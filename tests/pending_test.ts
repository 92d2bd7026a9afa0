// The set of sockets waiting for hello: capped per address and in all, the
// oldest waiting one evicted, and a socket that said hello gone from it.
import assert from "node:assert/strict";
import { hostOf, PendingSessions } from "../src/session/pending.ts";

function waiter(log: string[], name: string) {
  return { evict: () => log.push(name) };
}

Deno.test("pending: past the per-address cap the oldest from that address goes", () => {
  const log: string[] = [];
  const p = new PendingSessions(2, 100);
  const a1 = waiter(log, "a1"), a2 = waiter(log, "a2"), a3 = waiter(log, "a3");
  p.add("10.0.0.1", a1);
  p.add("10.0.0.2", waiter(log, "b1"));
  p.add("10.0.0.1", a2);
  assert.deepEqual(log, []);
  p.add("10.0.0.1", a3);
  assert.deepEqual(log, ["a1"], "only the oldest of that address");
  assert.equal(p.size, 3);
});

Deno.test("pending: one that said hello leaves, and is never evicted", () => {
  const log: string[] = [];
  const p = new PendingSessions(2, 100);
  const holder = waiter(log, "holder");
  p.add("127.0.0.1", holder);
  p.remove(holder); // it said hello
  for (let i = 0; i < 50; i++) p.add("127.0.0.1", waiter(log, `x${i}`));
  assert.ok(!log.includes("holder"));
  assert.equal(log.length, 48);
  assert.equal(p.size, 2);
});

Deno.test("pending: the total cap evicts the oldest anywhere", () => {
  const log: string[] = [];
  const p = new PendingSessions(10, 3);
  for (const a of ["a", "b", "c", "d"]) p.add(a, waiter(log, a));
  assert.deepEqual(log, ["a"]);
  assert.equal(p.size, 3);
});

Deno.test("hostOf: the host of a peer address, IPv4 and IPv6", () => {
  assert.equal(hostOf("127.0.0.1:5000"), "127.0.0.1");
  assert.equal(hostOf("[::1]:80"), "::1");
  assert.equal(hostOf("::ffff:127.0.0.1:80"), "::ffff:127.0.0.1");
  assert.equal(hostOf(undefined), "?");
});
