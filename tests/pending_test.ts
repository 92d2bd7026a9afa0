// The set of sockets waiting for hello: capped per address and in all, the
// oldest waiting one past its grace evicted, and a socket that said hello
// gone from it.
import assert from "node:assert/strict";
import { GRACE_MS, hostOf, PendingSessions } from "../src/session/pending.ts";

function waiter(log: string[], name: string) {
  return { evict: () => log.push(name) };
}

/** A set on a fake clock that moves past the grace at every add. */
function aged(perAddress: number, total: number) {
  let t = 0;
  const p = new PendingSessions(perAddress, total, () => t);
  return {
    p,
    add(address: string, w: { evict(): void }) {
      t += GRACE_MS;
      p.add(address, w);
    },
  };
}

Deno.test("pending: past the per-address cap the oldest from that address goes", () => {
  const log: string[] = [];
  const { p, add } = aged(2, 100);
  add("10.0.0.1", waiter(log, "a1"));
  add("10.0.0.2", waiter(log, "b1"));
  add("10.0.0.1", waiter(log, "a2"));
  assert.deepEqual(log, []);
  add("10.0.0.1", waiter(log, "a3"));
  assert.deepEqual(log, ["a1"], "only the oldest of that address");
  assert.equal(p.size, 3);
});

Deno.test("pending: one that said hello leaves, and is never evicted", () => {
  const log: string[] = [];
  const { p, add } = aged(2, 100);
  const holder = waiter(log, "holder");
  add("127.0.0.1", holder);
  p.remove(holder); // it said hello
  for (let i = 0; i < 50; i++) add("127.0.0.1", waiter(log, `x${i}`));
  assert.ok(!log.includes("holder"));
  assert.equal(log.length, 48);
  assert.equal(p.size, 2);
});

Deno.test("pending: a socket in its grace is not evicted, up to four times the cap", () => {
  const log: string[] = [];
  let t = 0;
  const p = new PendingSessions(2, 100, () => t);
  p.add("127.0.0.1", waiter(log, "holder")); // a real viewer, about to say hello
  for (let i = 0; i < 7; i++) p.add("127.0.0.1", waiter(log, `x${i}`));
  assert.deepEqual(log, [], "all within their grace: the cap may be passed");
  p.add("127.0.0.1", waiter(log, "x7")); // a ninth: past four times the cap
  assert.deepEqual(log, ["holder"], "the hard cap still bounds them");
  t += GRACE_MS;
  p.add("127.0.0.1", waiter(log, "x8"));
  assert.deepEqual(log, ["holder", "x0"], "past the grace: the oldest goes");
});

Deno.test("pending: the total cap evicts the oldest anywhere", () => {
  const log: string[] = [];
  const { p, add } = aged(10, 3);
  for (const a of ["a", "b", "c", "d"]) add(a, waiter(log, a));
  assert.deepEqual(log, ["a"]);
  assert.equal(p.size, 3);
});

Deno.test("hostOf: the host of a peer address, IPv4 and IPv6", () => {
  assert.equal(hostOf("127.0.0.1:5000"), "127.0.0.1");
  assert.equal(hostOf("[::1]:80"), "::1");
  assert.equal(hostOf("::ffff:127.0.0.1:80"), "::ffff:127.0.0.1");
  assert.equal(hostOf(undefined), "?");
});
