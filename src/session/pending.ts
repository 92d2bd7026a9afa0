/**
 * Sockets that have not said `hello` yet, counted per peer address across
 * every stream of the process. They cost a descriptor and a timer each and
 * prove nothing, so their number is capped: past `perAddress` from one
 * address (or `total` in all) the oldest one still waiting is closed to make
 * room. A socket gets a short grace (`GRACE_MS`) before it can be evicted,
 * and a viewer that says `hello` at once leaves this set at once, so a peer
 * reconnecting hello-less sockets in a loop, even from the same address as
 * a real viewer (a proxy, NAT), evicts only its own. While every socket of
 * an address is in its grace, the cap may be passed, up to four times.
 *
 * @module
 */

/** Something waiting for `hello` that can be told to go. */
export interface Waiting {
  /** Close it: it waited while others came. */
  evict(): void;
}

/** How long a new socket cannot be evicted: time to say `hello`. */
export const GRACE_MS = 1000;

/** The default caps: per peer address, and in all. */
export const PENDING_PER_ADDRESS = 32;
/** See `PENDING_PER_ADDRESS`. */
export const PENDING_TOTAL = 1024;

/**
 * The sessions waiting for `hello`, oldest first.
 *
 * @example
 * ```ts
 * import { PendingSessions } from "./pending.ts";
 * const pending = new PendingSessions(1, 10);
 * const first = { evict: () => console.log("first goes") };
 * pending.add("10.0.0.1", first);
 * pending.add("10.0.0.1", { evict: () => {} }); // "first goes"
 * ```
 */
export class PendingSessions {
  readonly #perAddress: number;
  readonly #total: number;
  readonly #now: () => number;
  #byAddress = new Map<string, Set<Waiting>>();
  #all = new Map<Waiting, { address: string; since: number }>(); // oldest first

  /** Cap at `perAddress` per address and `total` in all; `now` in ms (for tests). */
  constructor(
    perAddress = PENDING_PER_ADDRESS,
    total = PENDING_TOTAL,
    now: () => number = () => performance.now(),
  ) {
    this.#perAddress = perAddress;
    this.#total = total;
    this.#now = now;
  }

  /** How many wait now. */
  get size(): number {
    return this.#all.size;
  }

  /** `w` waits for `hello`; the oldest past its grace from the same address (or overall) may be evicted. */
  add(address: string, w: Waiting): void {
    let mine = this.#byAddress.get(address);
    if (!mine) this.#byAddress.set(address, mine = new Set());
    mine.add(w);
    this.#all.set(w, { address, since: this.#now() });
    if (mine.size > this.#perAddress) {
      this.#evictFrom(mine, mine.size > this.#perAddress * 4);
    }
    if (this.#all.size > this.#total) {
      this.#evictFrom(this.#all.keys(), this.#all.size > this.#total * 4);
    }
  }

  /** `w` said `hello`, or went. */
  remove(w: Waiting): void {
    const entry = this.#all.get(w);
    if (entry === undefined) return;
    this.#all.delete(w);
    const mine = this.#byAddress.get(entry.address)!;
    mine.delete(w);
    if (mine.size === 0) this.#byAddress.delete(entry.address);
  }

  /** Evict the oldest past its grace (or, when `hard`, the oldest of all). */
  #evictFrom(waiting: Iterable<Waiting>, hard: boolean): void {
    const now = this.#now();
    for (const w of waiting) {
      if (hard || now - this.#all.get(w)!.since >= GRACE_MS) {
        this.remove(w);
        w.evict();
        return;
      }
      if (!hard) return; // oldest first: the rest are younger still
    }
  }
}

/** The process-wide set every session joins while it waits for `hello`. */
export const PENDING: PendingSessions = new PendingSessions();

/**
 * The host part of a `host:port` peer address (`[::1]:80` → `::1`).
 *
 * @example
 * ```ts
 * import { hostOf } from "./pending.ts";
 * console.log(hostOf("127.0.0.1:5000"), hostOf("[::1]:80"), hostOf("::1:80")); // 127.0.0.1 ::1 ::1
 * ```
 */
export function hostOf(peer: string | undefined): string {
  if (!peer) return "?";
  const bracket = /^\[([^\]]*)\]/.exec(peer);
  if (bracket) return bracket[1];
  const i = peer.lastIndexOf(":");
  return i > 0 ? peer.slice(0, i) : peer;
}
