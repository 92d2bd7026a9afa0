/**
 * Sockets that have not said `hello` yet, counted per peer address across
 * every stream of the process. They cost a descriptor and a timer each and
 * prove nothing, so their number is capped: past `perAddress` from one
 * address (or `total` in all) the oldest one still waiting is closed to make
 * room. A viewer that says `hello` at once leaves this set at once, so a
 * peer reconnecting hello-less sockets in a loop evicts only its own.
 *
 * @module
 */

/** Something waiting for `hello` that can be told to go. */
export interface Waiting {
  /** Close it: it waited while others came. */
  evict(): void;
}

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
  #byAddress = new Map<string, Set<Waiting>>();
  #all = new Map<Waiting, string>(); // insertion order: oldest first

  /** Cap at `perAddress` per address and `total` in all. */
  constructor(perAddress = PENDING_PER_ADDRESS, total = PENDING_TOTAL) {
    this.#perAddress = perAddress;
    this.#total = total;
  }

  /** How many wait now. */
  get size(): number {
    return this.#all.size;
  }

  /** `w` waits for `hello`; the oldest from the same address (or overall) may be evicted. */
  add(address: string, w: Waiting): void {
    let mine = this.#byAddress.get(address);
    if (!mine) this.#byAddress.set(address, mine = new Set());
    mine.add(w);
    this.#all.set(w, address);
    if (mine.size > this.#perAddress) this.#evict(mine.values().next().value!);
    if (this.#all.size > this.#total) {
      this.#evict(this.#all.keys().next().value!);
    }
  }

  /** `w` said `hello`, or went. */
  remove(w: Waiting): void {
    const address = this.#all.get(w);
    if (address === undefined) return;
    this.#all.delete(w);
    const mine = this.#byAddress.get(address)!;
    mine.delete(w);
    if (mine.size === 0) this.#byAddress.delete(address);
  }

  #evict(w: Waiting): void {
    this.remove(w);
    w.evict();
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
